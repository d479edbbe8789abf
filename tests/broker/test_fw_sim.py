"""`alarm-sim` with the 10 example units against a real mosquitto; the test plays the console."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory import Site
from stilalarm.wire import messages as m
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.broker.test_fw_unit import Console
from tests.conftest import EXAMPLE_SITE

BIN = Path(sys.executable).parent


def test_sim_all_example_units_press_gets_receipt(
    broker: LocalBroker, link: Callable[..., Link], topics: Topics, site: Site, tmp_path: Path
) -> None:
    lk = link("console", connect=False)
    console = Console(lk, topics)
    lk.start()
    assert lk.wait_connected(5)
    argv = [str(BIN / "alarm-sim"), "--site", str(EXAMPLE_SITE), "--broker-dir", str(broker.dir)]
    sim = JsonLineProcess([*argv, "--state-dir", str(tmp_path / "sim")], tmp_path / "sim.log")
    try:
        [ready] = sim.wait_for("ready", timeout=20)
        pis = [u for u in site.units if u.via.value == "gpio"]  # web units are alarm-web's, not the sim's
        assert ready["units"] == len(pis) == 10
        assert {r["unit"] for r in sim.find("link", state="up")} == {u.id for u in pis}
        for u in pis:
            sim.send(f"press {u.id}")
        receipts = sim.wait_for("receipt", n=10, timeout=20)
        assert {r["unit"] for r in receipts} == {u.id for u in pis}
        assert all(r["incident_id"] == "i-1" and r["latency_ms"] is not None for r in receipts)
        kinds = {e.unit_id: e.kind for e in console.seen()}
        assert kinds["pager-an"] is m.EventKind.PAGER_ACK and kinds["balie-1"] is m.EventKind.ALARM
        desks = {u.id for u in pis if u.role.value == "desk"}
        # each unit prints its LED line right after its receipt line: wait for them, do not race them
        led = {r["unit"] for r in sim.wait_for("led", n=len(desks), timeout=10, pattern="stored")}
        assert led == desks
        sim.send("bogus")
        sim.send("press nobody")
        assert len(sim.wait_for("error", n=2)) == 2
        sim.wait_for("release", n=10)  # (a cut while the press is still being released would be undone)
        sim.send("cut balie-2")
        [fault] = sim.wait_for("fault", unit="balie-2", timeout=5)
        assert fault["fault"] == "cut" and fault["state"] == "raised"
        sim.send("status balie-1")
        [st] = sim.wait_for("status", unit="balie-1")
        assert st["link"] == "up" and st["outbox_depth"] == 0 and st["led"] == "stored"
        sim.send("quit")
        sim.wait_for("bye", timeout=10)
        assert sim.proc.wait(10) == 0
    finally:
        sim.close()


def test_sim_kill_unit_publishes_will(
    broker: LocalBroker, capture: Callable[..., object], topics: Topics, tmp_path: Path
) -> None:
    status = topics.unit_status("balie-3")
    cap = capture(status)
    argv = [str(BIN / "alarm-sim"), "--site", str(EXAMPLE_SITE), "--broker-dir", str(broker.dir)]
    sim = JsonLineProcess(
        [*argv, "--units", "balie-3,balie-1", "--state-dir", str(tmp_path / "sim")], tmp_path / "sim.log"
    )
    try:
        sim.wait_for("ready", timeout=20)
        sim.send("kill balie-3")
        sim.wait_for("killed", unit="balie-3")
        got = cap.wait_for(status, n=2)  # type: ignore[attr-defined]
        assert m.parse(m.UnitStatus, got[-1]).reason == "lost"
        sim.send("press balie-3")
        sim.wait_for("error")
    finally:
        sim.close()


def test_sim_without_state_dir_removes_its_temporary_outbox_on_exit(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """alarm-sim made /tmp/alarm-sim-* and never removed it; with TMPDIR pointed here we see it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = [str(BIN / "alarm-sim"), "--site", str(EXAMPLE_SITE), "--broker-dir", str(broker.dir)]
    sim = JsonLineProcess([*argv, "--units", "balie-1"], tmp_path / "sim.log", env={"TMPDIR": str(tmp)})
    try:
        sim.wait_for("ready", timeout=20)
        assert [p.name[:10] for p in tmp.iterdir()] == ["alarm-sim-"]  # it does use a temp dir
        sim.send("quit")
        sim.wait_for("bye", timeout=10)
        assert sim.proc.wait(10) == 0
    finally:
        sim.close()
    assert list(tmp.iterdir()) == []
