"""One unit's login against the cluster's store (docs/HA.md, item 13), on 3 real nats-server nodes.

The attack: a unit login may publish its own event topic at QoS1, and the console's persistent
session subscribes to every unit's events at QoS1, so nats-server keeps each such message in the
account's `$MQTT_msgs` stream until the console takes it. NATS 2.9 has no per-login publish limit,
and the stream shares the nodes' store with every MQTT session, the consoles' log and their lease.
Here the console is away (its session persists, nothing drains it: the worst case, and no race
with the console's pace), and the flooder sends 60 KB events, twice a node's whole 16 MiB store.

Without the limits (a console-log.json rendered before them) the store fills and the consoles' log
refuses every write: no console could commit, renew its lease or take over. With them (the console
sets them at start: `queued_per_topic` per topic, `queued_store_percent` of the store in all, the
oldest dropped first) the stream holds at most the flooder's newest events, the log and the lease
keep working, and another unit's event is queued and delivered to the console when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import nats
import paho.mqtt.client as mqtt
import pytest
from nats.js.api import DiscardPolicy
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalCluster
from stilalarm.console.ha.jetstream import ClusterLog, ClusterLogCredentials, LogUnavailable
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.streams import MQTT_MSGS_STREAM
from stilalarm.wire.topics import Topics, UnitChannel
from tests.harness import started_cluster, wait_until

STORE_MB = 16
SITE = parse_site(FAST_SITE + f"\n[cluster]\nmax_file_store_mb = {STORE_MB}\n")
T = Topics(SITE.site.id)
EVENT = b"x" * 60_000
FLOOD = 600  # 36 MB: twice a node's whole store
STORE_FULL = "JetStream resource limits exceeded for server"


def client(creds: BrokerCredentials, clean: bool) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=creds.client_id or "", clean_session=clean)
    c.username_pw_set(creds.username, creds.password)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    return c


def console_session(cluster: LocalCluster, got: list[str] | None = None) -> mqtt.Client:
    """The console's persistent session, subscribed to every unit's events at QoS1; `got` collects
    what it receives (None: it leaves at once, its session stays and queues)."""
    c = client(cluster.creds("console", node=None), clean=False)
    granted = threading.Event()
    c.on_subscribe = lambda *_a: granted.set()
    if got is not None:
        c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", cluster.port)
    c.loop_start()
    c.subscribe(T.all_units(UnitChannel.EVENT), 1)
    assert granted.wait(15), "the console's subscription was not granted"
    if got is None:
        c.disconnect()
        c.loop_stop()
    return c


def flood(cluster: LocalCluster, unit_id: str, count: int, wait_s: float) -> int:
    """`count` QoS1 60 KB events with the unit's login; how many the cluster acknowledged (waiting
    at most `wait_s`, and no longer once 10 s passed without an acknowledgement)."""
    acked: list[int] = []
    c = client(cluster.creds(f"unit-{unit_id}", node=None), clean=True)
    c.on_publish = lambda _c, _u, mid, _rc, _p: acked.append(mid)
    c.connect("127.0.0.1", cluster.port)
    c.loop_start()
    try:
        for _ in range(count):
            c.publish(T.unit_event(unit_id), EVENT, qos=1)
        deadline = time.monotonic() + wait_s
        last, since = 0, time.monotonic()
        while len(acked) < count and time.monotonic() < min(deadline, since + 10):
            time.sleep(0.1)
            if len(acked) > last:
                last, since = len(acked), time.monotonic()
        return len(acked)
    finally:
        c.loop_stop()
        c.disconnect()


def queued(creds: ClusterLogCredentials) -> tuple[int, int, int, int, DiscardPolicy | None]:
    """$MQTT_msgs as the console-log login sees it: (messages, bytes, per-topic limit, byte limit,
    discard policy)."""

    async def go() -> tuple[int, int, int, int, DiscardPolicy | None]:
        nc = await nats.connect(creds.servers, user=creds.username, password=creds.password)
        try:
            si = await nc.jetstream().stream_info(MQTT_MSGS_STREAM)
            c = si.config
            return si.state.messages, si.state.bytes, c.max_msgs_per_subject, c.max_bytes or 0, c.discard
        finally:
            await nc.close()

    return asyncio.run(go())


def store_full(cluster: LocalCluster) -> bool:
    return any(
        STORE_FULL in cluster.log_path(i).read_text(errors="replace") for i in range(len(cluster.nodes))
    )


def log_writes(clog: ClusterLog, n: int) -> None:
    """`n` appends to the consoles' log and a lease write: what an active console does."""
    last = clog.last_seq()
    for i in range(n):
        last = clog.append(b"record", last, f"probe-{time.monotonic_ns()}-{i}")
    current = clog.lease_get()
    if current is None:
        clog.lease_create(b"probe")
    else:
        clog.lease_update(b"probe", current[0])


