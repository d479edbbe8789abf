"""The incident engine: a pure state machine `step(state, input, now) -> (state, effects)`.

No clock, no I/O, no randomness: time comes in as `now`, and everything the shell
must do comes out as effect data (record a fact, publish, notify, reply). The state
is the fold of the recorded facts (`evolve`), so a restart rebuilds it from the log
(`rebuild`) and every open escalation resumes from its recorded times.

Routing: unit -> room -> team -> the team's escalation policy. Level k fires
`after_s` after the alarm was stored unless acknowledged; absent people are
skipped; a level with nobody present passes on at once; the last level (Bel 101)
always notifies, repeats every `repeat_every_s` until acknowledged.

An input is handled before the timers at the same `now`: an acknowledgement that
arrives exactly when a level is due wins, and the level is not fired.

Control is closed, help is open: anyone allowed to act on incidents may acknowledge
("ik kom"), but an incident is resolved (also as a false alarm) only once someone has
acknowledged it, and only by the person who acknowledged it or a lead or deputy of its
team. A test press counts as a test only inside an open test window of its unit (one
unit or one room, at most TEST_WINDOW_MAX_MIN minutes), once per button per window and
never within TEST_REPEAT_GUARD of that button's previous test; otherwise it is a real
alarm and the fact says why (`AlarmReceived.test_refused`).
"""

from __future__ import annotations

import uuid
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from console.config import EnginePolicy
from console.facts import (
    Acknowledged,
    AftercareDone,
    AlarmReceived,
    CampaignEnded,
    CampaignStarted,
    CommandRejected,
    ConsoleLinked,
    Fact,
    IncidentExpired,
    LevelSkipped,
    Notified,
    PresenceChanged,
    PressRepeated,
    Resolved,
    TestRefusal,
    TestResult,
)
from inventory.model import Role, Site
from wire.messages import (
    TEST_WINDOW_MAX_MIN,
    AckCmd,
    AftercareDoneCmd,
    ConsoleLinkCmd,
    EventKind,
    Feedback,
    IncidentState,
    IncidentStatus,
    NotifyReason,
    Registration,
    ResolveCmd,
    TestScope,
    TestStartCmd,
    TestStopCmd,
    UnitEvent,
)
from wire.messages import PresenceCmd as PresenceCmdMsg

TEST_REPEAT_GUARD = timedelta(seconds=60)
"""A test press of a button this soon after its previous test press is a real alarm."""

NOTICE_NS = uuid.UUID("6f1d7c1e-4d8a-4b53-9a53-2f4c1c1b7a10")

# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Incident:
    """One incident as the engine knows it (folded from facts)."""

    id: str
    unit_id: str
    button_id: str
    room_id: str
    team_id: str
    status: IncidentStatus
    pressed_at: datetime
    stored_at: datetime
    presses: int = 1
    level: int = 0
    """Highest level reached (fired or skipped), 1-based; 0 before the first."""
    level_at: datetime | None = None
    """When the current level (or its last repeat) fired."""
    notified: tuple[str, ...] = ()
    """Everyone paged for this incident, in order."""
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    call_101: bool = False
    evacuate: str | None = None
    reminded: bool = False
    registration: Registration | None = None
    version: int = 1

    def to_wire(self) -> IncidentState:
        """The retained IncidentState message of this incident."""
        return IncidentState(
            incident_id=self.id,
            unit_id=self.unit_id,
            room_id=self.room_id,
            team_id=self.team_id,
            status=self.status,
            level=self.level,
            pressed_at=self.pressed_at,
            stored_at=self.stored_at,
            presses=self.presses,
            notified=self.notified[:500],
            acknowledged_by=self.acknowledged_by,
            acknowledged_at=self.acknowledged_at,
            resolved_by=self.resolved_by,
            resolved_at=self.resolved_at,
            call_101=self.call_101,
            evacuate=self.evacuate,
            version=self.version,
        )


@dataclass(frozen=True)
class Campaign:
    """An open test window: one unit, or the units of one room, until `until` (console time)."""

    id: str
    by: str
    unit_ids: tuple[str, ...]
    until: datetime
    tested: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AftercareCase:
    """A resolved incident whose after-care (nazorg) is followed up with reminders to the resolver."""

    incident_id: str
    unit_id: str
    room_id: str
    resolver: str
    resolved_at: datetime
    reminders_sent: int = 0
    """How many of `AftercarePolicy.remind_after_h` have been sent (or passed)."""
    done_by: str | None = None
    done_at: datetime | None = None


def needs_aftercare(site: Site, reg: Registration) -> bool:
    """Whether a resolve with this registration starts after-care reminders (see docs/EXPORT.md)."""
    if reg.false_alarm:
        return False
    sev = reg.severity.value if reg.severity is not None else None
    return bool(reg.aftercare) or sev in site.aftercare.follow_up_severities


