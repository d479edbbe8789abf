"""A Pi that cannot read its pins says so, to a person (issue 17).

The real `alarm-unit run` (without `--sim`) on this machine, which has no GPIO chip and no lgpio:
exactly the case of a Pi without `python3-lgpio`. Real mosquitto with the project's config, the
real `alarm-console serve`. The unit must not crash: it says what to install, stays connected,
raises the unit fault `pins` ("knoppen onleesbaar") that facilities are told about, and keeps
trying. A later run in the same state directory that can read its pins (here `--sim`) clears it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import NotifyReason, UnitHealth, parse
from stilalarm.wire.topics import Topics
from tests.harness import wait_until
from tests.rig import ConsoleRig

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
BIN = Path(sys.executable).parent
UNIT = "spreekkamer-1"


class Rig(ConsoleRig):
    def unit_process(self, *extra: str, log: str) -> subprocess.Popen[bytes]:
        """The real `alarm-unit run` of spreekkamer-1 (no GPIOZERO_PIN_FACTORY from the environment)."""
        env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
        argv = [str(BIN / "alarm-unit"), "run", "--config", str(self.broker.dir / "units" / f"{UNIT}.json")]
        argv += ["--state-dir", str(self.dir / "state"), "--pins-retry-s", "0.05", *extra]
        with open(self.dir / log, "wb") as out:
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def log(self, name: str) -> str:
        return (self.dir / name).read_text(errors="replace")

    def fault_notes(self, person: str, words: str) -> list[str]:
        return [
            n.body
            for n in self.notes(person)
            if n.reason is NotifyReason.FAULT and n.unit_id == UNIT and words in n.body
        ]

    def health(self) -> UnitHealth | None:
        got = self.seen.on(T.unitstate(UNIT))
        return parse(UnitHealth, got[-1]) if got and got[-1] else None


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.stop()


def stop(p: subprocess.Popen[bytes]) -> int:
    p.send_signal(signal.SIGTERM)
    return p.wait(20)


def test_a_unit_without_pin_library_says_so_reports_the_fault_and_keeps_trying(rig: Rig) -> None:
    p = rig.unit_process(log="nopins.log")
    try:
        # facilities are told, each in their own language, with the fault's name (not a code)
        wait_until(lambda: bool(rig.fault_notes("gert", "knoppen onleesbaar")), 20, "facilities (nl) told")
        wait_until(lambda: bool(rig.fault_notes("fien", "buttons unreadable")), 20, "facilities (en) told")

        def health_shows_it() -> bool:
            h = rig.health()
            return h is not None and h.online and "unit:pins" in h.faults

        wait_until(health_shows_it, 20, "the unit online with its fault 'unit:pins'")
        # it keeps trying (a line per 20 attempts) and does not crash-loop
        wait_until(lambda: "pins still unreadable (attempt 20)" in rig.log("nopins.log"), 20, "retries")
        assert p.poll() is None, rig.log("nopins.log")
        text = rig.log("nopins.log")
        assert "BUTTONS UNREADABLE" in text and "--sim" in text  # what to do, for a person
        assert "Traceback" not in text
        assert text.count("BUTTONS UNREADABLE") == 1  # said once, not at every attempt
    finally:
        assert stop(p) == 0
    assert (rig.dir / "state" / "pins-unreadable").exists()
    assert len(rig.fault_notes("gert", "knoppen onleesbaar")) == 1  # one notice, not one per attempt
    assert [f["fault"] for f in rig.facts("fault_raised")] == ["unit:pins"]

    # the next run can read its pins (simulated here): the fault clears, once
    p = rig.unit_process("--sim", log="pins.log")
    try:
        # a restart within seconds is a flap window: the clear is recorded, nobody is paged for it
        wait_until(lambda: bool(rig.facts("fault_cleared")), 20, "the fault cleared in the console's log")
        assert [f["fault"] for f in rig.facts("fault_cleared")] == ["unit:pins"]

        def healthy() -> bool:
            h = rig.health()
            return h is not None and h.online and "unit:pins" not in h.faults

        wait_until(healthy, 20, "the fault gone from the unit's health")
    finally:
        assert stop(p) == 0
    assert not (rig.dir / "state" / "pins-unreadable").exists()
