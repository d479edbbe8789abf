"""stilalarm benchmark suite: real processes over the real broker on loopback.

    python -m bench --site examples/site.toml [--quick] [--only NAME[,NAME]] [--doc docs/PERFORMANCE.md]

Scenarios (in this order): baseline, scale, latency, burst, sustained, pi4, supervision, restart,
footprint, fanout, flood, web, fleet, ha, region. Every figure is paired with a baseline measured in the
same run. Scenarios in OPT_IN (region: many sites on one cluster, about 15 minutes) run only when named in
`--only`.
baseline, latency, burst, sustained and flood also run "busy": again in the same run, with a
CPU-bound competitor the bench starts itself (one busy process per core minus one), unless
`--no-busy`. pi4 runs latency, burst and sustained with the broker and the console each under a
CPU quota of one Raspberry Pi 4 core (a cgroup; an estimate, see bench/contention.py). Prints a
table and rewrites the generated part of docs/PERFORMANCE.md (with `--only`/`--quick` too,
unless `--no-doc`). Exits 0 unless a scenario crashed; a missed target is a ✗, not a failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.ctx import Ctx
from bench.report import Failure, Results, generated, machine, text_table, write_doc

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [
    "baseline",
    "scale",
    "latency",
    "burst",
    "sustained",
    "pi4",
    "supervision",
    "restart",
    "footprint",
    "fanout",
    "flood",
    "web",
    "fleet",
    "ha",
    "region",
]
OPT_IN = {"region"}  # slow: only with --only
NEEDS_BASELINE = {"scale", "latency", "burst", "sustained"}


def _steps(ctx: Ctx, chosen: list[str]) -> list[tuple[str, Callable[[], None]]]:
    from bench import (
        sc_base,
        sc_fanout_kill,
        sc_fleet,
        sc_flood,
        sc_ha,
        sc_ingest,
        sc_pi4,
        sc_region,
        sc_restart,
        sc_site,
        sc_supervision,
        sc_web,
    )
    from bench.modes import BUSY

    site_part = [s for s in ("scale", "latency", "burst") if s in chosen]
    busy_part = [s for s in site_part if s != "scale"]
    steps: list[tuple[str, Callable[[], None]]] = []
    if "baseline" in chosen:
        steps.append(("baseline", lambda: sc_base.run_baseline(ctx)))
    if site_part:
        steps.append(("+".join(site_part), lambda: sc_site.run_site(ctx, set(site_part))))
    if busy_part and ctx.busy:
        steps.append(("+".join(busy_part) + " busy", lambda: sc_site.run_site(ctx, set(busy_part), BUSY)))
    table: dict[str, Callable[[], None]] = {
        "sustained": lambda: sc_ingest.run_sustained(ctx),
        "sustained busy": lambda: sc_ingest.run_sustained(ctx, BUSY),
        "pi4": lambda: sc_pi4.run_pi4(ctx),
        "supervision": lambda: sc_supervision.run_supervision(ctx),
        "restart": lambda: sc_restart.run_restart(ctx),
        "footprint": lambda: sc_base.run_footprint(ctx),
        "fanout": lambda: sc_fanout_kill.run_fanout_all(ctx),
        "flood": lambda: sc_flood.run_flood(ctx),
        "flood busy": lambda: sc_flood.run_flood(ctx, busy=True),
        "web": lambda: sc_web.run_web(ctx),
        "fleet": lambda: sc_fleet.run_fleet(ctx),
        "ha": lambda: sc_ha.run_ha(ctx),
        "region": lambda: sc_region.run_region(ctx),
    }
    for name, fn in table.items():
        base_name, _, variant = name.partition(" ")
        if base_name in chosen and (not variant or ctx.busy):
            steps.append((name, fn))
    return steps


def _stop(_sig: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: every scenario's `finally` stops the brokers and services
    it started (they run in sessions of their own, so killing the bench alone would leave them)."""
    raise SystemExit(128 + signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--site", type=Path, default=ROOT / "examples" / "site.toml")
    ap.add_argument("--quick", action="store_true", help="smaller counts and windows (a smoke check)")
    ap.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(SCENARIOS)} (default: all but {', '.join(OPT_IN)})",
    )
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    ap.add_argument("--no-doc", action="store_true", help="print only, do not write the doc")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    ap.add_argument("--no-busy", action="store_true", help="skip the busy variants (CPU-bound competitor)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or [
        s for s in SCENARIOS if s not in OPT_IN
    ]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; choose from {SCENARIOS}")
    if any(s in NEEDS_BASELINE for s in chosen) and "baseline" not in chosen:
        chosen.insert(0, "baseline")  # ratios need the same run's baseline
    chosen = [s for s in SCENARIOS if s in chosen]
    work = Path(tempfile.mkdtemp(prefix="stilalarm-bench-"))
    info = machine()
    started = info["date"]
    ctx = Ctx(
        site_path=args.site.resolve(), work=work, quick=args.quick, res=Results(), busy=not args.no_busy
    )
    print(
        f"stilalarm bench: {', '.join(chosen)}{' (quick)' if args.quick else ''}; work dir {work}", flush=True
    )
    for name, fn in _steps(ctx, chosen):
        t0 = time.monotonic()
        ctx.res.load[name] = os.getloadavg()[0]
        print(f"== {name} (load {ctx.res.load[name]:.2f}) ...", flush=True)
        try:
            fn()
        except Exception as exc:  # a crashed scenario is reported, the others still run
            traceback.print_exc()
            ctx.res.failures.append(Failure(name, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]))
        ctx.res.seconds[name] = time.monotonic() - t0
        print(f"   {name}: {ctx.res.seconds[name]:.0f} s", flush=True)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(text_table(ctx.res.rows))
    for sc, notes in ctx.res.notes.items():
        print(f"\n{sc}: " + " ".join(notes))
    for f in ctx.res.failures:
        print(f"CRASHED {f.scenario}: {f.error}")
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    if not args.no_doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        write_doc(args.doc, generated(ctx.res, info, shown, started, load_end))
        print(f"\nwrote {args.doc}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if ctx.res.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