@dataclass(frozen=True)
class EngineState:
    """Everything the engine knows. Treat as immutable: `step` returns a new one."""

    site: Site
    policy: EnginePolicy = field(default_factory=EnginePolicy)
    live: Mapping[str, Incident] = field(default_factory=dict)
    """Open and acknowledged incidents (the hot path touches only these)."""
    closed: Mapping[str, Incident] = field(default_factory=dict)
    """Resolved incidents, until their retention ends."""
    absent: frozenset[str] = frozenset()
    """People who marked themselves absent."""
    consoles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Live console ids per person who ever had a console connected."""
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)
    last_incident: tuple[str, int] = ("", 0)
    """(local day YYYYMMDD, number) of the newest incident id."""
    last_campaign: tuple[str, int] = ("", 0)
    aftercare: Mapping[str, AftercareCase] = field(default_factory=dict)
    """After-care cases by incident id (kept when done, to answer a repeated `aftercare_done`)."""
    tested_at: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    """'unit/button' -> (stored, pressed) of its last press accepted as a test (TEST_REPEAT_GUARD)."""

    @property
    def incidents(self) -> Mapping[str, Incident]:
        """Every incident the engine holds (live and resolved), as one read-only view."""
        if not self.closed:
            return self.live
        return ChainMap(cast(dict[str, Incident], self.live), cast(dict[str, Incident], self.closed))

    @property
    def unreachable(self) -> frozenset[str]:
        """Skipped by escalation: marked absent, or every console of theirs is gone."""
        gone = frozenset(p for p, live in self.consoles.items() if not live)
        return self.absent | gone

    def presence_reason(self, person_id: str) -> Literal["manual", "console_offline", "default"]:
        """Why a person counts as present or absent: manual, console_offline or default."""
        if person_id in self.absent:
            return "manual"
        if person_id in self.consoles and not self.consoles[person_id]:
            return "console_offline"
        return "default" if person_id not in self.consoles else "manual"

    @staticmethod
    def initial(site: Site, policy: EnginePolicy | None = None) -> EngineState:
        return EngineState(site=site, policy=policy or EnginePolicy())

    def comparable(self) -> tuple[object, ...]:
        """The fact-derived content (for rebuild == live checks)."""
        return (
            dict(self.incidents),
            self.absent,
            dict(self.consoles),
            dict(self.campaigns),
            self.last_incident,
            self.last_campaign,
            dict(self.aftercare),
            dict(self.tested_at),
        )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class UnitEventIn:
    """A validated unit event (alarm, test or pager ack) that is not a duplicate."""

    event: UnitEvent


@dataclass(frozen=True)
class PersonCmdIn:
    """A validated person command; the topic's person id equals `cmd.person_id`."""

    cmd: AckCmd | ResolveCmd | PresenceCmdMsg | TestStartCmd | TestStopCmd | AftercareDoneCmd | ConsoleLinkCmd


@dataclass(frozen=True)
class Tick:
    """Time passed: fire whatever is due at `now`."""


Input = UnitEventIn | PersonCmdIn | Tick

# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class Record:
    """Append this fact to the event log (in the batch's transaction)."""

    fact: Fact


@dataclass(frozen=True)
class Notify:
    """Deliver notifications (rendered per person by the shell) for this recorded fact."""

    notice: Notified


@dataclass(frozen=True)
class SendReceipt:
    """Tell the unit its event is stored (only ever executed after the commit)."""

    unit_id: str
    event_id: uuid.UUID
    incident_id: str | None
    duplicate: bool = False


@dataclass(frozen=True)
class PublishIncident:
    """Publish the incident's retained IncidentState."""

    incident_id: str


@dataclass(frozen=True)
class ClearIncident:
    """Clear the incident's retained topic (empty retained payload)."""

    incident_id: str


@dataclass(frozen=True)
class UnitFeedback:
    """Set a unit's feedback LED."""

    unit_id: str
    incident_id: str | None
    feedback: Feedback


@dataclass(frozen=True)
class UnitTestMode:
    """Switch a unit's test mode on or off."""

    unit_id: str
    on: bool
    until: datetime | None
    campaign_id: str | None
    by: str | None


@dataclass(frozen=True)
class Page:
    """Signal (level > 0) or stop signalling (0) an incident on a lead pager unit."""

    unit_id: str
    incident_id: str
    level: int


@dataclass(frozen=True)
class Reply:
    """Answer a person's command; `text_key`/`values` render the reason in their language."""

    person_id: str
    cmd_id: uuid.UUID
    ok: bool
    code: str
    text_key: str = "reply_ok"
    values: Mapping[str, str] = field(default_factory=dict)
    incident_id: str | None = None
    campaign_id: str | None = None


@dataclass(frozen=True)
class PublishPresence:
    """Publish a person's retained PresenceState."""

    person_id: str


Effect = (
    Record
    | Notify
    | SendReceipt
    | PublishIncident
    | ClearIncident
    | UnitFeedback
    | UnitTestMode
    | Page
    | Reply
    | PublishPresence
)

# --------------------------------------------------------------------------- evolve (fold)


