"""Enrolment of a desk unit with real processes (issue 17, docs/ENROLLMENT.md).

Real mosquitto with the project's config (its plain loopback listener; production uses the TLS
listener with the site CA), the real `alarm-console serve`, the real `alarm-unit enroll` process
and the real `alarm-console enroll` commands. Each attack the design answers is repeated: a code
approved a second time (and a replayed request), a late code, a revoked unit that is still
connected, another client reading or writing someone else's enrolment topics.

Enrolment protocol 2 (issue 18): the topics are named by the key fingerprint, which is also the
Pi's client id. The tests marked with `profile` run on both broker profiles: mosquitto and the
cluster profile (3 real nats-server nodes, docs/HA.md), where an enrolling Pi may write any
request topic and the console's check that a request's key is its topic's is what protects it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalBroker, LocalCluster, LocalRegion
from stilalarm.devkit.servicerun import FAST_SITE, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials, load_json_model
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER, EnrollKeyError, new_key, show_code
from stilalarm.wire.enrollbus import EnrollBus
from stilalarm.wire.messages import (
    EnrollReply,
    EnrollRequest,
    EnrollStatus,
    LinkState,
    UnitHealth,
    UnitStatus,
    encode,
    parse,
)
from stilalarm.wire.topics import Topics
from tests.harness import Capture, connect_result, wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
BIN = Path(sys.executable).parent
UNIT = "spreekkamer-1"
CODE_RE = re.compile(r"enrolment code: (\d{3}-\d{3})")


def site_dir(broker: LocalBroker | LocalCluster) -> Path:
    """The site's broker directory (in a region: the site's own, under sites/)."""
    return broker.site_dir(SITE.site.id) if isinstance(broker, LocalCluster) else broker.dir


@dataclass
class Rig:
    dir: Path
    site_file: Path
    broker: LocalBroker | LocalCluster
    console: ServiceProcess
    seen: Capture

    def enroll(self, *extra: str, name: str = "pi", minutes: float = 5.0) -> subprocess.Popen[bytes]:
        """`alarm-unit enroll` as a facilities person would run it (plain MQTT: loopback test)."""
        argv = [str(BIN / "alarm-unit"), "enroll", "127.0.0.1", "--site", SITE.site.id]
        argv += ["--port", str(self.broker.port), "--no-tls", "--config", str(self.dir / name / "unit.json")]
        argv += ["--minutes", str(minutes), "--sim", "--owner", "", *extra]
        env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
        log = open(self.dir / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        return p

    def log(self, name: str = "pi") -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def code(self, name: str = "pi") -> str:
        wait_until(lambda: CODE_RE.search(self.log(name)) is not None, 30, f"{name} shows its code")
        m = CODE_RE.search(self.log(name))
        assert m
        wait_until(
            lambda: self.requests() >= 1 and "waiting for approval" in self.log(name), 30, "request posted"
        )
        return m.group(1)

    def requests(self) -> int:
        return sum(1 for t, p, _r in self.seen.messages if T.parse_enroll_request(t) and p)

    def console_enroll(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "alarm-console"), "enroll", *args, "--site", str(self.site_file)]
        argv += ["--broker-dir", str(self.broker_dir)]
        for pid in self.pids():
            argv += ["--broker-pid", str(pid)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def pids(self) -> list[int]:
        """The broker's pid, or every node's."""
        if isinstance(self.broker, LocalCluster):
            return [p for i in range(len(self.broker.nodes)) if (p := self.broker.pid(i)) is not None]
        assert self.broker.pid is not None
        return [self.broker.pid]

    def enroll_creds(self) -> BrokerCredentials:
        return BrokerCredentials(
            site_id=SITE.site.id,
            username=ENROLL_USER,
            password=ENROLL_PASSWORD,
            host="127.0.0.1",
            port=self.broker.port,
        )

    def request_fingerprints(self) -> list[str]:
        return [fp for t, p, _r in self.seen.messages if (fp := T.parse_enroll_request(t)) and p]

    def ledger(self) -> dict[str, list[dict[str, object]]]:
        return dict(json.loads((self.broker_dir / "enrollments.json").read_text()))

    def password(self, unit: str) -> str:
        return str(json.loads((self.broker_dir / "secrets.json").read_text())[f"unit-{unit}"])

    @property
    def broker_dir(self) -> Path:
        return site_dir(self.broker)

    def rendered_username(self, unit: str) -> str:
        return str(json.loads((self.broker_dir / "units" / f"{unit}.json").read_text())["broker"]["username"])

    def replies(self, status: EnrollStatus) -> list[EnrollReply]:
        out = []
        for t, p, _r in list(self.seen.messages):
            if t.startswith(f"{T.base}/enroll/") and t.endswith("/reply") and p:
                r = parse(EnrollReply, p)
                if r.status is status:
                    out.append(r)
        return out

    def status(self, unit: str) -> UnitStatus | None:
        got = [p for p in self.seen.on(T.unit_status(unit)) if p]
        return parse(UnitStatus, got[-1]) if got else None


def _rig(tmp_path: Path, profile: str) -> Iterator[Rig]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker: LocalBroker | LocalCluster
    if profile == "region":  # the site and another on one cluster, an account each
        other = parse_site(FAST_SITE.replace('id = "fast"', 'id = "other"', 1))
        broker = LocalRegion([SITE, other], tmp_path / "broker")
    elif profile == "cluster":
        broker = LocalCluster(SITE, tmp_path / "broker")
    else:
        broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    # on a cluster enrolment has an account of its own (docs/HA.md, item 11), which the observer
    # does not see: its `console-enroll` login records the enrolment topics into the same list
    own = site_dir(broker) / "console-enroll.json"
    enroll_seen = None
    if own.exists():
        topics = (T.all_enroll_requests(), T.all_enroll_replies())
        enroll_seen = Capture(load_json_model(BrokerCredentials, own), topics, messages=seen.messages).start()
    console = ServiceProcess(site_file, tmp_path / "console.db", site_dir(broker), tmp_path / "console.log")
    r = Rig(tmp_path, site_file, broker, console, seen)
    console.start()
    console.wait_ready()
    procs: list[subprocess.Popen[bytes]] = []
    yield r
    for p in procs:
        if p.poll() is None:
            p.kill()
    console.kill()
    seen.stop()
    if enroll_seen is not None:
        enroll_seen.stop()
    broker.kill()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """mosquitto (the default profile)."""
    yield from _rig(tmp_path, "mosquitto")


@pytest.fixture(params=["mosquitto", "cluster"])
def any_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """Each broker profile: mosquitto, and the cluster (3 NATS nodes, a fresh one per test)."""
    yield from _rig(tmp_path, str(request.param))


@pytest.fixture(params=["mosquitto", "cluster", "region"])
def every_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """Each profile and a region: the site with another on one cluster (its logins `...@fast`;
    the Pi, refused as `enroll`, logs in as `enroll@fast`)."""
    yield from _rig(tmp_path, str(request.param))


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_approved_unit_gets_fresh_credentials_runs_and_its_alarm_reaches_the_console(every_rig: Rig) -> None:
    """On both profiles: on the cluster this was impossible before protocol 2 (the `.` in the
    topic closed the connection, and NATS speaks MQTT 3.1.1 only). And in a region."""
    rig = every_rig
    rendered = rig.password(UNIT)
    pi = rig.enroll("--then", "run", "--state-dir", str(rig.dir / "state"), "--control-stdin")
    try:
        code = rig.code()
        listed = rig.console_enroll("list")
        assert listed.returncode == 0 and code in listed.stdout, listed
        # the Pi is waiting and has nothing yet: an unapproved Pi gets nothing
        assert not (rig.dir / "pi" / "unit.json").exists() and not rig.replies(EnrollStatus.APPROVED)
        ok = rig.console_enroll("approve", code, "--unit", UNIT)
        assert ok.returncode == 0, ok.stderr
        wait_until(lambda: f"enrolled as unit {UNIT}" in rig.log(), 30, "the Pi enrolled")
        cfg_path = rig.dir / "pi" / "unit.json"
        assert cfg_path.stat().st_mode & 0o777 == 0o600
        cfg = json.loads(cfg_path.read_text())
        assert cfg["unit"]["id"] == UNIT and cfg["broker"]["username"] == rig.rendered_username(UNIT)
        assert cfg["broker"]["username"].startswith(f"unit-{UNIT}")
        if isinstance(rig.broker, LocalRegion):  # refused as `enroll`, the Pi tried its site's login
            assert "refused the login enroll; trying enroll@fast" in rig.log()
        # fresh credentials: not the rendered ones, and the broker's record matches what the Pi got
        assert cfg["broker"]["password"] == rig.password(UNIT) != rendered
        # the reply on the wire is sealed: the password is not in it
        wait_until(lambda: rig.replies(EnrollStatus.APPROVED) != [], 10, "the approved reply on the wire")
        assert all(
            cfg["broker"]["password"] not in (r.sealed or "") for r in rig.replies(EnrollStatus.APPROVED)
        )
        assert cfg["broker"]["password"].encode() not in b"".join(p for _t, p, _r in rig.seen.messages)

        def online() -> bool:
            st = rig.status(UNIT)
            return st is not None and st.state is LinkState.ONLINE

        wait_until(online, 30, "the enrolled unit online")
        assert pi.stdin is not None
        pi.stdin.write(f"press {UNIT}\n".encode())
        pi.stdin.flush()
        wait_until(lambda: any(p for p in rig.seen.on(T.unit_receipt(UNIT))), 30, "the console's receipt")
        wait_until(
            lambda: any(UNIT.encode() in p for t, p, _r in rig.seen.messages if T.parse_tail(t, "incident")),
            30,
            "an incident for the enrolled unit",
        )
        # its request is gone from the broker once it is enrolled
        assert "no enrolment requests waiting" in rig.console_enroll("list").stdout
    finally:
        stop(pi)


def test_rejected_code_gives_the_pi_nothing(rig: Rig) -> None:
    pi = rig.enroll("--then", "none")
    try:
        code = rig.code()
        res = rig.console_enroll("reject", code)
        assert res.returncode == 0, res.stderr
        assert pi.wait(30) == 1
        assert "refused this unit: rejected by facilities" in rig.log()
        assert not (rig.dir / "pi" / "unit.json").exists()
        # and the code cannot be approved afterwards
        again = rig.console_enroll("approve", code, "--unit", UNIT)
        assert again.returncode == 1 and "already used" in again.stderr
        assert not rig.replies(EnrollStatus.APPROVED)
    finally:
        stop(pi)


def test_expired_code_is_refused_by_the_console_and_the_pi_gives_up(rig: Rig) -> None:
    before = rig.password(UNIT)
    pi = rig.enroll("--then", "none")
    try:
        code = rig.code()
        listed = rig.console_enroll("list", "--code-minutes", "0.02")  # the console first sees it now
        assert listed.returncode == 0 and code in listed.stdout
        seen_at = time.monotonic()
        wait_until(lambda: time.monotonic() > seen_at + 2.0, 10, "the code's lifetime (1.2 s) to pass")
        res = rig.console_enroll("approve", code, "--unit", UNIT, "--code-minutes", "0.02")
        assert res.returncode == 1 and "expired" in res.stderr, res
        assert rig.password(UNIT) == before and not rig.replies(EnrollStatus.APPROVED)
        assert pi.poll() is None  # still waiting, with nothing
    finally:
        stop(pi)
    # the Pi's own window: a code shown for 3 s ends the command with a clear message
    short = rig.enroll("--then", "none", name="pi2", minutes=0.05)
    assert short.wait(60) == 1
    assert "expired after 0.05 minutes without approval" in rig.log("pi2")
    assert not (rig.dir / "pi2" / "unit.json").exists()


def test_a_code_works_once_and_a_replayed_request_gets_nothing(rig: Rig) -> None:
    pi = rig.enroll("--then", "none")
    code = rig.code()
    request = next((t, p) for t, p, _r in rig.seen.messages if T.parse_enroll_request(t) and p)
    assert rig.console_enroll("approve", code, "--unit", UNIT).returncode == 0
    assert pi.wait(30) == 0
    issued = rig.password(UNIT)
    # the attacker replays the captured request, with the Pi's own client id
    cid = T.parse_enroll_request(request[0])
    assert cid is not None
    creds = BrokerCredentials(
        site_id=SITE.site.id,
        username=ENROLL_USER,
        password=ENROLL_PASSWORD,
        host="127.0.0.1",
        port=rig.broker.port,
    )
    replayer = EnrollBus(creds, cid)
    replayer.connect(10)
    assert replayer.publish(request[0], request[1], retain=True, expiry_s=300, timeout=10)
    replayer.close()
    again = rig.console_enroll("approve", code, "--unit", UNIT)
    assert again.returncode == 1 and "already used" in again.stderr, again
    other = rig.console_enroll("approve", code, "--unit", "wachtzaal")
    assert other.returncode == 1 and "already used" in other.stderr
    assert rig.password(UNIT) == issued
    wait_until(lambda: len(rig.replies(EnrollStatus.APPROVED)) == 1, 10, "the approved reply")
    assert len(rig.replies(EnrollStatus.APPROVED)) == 1
    assert "no enrolment requests waiting" in rig.console_enroll("list").stdout


def test_the_enroll_login_reaches_only_its_own_enrolment_topics(rig: Rig) -> None:
    pi = rig.enroll("--then", "none")
    try:
        code = rig.code()
        victim_cid = next(
            T.parse_enroll_request(t) for t, p, _r in rig.seen.messages if T.parse_enroll_request(t) and p
        )
        assert victim_cid is not None
        got: list[str] = []
        own = new_key().fingerprint  # the intruder's own client id (and topic)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=own)
        c.username_pw_set(ENROLL_USER, ENROLL_PASSWORD)
        c.on_message = lambda _c, _u, m: got.append(m.topic)
        subscribed = threading.Event()
        c.on_subscribe = lambda *_a: subscribed.set()
        c.connect("127.0.0.1", rig.broker.port)
        c.loop_start()
        c.subscribe([(f"{T.base}/#", 1), (T.enroll_reply(victim_cid), 1), (T.enroll_request(victim_cid), 1)])
        assert subscribed.wait(10)
        # writes outside its own request topic are dropped by the ACL
        c.publish(T.enroll_request(victim_cid), b"{}", qos=1, retain=True).wait_for_publish(10)
        c.publish(T.unit_event(UNIT), b"{}", qos=1).wait_for_publish(10)
        assert rig.console_enroll("approve", code, "--unit", UNIT).returncode == 0
        assert pi.wait(30) == 0
        wait_until(lambda: len(rig.replies(EnrollStatus.APPROVED)) == 1, 10, "the approved reply")
        c.publish(T.enroll_request(own), b"", qos=1).wait_for_publish(10)
        c.loop_stop()
        c.disconnect()
        assert got == [], got  # nothing of the site, not the victim's request, not its reply
        assert not any(p == b"{}" for _t, p, _r in rig.seen.messages)
    finally:
        stop(pi)
    assert connect_result(rig.broker.port, ENROLL_USER, ENROLL_PASSWORD, f"unit-{UNIT}") != "Success"


def test_a_request_under_another_pis_fingerprint_gets_nothing_sealed_to_the_attacker(any_rig: Rig) -> None:
    """A hostile client posts a request with its own key on a waiting Pi's topic. On mosquitto it
    must take the Pi's client id (the fingerprint) to write there; on the cluster any enrolling
    client may write any request topic (NATS 2.9 has no `%c`), so it uses its own. Either way the
    console refuses the request (log line, reject record), the attacker's code is unknown, and
    the real Pi, approved, gets the one reply, which the attacker's key cannot open."""
    rig = any_rig
    pi = rig.enroll("--then", "none")
    try:
        code = rig.code()
        (victim,) = set(rig.request_fingerprints())
        assert code in rig.console_enroll("list").stdout  # the console has seen the real request
        attacker = new_key()
        cid = victim if isinstance(rig.broker, LocalBroker) else attacker.client_id
        forged = encode(EnrollRequest(public_key=attacker.public_b64, hostname="evil"))
        bus = EnrollBus(rig.enroll_creds(), cid)
        bus.connect(10)
        listed: list[subprocess.CompletedProcess[str]] = []
        try:
            # The attacker keeps posting (the real Pi posts its own request again every 30 s, and
            # on mosquitto its reconnect takes its client id back): post, then let the console look.
            def refused() -> bool:
                bus.publish(T.enroll_request(victim), forged, retain=True, expiry_s=300, timeout=5)
                wait_until(
                    lambda: any(p == forged for _t, p, _r in rig.seen.messages), 10, "the forged request"
                )
                listed.append(rig.console_enroll("list"))
                return "key_mismatch" in listed[-1].stderr

            wait_until(refused, 90, "the console refusing the forged request")
        finally:
            bus.close()
        assert listed[-1].returncode == 0, listed[-1]
        assert all(show_code(attacker.code) not in r.stdout for r in listed)
        rejects = rig.ledger()["rejects"]
        assert [(r["reason"], r["topic_id"], r["key_fingerprint"]) for r in rejects] == [
            ("key_mismatch", victim, attacker.fingerprint)
        ]
        assert "refused (key_mismatch)" in listed[-1].stderr
        # facilities approve the code the attacker shows: nobody has asked with it
        res = rig.console_enroll("approve", attacker.code, "--unit", UNIT)
        assert res.returncode == 1 and "no enrolment request has this code" in res.stderr, res
        # the real Pi's code still works (the console keeps the key it first saw for that topic)
        ok = rig.console_enroll("approve", code, "--unit", UNIT)
        assert ok.returncode == 0, ok.stderr
        assert pi.wait(60) == 0 and f"enrolled as unit {UNIT}" in rig.log()
        # the Pi may have its reply before the observer's copy arrives (seen in CI: none yet)
        wait_until(lambda: len(rig.replies(EnrollStatus.APPROVED)) == 1, 10, "the approved reply")
        replies = rig.replies(EnrollStatus.APPROVED)
        assert len(replies) == 1
        for r in replies:
            assert r.sealed is not None
            with pytest.raises(EnrollKeyError):
                attacker.open(r.sealed)
        assert len(rig.ledger()["rejects"]) == 1  # seen again by later commands: still one record
    finally:
        stop(pi)


