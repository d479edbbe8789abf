"""The HA console's client layer (console/ha/jetstream.py) on 3 real nats-server nodes: the facts
log (fencing, records larger than a message, incomplete records), the lease, node loss, quorum
loss, TLS, and the console-log login's permissions.

Tests on the module's `cluster` share one stream: each works after the log's last sequence it
reads first. Tests that kill nodes start a cluster of their own."""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.cluster import CONSOLE_LOG_USER, log_permissions
from stilalarm.broker_config.local import LocalCluster
from stilalarm.broker_config.render import MESSAGE_SIZE_LIMIT
from stilalarm.console.ha.jetstream import (
    H_PART,
    H_PARTS,
    H_RECORD,
    HEADER_ROOM,
    ClusterLog,
    ClusterLogCredentials,
    LogFenced,
    LogUnavailable,
)
from stilalarm.inventory import Site
from stilalarm.wire.streams import (
    MQTT_MSGS_STREAM,
    facts_subject,
    lease_bucket,
    snapshot_stream,
    snapshot_subject,
    stream_name,
)
from stilalarm.wire.topics import Topics
from tests.harness import make_site_ca, started_cluster

T = TypeVar("T")


@pytest.fixture
def log(cluster: LocalCluster) -> Iterator[Callable[..., ClusterLog]]:
    """Factory: a started ClusterLog on the module's cluster (closed after the test)."""
    made: list[ClusterLog] = []

    def make(**kw: float) -> ClusterLog:
        cl = ClusterLog(cluster.log_creds(), **kw)  # type: ignore[arg-type]
        made.append(cl)
        cl.start(wait_s=60)
        return cl

    yield make
    for cl in made:
        cl.close()


def until(fn: Callable[[], T], timeout: float = 90.0, what: str = "the call") -> tuple[T, float]:
    """Call `fn` until it does not raise LogUnavailable; (its result, seconds it took)."""
    t0 = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - t0 < timeout:
        try:
            return fn(), time.monotonic() - t0
        except LogUnavailable as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{what} still failed after {timeout} s: {last}")


def renew(a: ClusterLog, rev: int, earlier: bytes = b"", timeout: float = 90.0) -> tuple[int, float]:
    """lease_update until confirmed; (new revision, seconds it took). An update that was not
    confirmed may still have landed: fenced afterwards with our own value (or `earlier`, an
    unconfirmed update of ours) in place is success."""
    value = uuid.uuid4().hex.encode()
    t0 = time.monotonic()
    while True:
        try:
            return a.lease_update(value, rev), time.monotonic() - t0
        except LogFenced:
            (got_rev, got), _ = until(a.lease_get)  # type: ignore[misc]  # None: fails, as it should
            assert got in (value, earlier), "fenced by another writer"
            return got_rev, time.monotonic() - t0
        except LogUnavailable:
            assert time.monotonic() - t0 < timeout, "the lease update was not confirmed"
            time.sleep(0.1)


