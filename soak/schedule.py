"""The run's plan, drawn from the seed before anything starts (pure: no I/O, no clock).

The same seed, duration, unit count and shard count give the same plan: the press plan, the
fault schedule and each incident's lead behaviour (`fate`). What actually happened, with the
real times, is recorded separately (`faults.jsonl`, `presses.jsonl`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

# Fault kinds the harness injects today (docs/RELIABILITY.md has the whole catalogue).
FAULT_KINDS = (
    "broker_kill",  # SIGKILL mosquitto, restart after `down_s`
    "broker_stop",  # SIGSTOP mosquitto, SIGCONT after `down_s`
    "console_kill",  # SIGKILL alarm-console serve, restart after `down_s`
    "console_stop",  # SIGSTOP alarm-console serve (a hang), SIGCONT after `down_s`
    "sim_kill",  # SIGKILL one alarm-sim shard (its units), restart on the same outbox after `down_s`
    "unit_kill",  # press the solo alarm-unit, SIGKILL it `kill_after_ms` later, restart after `down_s`
    "hostile_malformed",  # garbage, wrong schema, oversized, another unit's id in the payload
    "hostile_spoof",  # publish as another unit / person (ACL), resolve without rights
    "hostile_flood",  # one unit's login floods alarm events and heartbeats (tests/flood.py)
    "net_cut",  # the solo unit's veth link down (no FIN), up again after `down_s`
    "net_flap",  # the solo unit's link goes down and up every 0.2-3 s for `down_s`
    "disk_full",  # a filler file takes every free byte of the console's database tmpfs for `down_s`
    "clock_step",  # the solo unit's wall clock steps `offset_s` off, back after `down_s`
    "unit_crash_store",  # the solo unit SIGKILLs itself after the outbox write, before the publish
    "unit_crash_receipt",  # the solo unit SIGKILLs itself at the receipt, before recording it
    "lead_absent",  # a lead or deputy marks themselves absent for `down_s`
)
SOLO_FAULTS = ("unit_kill", "net_cut", "net_flap", "clock_step", "unit_crash_store", "unit_crash_receipt")
LEADS = ("an", "dirk", "chris", "bart")  # who can be absent (soak.site.RESPONDERS)
CLOCK_STEPS_S = (-86400.0 * 400, -7200.0, -600.0, 600.0, 3600.0, 86400.0 * 3)
DOWN_S = {
    "broker_kill": (0.5, 6.0),
    "broker_stop": (0.5, 6.0),
    "console_kill": (0.2, 5.0),
    "console_stop": (0.5, 8.0),
    "sim_kill": (0.5, 8.0),
    "unit_kill": (0.5, 5.0),
    "net_cut": (3.0, 25.0),
    "net_flap": (5.0, 20.0),
    "disk_full": (2.0, 20.0),
    "clock_step": (5.0, 40.0),
    "unit_crash_store": (0.5, 5.0),
    "unit_crash_receipt": (0.5, 5.0),
    "lead_absent": (10.0, 60.0),
}
FAULT_EVERY_S = 12.0  # one fault on average this often (`--fault-every`)
ROOM_WINDOW_SHARE = 0.3  # of the test actions: a room's window instead of a unit's
# unit_kill: from the press line to SIGKILL. The unit detects the press after min_hold (50 ms) and
# stores, publishes and gets its receipt within ~10-20 ms after that: the range straddles it, so the
# kill lands before the outbox write, between write and receipt, or after the receipt.
KILL_AFTER_MS = (30.0, 110.0)
WARMUP_S = 8.0  # no fault before this (every unit connected, first presses stored)
QUIET_END_S = 10.0  # every fault has ended this long before the press phase ends
TEST_PRESS_AFTER_S = 1.5  # a test action: the first press this long after the window was asked for
TEST_WINDOW_MIN = 0.5  # minutes a soak test window lasts


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start of the press phase
    kind: str
    target: str  # "broker", "console", "console-disk", "shard-N", "lead-P", "hostile"
    down_s: float  # 0 for the hostile ones
    kill_after_ms: float = 0.0  # unit_kill only
    offset_s: float = 0.0  # clock_step only

    def describe(self) -> str:
        down = f" for {self.down_s:.1f} s" if self.down_s else ""
        kill = f", killed {self.kill_after_ms:.0f} ms after a press" if self.kind == "unit_kill" else ""
        step = f", clock {self.offset_s:+.0f} s" if self.kind == "clock_step" else ""
        return f"t+{self.at:7.1f} s  {self.kind:<18} {self.target}{down}{kill}{step}"


@dataclass(frozen=True)
class Press:
    at: float
    kind: str  # single | repeat | burst | test
    units: tuple[str, ...]  # repeat, test: the same unit several times
    gaps: tuple[float, ...]  # repeat: seconds between the presses; test: window -> 1st press -> 2nd
    scope: str = "unit"  # test: the window of the unit, or of its room


@dataclass(frozen=True)
class Plan:
    seed: int
    duration_s: float
    units: tuple[str, ...]
    shards: int
    faults: tuple[Fault, ...]
    presses: tuple[Press, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        lines = [
            f"soak plan: seed {self.seed}, {self.duration_s:.0f} s, {len(self.units)} units in "
            f"{self.shards} alarm-sim shard(s), {len(self.presses)} press actions "
            f"({sum(len(p.units) for p in self.presses)} presses), {len(self.faults)} faults:"
        ]
        lines += ["  " + f.describe() for f in self.faults]
        return "\n".join(lines)


def shard_of(unit_index: int, shards: int) -> int:
    return unit_index % shards


def make_plan(
    seed: int,
    duration_s: float,
    units: list[str],
    shards: int,
    solo: str,
    fault_every_s: float = FAULT_EVERY_S,
) -> Plan:
    """Draw the presses and faults of a run from `seed`. `units` are pressed (the solo unit among
    them); shards 0..shards-1 are the alarm-sim processes, shard `shards` is the solo unit."""
    rng = random.Random(f"plan:{seed}")
    presses: list[Press] = []
    t = 1.0
    rate = max(0.2, min(2.0, len(units) / 40))  # press actions per second
    while True:
        t += rng.expovariate(rate)
        if t >= duration_s - 2:
            break
        r = rng.random()
        if r < 0.05:  # facilities open a unit's test window, it is pressed twice (a test, then real)
            gaps: tuple[float, ...] = (TEST_PRESS_AFTER_S, round(rng.uniform(1.0, 3.0), 2))
            scope = "room" if rng.random() < ROOM_WINDOW_SHARE else "unit"
            presses.append(Press(t, "test", (rng.choice(units),) * 2, gaps, scope))
        elif r < 0.6:
            presses.append(Press(t, "single", (rng.choice(units),), ()))
        elif r < 0.85:
            n = rng.randint(2, 4)
            gaps = tuple(round(rng.uniform(0.2, 2.5), 2) for _ in range(n - 1))
            presses.append(Press(t, "repeat", (rng.choice(units),) * n, gaps))
        else:
            k = rng.randint(2, max(2, min(10, len(units) // 2)))
            presses.append(Press(t, "burst", tuple(rng.sample(units, min(k, len(units)))), ()))
    faults: list[Fault] = []
    end = duration_s - QUIET_END_S
    if end > WARMUP_S + 5:
        n_faults = max(1, round((end - WARMUP_S) / fault_every_s))
        kinds = list(FAULT_KINDS)
        rng.shuffle(kinds)  # every kind once (in a seeded order) before any kind repeats
        for i in range(n_faults):
            kind = kinds[i] if i < len(kinds) else rng.choice(kinds)
            lo, hi = DOWN_S.get(kind, (0.0, 0.0))
            down = round(rng.uniform(lo, hi), 2) if hi else 0.0
            at = round(rng.uniform(WARMUP_S, max(WARMUP_S, end - down)), 2)
            if kind.startswith("broker"):
                target = "broker"
            elif kind.startswith("console"):
                target = "console"
            elif kind == "sim_kill":
                target = f"shard-{rng.randrange(shards)}"
            elif kind in SOLO_FAULTS:
                target = f"shard-{shards}"
            elif kind == "disk_full":
                target = "console-disk"
            elif kind == "lead_absent":
                target = f"lead-{rng.choice(LEADS)}"
            else:
                target = "hostile"
            kill_ms = round(rng.uniform(*KILL_AFTER_MS), 1) if kind == "unit_kill" else 0.0
            offset = rng.choice(CLOCK_STEPS_S) if kind == "clock_step" else 0.0
            faults.append(Fault(at, kind, target, down, kill_ms, offset))
    faults.sort(key=lambda f: f.at)
    return Plan(seed, duration_s, tuple(units), shards, tuple(faults), tuple(presses))


@dataclass(frozen=True)
class Fate:
    """What the leads do with one incident: acknowledge after `ack_after_s` (None: never, it
    escalates to the end), then resolve `resolve_after_s` later, by `who`."""

    kind: str
    ack_after_s: float | None
    resolve_after_s: float
    who: str


def fate(seed: int, incident_id: str, responders: tuple[str, ...]) -> Fate:
    """The leads' behaviour for one incident: seeded by the seed and the incident id."""
    rng = random.Random(f"fate:{seed}:{incident_id}")
    r = rng.random()
    who = rng.choice(responders)
    resolve = round(rng.uniform(0.5, 4.0), 2)
    if r < 0.35:
        return Fate("before_level_2", round(rng.uniform(0.1, 0.8), 2), resolve, who)
    if r < 0.6:
        return Fate("before_level_3", round(rng.uniform(1.2, 1.8), 2), resolve, who)
    if r < 0.92:
        return Fate("after_level_3", round(rng.uniform(2.5, 12.0), 2), resolve, who)
    return Fate("never", None, resolve, who)