def test_an_old_protocol_request_is_refused_with_a_clear_log_line(rig: Rig) -> None:
    """Enrolment protocol 1 (client id and topic level `enroll.<fingerprint>`, `"v": 1`) from an
    older stilalarm on mosquitto: the console refuses it with a reject record and says to update
    the Pi; it does not crash and approves nothing."""
    key = new_key()
    old_cid = f"{ENROLL_USER}.{key.fingerprint}"
    bus = EnrollBus(rig.enroll_creds(), old_cid)
    bus.connect(10)
    payload = json.dumps({"v": 1, "public_key": key.public_b64, "hostname": "old", "firmware": "0.1"})
    assert bus.publish(T.enroll_request(old_cid), payload.encode(), retain=True, expiry_s=300, timeout=10)
    # and a v1 payload on a protocol-2 topic
    other = new_key()
    v1 = json.dumps({"v": 1, "public_key": other.public_b64, "hostname": "old", "firmware": "0.1"})
    bus.close()
    bus2 = EnrollBus(rig.enroll_creds(), other.client_id)
    bus2.connect(10)
    assert bus2.publish(
        T.enroll_request(other.fingerprint), v1.encode(), retain=True, expiry_s=300, timeout=10
    )
    bus2.close()
    wait_until(lambda: len(rig.request_fingerprints()) == 2, 10, "both old requests")
    listed = rig.console_enroll("list")
    assert listed.returncode == 0, listed
    assert "no enrolment requests waiting" in listed.stdout
    assert listed.stderr.count("(old_protocol)") >= 2 and "update stilalarm on that Pi" in listed.stderr
    res = rig.console_enroll("approve", key.code, "--unit", UNIT)
    assert res.returncode == 1 and "no enrolment request has this code" in res.stderr
    reasons = sorted((r["reason"], r["topic_id"]) for r in rig.ledger()["rejects"])
    assert reasons == sorted([("old_protocol", old_cid), ("old_protocol", other.fingerprint)])


