"""Bare-broker baselines, measured in the same run as every other figure.

- `qos1_hop`: paho QoS1 publish -> subscriber on the project's broker config.
- `qos1_insert_hop`: publish -> subscriber inserts the payload into SQLite
  (WAL, synchronous=FULL, one fsync'd commit) -> publishes on -> second
  subscriber. This is the bare shape of "press -> stored -> notification out".
- `subscriber_rate`: how many QoS1 messages/s a bare paho subscriber takes in.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.stats import Stats
from stilalarm.broker_config.local import LocalBroker
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics, UnitChannel


def _link(broker: LocalBroker, user: str, cid: str) -> Link:
    lk = Link(broker.creds(user), client_id=cid_for(user, cid), clean_session=True)
    return lk


def qos1_hop(broker: LocalBroker, topic_in: str, n: int = 1000) -> Stats:
    """Latency of one QoS1 hop, one message at a time (ms)."""
    got = threading.Event()
    recv_at: list[float] = [0.0]
    sub = _link(broker, "observer", "bench-base-sub")

    def on(msg: mqtt.MQTTMessage) -> None:
        recv_at[0] = time.perf_counter()
        got.set()

    sub.subscribe_raw(topic_in, on)
    sub.start()
    sub.wait_connected(5)
    pub = _link(broker, "unit-" + topic_in.split("/")[-2], "bench-base-pub")
    pub.start()
    pub.wait_connected(5)
    out = []
    for i in range(n):
        got.clear()
        t0 = time.perf_counter()
        pub.publish(topic_in, str(i).encode(), qos=1)
        if not got.wait(5):
            raise RuntimeError("baseline message lost")
        out.append((recv_at[0] - t0) * 1000)
    pub.stop()
    sub.stop()
    return Stats.of(out)


def qos1_insert_hop(broker: LocalBroker, topic_in: str, topic_out: str, db: Path, n: int = 1000) -> Stats:
    """Publish -> subscriber inserts (fsync) -> publishes on -> received (ms)."""
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS ev (id INTEGER PRIMARY KEY, body BLOB)")
    relay = _link(broker, "console", "bench-base-relay")

    def on_in(msg: mqtt.MQTTMessage) -> None:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO ev (body) VALUES (?)", (msg.payload,))
        conn.execute("COMMIT")
        relay.publish(topic_out, msg.payload, qos=1)

    relay.subscribe_raw(topic_in, on_in)
    relay.start()
    relay.wait_connected(5)
    got = threading.Event()
    recv_at = [0.0]
    sink = _link(broker, "observer", "bench-base-sink")

    def on_out(msg: mqtt.MQTTMessage) -> None:
        recv_at[0] = time.perf_counter()
        got.set()

    sink.subscribe_raw(topic_out, on_out)
    sink.start()
    sink.wait_connected(5)
    pub = _link(broker, "unit-" + topic_in.split("/")[-2], "bench-base-pub2")
    pub.start()
    pub.wait_connected(5)
    out = []
    for i in range(n):
        got.clear()
        t0 = time.perf_counter()
        pub.publish(topic_in, str(i).encode(), qos=1)
        if not got.wait(5):
            raise RuntimeError("baseline-with-insert message lost")
        out.append((recv_at[0] - t0) * 1000)
    for lk in (pub, sink, relay):
        lk.stop()
    conn.close()
    return Stats.of(out)


def subscriber_rate(broker: LocalBroker, topic_in: str, n: int = 20000) -> float:
    """Messages per second a bare paho subscriber receives when a publisher floods QoS1."""
    count = [0]
    done = threading.Event()
    sub = _link(broker, "observer", "bench-rate-sub")

    def on(msg: mqtt.MQTTMessage) -> None:
        count[0] += 1
        if count[0] >= n:
            done.set()

    sub.subscribe_raw(topic_in, on)
    sub.start()
    sub.wait_connected(5)
    pub = _link(broker, "unit-" + topic_in.split("/")[-2], "bench-rate-pub")
    pub.start()
    pub.wait_connected(5)
    t0 = time.perf_counter()
    for i in range(n):
        pub.publish(topic_in, str(i).encode(), qos=1)
    done.wait(120)
    dt = time.perf_counter() - t0
    pub.stop()
    sub.stop()
    return count[0] / dt


def qos1_insert_burst(broker: LocalBroker, topic_in: str, topic_out: str, db: Path, n: int = 500) -> Stats:
    """n messages published back to back through the relay of `qos1_insert_hop` (one fsync'd
    commit per message, no group commit): publish -> received on, per message (ms)."""
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS ev (id INTEGER PRIMARY KEY, body BLOB)")
    relay = _link(broker, "console", "bench-burst-relay")

    def on_in(msg: mqtt.MQTTMessage) -> None:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO ev (body) VALUES (?)", (msg.payload,))
        conn.execute("COMMIT")
        relay.publish(topic_out, msg.payload, qos=1)

    relay.subscribe_raw(topic_in, on_in)
    relay.start()
    relay.wait_connected(5)
    recv: dict[int, float] = {}
    done = threading.Event()
    sink = _link(broker, "observer", "bench-burst-sink")

    def on_out(msg: mqtt.MQTTMessage) -> None:
        recv[int(msg.payload)] = time.perf_counter()
        if len(recv) >= n:
            done.set()

    sink.subscribe_raw(topic_out, on_out)
    sink.start()
    sink.wait_connected(5)
    pub = _link(broker, "unit-" + topic_in.split("/")[-2], "bench-burst-pub")
    pub.start()
    pub.wait_connected(5)
    sent: dict[int, float] = {}
    for i in range(n):
        sent[i] = time.perf_counter()
        pub.publish(topic_in, str(i).encode(), qos=1)
    done.wait(60)
    for lk in (pub, sink, relay):
        lk.stop()
    conn.close()
    return Stats.of([(recv[i] - sent[i]) * 1000 for i in recv])


def fsync_latency(directory: Path, n: int = 200) -> tuple[Stats, Stats]:
    """(4 KiB write + fsync, one SQLite WAL commit with synchronous=FULL) in ms, on this disk."""
    path = directory / "fsync.probe"
    raw: list[float] = []
    with open(path, "wb") as f:
        for _ in range(n):
            t0 = time.perf_counter()
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
            raw.append((time.perf_counter() - t0) * 1000)
    conn = sqlite3.connect(directory / "fsync.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS ev (id INTEGER PRIMARY KEY, body BLOB)")
    commits: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO ev (body) VALUES (?)", (b"%d" % i * 50,))
        conn.execute("COMMIT")
        commits.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return Stats.of(raw), Stats.of(commits)


def mosquitto_flood(
    broker: LocalBroker, units: list[str], lines: dict[str, bytes]
) -> tuple[float, list[subprocess.Popen[bytes]]]:
    """Start one `mosquitto_pub -l` per unit publishing its lines (QoS1) on unit/<u>/event; returns
    (wall time of the first write, the processes). The C client keeps the generator off the GIL."""
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        raise RuntimeError("mosquitto_pub missing: apt-get install -y mosquitto-clients")
    topics = Topics(broker.site.site.id)
    procs = []
    for u in units:
        c = broker.creds(f"unit-{u}")
        procs.append(
            subprocess.Popen(
                [
                    *(pub, "-h", c.host, "-p", str(c.port), "-u", c.username, "-P", c.password),
                    *("-i", cid_for(f"unit-{u}", "bench-flood"), "-q", "1"),
                    *("-t", topics.unit_event(u), "-l"),
                ],
                stdin=subprocess.PIPE,
            )
        )
    time.sleep(0.3)  # connected
    t0 = time.time()
    for u, p in zip(units, procs, strict=True):
        assert p.stdin is not None
        p.stdin.write(lines[u])
        p.stdin.close()
    return t0, procs


def subscriber_rate_c(broker: LocalBroker, units: list[str], per_unit: int, log: Path) -> float:
    """Messages/s a bare paho subscriber *process* takes in from the same C flood as the ingest test
    (`mosquitto_pub -l`, QoS1), from the first publish to the last message received."""
    from bench.system import Sink

    topics = Topics(broker.site.site.id)
    total = per_unit * len(units)
    sink = Sink(broker.dir, [topics.all_units(UnitChannel.EVENT)], extra=["--count", str(total)], log=log)
    try:
        sink.line(30)  # ready
        line = b'{"v":1,"bench":"' + b"x" * 300 + b'"}\n'
        t0, procs = mosquitto_flood(broker, units, {u: line * per_unit for u in units})
        out = sink.line(180)
        for p in procs:
            p.wait(30)
        return float(out["n"]) / (float(out["last"]) - t0)
    finally:
        sink.stop()
