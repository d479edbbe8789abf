"""Clean-session clients subscribe at QoS 0 (console/tui/bus.py `QOS`), checked on 3 real
nats-server 2.9 nodes.

On the cluster every QoS 1 subscription is a JetStream consumer on `$MQTT_msgs`. nats-server 2.9
deletes a clean session's consumers at its close while it holds the session, so a message for that
session arriving over a route blocks the route's reader until the delete's answer, which may need
that very route, times out: 4 s without any traffic between the two nodes (docs/HA.md, "A closing
session stalls a route"; measured 4.0 s in 4 of 4 closes). A leads' console (a clean session) that
makes no consumer has nothing to delete at its close.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalCluster
from stilalarm.console.tui.bus import Bus, BusEvent, Up
from stilalarm.wire.jetstream import NatsLogin, run_job
from stilalarm.wire.streams import MQTT_MSGS_STREAM
from stilalarm.wire.topics import Topics
from tests.harness import wait_until


def consumers(cluster: LocalCluster) -> int:
    """How many consumers `$MQTT_msgs` of the site's account has (the console-log login may ask)."""
    c = cluster.log_creds()
    login = NatsLogin(tuple(c.servers), c.username, c.password, c.ca_file, "test-consumers")

    async def count(js: object) -> int:
        info = await js.stream_info(MQTT_MSGS_STREAM)  # type: ignore[attr-defined]
        return int(info.state.consumer_count)

    return run_job(login, count, wait_s=30, timeout_s=2)


def settled(cluster: LocalCluster, quiet_s: float = 3.0) -> int:
    """The consumer count once it has not changed for `quiet_s`: the cluster's readiness probe
    (`LocalCluster.start`, a clean session with a QoS 1 subscription) has its consumer deleted
    after its close, asynchronously (seen in CI: counted 1, then 0)."""
    last, since = consumers(cluster), time.monotonic()
    deadline = since + 60  # liveness only
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the consumer count never settled"
        time.sleep(0.5)
        if (now := consumers(cluster)) != last:
            last, since = now, time.monotonic()
    return last


def test_a_leads_console_makes_no_jetstream_consumer_and_a_qos1_client_does(
    cluster: LocalCluster, topics: Topics
) -> None:
    before = settled(cluster)
    events: list[BusEvent] = []
    bus = Bus(cluster.creds("person-an", node=1), "an", events.append)
    bus.start()
    try:
        assert bus.link.wait_connected(30), "the console connected and subscribed"
        wait_until(lambda: any(isinstance(e, Up) for e in events), 30, "the console up")
        assert consumers(cluster) == before  # nine subscriptions, no consumer: nothing to delete
    finally:
        bus.stop()
    # the control: the same login's clean session with QoS 1 subscriptions makes one consumer each
    creds = cluster.creds("person-an", node=1)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{creds.username}.qos1", clean_session=True)
    c.username_pw_set(creds.username, creds.password)
    granted: list[bool] = []
    done = threading.Event()

    def on_sub(_c: object, _u: object, _m: object, rc: list[mqtt.ReasonCode], _p: object) -> None:
        granted.extend(not r.is_failure for r in rc)
        done.set()

    c.on_subscribe = on_sub
    c.connect(creds.host, creds.port, keepalive=30)
    c.loop_start()
    try:
        c.subscribe([(topics.person_notify("an"), 1), (topics.person_reply("an"), 1)])
        assert done.wait(30) and granted == [True, True]
        assert consumers(cluster) == before + 2
    finally:
        c.disconnect()
        c.loop_stop()