def evolve(s: EngineState, f: Fact) -> EngineState:
    """Apply one recorded fact to the state (pure; unknown kinds are ignored)."""
    match f:
        case AlarmReceived():
            inc = Incident(
                id=f.incident_id,
                unit_id=f.unit_id,
                button_id=f.button_id,
                room_id=f.room_id,
                team_id=f.team_id,
                status=IncidentStatus.OPEN,
                pressed_at=f.pressed_at,
                stored_at=f.at,
            )
            day, _, n = f.incident_id.partition("-")
            last = s.last_incident
            num = int(n) if n.isdigit() else 0
            newest = (day, num) if (day, num) > last else last
            return replace(s, live={**s.live, inc.id: inc}, last_incident=newest)
        case PressRepeated():
            return _upd(s, f.incident_id, lambda i: replace(i, presses=i.presses + f.count))
        case Notified() if f.text_key == "aftercare" and f.incident_id in s.aftercare:
            case_ = s.aftercare[f.incident_id or ""]
            step_n = int(f.detail.get("step", case_.reminders_sent + 1))
            return replace(
                s,
                aftercare={**s.aftercare, case_.incident_id: replace(case_, reminders_sent=step_n)},
            )
        case Notified() if f.incident_id is not None:
            reason = f.reason

            def notified(i: Incident) -> Incident:
                if reason in (NotifyReason.ALARM, NotifyReason.ESCALATION):
                    paged = i.notified + tuple(p for p in f.person_ids if p not in i.notified)
                    return replace(
                        i,
                        level=max(i.level, f.level),
                        level_at=f.at,
                        notified=paged,
                        call_101=i.call_101 or f.call_101,
                        evacuate=i.evacuate or f.evacuate,
                    )
                if reason is NotifyReason.REPEAT:
                    paged = i.notified + tuple(p for p in f.person_ids if p not in i.notified)
                    return replace(i, level_at=f.at, notified=paged)
                if reason is NotifyReason.REMINDER:
                    return replace(i, reminded=True)
                return i

            return _upd(s, f.incident_id, notified)
        case LevelSkipped():
            return _upd(s, f.incident_id, lambda i: replace(i, level=max(i.level, f.level), level_at=f.at))
        case Acknowledged():
            return _upd(
                s,
                f.incident_id,
                lambda i: replace(
                    i, status=IncidentStatus.ACKNOWLEDGED, acknowledged_by=f.person_id, acknowledged_at=f.at
                ),
            )
        case Resolved():
            inc0 = s.live.get(f.incident_id) or s.closed.get(f.incident_id)
            if inc0 is not None and needs_aftercare(s.site, f.registration):
                case_ = AftercareCase(f.incident_id, inc0.unit_id, inc0.room_id, f.person_id, f.at)
                s = replace(s, aftercare={**s.aftercare, f.incident_id: case_})
            return _upd(
                s,
                f.incident_id,
                lambda i: replace(
                    i,
                    status=IncidentStatus.RESOLVED,
                    resolved_by=f.person_id,
                    resolved_at=f.at,
                    registration=f.registration,
                ),
            )
        case AftercareDone() if f.incident_id in s.aftercare:
            done = replace(s.aftercare[f.incident_id], done_by=f.person_id, done_at=f.at)
            return replace(s, aftercare={**s.aftercare, f.incident_id: done})
        case IncidentExpired():
            return replace(s, closed={k: v for k, v in s.closed.items() if k != f.incident_id})
        case PresenceChanged():
            absent = s.absent - {f.person_id} if f.present else s.absent | {f.person_id}
            return replace(s, absent=absent)
        case ConsoleLinked():
            live = s.consoles.get(f.person_id, frozenset())
            live = live | {f.console_id} if f.online else live - {f.console_id}
            return replace(s, consoles={**s.consoles, f.person_id: live})
        case CampaignStarted():
            camp = Campaign(id=f.campaign_id, by=f.person_id, unit_ids=f.unit_ids, until=f.until)
            newest_c = max(s.last_campaign, _campaign_num(f.campaign_id))
            return replace(s, campaigns={**s.campaigns, camp.id: camp}, last_campaign=newest_c)
        case CampaignEnded():
            return replace(s, campaigns={k: v for k, v in s.campaigns.items() if k != f.campaign_id})
        case TestResult():
            key = f"{f.unit_id}/{f.button_id}"
            s = replace(s, tested_at={**s.tested_at, key: (f.at, f.pressed_at)})
            if f.campaign_id is None or f.campaign_id not in s.campaigns:
                return s
            c = s.campaigns[f.campaign_id]
            c2 = replace(c, tested=c.tested | {key})
            return replace(s, campaigns={**s.campaigns, c.id: c2})
        case _:
            return s


def _upd(s: EngineState, incident_id: str, fn: Callable[[Incident], Incident]) -> EngineState:
    inc = s.live.get(incident_id) or s.closed.get(incident_id)
    if inc is None:
        return s
    new = fn(inc)
    if new is inc:
        new = replace(inc, version=inc.version + 1)
    else:
        object.__setattr__(new, "version", inc.version + 1)  # a fresh copy nobody else holds yet
    if new.status is IncidentStatus.RESOLVED:
        live = {k: v for k, v in s.live.items() if k != incident_id} if incident_id in s.live else s.live
        return replace(s, live=live, closed={**s.closed, incident_id: new})
    return replace(s, live={**s.live, incident_id: new})


