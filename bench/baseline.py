"""Bare-broker baselines, measured in the same run as every other figure.

- `qos1_hop`: paho QoS1 publish -> subscriber on the project's broker config.
- `qos1_insert_hop`: publish -> subscriber inserts the payload into SQLite
  (WAL, synchronous=FULL, one fsync'd commit) -> publishes on -> second
  subscriber. This is the bare shape of "press -> stored -> notification out".
- `subscriber_rate`: how many QoS1 messages/s a bare paho subscriber takes in.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.stats import Stats
from broker_config.local import LocalBroker
from wire.link import Link


def _link(broker: LocalBroker, user: str, cid: str) -> Link:
    lk = Link(broker.creds(user), client_id=cid, clean_session=True)
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
