"""A short soak with a fixed seed (issue #12): every fault kind once, all eight invariants hold.

The real thing, as `make soak` runs it (mosquitto, `alarm-console serve`, alarm-sim shards, the
solo `alarm-unit` in its own network namespace, the console's database on a tmpfs, scripted
leads, the hostile client), only shorter: SEED's plan draws each of the 16 fault kinds once
(a fault every FAULT_EVERY_S seconds over DURATION_S), unit and room test windows, and leaves
every solo-unit fault time to end before the press phase does. About 3 minutes of wall time.

Needs root (network namespace, tmpfs mount); this project's CI runs as root. Without it the
test FAILS, it never skips. Each soak has a namespace of its own (bench.netns.soak_netns, named
from its pid), so it runs beside another soak or the network-cut test.

A failure here is a real bug or a wrong checker allowance: the output names the seed;
`make soak SEED=… DURATION=… UNITS=… FAULT_EVERY=…` replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from soak import check
from soak.schedule import FAULT_KINDS

SEED = 912
DURATION_S = 150
UNITS = 8
FAULT_EVERY_S = 8
# the run itself (~DURATION_S + start + drain + stop) and its check; a hung run is killed
WALL_LIMIT_S = 480


@pytest.mark.timeout(WALL_LIMIT_S + 60)
def test_short_soak_every_fault_kind_once_every_invariant_holds(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the soak needs root (a network namespace and a tmpfs mount); CI runs as root")
    out = tmp_path / "soak"
    argv = [
        sys.executable, "-m", "soak", "--duration", str(DURATION_S), "--seed", str(SEED),
        "--units", str(UNITS), "--fault-every", str(FAULT_EVERY_S), "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=WALL_LIMIT_S, check=False)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"soak seed {SEED} failed (exit {proc.returncode}):\n{tail}"

    run = check.Run.load(out)
    assert run.summary["errors"] == [], tail
    applied = {f["kind"] for f in run.faults}
    assert applied == set(FAULT_KINDS), f"not applied: {set(FAULT_KINDS) - applied}\n{tail}"
    bad = [
        f for f in run.faults if f["note"].startswith(("failed", "not applied", "not pressed", "no crash"))
    ]
    assert bad == [], tail
    results = {r.name: r for r in check.check(run)}
    assert {k: [v.text for v in r.violations] for k, r in results.items() if r.violations} == {}, tail
    # every invariant had something to check (7: the plan has unit and room test windows)
    assert {k: r.checked for k, r in results.items() if r.checked == 0} == {}, tail
    assert "cut(s) longer than" in results["5"].note, tail  # the network cut was long enough to be seen
    assert "0 room" not in results["7"].note, tail