def _campaign_num(campaign_id: str) -> tuple[str, int]:
    parts = campaign_id.split("-")
    if len(parts) == 3 and parts[2].isdigit():
        return parts[1], int(parts[2])
    return "", 0


def rebuild(site: Site, facts: Iterable[Fact], policy: EnginePolicy | None = None) -> EngineState:
    """The state after folding every recorded fact, in order."""
    s = EngineState.initial(site, policy)
    for f in facts:
        s = evolve(s, f)
    return s


# --------------------------------------------------------------------------- step


class _Tx:
    """Collects the facts and effects of one step, folding each fact in as it is recorded."""

    def __init__(self, state: EngineState, now: datetime) -> None:
        self.s = state
        self.now = now
        self.effects: list[Effect] = []

    def record(self, fact: Fact) -> None:
        self.s = evolve(self.s, fact)
        self.effects.append(Record(fact))

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)


def step(state: EngineState, inp: Input, now: datetime) -> tuple[EngineState, list[Effect]]:
    """Handle one input at `now`; return the new state and the effects to execute, in order."""
    tx = _Tx(state, now)
    match inp:
        case UnitEventIn(event=ev):
            _on_unit_event(tx, ev)
        case PersonCmdIn(cmd=cmd):
            _on_person_cmd(tx, cmd)
        case Tick():
            _on_tick(tx)
    return tx.s, tx.effects


def next_due(state: EngineState) -> datetime | None:
    """The earliest time a Tick will have something to do (None: nothing scheduled)."""
    dues = [d for d in (_due(state, inc) for inc in state.incidents.values()) if d is not None]
    dues += [c.until for c in state.campaigns.values()]
    dues += [d for d in (_aftercare_due(state, c) for c in state.aftercare.values()) if d is not None]
    return min(dues) if dues else None


def _aftercare_due(s: EngineState, c: AftercareCase) -> datetime | None:
    steps = s.site.aftercare.remind_after_h
    if c.done_by is not None or c.reminders_sent >= len(steps):
        return None
    return c.resolved_at + timedelta(hours=steps[c.reminders_sent])


def _due(s: EngineState, inc: Incident) -> datetime | None:
    pol = s.site.team(inc.team_id).escalation
    if inc.status is IncidentStatus.OPEN:
        if inc.level < len(pol.levels):
            return inc.stored_at + timedelta(seconds=pol.levels[inc.level].after_s)
        assert inc.level_at is not None
        return inc.level_at + timedelta(seconds=pol.repeat_every_s)
    if inc.status is IncidentStatus.ACKNOWLEDGED:
        if inc.reminded or inc.acknowledged_at is None:
            return None
        return inc.acknowledged_at + timedelta(seconds=pol.remind_unresolved_after_s)
    assert inc.resolved_at is not None
    return inc.resolved_at + timedelta(seconds=s.policy.resolved_retention_s)


# --------------------------------------------------------------------------- unit events


def _on_unit_event(tx: _Tx, ev: UnitEvent) -> None:
    if ev.kind is EventKind.ALARM:
        _on_alarm(tx, ev)
    elif ev.kind is EventKind.TEST:
        _on_test_press(tx, ev)
    elif ev.kind is EventKind.PAGER_ACK:
        _on_pager_ack(tx, ev)
    else:  # faults belong to supervision; acknowledge receipt anyway
        tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))


def led_for(inc: Incident) -> Feedback:
    """What the desk LED shows while this (open or acknowledged) incident lasts."""
    return Feedback.ACKNOWLEDGED if inc.status is IncidentStatus.ACKNOWLEDGED else Feedback.STORED


def open_incident_of_unit(s: EngineState, unit_id: str) -> Incident | None:
    """The unit's open or acknowledged incident (the newest), if any."""
    live = [i for i in s.live.values() if i.unit_id == unit_id]
    return max(live, key=lambda i: i.stored_at) if live else None


_open_incident_of_unit = open_incident_of_unit


def _new_incident_id(s: EngineState, now: datetime) -> str:
    day = now.astimezone(ZoneInfo(s.site.site.timezone)).strftime("%Y%m%d")
    last_day, n = s.last_incident
    n = n + 1 if last_day == day else 1
    while f"{day}-{n:04d}" in s.incidents:
        n += 1
    return f"{day}-{n:04d}"