def publish_raw(creds: ClusterLogCredentials, headers: dict[str, str], payload: bytes) -> int:
    """One message on the facts subject as the console-log login, by hand; its sequence."""

    async def go() -> int:
        nc = await nats.connect(creds.servers, user=creds.username, password=creds.password)
        try:
            ack = await nc.jetstream().publish(facts_subject(creds.site_id), payload, headers=headers)
            return int(ack.seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def test_the_login_is_granted_the_names_the_client_uses(site: Site) -> None:
    sid = site.site.id
    perms = log_permissions(site)
    assert f"$JS.API.STREAM.CREATE.{stream_name(sid)}" in perms.publish
    assert f"$JS.API.STREAM.INFO.KV_{lease_bucket(sid)}" in perms.publish
    assert f"$JS.API.STREAM.PURGE.{snapshot_stream(sid)}" in perms.publish
    assert {facts_subject(sid), snapshot_subject(sid), f"$KV.{lease_bucket(sid)}.active"} <= set(
        perms.publish
    )
    assert f"$JS.API.STREAM.UPDATE.{MQTT_MSGS_STREAM}" in perms.publish
    assert stream_name("a.b c*") == "STILALARM_FACTS_a_b_c_"


def test_append_and_read_round_trip(log: Callable[..., ClusterLog]) -> None:
    a = log()
    base = a.last_seq()
    s1 = a.append(b"first", base, f"rt-{uuid.uuid4().hex}")
    s2 = a.append(b"", s1, f"rt-{uuid.uuid4().hex}")  # an empty record is a record
    assert (s1, s2) == (base + 1, base + 2)
    assert a.last_seq() == s2
    b = log()
    assert b.read(base) == [(s1, b"first"), (s2, b"")]
    assert b.read(s1) == [(s2, b"")]
    assert b.read(s2) == []
    assert b.read(base, max_records=1) == [(s1, b"first")]


def test_read_waits_for_a_new_record(log: Callable[..., ClusterLog]) -> None:
    a, b = log(), log()
    base = a.last_seq()
    got: list[list[tuple[int, bytes]]] = []
    t = threading.Thread(target=lambda: got.append(b.read(base, wait_s=30)))
    t.start()
    time.sleep(0.3)
    seq = a.append(b"woken", base, f"wait-{uuid.uuid4().hex}")
    t.join(40)
    assert got == [[(seq, b"woken")]]
    assert b.read(seq, wait_s=0.2) == []  # nothing new: returns empty after wait_s


def test_a_second_writer_with_a_stale_sequence_is_fenced_and_stores_nothing(
    log: Callable[..., ClusterLog],
) -> None:
    a, b = log(), log()
    base = a.last_seq()
    seq = a.append(b"from a", base, f"a-{uuid.uuid4().hex}")
    with pytest.raises(LogFenced):
        b.append(b"from b", base, f"b-{uuid.uuid4().hex}")
    with pytest.raises(LogFenced):  # a record of several parts: not even its first part
        b.append(b"x" * 200_000, base, f"b-{uuid.uuid4().hex}")
    assert a.last_seq() == seq
    assert b.read(base) == [(seq, b"from a")]


def test_console_log_cannot_create_another_sites_log(cluster: LocalCluster) -> None:
    """Its permissions name its own site's stream and bucket only."""
    creds = cluster.log_creds().model_copy(update={"site_id": f"other-{uuid.uuid4().hex[:6]}"})
    a = ClusterLog(creds)
    with pytest.raises(LogUnavailable, match="could not create or find"):
        a.start(wait_s=3)
    a.close()


def test_a_retried_append_of_the_same_record_is_stored_once(log: Callable[..., ClusterLog]) -> None:
    a = log()
    base = a.last_seq()
    rid = f"retry-{uuid.uuid4().hex}"
    big = bytes(range(256)) * 600  # 3 parts
    seq = a.append(big, base, rid)
    assert a.append(big, base, rid) == seq  # the same record again: duplicates, not fenced
    assert a.last_seq() == seq
    assert a.read(base) == [(seq, big)]


def test_a_record_larger_than_a_message_round_trips(log: Callable[..., ClusterLog]) -> None:
    a, b = log(), log()
    base = a.last_seq()
    big = uuid.uuid4().bytes * 40_000  # 640 KB: 10 parts of under 64 KiB
    seq = a.append(big, base, f"big-{uuid.uuid4().hex}")
    assert seq - base == math.ceil(len(big) / (MESSAGE_SIZE_LIMIT - HEADER_ROOM)) == 10
    small = a.append(b"after", seq, f"small-{uuid.uuid4().hex}")
    assert b.read(base) == [(seq, big), (small, b"after")]
    # after_seq inside the big record: the record is read again from its first part
    assert b.read(base + 3) == [(seq, big), (small, b"after")]
    assert b.read(seq) == [(small, b"after")]


def test_an_incomplete_record_is_skipped_once_another_starts_and_waits_at_the_tail(
    cluster: LocalCluster, log: Callable[..., ClusterLog]
) -> None:
    a = log()
    creds = cluster.log_creds()
    base = a.last_seq()
    dead = f"dead-{uuid.uuid4().hex}"
    part = {H_RECORD: dead, H_PARTS: "3", "Nats-Expected-Last-Sequence": str(base)}
    s0 = publish_raw(creds, {**part, H_PART: "0", "Nats-Msg-Id": f"{dead}:0"}, b"p0")
    s1 = publish_raw(
        creds,
        {**part, H_PART: "1", "Nats-Msg-Id": f"{dead}:1", "Nats-Expected-Last-Sequence": str(s0)},
        b"p1",
    )
    assert a.read(base) == []  # at the tail: its writer may still finish it
    seq = a.append(b"next", s1, f"next-{uuid.uuid4().hex}")
    assert a.read(base) == [(seq, b"next")]
    assert a.read(s0) == [(seq, b"next")]
    # a stray message that is no record part at all is skipped too
    stray = publish_raw(creds, {"Nats-Expected-Last-Sequence": str(seq)}, b"not ours")
    after = a.append(b"after stray", stray, f"after-{uuid.uuid4().hex}")
    assert a.read(seq) == [(after, b"after stray")]


def test_the_lease_create_update_and_fencing(log: Callable[..., ClusterLog]) -> None:
    a, b = log(), log()
    assert a.lease_get() is None
    r1 = a.lease_create(b"console-a")
    assert b.lease_get() == (r1, b"console-a")
    with pytest.raises(LogFenced):
        b.lease_create(b"console-b")
    r2 = a.lease_update(b"console-a renewed", r1)
    assert r2 > r1
    with pytest.raises(LogFenced):
        b.lease_update(b"console-b", r1)  # stale revision
    r3 = b.lease_update(b"console-b", r2)
    with pytest.raises(LogFenced):
        a.lease_update(b"console-a", r2)
    assert a.lease_get() == (r3, b"console-b")


def test_a_call_before_start_or_after_close_is_unavailable(cluster: LocalCluster) -> None:
    c = ClusterLog(cluster.log_creds())
    with pytest.raises(LogUnavailable, match="not started"):
        c.last_seq()
    c.start(wait_s=60)
    c.close()
    with pytest.raises(LogUnavailable, match="not started"):
        c.append(b"x", 0, "closed")
    c.close()  # idempotent


def test_start_gives_up_within_wait_s_when_no_node_answers(tmp_path: Path) -> None:
    creds = ClusterLogCredentials(
        site_id="nowhere", servers=["nats://127.0.0.1:9"], username="console-log", password="x"
    )
    c = ClusterLog(creds)
    with pytest.raises(LogUnavailable, match="could not connect"):
        c.start(wait_s=2)
    c.close()


# -- permissions -------------------------------------------------------------------------------


def _mqtt_connect_rc(host: str, port: int, user: str, password: str) -> int | None:
    """The CONNACK reason code of an MQTT CONNECT (0 = accepted), None when there was no CONNACK."""
    got: list[int] = []
    cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-{uuid.uuid4().hex[:8]}")
    cl.username_pw_set(user, password)
    cl.on_connect = lambda _c, _u, _f, rc, _p: got.append(rc.value)
    try:
        cl.connect(host, port, keepalive=10)
        cl.loop_start()
        t_end = time.monotonic() + 10
        while not got and time.monotonic() < t_end:
            time.sleep(0.05)
    finally:
        cl.loop_stop()
        cl.disconnect()
    return got[0] if got else None


def test_an_mqtt_login_cannot_speak_nats_and_console_log_cannot_speak_mqtt(cluster: LocalCluster) -> None:
    creds = cluster.log_creds()

    async def nats_login(user: str, password: str) -> str:
        try:
            nc = await nats.connect(
                creds.servers[:1], user=user, password=password, allow_reconnect=False, connect_timeout=5
            )
        except Exception as exc:
            return str(exc)
        await nc.close()
        return "connected"

    for user in ("console", "observer", "unit-balie-1"):
        c = cluster.creds(user)
        assert "Authorization Violation" in asyncio.run(nats_login(c.username, c.password)), user
    assert asyncio.run(nats_login(creds.username, creds.password)) == "connected"
    host, port = cluster.endpoint(0)
    assert _mqtt_connect_rc(host, port, creds.username, creds.password) not in (None, 0)
    c = cluster.creds("console")
    assert _mqtt_connect_rc(host, port, c.username, c.password) == 0  # the check itself works


def test_console_log_may_only_touch_its_own_stream_and_bucket(
    cluster: LocalCluster, log: Callable[..., ClusterLog], topics: Topics
) -> None:
    """Publishing or subscribing to the site's MQTT topics, another stream's API (a purge of the
    MQTT streams too), or deleting or reconfiguring its own streams: each is a permissions violation
    (the server's -ERR, seen by the error callback). It may purge its own two (compaction,
    tests/broker/test_cluster_retention.py), and find, create and limit `$MQTT_msgs` (docs/HA.md, item
    13) but neither read, purge nor delete it."""
    log().last_seq()  # the stream and bucket exist
    creds = cluster.log_creds()
    stream = stream_name(creds.site_id)
    base = Topics(cluster.site.site.id).base.replace("/", ".")

    async def go() -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            creds.servers, user=creds.username, password=creds.password, error_cb=on_error
        )
        try:
            await nc.subscribe(f"{base}.>")
            await nc.publish(f"{base}.unit.balie-1.event", b"forged press")
            for denied in (
                f"$JS.API.STREAM.DELETE.{stream}",
                f"$JS.API.STREAM.DELETE.{snapshot_stream(creds.site_id)}",
                f"$JS.API.STREAM.UPDATE.{stream}",
                "$JS.API.STREAM.PURGE.$MQTT_msgs",
                "$JS.API.STREAM.LIST",
                "$JS.API.STREAM.DELETE.$MQTT_msgs",
                "$JS.API.STREAM.MSG.GET.$MQTT_msgs",
            ):
                with pytest.raises(nats.errors.TimeoutError):
                    await nc.request(denied, b"{}", timeout=1)
            await nc.flush(5)
            t_end = time.monotonic() + 10
            while len(errors) < 9 and time.monotonic() < t_end:
                await asyncio.sleep(0.05)
        finally:
            await nc.close()
        return errors

    errors = asyncio.run(go())
    errors = [e.lower() for e in errors]  # nats-py passes the server's text on, sometimes lowercased
    assert sum("permissions violation for subscription" in e for e in errors) == 1, errors
    assert sum("permissions violation for publish" in e for e in errors) == 8, errors
    # and nothing of it is in its permissions to begin with
    p = log_permissions(cluster.site)
    assert p.user == CONSOLE_LOG_USER
    assert not any(
        s.startswith("stilalarm.v1") or s in (">", "$JS.API.>") for s in (*p.publish, *p.subscribe)
    )


