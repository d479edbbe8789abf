"""The headline of the cluster profile (docs/HA.md): a 3-node NATS cluster on loopback, the real
`alarm-console serve`, and a unit; the node the unit is connected to is SIGKILLed while an alarm is
in flight. The unit's link, given every node's address, moves to the next node by itself
(`wire/link.py` `AddressRing`) and resumes its persistent session there: the alarm is delivered,
there is one incident, and it is receipted.

- `ScriptedUnit` (resends every event until its receipt, like the firmware's outbox) with the
  node addresses in the order n2, n3, n1: it is on n2, the console on n1; n2 is killed.
- The real `alarm-unit run --sim` with its rendered config (n1, n2, n3), and the console with its
  rendered console.json (the same list): both are on n1, and n1 is killed, so both fail over.

The time from the kill to the receipt is printed (and written to `failover.txt` in the test's
directory), never asserted: the machine is noisy. Figures: docs/HA.md "Failover measured".
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import BrokerError, LocalCluster, find_nats_server
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import IncidentState, parse
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
BIN = Path(sys.executable).parent


@dataclass
class Rig:
    cluster: LocalCluster
    console: ServiceProcess
    seen: Capture
    dir: Path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A fresh cluster (its nodes get killed), the console service with its rendered console.json
    (every node, n1 first), and an observer on n3 (it survives every kill here)."""
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    cluster = LocalCluster(SITE, tmp_path / "cluster")
    console = ServiceProcess(site_file, tmp_path / "console.db", cluster.dir, tmp_path / "console.log")
    seen: Capture | None = None
    try:
        cluster.start()
        seen = Capture(cluster.creds("observer", node=2), (f"{T.base}/#",)).start()
        console.start()
        console.wait_ready(60)
        yield Rig(cluster, console, seen, tmp_path)
    finally:
        console.kill()
        if seen is not None:
            seen.stop()
        cluster.kill()


def one_incident_receipted(rig: Rig, incident_id: str | None) -> None:
    """Delivered (the lead's page went out) and exactly one incident, the one receipted."""
    assert incident_id is not None
    wait_until(lambda: rig.seen.alarm_notifications("chris") != [], 30, "the lead's page")
    rig.seen.incident_state(incident_id, 30)  # published after the page and the receipt (help_first)
    incidents = {
        parse(IncidentState, p).incident_id
        for t, p, _r in list(rig.seen.messages)
        if t.startswith(f"{T.base}/incident/") and p
    }
    assert incidents == {incident_id}


def report(rig: Rig, what: str, elapsed: float, log: str = "") -> None:
    """Print the figure; write it and the link's log lines (which node, when) to failover.txt."""
    line = f"kill -9 of the unit's node ({what}) -> receipt: {elapsed:.2f} s"
    (rig.dir / "failover.txt").write_text(line + "\n" + log)
    print(f"\n{line}")


def test_an_alarm_in_flight_survives_the_kill_of_the_units_node(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stilalarm.wire.link")
    cluster = rig.cluster
    creds = cluster.creds("unit-balie-1", node=None)
    assert len(creds.addresses) == 3  # as rendered: every node
    creds = creds.at(cluster.endpoint(1), cluster.endpoint(2), cluster.endpoint(0))
    unit = ScriptedUnit(creds, "balie-1").start(20)
    try:
        assert unit.link.ring.current.port == cluster.endpoint(1)[1]
        # the console has the unit's birth: the path through the cluster works
        wait_until(lambda: rig.seen.on(T.unitstate("balie-1")) != [], 30, "the unit's state at the console")

        ev = unit.press()
        t_kill = time.monotonic()
        cluster.kill_node(1)  # the alarm is in flight: published, perhaps not yet stored
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 60, "the receipt after the kill")
        elapsed = time.monotonic() - t_kill
        assert unit.link.ring.current.port != cluster.endpoint(1)[1]  # it moved by itself
        receipt = unit.receipt_for(ev.event_id)
        assert receipt is not None
        one_incident_receipted(rig, receipt.incident_id)
        t0 = time.time() - (time.monotonic() - t_kill)  # the kill, in log-record time
        log = "".join(f"{r.created - t0:+7.2f} s {r.levelname} {r.getMessage()}\n" for r in caplog.records)
        report(rig, "ScriptedUnit on n2", elapsed, log)
    finally:
        unit.stop()


def test_the_real_unit_and_the_console_both_fail_over_when_their_node_dies(rig: Rig) -> None:
    cluster = rig.cluster
    cfg_path = cluster.dir / "units" / "balie-1.json"
    argv = [str(BIN / "alarm-unit"), "run", "--config", str(cfg_path), "--state-dir", str(rig.dir / "state")]
    unit = JsonLineProcess([*argv, "--sim", "--control-stdin"], rig.dir / "unit.log")
    n1 = f"127.0.0.1:{cluster.endpoint(0)[1]}"
    try:
        unit.wait_for("link", state="up", timeout=60)
        wait_until(lambda: rig.seen.on(T.unitstate("balie-1")) != [], 30, "the unit's state at the console")
        assert f"connected to {n1}" in unit.log_path.read_text()

        unit.send("press balie-1")
        [stored] = unit.wait_for("alarm_stored", timeout=30)
        t_kill = time.monotonic()
        cluster.kill_node(0)  # the unit's and the console's node
        [rec] = unit.wait_for("receipt", timeout=90, event_id=stored["event_id"])
        elapsed = time.monotonic() - t_kill
        assert f"lost the connection to broker {n1}" in unit.log_path.read_text()
        wait_until(
            lambda: f"lost the connection to broker {n1}" in rig.console.log(), 30, "the console's move"
        )
        one_incident_receipted(rig, rec["incident_id"])
        report(rig, "alarm-unit --sim and the console on n1", elapsed)
    finally:
        unit.kill()
