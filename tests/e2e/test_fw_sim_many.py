"""`alarm-sim` with 300 generated units in one process: all connect, a burst of presses all get receipts.

(2,000 units: `python -m bench.fw_sim --units 2000`, see docs/FIRMWARE.md.)
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory import load_site
from stilalarm.wire import messages as m
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics, UnitChannel
from tests.conftest import EXAMPLE_SITE
from tests.harness import wait_until

BIN = Path(sys.executable).parent
N = 300


def test_300_units_connect_and_a_burst_of_presses_all_get_receipts(tmp_path: Path) -> None:
    site_path = tmp_path / "site.toml"
    ids = write_many_units(EXAMPLE_SITE, N, site_path)
    site = load_site(site_path)
    broker = LocalBroker(site, tmp_path / "b")
    broker.start()
    topics = Topics(site.site.id)
    stored: set[str] = set()
    lock = threading.Lock()
    console = Link(broker.creds("console"))

    def on_event(_t: str, payload: bytes) -> None:
        ev = m.parse(m.UnitEvent, payload)
        with lock:
            stored.add(str(ev.event_id))
        r = m.Receipt(event_id=ev.event_id, unit_id=ev.unit_id, incident_id="i-1", stored_at=m.utcnow())
        console.publish(topics.unit_receipt(ev.unit_id), m.encode(r))

    console.subscribe(topics.all_units(UnitChannel.EVENT), on_event)
    console.start()
    assert console.wait_connected(5)
    argv = [str(BIN / "alarm-sim"), "--site", str(site_path), "--broker-dir", str(broker.dir)]
    argv += ["--units", ",".join(ids), "--state-dir", str(tmp_path / "sim")]
    sim = JsonLineProcess(argv, tmp_path / "sim.log")
    try:
        [ready] = sim.wait_for("ready", timeout=60)
        assert ready["units"] == N
        for uid in ids:
            sim.send(f"press {uid}")
        # A unit whose receipt is slow retransmits, and this bare console receipts every copy: count
        # distinct units, not receipt lines (N lines can hold duplicates and still miss a unit).
        wait_until(
            lambda: {r["unit"] for r in sim.find("receipt")} == set(ids),
            timeout=60,
            what="a receipt per unit",
        )
        receipts = sim.find("receipt")
        with lock:
            assert {r["event_id"] for r in receipts} <= stored
        wait_until(
            lambda: {r["unit"] for r in sim.find("led", pattern="stored")} == set(ids),
            timeout=10,
            what="every unit's LED stored",
        )
        sim.send("quit")
        sim.wait_for("bye", timeout=30)
        assert sim.proc.wait(30) == 0
    finally:
        sim.close()
        console.stop()
        broker.kill()