def test_an_mqtt_login_cannot_read_the_facts_log(cluster: LocalCluster) -> None:
    """The observer may read every topic of the site; the facts subject is not one of them."""
    c = cluster.creds("observer")
    granted: list[bool] = []
    cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"observer.facts-{uuid.uuid4().hex[:6]}")
    cl.username_pw_set(c.username, c.password)
    cl.on_subscribe = lambda _c, _u, _m, rc, _p: granted.append(not rc[0].is_failure)
    cl.connect(c.host, c.port, keepalive=10)
    cl.loop_start()
    try:
        cl.subscribe(facts_subject(cluster.site.site.id).replace(".", "/"), 1)
        t_end = time.monotonic() + 10
        while not granted and time.monotonic() < t_end:
            time.sleep(0.05)
    finally:
        cl.loop_stop()
        cl.disconnect()
    assert granted == [False]


# -- node loss, quorum loss, TLS: clusters of their own ----------------------------------------


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[LocalCluster]:
    """A cluster these tests kill nodes of (the module's `cluster` stays whole)."""
    with started_cluster(site, tmp_path_factory.mktemp("own-cluster")) as c:
        yield c


def _node_of(c: LocalCluster, server: str | None) -> int:
    assert server is not None
    return next(i for i, n in enumerate(c.nodes) if f"{n.host}:{n.nats_port}" == server)


