"""The wire contract (docs/PROTOCOL.md) on the cluster profile: 3 real nats-server 2.9 nodes with
JetStream and MQTT (broker_config/cluster.py, LocalCluster). What each test found is written down in
docs/HA.md. Denials are proven by ordering (a control message after the forbidden one), never by
sleeping; timeouts are for liveness only.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from stilalarm.broker_config.cluster import TopicError, all_permissions, subject, subjects
from stilalarm.broker_config.local import LocalCluster, find_nats_server
from stilalarm.inventory import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER, new_key
from stilalarm.wire.identity import client_id
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics, UnitChannel
from tests.harness import Capture, make_site_ca, mosquitto_pub, started_cluster, wait_until


class Client:
    """A bare paho client (QoS, clean session and will as the test wants) that records all."""

    def __init__(
        self,
        creds: BrokerCredentials,
        cid: str,
        *,
        clean: bool = True,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.got: list[tuple[str, bytes, bool, int]] = []
        self.subacks: list[list[bool]] = []
        self.down = threading.Event()
        self.up = threading.Event()
        self.answers: list[str] = []  # every CONNACK and disconnect, with its reason
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, clean_session=clean)
        self.c.username_pw_set(creds.username, creds.password)
        if will is not None:
            self.c.will_set(will[0], will[1], qos=1, retain=True)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload, bool(m.retain), m.qos))
        self.c.on_subscribe = lambda _c, _u, _m, rc, _p: self.subacks.append([not r.is_failure for r in rc])

        def connected(_c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            self.answers.append(f"CONNACK {rc}")
            if not rc.is_failure:  # a refusal is no connection: the caller waits on
                self.up.set()

        def disconnected(_c: object, _u: object, _f: object, rc: object, _p: object) -> None:
            self.answers.append(f"disconnected: {rc}")
            self.down.set()

        self.c.on_connect = connected
        self.c.on_disconnect = disconnected
        self.c.connect(creds.host, creds.port, keepalive=10)
        self.c.loop_start()
        if not self.up.wait(10):
            self.close()
            raise AssertionError(f"{cid} could not connect (what the broker answered: {self.answers})")

    def sub_once(self, topic: str, qos: int = 1) -> bool:
        """SUBSCRIBE once; whether the SUBACK granted it (for the tests where a refusal is the point)."""
        n = len(self.subacks)
        self.c.subscribe(topic, qos)
        wait_until(lambda: len(self.subacks) > n, 10, f"SUBACK for {topic}")
        return self.subacks[n][0]

    def sub(self, topic: str, qos: int = 1, timeout: float = 30.0) -> bool:
        """SUBSCRIBE, and again after a refusal, as `Link` does: nats-server 2.9 refuses a QoS1
        SUBSCRIBE whose consumer it could not create within its 4 s JetStream API timeout, which
        happens on a loaded machine (CI saw it once). Whether it was granted within `timeout`."""
        deadline = time.monotonic() + timeout
        while not (granted := self.sub_once(topic, qos)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return granted

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _r, _q in self.got if t == topic]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def reconnect(
    creds: BrokerCredentials, cid: str, timeout: float = 60.0, cluster: LocalCluster | None = None
) -> Client:
    """Connect as a client does after a node loss: again and again until the cluster answers (while
    JetStream moves the session's consumers' leaders, a CONNECT can fail after 4 s). On failure it
    says what each attempt got and, given the cluster, the nodes' last warnings and errors."""
    deadline = time.monotonic() + timeout
    attempts: list[str] = []
    while True:
        started = time.monotonic()
        try:
            return Client(creds, cid, clean=False)
        except AssertionError as exc:
            attempts.append(f"+{started - deadline + timeout:.1f} s: {exc}")
            if time.monotonic() > deadline:
                notes = node_notes(cluster, [0] * len(cluster.nodes)) if cluster is not None else []
                raise AssertionError(f"{attempts}; node warnings/errors: {notes}") from None


def publish_until_acked(creds: BrokerCredentials, topic: str, payload: bytes, timeout: float = 60.0) -> None:
    """mosquitto_pub again until PUBACKed: right after a node loss a new connection can be refused
    while JetStream moves leaders ("The connection was lost"), as a client's retry would."""
    deadline = time.monotonic() + timeout
    while (done := mosquitto_pub(creds, topic, payload)).returncode != 0:
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.2)