def test_revoked_unit_is_disconnected_at_once_and_cannot_reconnect(any_rig: Rig) -> None:
    rig = any_rig
    pi = rig.enroll("--then", "run", "--state-dir", str(rig.dir / "state"))
    try:
        code = rig.code()
        assert rig.console_enroll("approve", code, "--unit", UNIT).returncode == 0
        wait_until(lambda: f"enrolled as unit {UNIT}" in rig.log(), 30, "the Pi enrolled")
        enrolled = json.loads((rig.dir / "pi" / "unit.json").read_text())["broker"]["password"]

        def state() -> LinkState | None:
            st = rig.status(UNIT)
            return st.state if st is not None else None

        wait_until(lambda: state() is LinkState.ONLINE, 30, "the unit online")
        assert connect_result(rig.broker.port, f"unit-{UNIT}", enrolled, f"unit-{UNIT}.probe") == "Success"
        before = len(rig.log())
        res = rig.console_enroll("revoke", UNIT)
        assert res.returncode == 0, res.stderr

        # the broker drops the live connection on the reload the revocation made (every node of a
        # cluster reloads; nats-server 2.9 checks its connected clients against the new logins)
        def dropped() -> bool:
            if isinstance(rig.broker, LocalCluster):
                return "lost broker connection" in rig.log()[before:]
            tail = rig.broker.log_path.read_text().rsplit("Reloading config.", 1)[-1]
            return f"Client unit-{UNIT} disconnected." in tail

        wait_until(dropped, 30, "the broker to disconnect the revoked unit")

        # the console sees the unit fall silent (mosquitto closes it without the will) and reports
        # it offline to facilities (the room is unprotected)
        def console_says_offline() -> bool:
            got = [p for p in rig.seen.on(T.unitstate(UNIT)) if p]
            return bool(got) and parse(UnitHealth, got[-1]).online is False

        wait_until(console_says_offline, 60, "the console's view: the unit offline")
        # and every attempt to come back is refused, the Pi's own and ours with its password
        assert (
            connect_result(rig.broker.port, f"unit-{UNIT}", enrolled, f"unit-{UNIT}.probe")
            == "Not authorized"
        )
        wait_until(lambda: "refused connection" in rig.log(), 60, "the Pi's reconnect refused")
        assert pi.poll() is None  # the unit process itself does not crash
    finally:
        stop(pi)


