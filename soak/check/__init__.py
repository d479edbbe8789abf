"""The invariant checker: reads a finished run's directory (captures, the console's database,
read-only) and checks the eight invariants of issue #12.

`python -m soak check DIR` re-checks a kept run. Prints a table (invariant, checked, violations);
for each violation the seed, the fault schedule and the recorded events around it. Returns
whether every invariant held.

The observer's capture (`capture.jsonl`, a million lines and more in a long run) is streamed:
one pass keeps only what the checks need (notifications, incident states, LED commands,
replies, unit states), and one more pass, only when something failed, collects the context.
Every allowance for a fault is derived from the applied fault windows (`faults.jsonl`) and named
with why it is that size (`allowances`).

Modules: `run` (a run's files, the console's database, results), `allowances` (fault allowances
and windows), `capture` (the pass over the capture), one per invariant or group (`presses` 1,
`escalation` 2-3, `units` 4-5, `rebuild` 6, `testwindows` 7, `hostile` 8), `report` (the table
and the context of each violation).
"""

from __future__ import annotations

import sys
from pathlib import Path

from soak.check.capture import scan_capture
from soak.check.escalation import inv2, inv3
from soak.check.hostile import inv8
from soak.check.presses import inv1
from soak.check.rebuild import inv6
from soak.check.report import report
from soak.check.run import Db, Result, Run, Violation
from soak.check.testwindows import inv7
from soak.check.units import inv4, inv5
from stilalarm.inventory.load import parse_site
from stilalarm.wire.topics import Topics

__all__ = ["Result", "Run", "Violation", "check", "check_run", "main", "report"]


def check(run: Run) -> list[Result]:
    """Check the eight invariants over a loaded run."""
    site = parse_site((run.dir / "site.toml").read_text(encoding="utf-8"))
    T = Topics(site.site.id)
    sim_units = set(run.plan["units"])
    db = Db.load(run.dir / "console.db")
    wire = scan_capture(run, T, sim_units)
    shard_of = {x["unit"]: x["shard"] for x in run.sim if x.get("unit") in sim_units and "shard" in x}
    return [
        inv1(run, sim_units, db, wire),
        inv2(run, site, sim_units, shard_of, db, wire),
        inv3(run, wire),
        inv4(run, sim_units, db, wire),
        inv5(run, sim_units, shard_of, wire),
        inv6(run, site, db, wire),
        inv7(run, site, sim_units, db),
        inv8(run, db, wire),
    ]


def check_run(d: Path) -> bool:
    """Load, check and report the run in `d`; whether every invariant held."""
    run = Run.load(d)
    return report(run, check(run))


def main(argv: list[str]) -> int:
    """`python -m soak check RUN_DIR`."""
    if len(argv) != 1:
        print("usage: python -m soak check RUN_DIR", file=sys.stderr)
        return 2
    return 0 if check_run(Path(argv[0])) else 1
