"""The incident engine's step: `step(state, input, now) -> (state, effects)` and its timers.

An input is handled before the timers at the same `now`: an acknowledgement that arrives
exactly when a level is due wins, and the level is not fired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from stilalarm.console.core.effects import ClearIncident, Effect, PublishIncident, Tx
from stilalarm.console.core.engine.alarms import (
    EngineTx,
    escalate_due,
    incident_notice,
    on_unit_event,
)
from stilalarm.console.core.engine.commands import (
    PersonCmd,
    aftercare_due,
    end_campaign,
    on_person_cmd,
    remind_aftercare,
)
from stilalarm.console.core.engine.fold import evolve
from stilalarm.console.core.engine.registrations import fire_registrations, registrations_due
from stilalarm.console.core.engine.responses import fire_on_site_due
from stilalarm.console.core.engine.risk import fire_risks, risks_due
from stilalarm.console.core.engine.staffing import check_staffing
from stilalarm.console.core.engine.state import NEVER, EngineState, incident_due
from stilalarm.console.core.engine.visits import escalate_overdue, fire_visits, visits_due
from stilalarm.console.facts import IncidentExpired
from stilalarm.wire.messages import IncidentStatus, NotifyReason, UnitEvent


@dataclass(frozen=True)
class UnitEventIn:
    """A validated unit event (alarm, test or pager ack) that is not a duplicate."""

    event: UnitEvent


@dataclass(frozen=True)
class PersonCmdIn:
    """A validated person command; the topic's person id equals `cmd.person_id`."""

    cmd: PersonCmd


@dataclass(frozen=True)
class Tick:
    """Time passed: fire whatever is due at `now`."""


Input = UnitEventIn | PersonCmdIn | Tick


def step(state: EngineState, inp: Input, now: datetime) -> tuple[EngineState, list[Effect]]:
    """Handle one input at `now`; return the new state and the effects to execute, in order."""
    tx: EngineTx = Tx(state, now, evolve)
    match inp:
        case UnitEventIn(event=ev):
            on_unit_event(tx, ev)
        case PersonCmdIn(cmd=cmd):
            on_person_cmd(tx, cmd)
        case Tick():
            _on_tick(tx)
    check_staffing(tx)
    return tx.s, tx.effects


def next_due(state: EngineState) -> datetime | None:
    """The earliest time a Tick will have something to do (None: nothing scheduled); from the
    due hint when the state has one (then possibly earlier than the real next due, never later)."""
    if state.due_hint is None:
        return _scan_due(state)
    due = min([state.due_hint, *_dues_of(state, state.dirty)])
    return None if due == NEVER else due


def _scan_due(state: EngineState) -> datetime | None:
    dues = _dues_of(state, state.incidents)
    dues += [c.until for c in state.campaigns.values()]
    dues += [d for d in (aftercare_due(state, c) for c in state.aftercare.values()) if d is not None]
    dues += visits_due(state)
    dues += registrations_due(state)
    dues += risks_due(state)
    return min(dues) if dues else None


def _dues_of(state: EngineState, ids: Iterable[str]) -> list[datetime]:
    every = state.incidents
    return [d for d in (incident_due(state, every[i]) for i in ids if i in every) if d is not None]


def _on_tick(tx: EngineTx) -> None:
    """Fire what is due: levels and repeats, reminders, expiries, test windows, after-care, visits,
    registrations, risky conversations (the stand-by colleague's reminder, the window's end).

    Before the due hint only the incidents changed since the last walk (`dirty`) can be due, so
    only they are looked at; at or after it everything is walked and the hint is set anew."""
    hint = tx.s.due_hint
    if hint is not None and tx.now < hint:
        if tx.s.dirty:
            _fire_due(tx, tx.s.dirty, everything=False)
            s = tx.s
            if s.due_hint is not None:  # a campaign or after-care change while firing: walk next time
                tx.s = replace(s, due_hint=min([hint, *_dues_of(s, s.dirty)]), dirty=frozenset())
        return
    _fire_due(tx, tx.s.incidents, everything=True)
    tx.s = replace(tx.s, due_hint=_scan_due(tx.s) or NEVER, dirty=frozenset())


def _fire_due(tx: EngineTx, ids: Iterable[str], *, everything: bool) -> None:
    every = tx.s.incidents
    for inc_id in sorted((i for i in ids if i in every), key=lambda k: every[k].stored_at):
        inc = tx.s.incidents.get(inc_id)
        if inc is None:
            continue
        due = incident_due(tx.s, inc)
        if due is None or due > tx.now:
            continue
        if inc.status is IncidentStatus.OPEN and inc.kind == "overdue":
            escalate_overdue(tx, inc_id)
        elif inc.status is IncidentStatus.OPEN:
            escalate_due(tx, inc_id)
        elif inc.status is IncidentStatus.ACKNOWLEDGED and inc.acknowledged_by is not None:
            # Not 'ter plaatse' in time: remind, then the next level (both when missed while down).
            while fire_on_site_due(tx, inc):
                inc = tx.s.incidents[inc_id]
            pol = tx.s.site.team(inc.team_id).escalation
            at, by = inc.acknowledged_at, inc.acknowledged_by
            if (
                not inc.reminded
                and at is not None
                and by is not None
                and at + timedelta(seconds=pol.remind_unresolved_after_s) <= tx.now
            ):
                incident_notice(tx, inc, NotifyReason.REMINDER, (by,), "remind", {})
                tx.emit(PublishIncident(inc_id))
        elif inc.status is IncidentStatus.RESOLVED:
            tx.record(IncidentExpired(at=tx.now, incident_id=inc_id))
            tx.emit(ClearIncident(inc_id))
    if not everything:
        return
    for camp in list(tx.s.campaigns.values()):
        if camp.until <= tx.now:
            end_campaign(tx, camp, "expired", None)
    for case_ in list(tx.s.aftercare.values()):
        due = aftercare_due(tx.s, case_)
        if due is not None and due <= tx.now:
            remind_aftercare(tx, case_)
    fire_visits(tx)
    fire_registrations(tx)
    fire_risks(tx)