def _on_alarm(tx: _Tx, ev: UnitEvent, test_refused: TestRefusal | None = None) -> None:
    """A real press (or a test press refused as a test: `test_refused` says why)."""
    s = tx.s
    assert ev.button_id is not None
    joined = _open_incident_of_unit(s, ev.unit_id)
    if joined is not None:
        tx.record(
            PressRepeated(
                at=tx.now,
                incident_id=joined.id,
                unit_id=ev.unit_id,
                button_id=ev.button_id,
                event_id=ev.event_id,
                pressed_at=ev.occurred_at,
                test_refused=test_refused,
            )
        )
        tx.emit(SendReceipt(ev.unit_id, ev.event_id, joined.id))
        tx.emit(PublishIncident(joined.id))
        inc = tx.s.live[joined.id]
        if inc.status is IncidentStatus.ACKNOWLEDGED and inc.acknowledged_by is not None:
            # The lead is on the way: tell them it was pressed again, and keep the LED right.
            _notice(
                tx,
                inc,
                NotifyReason.INFO,
                (inc.acknowledged_by,),
                "again",
                {"presses": str(inc.presses)},
            )
            tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.ACKNOWLEDGED))
        return
    unit = s.site.unit(ev.unit_id)
    room = s.site.room(unit.room)
    incident_id = _new_incident_id(s, tx.now)
    tx.record(
        AlarmReceived(
            at=tx.now,
            incident_id=incident_id,
            unit_id=ev.unit_id,
            button_id=ev.button_id,
            room_id=room.id,
            team_id=room.team,
            event_id=ev.event_id,
            pressed_at=ev.occurred_at,
            sent_at=ev.sent_at,
            test_refused=test_refused,
        )
    )
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, incident_id))
    tx.emit(UnitFeedback(ev.unit_id, incident_id, Feedback.STORED))
    _escalate_due(tx, incident_id)
    tx.emit(PublishIncident(incident_id))


def test_window_for(s: EngineState, ev: UnitEvent, now: datetime) -> Campaign | TestRefusal:
    """The open test window a test press of `ev`'s button counts in, or why it is a real alarm.

    Fail open: no window of this unit open at the console's `now` ("no_window"), this button
    already tested in every open window ("already_tested"), or its previous test press less
    than TEST_REPEAT_GUARD ago by the console's or the unit's clock ("again_within_60s").
    """
    key = f"{ev.unit_id}/{ev.button_id}"
    last = s.tested_at.get(key)
    if last is not None:
        stored, pressed = last
        if now - stored < TEST_REPEAT_GUARD or abs(ev.occurred_at - pressed) < TEST_REPEAT_GUARD:
            return "again_within_60s"
    windows = [c for c in s.campaigns.values() if ev.unit_id in c.unit_ids and c.until > now]
    if not windows:
        return "no_window"
    fresh = [c for c in windows if key not in c.tested]
    if not fresh:
        return "already_tested"
    named = [c for c in fresh if c.id == ev.campaign_id]
    newest: Campaign = max(fresh, key=lambda c: _campaign_num(c.id))
    return named[0] if named else newest


def _on_test_press(tx: _Tx, ev: UnitEvent) -> None:
    assert ev.button_id is not None
    window = test_window_for(tx.s, ev, tx.now)
    if not isinstance(window, Campaign):
        _on_alarm(tx, ev, test_refused=window)
        return
    latency = (tx.now - ev.occurred_at).total_seconds() * 1000
    tx.record(
        TestResult(
            at=tx.now,
            unit_id=ev.unit_id,
            button_id=ev.button_id,
            campaign_id=window.id,
            event_id=ev.event_id,
            pressed_at=ev.occurred_at,
            latency_ms=round(latency, 1),
        )
    )
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))
    tx.emit(UnitFeedback(ev.unit_id, None, Feedback.TEST_OK))
    # Quietly tell the room's lead(s): if this "test" was a real alarm, a person still sees it.
    d = tx.s.site.index
    room = d.rooms[d.units[ev.unit_id].room]
    leads = d.teams[room.team].leads
    fact = Notified(
        at=tx.now,
        reason=NotifyReason.INFO,
        unit_id=ev.unit_id,
        person_ids=leads,
        notification_ids=notice_ids(f"{ev.unit_id}:test:{ev.event_id}", NotifyReason.INFO, 0, tx.now, leads),
        text_key="test_press",
        detail={"room": room.id, "unit": ev.unit_id, "button": ev.button_id, "by": window.by},
    )
    tx.record(fact)
    tx.emit(Notify(fact))


def _on_pager_ack(tx: _Tx, ev: UnitEvent) -> None:
    s = tx.s
    unit = s.site.unit(ev.unit_id)
    person = unit.person
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))

    def reject(code: str, detail: str) -> None:
        tx.record(
            CommandRejected(
                at=tx.now,
                unit_id=ev.unit_id,
                person_id=person,
                cmd_kind="pager_ack",
                code=code,
                detail=detail,
                event_id=ev.event_id,
            )
        )

    if person is None:
        reject("invalid", f"unit {ev.unit_id} is not a lead pager unit")
        return
    if not s.site.may_act_on_incidents(person):
        reject("not_authorised", f"{person} may not acknowledge incidents")
        return
    routed = [i for i in s.live.values() if i.status is IncidentStatus.OPEN and person in i.notified]
    if not routed:
        reject("unknown_incident", f"no open incident was routed to {person}")
        return
    newest = max(routed, key=lambda i: i.stored_at)
    _acknowledge(tx, newest, person, via="pager", event_id=ev.event_id)


# --------------------------------------------------------------------------- escalation


