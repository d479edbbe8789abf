"""The headline of the cluster profile (docs/HA.md): a 3-node NATS cluster on loopback, the real
`alarm-console serve` on node 1, a unit on node 2; node 2 is SIGKILLed while an alarm is in flight.
The unit goes on through node 3: the alarm is delivered, there is one incident, and it is receipted.

The unit is a `ScriptedUnit` (resends every event until its receipt, like the firmware's outbox).
Address-list failover in wire/link.py is built separately; until then this test re-points the
unit's link at node 3 itself, right after the kill (as a client with an address list would on the
refused reconnect). The time from the kill to the receipt is measured and printed (and written to
`failover.txt` in the test's directory), never asserted: the machine is noisy.
"""

from __future__ import annotations

import time
from pathlib import Path

from stilalarm.broker_config.local import BrokerError, LocalCluster, find_nats_server
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import IncidentState, parse
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)


def repoint(unit: ScriptedUnit, node: int, cluster: LocalCluster) -> None:
    """Move the unit's link to another node (same client id, same persistent session)."""
    old = unit.link
    link = Link(cluster.creds(f"unit-{unit.unit_id}", node=node), client_id=f"unit-{unit.unit_id}")
    link.subscribe(T.unit_receipt(unit.unit_id), unit._on_receipt)
    link.subscribe(T.unit_cmd(unit.unit_id), lambda _t, p: unit.commands.append(p))
    unit.link = link
    old.stop(timeout=0.1)
    link.start()


def test_an_alarm_in_flight_survives_the_kill_of_the_units_node(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except BrokerError as exc:
        raise AssertionError(str(exc)) from None
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    cluster = LocalCluster(SITE, tmp_path / "cluster")
    cluster.start()
    console = ServiceProcess(site_file, tmp_path / "console.db", cluster.dir, tmp_path / "console.log")
    seen = None
    unit = None
    try:
        seen = Capture(cluster.creds("observer", node=2), (f"{T.base}/#",)).start()
        console.start()  # console.json points at node 1 (index 0)
        console.wait_ready(60)
        unit = ScriptedUnit(cluster.creds("unit-balie-1", node=1), "balie-1").start(20)
        # the console has the unit's birth: the path through the cluster works
        wait_until(lambda: seen.on(T.unitstate("balie-1")) != [], 30, "the unit's state at the console")

        ev = unit.press()
        t_kill = time.monotonic()
        cluster.kill_node(1)  # the alarm is in flight: published, perhaps not yet stored
        repoint(unit, 2, cluster)
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 60, "the receipt after the kill")
        elapsed = time.monotonic() - t_kill
        receipt = unit.receipt_for(ev.event_id)
        assert receipt is not None and receipt.incident_id is not None

        # delivered: the lead's page went out; one incident, the one receipted
        wait_until(lambda: seen.alarm_notifications("chris") != [], 30, "the lead's page")
        incidents = {
            parse(IncidentState, p).incident_id
            for t, p, _r in list(seen.messages)
            if t.startswith(f"{T.base}/incident/") and p
        }
        assert incidents == {receipt.incident_id}
        (tmp_path / "failover.txt").write_text(f"kill -9 of the unit's node -> receipt: {elapsed:.2f} s\n")
        print(f"\nkill -9 of the unit's node -> receipt: {elapsed:.2f} s")
    finally:
        if unit is not None:
            unit.stop()
        console.kill()
        if seen is not None:
            seen.stop()
        cluster.kill()
