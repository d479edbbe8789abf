"""A subscription the broker refuses is asked for again (wire/link.py `Link`, firmware/mux.py
`MuxLink`). The cluster profile's NATS refuses a QoS1 SUBSCRIBE now and then while it creates
hundreds of consumers at once (bench `ha`, docs/HA.md); a unit whose receipt subscription was
refused used to stay deaf until it reconnected. Reproduced with a refusal we can end: a login
subscribes to a topic its permissions do not grant (refused), the permission is then granted
(accounts.conf rewritten, every node reloaded with SIGHUP), and the next retry gets it: messages
arrive without a reconnect. A real 3-node cluster of its own (its permissions are changed)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.cluster import subjects
from stilalarm.broker_config.local import LocalCluster
from stilalarm.firmware.mux import Mux
from stilalarm.inventory import Site
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.harness import started_cluster, wait_until


@pytest.fixture
def own_cluster(tmp_path: Path, site: Site) -> Iterator[LocalCluster]:
    with started_cluster(site, tmp_path / "cluster") as c:
        yield c


def grant(cluster: LocalCluster, user: str, topic: str) -> None:
    """Add `topic` to `user`'s subscribe permissions and have every node reload them."""
    path = cluster.dir / "accounts.conf"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if f'user: "{user}"' in line)
    sub = next(i for i in range(at, len(lines)) if "subscribe: { allow: [" in lines[i])
    extra = ", ".join(f'"{s}"' for s in subjects(topic))
    lines[sub] = lines[sub].replace("subscribe: { allow: [", f"subscribe: {{ allow: [{extra}, ", 1)
    path.write_text("\n".join(lines) + "\n")
    for i in range(len(cluster.nodes)):
        pid = cluster.pid(i)
        assert pid is not None
        os.kill(pid, signal.SIGHUP)


def test_a_refused_subscription_is_asked_for_again_and_works_once_granted(
    own_cluster: LocalCluster, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = own_cluster
    topic = topics.unit_event("balie-1")  # a person may not read a unit's events
    got: list[bytes] = []
    person = Link(cluster.creds("person-an"))
    person.subscribe(topic, lambda _t, p: got.append(p))
    unit = Link(cluster.creds("unit-balie-1"))
    try:
        person.start()
        assert person.wait_connected(30), "up (its other subscriptions work) although one was refused"
        # refused, and refused again on the first retry (still not granted)
        wait_until(lambda: "asking again in 2 s" in caplog.text, 20, "the refusal of the first retry")
        unit.start()
        assert unit.wait_connected(30)
        unit.publish(topic, b"before", qos=1).wait_for_publish(10)
        grant(cluster, "person-an", topic)

        def arrived() -> bool:
            unit.publish(topic, b"after", qos=1)
            return b"after" in got

        wait_until(arrived, 90, "a message on the subscription granted on a retry")
        wait_until(
            lambda: "granted the subscriptions of person-an on a retry" in caplog.text,
            60,
            "the retry granted",
        )
        assert b"before" not in got  # refused then: nothing arrived on it
    finally:
        person.stop()
        unit.stop()


def test_a_mux_link_asks_again_for_a_refused_subscription(
    own_cluster: LocalCluster, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = own_cluster
    topic = topics.unit_event("balie-1")

    async def run() -> list[bytes]:
        loop = asyncio.get_running_loop()
        mux = Mux(loop)
        got: list[bytes] = []
        lk = mux.link(
            cluster.creds("unit-wachtzaal"),  # a unit may not read another unit's events
            subscriptions=[topics.unit_receipt("wachtzaal"), topic],
            on_message=lambda _t, p: got.append(p),
            on_up=lambda: None,
            on_down=lambda _r: None,
        )
        lk.start()

        async def until(pred: Callable[[], bool], timeout: float, what: str) -> None:
            deadline = loop.time() + timeout
            while not pred():
                if loop.time() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.05)

        sender = Link(cluster.creds("unit-balie-1"))
        try:
            await until(lambda: lk.connected, 30, "the connect")
            await until(
                lambda: "broker refused subscriptions of unit-wachtzaal" in caplog.text, 20, "refusal"
            )
            await loop.run_in_executor(None, grant, cluster, "unit-wachtzaal", topic)
            sender.start()
            await loop.run_in_executor(None, sender.wait_connected, 30)
            deadline = loop.time() + 90
            while b"after" not in got:
                if loop.time() > deadline:
                    raise AssertionError(
                        "timed out waiting for a message on the subscription granted on a retry"
                    )
                sender.publish(topic, b"after", qos=1)
                await asyncio.sleep(0.5)
            granted = "unit-wachtzaal: subscriptions granted on a retry"
            await until(lambda: granted in caplog.text, 60, "the retry granted")
            return got
        finally:
            sender.stop()
            await mux.shutdown({})

    got = asyncio.run(asyncio.wait_for(run(), 120))
    assert b"after" in got
    wait_until(
        lambda: "unit-wachtzaal: subscriptions granted on a retry" in caplog.text, 1, "the retry granted"
    )