def _stream_leader(c: LocalCluster) -> int:
    creds = c.log_creds()

    async def go() -> str:
        nc = await nats.connect(creds.servers, user=creds.username, password=creds.password)
        try:
            si = await nc.jetstream().stream_info(stream_name(creds.site_id))
            assert si.cluster is not None and si.cluster.leader is not None
            return str(si.cluster.leader)
        finally:
            await nc.close()

    name = asyncio.run(go())
    return next(i for i, n in enumerate(c.nodes) if n.name == name)


def test_append_latency_and_recovery_after_a_node_is_killed(own: LocalCluster) -> None:
    a = ClusterLog(own.log_creds())
    a.start(wait_s=60)
    try:
        seq = a.last_seq()
        lat: list[float] = []
        for i in range(300):
            t0 = time.perf_counter()
            seq = a.append(b"x" * 512, seq, f"lat-{i}-{uuid.uuid4().hex[:6]}")
            lat.append(time.perf_counter() - t0)
        q = statistics.quantiles(lat, n=100)
        print(f"\nappend 512 B, 300 x on loopback: p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms")
        rev = a.lease_create(b"a")
        for victim_kind in ("stream leader", "connected node"):
            victim = (
                _stream_leader(own) if victim_kind == "stream leader" else _node_of(own, a.connected_server)
            )
            before = seq
            own.kill_node(victim)
            rid = f"after-kill-{uuid.uuid4().hex}"
            seq, took = until(lambda rid=rid, before=before: a.append(b"after kill", before, rid))  # type: ignore[misc]
            rev, took_lease = renew(a, rev)
            print(
                f"killed {own.nodes[victim].name} ({victim_kind}): append ok after {took:.2f} s, "
                f"lease update after {took_lease:.2f} s more"
            )
            assert until(lambda before=before: a.read(before))[0] == [(seq, b"after kill")]  # type: ignore[misc]
            own.start_node(victim)
            own.wait_ready(90)
    finally:
        a.close()