def test_the_permission_mapping() -> None:
    assert subject("s/unit/+/event") == "s.unit.*.event"
    assert subjects("s/#") == ("s", "s.>")  # MQTT `s/#` matches `s` itself too
    with pytest.raises(TopicError):
        subject("s/enroll/enroll.abc/request")


def test_every_login_that_reads_gets_the_qos1_delivery_subject_and_nothing_else_internal(site: Site) -> None:
    perms = all_permissions(site)
    internal = {s for p in perms for s in (*p.publish, *p.subscribe) if s.startswith("$")}
    assert internal == {"$MQTT.sub.>"}
    assert all("$MQTT.sub.>" in p.subscribe for p in perms if p.subscribe)


def test_no_login_can_subscribe_to_the_internal_delivery_subjects(
    cluster: LocalCluster, topics: Topics
) -> None:
    """The attack: with `$MQTT.sub.>` allowed (QoS1 delivery needs it), a unit subscribes to
    `$MQTT/sub/#` to read every other login's QoS1 deliveries. NATS refuses the SUBSCRIBE."""
    spy = Client(cluster.creds("unit-balie-1"), client_id("unit-balie-1", "spy"))
    refused = [spy.sub_once("$MQTT/sub/#"), spy.sub_once("$MQTT/sub/+"), spy.sub_once("$MQTT/#")]
    cap = Capture(cluster.creds("observer"), (topics.unit_receipt("balie-2"),)).start()
    try:
        mosquitto_pub(cluster.creds("console"), topics.unit_receipt("balie-2"), b"for-balie-2")
        cap.wait_for(topics.unit_receipt("balie-2"))
        assert refused == [False, False, False]
        assert spy.got == []
    finally:
        cap.stop()
        spy.close()


def test_queued_qos1_for_an_offline_persistent_session_arrives_on_another_node(
    cluster: LocalCluster, topics: Topics
) -> None:
    """clean_session=False: a unit's session and the receipts queued while it is away are kept
    (replicated), and handed over when it comes back, here through another node."""
    cid = "unit-balie-2"
    u = Client(cluster.creds(cid, node=1), cid, clean=False)
    assert u.sub(topics.unit_receipt("balie-2"))
    u.close()
    for i in range(3):
        assert (
            mosquitto_pub(
                cluster.creds("console"), topics.unit_receipt("balie-2"), f"r{i}".encode()
            ).returncode
            == 0
        )
    back = Client(cluster.creds(cid, node=2), cid, clean=False)
    try:
        wait_until(lambda: len(back.payloads(topics.unit_receipt("balie-2"))) >= 3, 15, "the queued receipts")
        assert back.payloads(topics.unit_receipt("balie-2")) == [b"r0", b"r1", b"r2"]
    finally:
        back.c.disconnect()
        back.c.loop_stop()
        # end the session (a clean connect drops it) so other tests start fresh
        Client(cluster.creds(cid), cid, clean=True).close()


def test_retained_state_and_its_clearing_with_an_empty_payload(cluster: LocalCluster, topics: Topics) -> None:
    console = cluster.creds("console")
    inc = f"i-{uuid.uuid4().hex[:8]}"
    assert mosquitto_pub(console, topics.incident(inc), b"state-1", retain=True).returncode == 0
    late = Client(cluster.creds("observer", node=2), client_id("observer", "late1"))
    try:
        assert late.sub(topics.incident(inc))
        wait_until(lambda: late.payloads(topics.incident(inc)) == [b"state-1"], 10, "the retained copy")
        assert late.got[0][2] is True  # flagged retained on a new subscription
    finally:
        late.close()
    assert mosquitto_pub(console, topics.incident(inc), b"", retain=True).returncode == 0  # clear
    assert mosquitto_pub(console, topics.console_status(), b"control", retain=True).returncode == 0
    later = Client(cluster.creds("observer", node=1), client_id("observer", "late2"))
    try:
        assert later.sub(topics.incident(inc)) and later.sub(topics.console_status())
        wait_until(lambda: later.payloads(topics.console_status()) != [], 10, "the control")
        assert later.payloads(topics.incident(inc)) == []  # cleared: nothing replayed
    finally:
        later.close()
        mosquitto_pub(console, topics.console_status(), b"", retain=True)


