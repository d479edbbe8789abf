"""Supervision's step: `step(state, input, now) -> (state, effects)`, `next_due` and the tick.

The console's own stall is not the units' silence: a `SupTick` carries the shell's monotonic
clock reading, and a jump of more than `stall_s` between two ticks moves every unit's
silence baseline on by the gap (re-baselining) instead of declaring the units offline for
the time the console was not listening.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from stilalarm.console.core.effects import SupEffect, Tx
from stilalarm.console.core.supervision.buildings import window_due
from stilalarm.console.core.supervision.buttons import check_buttons, check_due
from stilalarm.console.core.supervision.fold import evolve
from stilalarm.console.core.supervision.liveness import (
    on_fault,
    on_heartbeat,
    on_status,
    rebaseline,
    scan_units,
    silent_deadline,
)
from stilalarm.console.core.supervision.state import UnitsState
from stilalarm.console.core.supervision.transitions import SupTx
from stilalarm.wire.messages import Heartbeat, UnitEvent, UnitStatus


@dataclass(frozen=True)
class StatusIn:
    """A unit's retained status: birth, last will or clean shutdown."""

    status: UnitStatus


@dataclass(frozen=True)
class HeartbeatIn:
    """A unit's heartbeat."""

    heartbeat: Heartbeat


@dataclass(frozen=True)
class FaultIn:
    """A validated, non-duplicate fault / fault_cleared unit event."""

    event: UnitEvent


@dataclass(frozen=True)
class SupTick:
    """Time passed: detect silent units, send flapping summaries.

    `mono`: the shell's monotonic clock (seconds) at this tick. A jump of more than the
    policy's `stall_s` since the previous tick is the console's own stall; None: not known
    (no stall detection). `listening`: the console is connected to the broker; time it was
    not (this tick or the previous one said so) does not count as the units' silence either."""

    mono: float | None = None
    listening: bool = True


SupInput = StatusIn | HeartbeatIn | FaultIn | SupTick


def step(state: UnitsState, inp: SupInput, now: datetime) -> tuple[UnitsState, list[SupEffect]]:
    """Handle one input at `now`; return the new state and the effects, in order."""
    tx: SupTx = Tx(state, now, evolve)
    match inp:
        case StatusIn(status=st):
            on_status(tx, st)
        case HeartbeatIn(heartbeat=hb):
            on_heartbeat(tx, hb)
        case FaultIn(event=ev):
            on_fault(tx, ev)
        case SupTick(mono=mono, listening=listening):
            _on_tick(tx, mono, listening)
    return tx.s, tx.effects


def next_due(s: UnitsState) -> datetime | None:
    """The earliest time a SupTick has something to do (from the cached hint when it has one)."""
    scan = s.due_hint if s.due_hint is not None else earliest(s)
    return min(scan, check_due(s)) if scan is not None else check_due(s)


def earliest(s: UnitsState) -> datetime | None:
    """The earliest silence deadline, flap window end or held notice of any unit (what a scan caches)."""
    dues: list[datetime] = []
    for uid, r in s.units.items():
        if r.online is not False:
            dues.append(silent_deadline(s, uid))
        if (w := window_due(r)) is not None:
            dues.append(w)
        if r.held_until is not None:
            dues.append(r.held_until)
    return min(dues) if dues else None


def _on_tick(tx: SupTx, mono: float | None = None, listening: bool = True) -> None:
    """See the console's own stalls, run the daily check when due, scan units unless nothing can be."""
    if mono is not None:
        last = tx.s.mono
        gap = 0.0 if last is None else max(0.0, mono - last)
        if gap > tx.s.policy.stall_s:
            rebaseline(tx, gap)
            tx.s = replace(tx.s, stalls=tx.s.stalls + 1, last_stall_s=gap)
        elif gap and (tx.s.deaf or not listening):
            rebaseline(tx, gap)
        tx.s = replace(tx.s, mono=mono, deaf=not listening)
    if tx.now >= check_due(tx.s):
        check_buttons(tx)
    hint = tx.s.due_hint
    if hint is not None and tx.now < hint:
        return  # nothing can be due yet: no per-unit work on this tick
    scan_units(tx)
    tx.s = replace(tx.s, scanned_at=tx.now, due_hint=earliest(tx.s))