def _escalate_due(tx: _Tx, incident_id: str) -> None:
    """Fire every level of an open incident that is due at tx.now (at most one repeat)."""
    while True:
        inc = tx.s.incidents[incident_id]
        if inc.status is not IncidentStatus.OPEN:
            return
        due = _due(tx.s, inc)
        if due is None or due > tx.now:
            return
        pol = tx.s.site.team(inc.team_id).escalation
        if inc.level < len(pol.levels):
            _fire_level(tx, inc, inc.level + 1)
        else:
            _fire_repeat(tx, inc)
            return


def _fire_level(tx: _Tx, inc: Incident, level: int) -> None:
    s = tx.s
    pol = s.site.team(inc.team_id).escalation
    lv = pol.levels[level - 1]
    targets = s.site.resolve_targets(inc.team_id, lv.notify)
    away = s.unreachable
    present = tuple(p for p in targets if p not in away)
    last = level == len(pol.levels)
    if not present and not last:
        tx.record(
            LevelSkipped(
                at=tx.now, incident_id=inc.id, level=level, absent=tuple(p for p in targets if p in away)
            )
        )
        _fire_level(tx, tx.s.incidents[inc.id], level + 1)
        return
    # The last level (Bel 101) never stays silent: absence is a hint, not a guarantee.
    to = present or targets
    reason = NotifyReason.ALARM if level == 1 else NotifyReason.ESCALATION
    evacuate = s.site.waiting_room_for(inc.room_id) if lv.call_101 else None
    _page(tx, inc, reason, to, level=level, call_101=lv.call_101, evacuate=evacuate)


def _fire_repeat(tx: _Tx, inc: Incident) -> None:
    s = tx.s
    pol = s.site.team(inc.team_id).escalation
    lv = pol.levels[-1]
    targets = s.site.resolve_targets(inc.team_id, lv.notify)
    to = tuple(p for p in targets if p not in s.unreachable) or targets
    evacuate = s.site.waiting_room_for(inc.room_id) if lv.call_101 else None
    _page(tx, inc, NotifyReason.REPEAT, to, level=inc.level, call_101=lv.call_101, evacuate=evacuate)


def _page(
    tx: _Tx,
    inc: Incident,
    reason: NotifyReason,
    to: tuple[str, ...],
    *,
    level: int,
    call_101: bool,
    evacuate: str | None,
) -> None:
    _notice(tx, inc, reason, to, "alarm", {}, level=level, call_101=call_101, evacuate=evacuate)
    for p in to:
        for pager in tx.s.site.index.pagers.get(p, ()):
            tx.emit(Page(pager, inc.id, level))
    tx.emit(PublishIncident(inc.id))


def notice_ids(
    key: str, reason: NotifyReason, level: int, at: datetime, to: tuple[str, ...]
) -> tuple[uuid.UUID, ...]:
    """Deterministic notification ids (a rebuild yields the same; receivers dedupe on them)."""
    return tuple(uuid.uuid5(NOTICE_NS, f"{key}|{reason.value}|{level}|{at.isoformat()}|{p}") for p in to)


def _notice(
    tx: _Tx,
    inc: Incident,
    reason: NotifyReason,
    to: tuple[str, ...],
    text_key: str,
    detail: dict[str, str],
    *,
    level: int = 0,
    call_101: bool = False,
    evacuate: str | None = None,
) -> Notified | None:
    if not to:
        return None
    fact = Notified(
        at=tx.now,
        reason=reason,
        incident_id=inc.id,
        unit_id=inc.unit_id,
        level=level,
        person_ids=to,
        notification_ids=notice_ids(inc.id, reason, level, tx.now, to),
        call_101=call_101,
        evacuate=evacuate,
        text_key=text_key,
        detail=detail,
    )
    tx.record(fact)
    tx.emit(Notify(fact))
    return fact


def _stop_pagers(tx: _Tx, inc: Incident) -> None:
    for p in inc.notified:
        for pager in tx.s.site.index.pagers.get(p, ()):
            tx.emit(Page(pager, inc.id, 0))


def _acknowledge(
    tx: _Tx,
    inc: Incident,
    person: str,
    *,
    via: str,
    cmd_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> None:
    tx.record(
        Acknowledged(
            at=tx.now,
            incident_id=inc.id,
            person_id=person,
            via="pager" if via == "pager" else "command",
            cmd_id=cmd_id,
            event_id=event_id,
        )
    )
    inc = tx.s.incidents[inc.id]
    tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.ACKNOWLEDGED))
    others = tuple(p for p in inc.notified if p != person)
    _notice(tx, inc, NotifyReason.ACKNOWLEDGED, others, "ack", {"person": person})
    _stop_pagers(tx, inc)
    tx.emit(PublishIncident(inc.id))


# --------------------------------------------------------------------------- person commands