@pytest.fixture
def cluster(tmp_path: Path) -> LocalCluster:
    with started_cluster(SITE, tmp_path / "cluster") as c:
        yield c  # type: ignore[misc]


def test_one_unit_login_cannot_fill_the_store_while_the_console_is_away(cluster: LocalCluster) -> None:
    """The flood of twice a store is taken whole (the oldest dropped, not refused), the stream holds
    at most the flooder's newest 16, the log and the lease stay writable, another unit's event is
    accepted; then every node is SIGKILLed and restarted: the limits and the queued events are
    still there, and the console, back, gets the other unit's event and the flooder's newest."""
    creds = cluster.log_creds()
    q = creds.mqtt_queue
    assert q is not None and q.per_topic == 16 and q.max_bytes == STORE_MB * 1024 * 1024 // 4
    clog = ClusterLog(creds, timeout_s=2.0)
    clog.start(wait_s=60)  # sets the limits, as every console on a cluster does at start
    try:
        assert queued(creds)[2:] == (q.per_topic, q.max_bytes, DiscardPolicy.OLD)
        console_session(cluster)
        acked = flood(cluster, "balie-1", FLOOD, 120)
        msgs, size, *_ = queued(creds)
        print(f"\n{acked} of {FLOOD} flood events acknowledged; queued now: {msgs} messages, {size} bytes")
        assert acked == FLOOD, "the cluster refused part of the flood: its store is full"
        assert msgs <= q.per_topic and size <= q.max_bytes
        log_writes(clog, 20)  # the log and the lease: writable
        assert flood(cluster, "spreekkamer-1", 1, 30) == 1, "another unit's event was not accepted"
    finally:
        clog.close()
    cluster.kill()  # SIGKILL, every node at once
    cluster.start()
    assert queued(creds)[2:] == (q.per_topic, q.max_bytes, DiscardPolicy.OLD)
    got: list[str] = []
    c = console_session(cluster, got)  # the console is back: what was queued is delivered
    try:
        wait_until(lambda: T.unit_event("spreekkamer-1") in got, 30, "the other unit's event")
        wait_until(lambda: got.count(T.unit_event("balie-1")) >= q.per_topic, 30, "the newest flood")
    finally:
        c.loop_stop()
        c.disconnect()


def test_without_the_limits_the_same_flood_fills_the_store(cluster: LocalCluster) -> None:
    """The attack repeated on a cluster whose console-log.json has no limits (rendered before
    them): the console says so, and the flood leaves the consoles' log unable to store anything."""
    creds = cluster.log_creds().model_copy(update={"mqtt_queue": None})
    clog = ClusterLog(creds, timeout_s=2.0)
    clog.start(wait_s=60)
    try:
        assert queued(creds)[2:4] == (-1, -1), "the stream is limited although nobody limited it"
        console_session(cluster)
        acked = flood(cluster, "balie-1", FLOOD, 120)
        print(f"\n{acked} of {FLOOD} flood events acknowledged; queued now: {queued(creds)[:2]}")
        wait_until(lambda: store_full(cluster), 30, "a node logging that its store is full")
        with pytest.raises(LogUnavailable):  # "no responders": JetStream stops answering
            log_writes(clog, 20)
    finally:
        clog.close()


def test_a_console_first_on_a_new_cluster_creates_the_queue_with_its_limits_and_mqtt_uses_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before any MQTT client the stream does not exist: the console creates it with nats-server's
    own config and the limits, and the nodes' MQTT then queues into it."""
    cluster = LocalCluster(SITE, tmp_path / "cluster")
    try:
        for i in range(len(cluster.nodes)):
            cluster.start_node(i)  # no readiness probe: it would make the nodes create the stream
        creds = cluster.log_creds()
        q = creds.mqtt_queue
        assert q is not None
        with caplog.at_level(logging.INFO, logger="stilalarm.console.ha.jetstream"):
            clog = ClusterLog(creds, timeout_s=2.0)
            clog.start(wait_s=60)
            clog.close()
        assert f"created {MQTT_MSGS_STREAM} with 16 per topic" in caplog.text
        cluster.wait_ready()
        console_session(cluster)
        assert flood(cluster, "balie-1", 40, 60) == 40
        msgs, size, *limits = queued(creds)
        assert msgs == q.per_topic and size <= q.max_bytes
        assert limits == [q.per_topic, q.max_bytes, DiscardPolicy.OLD]
        got: list[str] = []
        c = console_session(cluster, got)
        try:
            wait_until(lambda: got.count(T.unit_event("balie-1")) >= q.per_topic, 30, "the queued events")
        finally:
            c.loop_stop()
            c.disconnect()
    finally:
        cluster.kill()
