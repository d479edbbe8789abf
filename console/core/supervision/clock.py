"""A unit's clock against the console's, on every heartbeat.

`sent_at` is compared with the console's time of the step: off by more than `clock_skew_s`
is the fault `unit:clock` ("klok wijkt af"), reported to facilities and cleared when it is
right again. Notices and reports never use the unit's clock for anything that matters.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core.supervision.state import LiveHealth, UnitsState
from stilalarm.console.core.supervision.transitions import SupTx, transition
from stilalarm.console.facts import FaultCleared, FaultRaised


def clock_sample(
    pol: SupervisionPolicy, old: LiveHealth, new: LiveHealth, sent_at: datetime, now: datetime
) -> LiveHealth:
    """Add one heartbeat's clock reading to the unit's run of agreeing readings."""
    offset = (now - sent_at).total_seconds()
    kind = "ahead" if offset < -pol.clock_skew_s else "behind" if offset > pol.clock_skew_s else "ok"
    if kind == old.clock_run and old.clock_run_since is not None:
        since, n = old.clock_run_since, old.clock_run_n + 1
    else:
        since, n = now, 1
    return replace(new, clock_run=kind, clock_run_since=since, clock_run_n=n, clock_offset_s=offset)


def _clock_settled(s: UnitsState, lv: LiveHealth, now: datetime) -> bool:
    """Enough readings in a row, spread over at least one heartbeat interval of console time:
    a burst of heartbeats held up by the console's own stall all arrive in one step, so they
    can never settle a verdict by themselves."""
    if lv.clock_run_since is None or lv.clock_run_n < s.policy.clock_samples:
        return False
    return (now - lv.clock_run_since).total_seconds() >= (lv.interval_s or 0) or s.policy.clock_samples == 1


def check_clock(tx: SupTx, uid: str, sent_at: datetime) -> None:
    """Raise `unit:clock` when the unit's clock is off, clear it when it is right again.

    The offset seen is the clock error plus the transport delay (never negative: the step's
    time is taken after the heartbeat arrived). So a unit ahead of the console is certain at
    once; one that seems behind may only be late, and must say so in `clock_samples` readings
    in a row; a faulty clock counts as correct only after as many good readings."""
    lv = tx.s.live[uid]
    faulty = "unit:clock" in tx.s.units[uid].faults
    settled = lv.clock_run == "ahead" or _clock_settled(tx.s, lv, tx.now)
    if not faulty and lv.clock_run in ("ahead", "behind") and settled:
        tz = ZoneInfo(tx.s.site.site.timezone)
        detail = {
            "offset": f"{-lv.clock_offset_s:+.0f}",
            "unit_time": _local(sent_at, tz),
            "console_time": _local(tx.now, tz),
        }
        transition(tx, uid, [FaultRaised(at=tx.now, unit_id=uid, fault="unit:clock")], "clock_off", detail)
    elif faulty and lv.clock_run == "ok" and _clock_settled(tx.s, lv, tx.now):
        transition(tx, uid, [FaultCleared(at=tx.now, unit_id=uid, fault="unit:clock")], "clock_ok", {})


def _local(t: datetime, tz: ZoneInfo) -> str:
    """`t` in the site's time zone; a unit's clock at the edge of the calendar as it came."""
    try:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError):
        return t.isoformat()