def _on_person_cmd(
    tx: _Tx,
    cmd: AckCmd
    | ResolveCmd
    | PresenceCmdMsg
    | TestStartCmd
    | TestStopCmd
    | AftercareDoneCmd
    | ConsoleLinkCmd,
) -> None:
    s = tx.s
    person = cmd.person_id

    def reject(code: str, text_key: str, incident_id: str | None = None, **values: str) -> None:
        detail = f"{cmd.kind} by {person}: {code}" + (f" ({incident_id})" if incident_id else "")
        detail += f": {text_key.removeprefix('reply_')}"
        tx.record(
            CommandRejected(
                at=tx.now,
                person_id=person,
                cmd_kind=cmd.kind,
                code=code,
                detail=detail,
                cmd_id=cmd.cmd_id,
                incident_id=incident_id,
            )
        )
        tx.emit(Reply(person, cmd.cmd_id, False, code, text_key, values, incident_id=incident_id))

    match cmd:
        case AckCmd() | ResolveCmd():
            if not s.site.may_act_on_incidents(person):
                reject("not_authorised", "reply_not_authorised", cmd.incident_id, what=cmd.kind)
                return
            inc = s.incidents.get(cmd.incident_id)
            if inc is None:
                reject(
                    "unknown_incident", "reply_unknown_incident", cmd.incident_id, incident=cmd.incident_id
                )
                return
            if inc.status is IncidentStatus.RESOLVED:
                reject("already_resolved", "reply_already_resolved", inc.id, incident=inc.id)
                return
            if isinstance(cmd, AckCmd):
                if inc.status is IncidentStatus.ACKNOWLEDGED:
                    if inc.acknowledged_by == person:
                        tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
                    else:
                        by = inc.acknowledged_by or ""
                        name = s.site.person(by).name if by in s.site.index.people else by
                        reject(
                            "already_acknowledged",
                            "reply_already_acknowledged",
                            inc.id,
                            incident=inc.id,
                            name=name,
                        )
                    return
                _acknowledge(tx, inc, person, via="command", cmd_id=cmd.cmd_id)
                tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
                return
            refusal = _resolve_refusal(s, inc, person)
            if refusal is not None:
                team = s.site.team(inc.team_id)
                reject("not_authorised", refusal, inc.id, incident=inc.id, team=team.name)
                return
            tx.record(
                Resolved(
                    at=tx.now,
                    incident_id=inc.id,
                    person_id=person,
                    registration=cmd.registration,
                    cmd_id=cmd.cmd_id,
                )
            )
            inc = tx.s.incidents[inc.id]
            tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.OFF))
            _stop_pagers(tx, inc)
            tx.emit(PublishIncident(inc.id))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
        case ConsoleLinkCmd():
            # No reply: it is also the console's last will. Recorded only when it changes something.
            if person not in s.site.index.people:
                return
            live = s.consoles.get(person, frozenset())
            if (cmd.console_id in live) == cmd.online and person in s.consoles:
                return
            was = person in s.unreachable
            tx.record(
                ConsoleLinked(at=tx.now, person_id=person, console_id=cmd.console_id, online=cmd.online)
            )
            if (person in tx.s.unreachable) != was or person not in s.consoles:
                tx.emit(PublishPresence(person))
        case PresenceCmdMsg():
            if person not in s.site.index.people:
                reject("not_authorised", "reply_not_authorised", what="presence")
                return
            if (person not in s.absent) != cmd.present:
                tx.record(
                    PresenceChanged(at=tx.now, person_id=person, present=cmd.present, cmd_id=cmd.cmd_id)
                )
                tx.emit(PublishPresence(person))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok"))
        case TestStartCmd():
            if not s.site.may_run_tests(person):
                reject("not_authorised", "reply_not_authorised", what="test")
                return
            if cmd.scope not in (TestScope.UNIT, TestScope.ROOM):
                # A real alarm must never be lost to a test: no window for a team or the whole site.
                reject("invalid", "reply_test_one_place", what=cmd.scope.value)
                return
            units = s.site.units_in_scope(cmd.scope.value, cmd.target)
            if not units:
                reject("unknown_target", "reply_unknown_target", what=f"{cmd.scope.value} {cmd.target or ''}")
                return
            # One window at a time per person: opening the next one closes the previous one.
            for old in [c for c in s.campaigns.values() if c.by == person]:
                _end_campaign(tx, old, "stopped", person)
            day = tx.now.astimezone(ZoneInfo(s.site.site.timezone)).strftime("%Y%m%d")
            last_day, n = s.last_campaign
            cid = f"test-{day}-{(n + 1) if last_day == day else 1}"
            until = tx.now + timedelta(minutes=min(cmd.minutes, TEST_WINDOW_MAX_MIN))
            tx.record(
                CampaignStarted(
                    at=tx.now,
                    campaign_id=cid,
                    person_id=person,
                    scope=cmd.scope,
                    target=cmd.target,
                    unit_ids=units,
                    until=until,
                    cmd_id=cmd.cmd_id,
                )
            )
            for u in units:
                tx.emit(UnitTestMode(u, True, until, cid, person))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", campaign_id=cid))
        case TestStopCmd():
            if not s.site.may_run_tests(person):
                reject("not_authorised", "reply_not_authorised", what="test")
                return
            if cmd.campaign_id is not None:
                camp = s.campaigns.get(cmd.campaign_id)
            else:
                camp = max(s.campaigns.values(), key=lambda c: _campaign_num(c.id), default=None)
            if camp is None:
                reject("unknown_target", "reply_unknown_target", what=cmd.campaign_id or "test")
                return
            _end_campaign(tx, camp, "stopped", person)
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", campaign_id=camp.id))
        case AftercareDoneCmd():
            _on_aftercare_done(tx, cmd, reject)


