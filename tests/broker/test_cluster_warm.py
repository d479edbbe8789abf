"""Cold nodes (docs/HA.md "Cold nodes", wire/warm.py), on 3 real nats-server 2.9 nodes.

A node sets up a site's MQTT sessions at its first MQTT client of the site's account: it
(re)creates its own durable consumer on `$MQTT_rmsgs`, `$MQTT_rmsgs_<node>`. Every client prefers
the first node, so without a warmer the others are cold until a failover sends everybody there.
What a node has set up is read from the nodes themselves (the system account's JSZ request: the
consumers of `$MQTT_rmsgs` and when each was created).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import pytest

from stilalarm.broker_config.cluster import ACCOUNT, SYSTEM_USER
from stilalarm.broker_config.local import LocalCluster
from stilalarm.devkit.servicerun import FAST_SITE, ServiceProcess
from stilalarm.inventory import Site
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import NotifyReason
from stilalarm.wire.topics import Topics
from stilalarm.wire.warm import NodeWarmer
from tests.harness import Capture, started_cluster, wait_until

RMSGS = "$MQTT_rmsgs"
BIN = Path(sys.executable).parent


def rmsgs_consumers(cluster: LocalCluster) -> dict[str, datetime]:
    """The consumers of the site account's `$MQTT_rmsgs` stream, each with its creation time, as
    a node answers the system account's JSZ request ({} while the stream does not exist)."""
    password = json.loads((cluster.dir / "secrets.json").read_text())[SYSTEM_USER]
    servers = [f"nats://{n.host}:{n.nats_port}" for n in cluster.nodes]

    async def ask() -> dict[str, datetime]:
        nc = await nats.connect(servers, user=SYSTEM_USER, password=password, connect_timeout=2)
        try:
            opts = {"streams": True, "consumer": True}
            msg = await nc.request(f"$SYS.REQ.ACCOUNT.{ACCOUNT}.JSZ", json.dumps(opts).encode(), timeout=5)
        finally:
            await nc.close()
        data = json.loads(msg.data)["data"]
        for stream in data.get("stream_detail") or []:
            if stream["name"] == RMSGS:
                return {
                    c["name"]: datetime.fromisoformat(c["created"].replace("Z", "+00:00"))
                    for c in stream.get("consumer_detail") or []
                }
        return {}

    return asyncio.run(ask())


def consumers(cluster: LocalCluster) -> dict[str, datetime]:
    """`rmsgs_consumers`, asked again while no node answers (a node just killed or restarting)."""
    deadline = time.monotonic() + 30  # liveness only
    while True:
        try:
            return rmsgs_consumers(cluster)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"no node answered the JSZ request: {exc!r}") from None
            time.sleep(0.5)


def created_since(cluster: LocalCluster, t: datetime) -> list[str]:
    return [name for name, at in consumers(cluster).items() if at > t]


def test_the_warmer_sets_up_every_node_and_a_restarted_one_again_and_logs_a_dead_one(
    tmp_path: Path, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stilalarm.wire.warm")
    with started_cluster(site, tmp_path / "cluster") as c:
        # control: only the node the readiness probe used has set up the site (the others are cold)
        wait_until(lambda: len(consumers(c)) == 1, 30, "the first node's consumer")
        warmer = NodeWarmer(c.creds("console", node=None), every_s=0.5)
        assert len(warmer.creds.addresses) == 3
        warmer.start()
        try:
            wait_until(lambda: len(consumers(c)) == 3, 60, "every node's consumer")
            wait_until(lambda: set(warmer.answers.values()) == {"Success"}, 30, "every node answers")
            # a node dies: logged once, with what to do
            dead = warmer.creds.addresses[2]
            c.kill_node(2)
            wait_until(lambda: warmer.answers.get(dead, "Success") != "Success", 30, "the dead node noticed")
            wait_until(lambda: "check nats-server there" in caplog.text, 10, "the dead node logged")
            # it comes back: a fresh process has set up nothing; the warmer makes it do so again
            back = datetime.now(UTC)
            c.start_node(2)
            wait_until(lambda: warmer.answers.get(dead) == "Success", 60, "the node answers again")
            wait_until(lambda: created_since(c, back) != [], 60, "the restarted node's consumer again")
            assert len(created_since(c, back)) == 1  # that node's only
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            # the dead node once; a live node may also miss the 5 s CONNACK once while the
            # cluster elects new leaders for the groups the dead node led (docs/HA.md "Cold nodes")
            assert len([m for m in warned if f"{dead.host}:{dead.port} " in m]) == 1, warned
            assert all("check nats-server there" in m for m in warned)
            assert f"{dead.host}:{dead.port} accepts connects again" in caplog.text
        finally:
            warmer.stop()


def test_the_console_service_warms_every_node_and_tells_facilities_of_a_silent_one(tmp_path: Path) -> None:
    """`alarm-console serve` with its rendered console.json (every node, the first preferred): it
    sets up every node, and a node that stops answering reaches facilities once, in their language,
    and once more when it is back."""
    site = parse_site(FAST_SITE)
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    with started_cluster(site, tmp_path / "cluster") as c:
        wait_until(lambda: len(consumers(c)) == 1, 30, "the first node's consumer")
        seen = Capture(c.creds("observer", node=0), (f"{Topics(site.site.id).base}/#",)).start()
        console = ServiceProcess(site_file, tmp_path / "console.db", c.dir, tmp_path / "console.log")
        try:
            console.start(["--warm-nodes-every", "0.5", "--node-silent-after", "3"])
            console.wait_ready(60)
            wait_until(lambda: len(consumers(c)) == 3, 60, "every node's consumer")
            host, port = c.endpoint(2)
            node = f"{host}:{port}"

            def told(person: str, reason: NotifyReason, words: str) -> list[str]:
                return [
                    n.title for n in seen.notifications(person) if n.reason is reason and words in n.title
                ]

            assert told("gert", NotifyReason.FAULT, "brokernode") == []  # all answer: nobody told
            c.kill_node(2)
            wait_until(lambda: told("gert", NotifyReason.FAULT, node) != [], 60, "facilities (nl) told")
            wait_until(lambda: told("fien", NotifyReason.FAULT, node) != [], 30, "facilities (en) told")
            assert told("gert", NotifyReason.FAULT, node) == [
                f"STORING alarmcentrale: brokernode {node} antwoordt niet"
            ]
            assert told("fien", NotifyReason.FAULT, node) == [
                f"FAULT alarm console: broker node {node} not answering"
            ]
            c.start_node(2)
            wait_until(lambda: told("gert", NotifyReason.INFO, node) != [], 60, "facilities told it is back")
            assert told("gert", NotifyReason.INFO, node) == [f"Hersteld: brokernode {node} antwoordt weer"]
            assert len(told("gert", NotifyReason.FAULT, node)) == 1  # once, not at every failed connect
            assert "check nats-server there" in console.log()
        finally:
            console.kill()
            seen.stop()
