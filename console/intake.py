"""Per-unit input limits at the console (pure decisions, time injected).

A unit's login is enough to flood the console: 20,000 alarm events were once each stored
in full, and 20,000 heartbeats delayed another unit's press by seconds. The console
therefore limits what it takes from each unit, and fails open for help:

- **Events and statuses** share a token bucket per unit (`IntakePolicy.event_rate_per_s`,
  `event_burst`). Within the rate everything is handled as before. Over the rate:

  - an alarm or test press while the unit has an open incident is **counted**: the presses
    of up to `IntakePolicy.count_every_s` become ONE `PressRepeated` fact with a count and the
    first and last press time, no row per event; every one of them is receipted after that
    commit, so the unit stops retransmitting;
  - an alarm or test press with **no** open incident is stored in full as usual (an alarm
    always opens an incident and is receipted after fsync; a first alarm is never dropped);
  - a fault, fault-cleared or pager acknowledgement is **deferred**: neither stored nor
    receipted, so the unit retransmits it and it is handled once the bucket refills;
  - a status (birth / will) is dropped (heartbeats bring the unit's state back).

- **Heartbeats** closer together than `heartbeat_min_gap` times the unit's interval in the
  inventory (not the interval the message claims) are dropped before any disk work.
- A unit with `flood_flag_after` messages over its limits is **flagged** to facilities
  once (fault `unit:flood`), and cleared when it has kept to its limits for
  `flood_clear_after_s`.

The service also keeps other units ahead of a flood: a unit that is flagged or out of
tokens is "noisy"; its messages wait in a backlog of their own (in order) and each batch
takes at most `IntakePolicy.noisy_per_batch` of them, after everyone else's. Surplus
heartbeats of known units are dropped as they are read, before they are even parsed.

`Intake` only holds the per-unit records for the service; the decisions are the pure
functions `on_event`, `on_heartbeat`, `on_status` and `flood_change`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from stilalarm.console.config import IntakePolicy
from stilalarm.console.core.notice import notified
from stilalarm.console.facts import Fact, FaultCleared, FaultRaised, PressRepeated
from stilalarm.wire.messages import EventKind, NotifyReason, UnitEvent

FLOOD_FAULT = "unit:flood"


class Verdict(StrEnum):
    """What the service does with one message of a unit."""

    PASS = "pass"  # handle as usual
    COUNT = "count"  # over the rate, joins the open incident: counted, receipted after the commit
    STORE = "store"  # over the rate, but an alarm with no open incident: stored in full anyway
    DEFER = "defer"  # over the rate: neither stored nor receipted (the unit retransmits)
    DROP = "drop"  # a surplus heartbeat or status: dropped before any disk work


@dataclass(frozen=True)
class UnitIntake:
    """What the limiter remembers of one unit."""

    tokens: float
    refilled_at: datetime | None = None
    last_heartbeat: datetime | None = None
    over: int = 0
    """Messages over the limits since the last flag change (or since the last quiet spell)."""
    last_over: datetime | None = None
    flagged: bool = False
    total_over: int = 0
    """Over-limit messages while flagged (for the all-clear notice)."""


@dataclass(frozen=True)
class FloodChange:
    """A unit started (raised) or stopped (cleared) flooding."""

    unit_id: str
    raised: bool
    count: int


def fresh(policy: IntakePolicy) -> UnitIntake:
    """A unit the limiter has not seen yet: a full bucket."""
    return UnitIntake(tokens=float(policy.event_burst))


def _take(u: UnitIntake, policy: IntakePolicy, now: datetime) -> tuple[UnitIntake, bool]:
    """Refill the bucket for the time passed, then take one token if there is one."""
    tokens = u.tokens
    if u.refilled_at is not None and now > u.refilled_at:
        tokens = min(
            float(policy.event_burst),
            tokens + (now - u.refilled_at).total_seconds() * policy.event_rate_per_s,
        )
    if tokens >= 1.0:
        return replace(u, tokens=tokens - 1.0, refilled_at=now), True
    return replace(u, tokens=tokens, refilled_at=now), False


def _over(u: UnitIntake, policy: IntakePolicy, now: datetime) -> UnitIntake:
    quiet = u.last_over is not None and (now - u.last_over).total_seconds() >= policy.flood_clear_after_s
    over = 1 if quiet and not u.flagged else u.over + 1
    return replace(u, over=over, last_over=now, total_over=u.total_over + 1)


def on_event(
    u: UnitIntake, policy: IntakePolicy, kind: EventKind, open_incident: bool, now: datetime
) -> tuple[UnitIntake, Verdict]:
    """The verdict on a unit event (after deduplication: a retransmission costs nothing)."""
    u, ok = _take(u, policy, now)
    if ok:
        return u, Verdict.PASS
    u = _over(u, policy, now)
    if kind in (EventKind.ALARM, EventKind.TEST):
        return u, Verdict.COUNT if open_incident else Verdict.STORE
    return u, Verdict.DEFER


def on_status(u: UnitIntake, policy: IntakePolicy, now: datetime) -> tuple[UnitIntake, Verdict]:
    """The verdict on a unit status (birth / will): it costs a token like an event."""
    u, ok = _take(u, policy, now)
    if ok:
        return u, Verdict.PASS
    return _over(u, policy, now), Verdict.DROP


def on_heartbeat(
    u: UnitIntake, policy: IntakePolicy, interval_s: float, now: datetime
) -> tuple[UnitIntake, Verdict]:
    """The verdict on a heartbeat; `interval_s` is the unit's interval in the inventory."""
    last = u.last_heartbeat
    if last is None or now < last or (now - last).total_seconds() >= interval_s * policy.heartbeat_min_gap:
        return replace(u, last_heartbeat=now), Verdict.PASS
    return _over(u, policy, now), Verdict.DROP


