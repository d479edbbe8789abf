"""One unit's stolen login floods the cluster while the console runs (docs/HA.md, item 13): a real
3-node cluster with the smallest store the inventory allows (16 MiB per node), a real
`alarm-console serve --ha`, another unit played by `ScriptedUnit` (it retransmits until its
receipt, like the firmware's outbox).

The flooder sends 60 KB events with `unit-balie-1`'s login, 2,000 in flight, many times a node's
store. Measured before the limits: on a loaded machine the store filled within 40 s, JetStream
stopped answering the lease and another unit's press got no receipt; on a quiet one the console's
pace kept up. Whether the flood won depended on load, so the old behaviour is shown by
tests/broker/test_cluster_queue_limits.py with the console away. Here: with the limits the console
sets at start, the press during the flood is receipted and paged, the store never fills, the
queued messages stay within their bound and the console stays active."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.topics import Topics
from tests.broker.test_cluster_queue_limits import STORE_FULL, flood, queued, store_full
from tests.harness import Capture, started_cluster, wait_until

STORE_MB = 16
SMALL_STORE = FAST_SITE + f"\n[cluster]\nmax_file_store_mb = {STORE_MB}\n"
SITE = parse_site(SMALL_STORE)
T = Topics(SITE.site.id)
FLOOD = 3000  # 180 MB: more than ten stores


def test_a_press_is_receipted_and_paged_while_a_stolen_unit_login_floods_the_cluster(
    tmp_path: Path,
) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SMALL_STORE)
    with started_cluster(SITE, tmp_path / "cluster") as cluster:
        creds = cluster.log_creds()
        q = creds.mqtt_queue
        assert q is not None
        console = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True).start()
        unit = ScriptedUnit(cluster.creds("unit-spreekkamer-1", node=None), "spreekkamer-1")
        acked: list[int] = []
        flooder = threading.Thread(
            target=lambda: acked.append(flood(cluster, "balie-1", FLOOD, 300)), daemon=True
        )
        try:
            console.start(["--ha", "a", "--ha-ttl", "3"])
            wait_until(lambda: "ACTIVE console a " in console.log(), 60, f"a active:\n{console.log()}")
            unit.start(20)
            wait_until(lambda: seen.on(T.unitstate("spreekkamer-1")) != [], 30, "the unit at the console")
            flooder.start()
            wait_until(lambda: len(seen.on(T.unit_event("balie-1"))) >= 200, 60, "the flood under way")
            ev = unit.press()
            t0 = time.monotonic()
            wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 30, "the receipt during the flood")
            t_receipt = time.monotonic() - t0
            wait_until(lambda: seen.alarm_notifications("an") != [], 10, "the lead paged")
            t_page = time.monotonic() - t0
            during = len(seen.on(T.unit_event("balie-1")))
            flooder.join(360)
            assert acked == [FLOOD], f"the cluster acknowledged {acked} of {FLOOD} flood events"
            msgs, size, *_ = queued(creds)
            print(
                f"\npress during the flood (after {during} flood events seen): receipt {t_receipt:.2f} s, "
                f"page {t_page:.2f} s; all {FLOOD} acknowledged; queued afterwards {msgs} ({size} bytes)"
            )
            assert size <= q.max_bytes
            assert not store_full(cluster), f"a node logged {STORE_FULL!r}"
            assert "stepping down" not in console.log(), "the console lost its lease during the flood"
            after = unit.press()  # and the console still takes alarms
            wait_until(
                lambda: unit.receipt_for(after.event_id) is not None, 30, "the receipt after the flood"
            )
        finally:
            unit.stop()
            console.kill()
            seen.stop()