def test_quorum_loss_is_unavailable_and_it_works_again_when_the_nodes_return(own: LocalCluster) -> None:
    a = ClusterLog(own.log_creds(), timeout_s=1.0)
    a.start(wait_s=60)
    try:
        seq, _ = until(a.last_seq)
        seq = a.append(b"before", seq, f"before-{uuid.uuid4().hex}")
        got = a.lease_get()
        rev = got[0] if got is not None else a.lease_create(b"before")
        stay = _node_of(own, a.connected_server)
        gone = [i for i in range(3) if i != stay]
        for i in gone:
            own.stop_node(i)
        nq = f"nq-{uuid.uuid4().hex}"
        t0 = time.monotonic()
        with pytest.raises(LogUnavailable) as exc:
            a.append(b"no quorum", seq, nq)
        print(f"\nquorum lost: append raised after {time.monotonic() - t0:.2f} s: {exc.value}")
        # a write needs the quorum (a read may still be answered for a while by a stream leader
        # that has not yet noticed it is alone: never decide on a read alone)
        earlier = b"unconfirmed " + uuid.uuid4().hex.encode()
        with pytest.raises(LogUnavailable):
            a.lease_update(earlier, rev)
        for i in gone:
            own.start_node(i)
        # An unconfirmed append may still be committed once the quorum is back (the stream leader
        # on the remaining node had proposed it): the writer retries the same record id first.
        late = until(a.last_seq)[0] > seq
        nq_seq, took = until(lambda: a.append(b"no quorum", seq, nq))
        print(f"nodes restarted: append ok after {took:.2f} s (the unconfirmed one landed late: {late})")
        new = a.append(b"back", nq_seq, f"back-{uuid.uuid4().hex}")
        # the other calls may still be refused for a moment (JetStream settling): a caller retries
        assert until(lambda: a.read(seq - 1))[0] == [(seq, b"before"), (nq_seq, b"no quorum"), (new, b"back")]
        renew(a, rev, earlier)
    finally:
        a.close()


def test_the_log_over_tls_with_the_site_ca(tmp_path: Path, site: Site) -> None:
    tls = make_site_ca(tmp_path / "tls", "localhost", "127.0.0.1")
    with started_cluster(site, tmp_path / "cluster", tls_dir=tls) as c:
        creds = c.log_creds()
        assert creds.ca_file == str((tls / "ca.crt").resolve())
        assert all(s.startswith("tls://127.0.0.1:") for s in creds.servers)
        with ClusterLog(creds) as a, ClusterLog(creds) as b:
            assert a.last_seq() == 0  # a fresh log: expected sequence 0 is checked too
            seq = a.append(b"over tls", 0, f"tls-{uuid.uuid4().hex}")
            with pytest.raises(LogFenced):
                b.append(b"second first record", 0, f"tls-{uuid.uuid4().hex}")
            assert b.read(0) == [(seq, b"over tls")]
        plain = creds.model_copy(
            update={"ca_file": None, "servers": [s.replace("tls://", "nats://") for s in creds.servers]}
        )
        p = ClusterLog(plain)
        with pytest.raises(LogUnavailable):
            p.start(wait_s=3)
        p.close()


def test_a_closed_log_can_be_started_again(log: Callable[..., ClusterLog]) -> None:
    a = log()
    base = a.last_seq()
    assert a.read(base, wait_s=0.1) == []
    a.close()
    a.start(wait_s=60)
    seq = a.append(b"again", base, f"again-{uuid.uuid4().hex}")
    assert a.read(base, wait_s=5) == [(seq, b"again")]
