"""`python -m soak --duration S --seed N --units U [--out DIR]`, or `python -m soak check DIR`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check"]:
        from soak.check import main as check_main

        return check_main(args[1:])
    p = argparse.ArgumentParser(
        prog="python -m soak", description="Seeded fault-injection soak (docs/RELIABILITY.md)."
    )
    p.add_argument("--duration", type=float, default=180, help="seconds of presses and faults (default 180)")
    p.add_argument("--seed", type=int, default=None, help="the seed (default: from the time; printed)")
    p.add_argument("--units", type=int, default=20, help="simulated desk units (default 20)")
    p.add_argument(
        "--shards", type=int, default=4, help="alarm-sim processes the units are spread over (default 4)"
    )
    p.add_argument(
        "--fault-every",
        type=float,
        default=12.0,
        help="seconds between faults on average (default 12)",
    )
    p.add_argument("--out", type=Path, help="output directory (default run/soak/<seed>-<time>/)")
    a = p.parse_args(args)
    seed = a.seed if a.seed is not None else int(time.time()) % 1_000_000
    out = a.out or Path("run/soak") / f"{seed}-{time.strftime('%Y%m%dT%H%M%S')}"
    from soak.check import check_run
    from soak.runner import Soak

    out.mkdir(parents=True, exist_ok=True)
    # the clients' own log lines (reconnects during broker faults) go to a file, not the terminal
    logging.basicConfig(
        filename=out / "soak.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    summary = Soak(seed, a.duration, a.units, out.resolve(), a.shards, a.fault_every).run()
    ok = check_run(out)
    errors = summary["errors"]
    assert isinstance(errors, list)
    if errors:
        print(f"the run itself had {len(errors)} error(s); see {out / 'run.json'}")
    every = f" FAULT_EVERY={a.fault_every:g}" if a.fault_every != 12.0 else ""
    shards = f" SHARDS={a.shards}" if a.shards != 4 else ""
    line = f"make soak SEED={seed} DURATION={a.duration:g} UNITS={a.units}{every}{shards}"
    print(f"replay: {line}   (captures: {out})")
    return 0 if ok and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