def test_a_killed_clients_will_is_delivered(cluster: LocalCluster, topics: Topics) -> None:
    """A unit's retained `offline` will on its status topic: the client process is SIGKILLed.

    The watcher subscribes with QoS 0, so what is tested is that the node sends the will. A QoS1
    subscription is a JetStream consumer: once, a QoS1 watcher here first had its SUBSCRIBE
    refused (the consumer was not created within nats-server's 4 s), then got no will within 30 s
    while `$MQTT_msgs` elected a leader (docs/HA.md). That is the console's case, and its
    heartbeat supervision reports the unit offline without the will.

    Before the kill the watcher must be known on the unit's node: a QoS0 message is sent only to
    the nodes whose interest has arrived over the route. Twice in CI (2026-12-04) it had not: the
    previous test's closing QoS1 session held that route's reader for nats-server's 4 s (docs/HA.md,
    "A closing session stalls a route"), the will went out meanwhile to nobody (stored as retained
    all the same). So probes go from the unit's node until the watcher gets one."""
    creds = cluster.creds("unit-balie-1", node=1)
    topic = topics.unit_status("balie-1")
    logs_from = [cluster.log_path(i).stat().st_size for i in range(len(cluster.nodes))]
    watcher = Client(cluster.creds("observer"), client_id("observer", "will"))
    assert watcher.sub(topic, qos=0)
    deadline = time.monotonic() + 30  # liveness only: the route carries the interest within ~4 s
    while b"probe" not in watcher.payloads(topic):
        assert time.monotonic() < deadline, "the watcher's interest never reached the unit's node"
        mosquitto_pub(creds, topic, b"probe", qos=0)
        time.sleep(0.1)
    probes = len(watcher.payloads(topic))
    code = (
        "import sys, time, paho.mqtt.client as m\n"
        "from paho.mqtt.enums import CallbackAPIVersion as V\n"
        "c = m.Client(V.VERSION2, client_id=sys.argv[1])\n"
        "c.username_pw_set(sys.argv[2], sys.argv[3])\n"
        "c.will_set(sys.argv[4], b'absent-by-will', qos=1, retain=True)\n"
        "c.on_connect = lambda *a: print('up', flush=True)\n"
        "c.connect('127.0.0.1', int(sys.argv[5]), keepalive=5)\n"
        "c.loop_forever()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "unit-balie-1", creds.username, creds.password, topic, str(creds.port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        proc.kill()
        proc.wait()
        try:
            wait_until(lambda: b"absent-by-will" in watcher.payloads(topic)[probes:], 30, "the will")
        except AssertionError as exc:  # a miss says what was seen
            raise AssertionError(f"{exc}; {will_diagnosis(cluster, watcher, topic, logs_from)}") from None
        assert set(watcher.payloads(topic)[probes:]) <= {b"probe", b"absent-by-will"}  # a late probe
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()
        mosquitto_pub(creds, topic, b"", retain=True)


def will_diagnosis(cluster: LocalCluster, watcher: Client, topic: str, logs_from: list[int]) -> str:
    """What a missing will leaves to go on: the watcher's state, whether the node stored the will as
    the topic's retained message (then it was sent, and its live delivery was lost), and the
    nodes' warnings and errors since the test began."""
    late = Client(cluster.creds("observer", node=2), client_id("observer", "will-late"))
    try:
        late.sub(topic, qos=0)
        try:
            wait_until(lambda: late.payloads(topic) != [], 5, "the retained will")
        except AssertionError:
            pass
        retained = late.payloads(topic)
    finally:
        late.close()
    return (
        f"watcher got {watcher.got}, disconnected: {watcher.down.is_set()}; a new subscriber got the "
        f"retained {retained}; node warnings/errors since the start: {node_notes(cluster, logs_from)}"
    )


def node_notes(cluster: LocalCluster, logs_from: list[int], last: int = 20) -> list[str]:
    """The nodes' last warnings and errors, each log read from its offset in `logs_from`."""
    lines: list[str] = []
    for i, start in enumerate(logs_from):
        with cluster.log_path(i).open("rb") as f:
            f.seek(start)
            lines += [f"n{i + 1}: {ln}" for ln in f.read().decode(errors="replace").splitlines()]
    return [ln for ln in lines if "[WRN]" in ln or "[ERR]" in ln][-last:]


def test_a_dot_in_a_topic_is_refused_which_is_why_enrolment_protocol_1_did_not_work(
    cluster: LocalCluster, topics: Topics
) -> None:
    """NATS 2.9 refuses '.' in MQTT topics and closes the connection. Our ids cannot contain '.'
    (ID_PATTERN); enrolment protocol 1 named its topics by the client id `enroll.<fingerprint>`
    and could not work on the cluster. Protocol 2 names them by the fingerprint alone
    (tests/e2e/test_enrollment.py enrols a Pi on the cluster)."""
    fp = new_key().fingerprint
    old_cid = f"{ENROLL_USER}.{fp}"
    creds = cluster.creds("observer").model_copy(
        update={"username": ENROLL_USER, "password": ENROLL_PASSWORD}
    )
    pi = Client(creds, old_cid)
    try:
        pi.c.publish(f"{topics.base}/enroll/{old_cid}/request", b"request", qos=1)
        assert pi.down.wait(10), "the broker kept a client that published to a topic with a '.'"
    finally:
        pi.close()
    assert "." not in topics.enroll_request(fp)[len(topics.base) :]


def test_qos2_is_not_supported(cluster: LocalCluster, topics: Topics) -> None:
    """NATS 2.9's MQTT has no QoS 2: a QoS 2 SUBSCRIBE is granted as QoS 1 (the protocol never uses
    QoS 2) and a QoS 2 PUBLISH closes the connection."""
    c = Client(cluster.creds("console"), client_id("console", "q2"))
    try:
        granted: list[int] = []
        c.c.on_subscribe = lambda _c, _u, _m, rc, _p: granted.append(int(rc[0].value))
        c.c.subscribe(topics.all_incidents(), 2)
        wait_until(lambda: granted != [], 10, "the SUBACK")
        assert granted == [1]
        c.c.publish(topics.console_status(), b"x", qos=2)
        assert c.down.wait(10), "a QoS 2 PUBLISH was accepted"
    finally:
        c.close()


def test_qos1_published_before_a_node_is_killed_reaches_a_persistent_subscriber_on_another_node(
    tmp_path: Path, site: Site, topics: Topics
) -> None:
    """QoS1 redelivery after a node loss: a unit's receipts queue in its session while it is away;
    the node it was on is SIGKILLed; it comes back through another node and gets them all; and an
    event it published (PUBACKed) just before the kill reaches the console on the first node."""
    with started_cluster(site, tmp_path / "cluster") as c:
        got_events: list[bytes] = []
        console = Link(c.creds("console", node=0), client_id=client_id("console", "t"), clean_session=False)
        console.subscribe(topics.all_units(UnitChannel.EVENT), lambda _t, p: got_events.append(p))
        console.start()
        assert console.wait_connected(10)
        cid = "unit-balie-3"
        u = Client(c.creds(cid, node=1), cid, clean=False)
        assert u.sub(topics.unit_receipt("balie-3"))
        info = u.c.publish(topics.unit_event("balie-3"), b"alarm-before-kill", qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
        u.c.loop_stop()  # the unit is gone with the node; no DISCONNECT
        # node 3 has served the site, as the console's NodeWarmer keeps every node (a cold node's
        # first CONNECT waits for more: docs/HA.md "Cold nodes"; tests/broker/test_cluster_warm.py)
        c.wait_ready(60, node=2)
        c.kill_node(1)
        for i in range(3):
            publish_until_acked(c.creds("console", node=0), topics.unit_receipt("balie-3"), f"r{i}".encode())
        back = reconnect(c.creds(cid, node=2), cid, cluster=c)
        try:
            got = lambda: list(dict.fromkeys(back.payloads(topics.unit_receipt("balie-3"))))  # noqa: E731
            wait_until(lambda: len(got()) >= 3, 30, "the queued receipts")
            assert got() == [b"r0", b"r1", b"r2"]  # all, in order (QoS1: a resend may repeat one)
            wait_until(lambda: b"alarm-before-kill" in got_events, 30, "the event at the console")
        finally:
            back.close()
            console.stop()
        c.start_node(1)  # the node comes back and rejoins
        c.wait_ready(60, node=1)


def test_queued_qos1_survive_sigkill_of_every_node_at_once(
    tmp_path: Path, site: Site, topics: Topics
) -> None:
    """Durability (as test_broker_durability.py on mosquitto): 1,500 QoS1 events (above mosquitto's
    default queue of 1,000) PUBACKed for the console's persistent session while it is away, every
    node SIGKILLed at once right after the last PUBACK, all restarted: the session gets every one.
    This is the engine's durability without the limits a console sets at start (16 queued per
    topic, the oldest dropped: tests/broker/test_cluster_queue_limits.py repeats the SIGKILL with
    them); no console runs here."""
    n = 1500
    evt = topics.unit_event("balie-1")
    with started_cluster(site, tmp_path / "cluster") as c:
        cid = client_id("console", "t")
        console = Client(c.creds("console", node=0), cid, clean=False)
        assert console.sub(topics.all_units(UnitChannel.EVENT))
        console.close()
        unit = Client(c.creds("unit-balie-1", node=1), client_id("unit-balie-1", "t"))
        infos = [unit.c.publish(evt, str(i).encode(), qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(30)
        assert all(i.is_published() for i in infos)  # every one PUBACKed
        c.kill()  # SIGKILL, every node, no pause after the last PUBACK
        unit.c.loop_stop()
        c.start()
        back = reconnect(c.creds("console", node=2), cid, cluster=c)
        try:
            got = lambda: {int(p) for p in back.payloads(evt)}  # noqa: E731
            wait_until(lambda: len(got()) >= n, 60, f"{n} queued messages after every node's SIGKILL")
            assert got() == set(range(n))
        finally:
            back.close()


def test_every_rendered_node_config_is_valid_for_nats_server_with_and_without_tls(
    tmp_path: Path, site: Site
) -> None:
    """`nats-server -t` on every node's config, plain and with the site CA (make-ca.sh)."""
    from stilalarm.broker_config.cluster import ClusterOptions, render_cluster

    exe = find_nats_server()
    tls = make_site_ca(tmp_path / "tls", "alarm-1.example")
    tls_site = site.model_copy(update={"broker": site.broker.model_copy(update={"use_tls": True})})
    for s, opts in (
        (site, ClusterOptions(out=tmp_path / "plain")),
        (tls_site, ClusterOptions(out=tmp_path / "tls-out", tls_dir=tls)),
    ):
        render_cluster(s, opts)
        for node in s.cluster.nodes:
            conf = opts.out / "nodes" / node.name / "nats.conf"
            done = subprocess.run([exe, "-t", "-c", str(conf)], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr + done.stdout


def test_a_tls_cluster_units_connect_with_the_site_ca_and_plain_mqtt_is_refused(
    tmp_path: Path, site: Site, topics: Topics
) -> None:
    """With the site CA (make-ca.sh): TLS routes (the cluster only becomes ready when the nodes
    reach each other, each checking the other's certificate) and TLS-only MQTT listeners."""
    tls = make_site_ca(tmp_path / "tls", "localhost", "127.0.0.1")
    with started_cluster(site, tmp_path / "cluster", tls_dir=tls) as c:
        creds = c.creds("unit-balie-1", node=2)
        assert creds.tls and creds.ca_file == str((tls / "ca.crt").resolve())
        got: list[bytes] = []
        unit = Link(creds, clean_session=True)  # its rendered secret client id
        unit.subscribe(topics.unit_receipt("balie-1"), lambda _t, p: got.append(p))
        unit.start()
        try:
            assert unit.wait_connected(20)
            console = c.creds("console", node=0)
            assert console.tls
            sender = Link(console, client_id=client_id("console", "tls"), clean_session=True)
            sender.start()
            assert sender.wait_connected(20)
            sender.publish(topics.unit_receipt("balie-1"), b"over-tls", qos=1).wait_for_publish(10)
            wait_until(lambda: got == [b"over-tls"], 20, "the receipt over TLS, across nodes")
            sender.stop()
        finally:
            unit.stop()
        with pytest.raises(AssertionError):  # plain MQTT to a TLS listener gets no CONNACK
            Client(creds, "unit-balie-1")
