"""Scenario `pi4`: a Raspberry Pi 4 estimate. The latency, burst and sustained scenarios again,
with the broker and the console service each in its own cgroup limited to one Pi 4 core's worth
of this machine's CPU.

The quota is 1 / ratio of one core, where ratio = how much faster one core here runs Python than
a Pi 4 core: a published Pi 4 time for the n-body benchmark in Python against the same program
timed on this machine at the start of the scenario (bench/contention.py, which cites the source:
https://chaitanyamehta.github.io/projects/performance-analysis-of-programming-languages).

Why the broker too, each in its own group: a Pi 4 that hosts the console hosts mosquitto as well;
it has four cores, so the console (one Python interpreter, one GIL) and mosquitto (one thread)
each run on a core of their own at Pi speed. The units (alarm-sim, the C publishers) and the
measuring clients are other machines in reality and run at full speed.

It is an estimate, and the table says so: a CFS quota hands out this machine's full-speed CPU in
slices (here 10 ms periods) and then stops the group until the next period. That models throughput
(sustained, flood, burst) well; a single light press mostly fits into one slice and runs at full
speed, so the latency rows lean optimistic. The disk is this machine's, not an SD card
(docs/PERFORMANCE.md discusses the card).
"""

from __future__ import annotations

import traceback

from bench.contention import PI4_NBODY_S, PI4_NBODY_STEPS, PI4_SOURCE_URL, pi4_ratio, quota_unavailable
from bench.ctx import Ctx
from bench.modes import PI4, Mode
from bench.report import Failure, Row


def run_pi4(ctx: Ctx) -> None:
    from bench import sc_ingest, sc_site

    res = ctx.res
    reason = quota_unavailable()
    if reason:
        res.add(Row(PI4, f"skipped: {reason}", float("nan"), "", target="a CPU quota (cgroup)", met=None))
        res.note(PI4, f"Skipped: {reason}. Run the bench as root on a machine with a cgroup cpu controller.")
        return
    ratio, here = pi4_ratio(steps=ctx.n(100_000, 30_000))
    cores = 1 / ratio
    mode = Mode("pi4", cores)
    res.add(
        Row(
            PI4,
            "this CPU core ÷ a Pi 4 core, Python (n-body; source and method in the note)",
            ratio,
            "×",
            target="estimate",
        )
    )
    res.note(
        PI4,
        f"AN ESTIMATE, not a measurement on a Pi. Source: {PI4_SOURCE_URL} (Raspberry Pi 4, Cortex-A72 "
        f"at 1.5 GHz, governor performance: n-body in Python, {PI4_NBODY_STEPS:,} steps, "
        f"{PI4_NBODY_S:.1f} s). The same algorithm here (this run, best of 3 short runs, scaled): "
        f"{here:.1f} s, so one core here ≈ {ratio:.2f} Pi 4 cores for Python. Broker and console each in "
        f"their own cgroup with a quota of {100 * cores:.1f} % of one core (10 ms periods); alarm-sim, "
        "the publishers and the measuring clients at full speed (they stand for other machines). The "
        "quota models throughput well; a light single press often fits into one slice at full speed, "
        "so the latency rows lean optimistic. This machine's disk, not an SD card.",
    )
    for what, fn in (
        ("latency+burst", lambda: sc_site.run_site(ctx, {"latency", "burst"}, mode)),
        ("sustained", lambda: sc_ingest.run_sustained(ctx, mode)),
    ):
        try:
            fn()
        except Exception as exc:  # one part crashed: the other still runs
            traceback.print_exc()
            res.failures.append(Failure(f"pi4 {what}", f"{type(exc).__name__}: {exc}".splitlines()[0][:300]))