def flood_change(
    u: UnitIntake, policy: IntakePolicy, unit_id: str, now: datetime
) -> tuple[UnitIntake, FloodChange | None]:
    """Raise the flag once at `flood_flag_after` messages over the limits; clear it after a
    quiet `flood_clear_after_s`."""
    if not u.flagged and u.over >= policy.flood_flag_after:
        return replace(u, flagged=True, over=0), FloodChange(unit_id, True, u.total_over)
    quiet = u.last_over is None or (now - u.last_over).total_seconds() >= policy.flood_clear_after_s
    if u.flagged and quiet:
        return replace(u, flagged=False, over=0, total_over=0), FloodChange(unit_id, False, u.total_over)
    return u, None


def counts_due(since: Mapping[str, datetime], every_s: float, now: datetime) -> list[str]:
    """The incidents whose counted presses have waited `every_s` since the first of them (or
    whose clock went back): write their count now."""
    return [iid for iid, t in since.items() if now < t or (now - t).total_seconds() >= every_s]


def counted_presses(incident_id: str, events: Sequence[UnitEvent], now: datetime) -> PressRepeated:
    """One fact for the counted presses of one incident in one batch: count, first and last time."""
    first = min(events, key=lambda e: e.occurred_at)
    last = max(events, key=lambda e: e.occurred_at)
    assert first.button_id is not None
    return PressRepeated(
        at=now,
        incident_id=incident_id,
        unit_id=first.unit_id,
        button_id=first.button_id,
        event_id=first.event_id,
        pressed_at=first.occurred_at,
        count=len(events),
        last_pressed_at=last.occurred_at,
    )


def flood_facts(change: FloodChange, facilities: tuple[str, ...], now: datetime) -> list[Fact]:
    """The fault (or its end) and the notice to facilities for a flood flag change."""
    uid = change.unit_id
    fault: Fact = (
        FaultRaised(at=now, unit_id=uid, fault=FLOOD_FAULT)
        if change.raised
        else FaultCleared(at=now, unit_id=uid, fault=FLOOD_FAULT)
    )
    if not facilities:
        return [fault]
    key = "flood" if change.raised else "flood_cleared"
    notice = notified(
        now, NotifyReason.FAULT, facilities, f"{uid}:{key}", key, {"count": str(change.count)}, unit_id=uid
    )
    return [fault, notice]


class Intake:
    """The per-unit records for the service's writer thread (decisions: the functions above)."""

    def __init__(self, policy: IntakePolicy, heartbeat_s: Mapping[str, float]) -> None:
        self.policy = policy
        self.heartbeat_s = dict(heartbeat_s)
        self.units: dict[str, UnitIntake] = {}
        self._watched: set[str] = set()  # over a limit or flagged: `changes` looks only at these

    def _get(self, unit_id: str) -> UnitIntake:
        return self.units.get(unit_id) or fresh(self.policy)

    def _put(self, unit_id: str, u: UnitIntake) -> None:
        self.units[unit_id] = u
        if u.over or u.flagged:
            self._watched.add(unit_id)

    def event(self, unit_id: str, kind: EventKind, open_incident: bool, now: datetime) -> Verdict:
        u, v = on_event(self._get(unit_id), self.policy, kind, open_incident, now)
        self._put(unit_id, u)
        return v

    def status(self, unit_id: str, now: datetime) -> Verdict:
        u, v = on_status(self._get(unit_id), self.policy, now)
        self._put(unit_id, u)
        return v

    def heartbeat(self, unit_id: str, now: datetime) -> Verdict:
        interval = self.heartbeat_s.get(unit_id, 1.0)
        u, v = on_heartbeat(self._get(unit_id), self.policy, interval, now)
        self._put(unit_id, u)
        return v

    def noisy(self, unit_id: str) -> bool:
        """Whether the unit is flagged or out of tokens: its messages wait behind everyone else's."""
        u = self.units.get(unit_id)
        return u is not None and (u.flagged or u.tokens < 1.0)

    def changes(self, now: datetime) -> list[FloodChange]:
        """Flag changes due now (only units that went over a limit are looked at)."""
        out = []
        for uid in sorted(self._watched):
            u = self.units[uid]
            if u.over or u.flagged:
                u, ch = flood_change(u, self.policy, uid, now)
                self.units[uid] = u
                if ch is not None:
                    out.append(ch)
            if not (u.over or u.flagged):
                self._watched.discard(uid)
        return out