def _resolve_refusal(s: EngineState, inc: Incident, person: str) -> str | None:
    """Why `person` may not resolve `inc` (a text key), or None if they may.

    Resolving (also as a false alarm) stops the escalation, so it is closed for control:
    only after someone acknowledged, and only by that person or a lead or deputy of the team.
    """
    if inc.status is not IncidentStatus.ACKNOWLEDGED or inc.acknowledged_by is None:
        return "reply_resolve_needs_ack"
    team = s.site.team(inc.team_id)
    if person != inc.acknowledged_by and person not in team.leads and person not in team.deputies:
        return "reply_resolve_not_yours"
    return None


def _on_aftercare_done(tx: _Tx, cmd: AftercareDoneCmd, reject: Callable[..., None]) -> None:
    """The resolver (or any lead / prevention person) records that after-care was given."""
    s = tx.s
    person = cmd.person_id
    case_ = s.aftercare.get(cmd.incident_id)
    if case_ is None:
        if cmd.incident_id in s.live:
            reject("invalid", "reply_not_resolved", cmd.incident_id, incident=cmd.incident_id)
        else:
            reject("unknown_incident", "reply_no_aftercare", cmd.incident_id, incident=cmd.incident_id)
        return
    roles = set(s.site.person(person).roles) if person in s.site.index.people else set()
    if person != case_.resolver and not {Role.LEAD, Role.PREVENTION} & roles:
        reject("not_authorised", "reply_not_authorised", cmd.incident_id, what="aftercare")
        return
    if case_.done_by is None:
        tx.record(
            AftercareDone(
                at=tx.now, incident_id=case_.incident_id, person_id=person, note=cmd.note, cmd_id=cmd.cmd_id
            )
        )
    tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=case_.incident_id))


def _end_campaign(tx: _Tx, camp: Campaign, why: str, person: str | None) -> None:
    buttons = [f"{u}/{b.id}" for u in camp.unit_ids for b in tx.s.site.unit(u).buttons]
    tx.record(
        CampaignEnded(
            at=tx.now,
            campaign_id=camp.id,
            person_id=person,
            why="stopped" if why == "stopped" else "expired",
            tested=tuple(b for b in buttons if b in camp.tested),
            untested=tuple(b for b in buttons if b not in camp.tested),
        )
    )
    for u in camp.unit_ids:
        tx.emit(UnitTestMode(u, False, None, camp.id, person))


# --------------------------------------------------------------------------- timers


def _on_tick(tx: _Tx) -> None:
    everything = tx.s.incidents
    for inc_id in sorted(everything, key=lambda k: everything[k].stored_at):
        inc = tx.s.incidents[inc_id]
        due = _due(tx.s, inc)
        if due is None or due > tx.now:
            continue
        if inc.status is IncidentStatus.OPEN:
            _escalate_due(tx, inc_id)
        elif inc.status is IncidentStatus.ACKNOWLEDGED and inc.acknowledged_by is not None:
            _notice(tx, inc, NotifyReason.REMINDER, (inc.acknowledged_by,), "remind", {})
            tx.emit(PublishIncident(inc_id))
        elif inc.status is IncidentStatus.RESOLVED:
            tx.record(IncidentExpired(at=tx.now, incident_id=inc_id))
            tx.emit(ClearIncident(inc_id))
    for camp in list(tx.s.campaigns.values()):
        if camp.until <= tx.now:
            _end_campaign(tx, camp, "expired", None)
    for case_ in list(tx.s.aftercare.values()):
        due = _aftercare_due(tx.s, case_)
        if due is not None and due <= tx.now:
            _remind_aftercare(tx, case_)


def _remind_aftercare(tx: _Tx, c: AftercareCase) -> None:
    """One after-care reminder to the resolver; reminders missed while down are sent as one."""
    steps = tx.s.site.aftercare.remind_after_h
    n = max(i + 1 for i, h in enumerate(steps) if c.resolved_at + timedelta(hours=h) <= tx.now)
    d = tx.s.site.index
    to = (c.resolver,) if c.resolver in d.people else d.teams[d.rooms[c.room_id].team].leads
    days = (tx.now - c.resolved_at).total_seconds() / 86400
    fact = Notified(
        at=tx.now,
        reason=NotifyReason.REMINDER,
        incident_id=c.incident_id,
        unit_id=c.unit_id,
        person_ids=to,
        notification_ids=notice_ids(f"{c.incident_id}:aftercare", NotifyReason.REMINDER, 0, tx.now, to),
        text_key="aftercare",
        detail={"step": str(n), "room": c.room_id, "days": str(round(days)), "incident": c.incident_id},
    )
    tx.record(fact)
    tx.emit(Notify(fact))
