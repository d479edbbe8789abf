"""A region's sites share the nodes' store; each site's account has a JetStream quota, an equal
share of it (docs/HA.md "Region", broker_config/region.py), so that one site's logins cannot stop
the others. Real nodes: a region of two sites on the smallest store the inventory allows (16 MiB
per node: each site may use 8 MiB of each node's, 24 MiB over all replicas).

The attack: site A's console password (stolen, or a console gone wrong) writes retained 60 KB
state messages under made-up incident ids, QoS0 as fast as the socket takes them, about three
stores' worth; nats-server keeps every retained message in the account's `$MQTT_rmsgs` stream.
With the quota A fills its own share (the node logs the account's limit) and site B's log and
lease stay writable and B's queued QoS1 events are stored. **The control repeats the attack on
the same region rendered without quotas** (as before 2026-12): the store fills (the node logs the
server's limit) and B's log refuses every append, so every site would stop.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalRegion
from stilalarm.console.ha.jetstream import ClusterLog, LogUnavailable
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.topics import Topics, UnitChannel
from tests.broker.test_cluster_queue_limits import log_writes
from tests.harness import wait_until

STORE_MB = 16
SMALL_STORE = FAST_SITE + f"\n[cluster]\nmax_file_store_mb = {STORE_MB}\n"
A = parse_site(SMALL_STORE)
B_ID = "tweede-site"
B = parse_site(SMALL_STORE.replace(f'id = "{A.site.id}"', f'id = "{B_ID}"', 1))
STATE = b"x" * 60_000
FLOOD = 800  # 48 MB: three stores


def flood_retained(c: BrokerCredentials, topics: Topics, count: int, done: Callable[[], bool]) -> int:
    """Up to `count` retained 60 KB incident states under made-up ids with the console's login, in
    rounds of 50 until `done()` (the limit reached: nothing more in flight than needed); how many."""
    cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.session_client_id())
    cl.username_pw_set(c.username, c.password)
    cl.connect(c.host, c.port)
    cl.loop_start()
    sent = 0
    try:
        while sent < count and not done():
            for _ in range(50):
                cl.publish(topics.incident(secrets.token_hex(8)), STATE, qos=0, retain=True)
                time.sleep(0.005)  # lets paho's network thread write it out before the next
            sent += 50
        return sent
    finally:
        cl.disconnect()
        cl.loop_stop()


def node_logs(region: LocalRegion) -> str:
    return "".join(region.log_path(i).read_text(errors="replace") for i in range(len(region.nodes)))


def queued_event_stored(region: LocalRegion, site_id: str) -> bool:
    """A unit's QoS1 event for the console's persistent session (away) is acknowledged: JetStream
    stored it (a full store answers no PUBACK)."""
    t = Topics(site_id)
    console = region.creds("console", 0, site_id)
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=console.session_client_id(), clean_session=False)
    sub.username_pw_set(console.username, console.password)
    sub.connect(console.host, console.port)
    sub.loop_start()
    try:
        granted = sub.subscribe(t.all_units(UnitChannel.EVENT), 1)[0] == mqtt.MQTT_ERR_SUCCESS
    finally:
        time.sleep(1)
        sub.loop_stop()
        sub.disconnect()
    unit = region.creds("unit-balie-1", 0, site_id)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unit.session_client_id())
    pub.username_pw_set(unit.username, unit.password)
    pub.connect(unit.host, unit.port)
    pub.loop_start()
    try:
        info = pub.publish(t.unit_event("balie-1"), b'{"probe": true}', qos=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not info.is_published():
            time.sleep(0.05)
        return granted and info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


def appends(clog: ClusterLog) -> bool:
    try:
        log_writes(clog, 5)
        return True
    except LogUnavailable:
        return False


@pytest.mark.parametrize("quota", [True, False], ids=["quota", "control-no-quota"])
def test_one_site_filling_its_share_does_not_stop_another_site(tmp_path: Path, quota: bool) -> None:
    region = LocalRegion([A, B], tmp_path / "region")
    a_account = region.site_dir(A.site.id) / "accounts.conf"
    b_account = region.site_dir(B_ID) / "accounts.conf"
    share = 3 * STORE_MB * 1024 * 1024 // 2  # the 3 nodes' stores (every replica counts) / 2 sites
    for path in (a_account, b_account):
        assert f"max_file: {share}," in path.read_text()
        if not quota:  # as rendered before 2026-12
            path.write_text(
                re.sub(
                    r"jetstream: \{ max_file: \d+, max_mem: \d+ \}", "jetstream: enabled", path.read_text()
                )
            )
    region.start()
    a_log = ClusterLog(region.log_creds(A.site.id), timeout_s=2.0)
    b_log = ClusterLog(region.log_creds(B_ID), timeout_s=2.0)
    try:
        a_log.start(wait_s=60)  # as each site's console does: its streams, lease and queue limits
        b_log.start(wait_s=60)
        assert appends(a_log) and appends(b_log), "both sites' logs work before the attack"
        limit = (
            f'resource limits exceeded for account: "SITE_{A.site.id}"'
            if quota
            else "resource limits exceeded for server"
        )
        sent = flood_retained(
            region.creds("console", 0, A.site.id),
            Topics(A.site.id),
            FLOOD,
            lambda: limit in node_logs(region),
        )
        print(f"\n{sent} retained states of 60 KB sent until the limit ({limit})")
        wait_until(lambda: limit in node_logs(region), 60, f"the attack reached the limit ({limit})")
        if quota:
            assert not appends(a_log), "site A filled its own share: its log refuses"
            assert appends(b_log), "site B's log and lease still work"
            assert queued_event_stored(region, B_ID), "site B's units' events are still stored"
        else:
            wait_until(lambda: not appends(b_log), 30, "without quotas the store fills for site B too")
    finally:
        a_log.close()
        b_log.close()
        region.kill()