def _make_ca(tls: Path) -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "broker_config" / "make-ca.sh"), str(tls), "localhost", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_enrolment_over_tls_with_the_site_ca(tmp_path: Path) -> None:
    """Production's path: the Pi reaches the TLS listener, trusts only the site CA it was given,
    and its written config uses TLS with a local copy of that CA."""
    from stilalarm.broker_config.local import free_port, port_open
    from stilalarm.inventory.derived import UnitConfig
    from stilalarm.wire.link import Link

    tls, other = tmp_path / "tls", tmp_path / "other-ca"
    _make_ca(tls)
    _make_ca(other)
    tls_port = free_port()
    tls_site = SITE.model_copy(
        update={
            "broker": SITE.broker.model_copy(
                update={"use_tls": True, "tls_port": tls_port, "host": "localhost"}
            )
        }
    )
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker = LocalBroker(tls_site, tmp_path / "broker", tls_dir=tls)
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    rig = Rig(tmp_path, site_file, broker, None, seen)  # type: ignore[arg-type]
    pis: list[subprocess.Popen[bytes]] = []
    try:
        wait_until(lambda: port_open(tls_port), 10, "the TLS listener")

        def enroll(ca: Path, name: str) -> subprocess.Popen[bytes]:
            argv = [str(BIN / "alarm-unit"), "enroll", "localhost", "--site", SITE.site.id]
            argv += [
                "--port",
                str(tls_port),
                "--ca-file",
                str(ca),
                "--config",
                str(tmp_path / name / "unit.json"),
            ]
            argv += ["--minutes", "0.2", "--sim", "--owner", "", "--then", "none"]
            with open(tmp_path / f"{name}.log", "wb") as log:
                pis.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
            return pis[-1]

        # a Pi given another CA does not trust the broker: it never sends its request
        wrong = enroll(other / "ca.crt", "wrong")
        assert wrong.wait(60) == 1
        assert "not enrolled" in rig.log("wrong") and rig.requests() == 0
        pi = enroll(tls / "ca.crt", "pi")
        code = rig.code()
        ok = rig.console_enroll("approve", code, "--unit", UNIT)
        assert ok.returncode == 0, ok.stderr
        assert pi.wait(30) == 0, rig.log()
        cfg = UnitConfig.model_validate_json((tmp_path / "pi" / "unit.json").read_text())
        assert cfg.broker.tls and cfg.broker.port == tls_port
        assert cfg.broker.ca_file == str(tmp_path / "pi" / "ca.crt")
        assert (tmp_path / "pi" / "ca.crt").read_bytes() == (tls / "ca.crt").read_bytes()
        unit = Link(cfg.broker)
        unit.start()
        try:
            assert unit.wait_connected(10), "the enrolled unit could not connect over TLS"
        finally:
            unit.stop()
    finally:
        for p in pis:
            if p.poll() is None:
                p.kill()
                p.wait()
        seen.stop()
        broker.kill()
