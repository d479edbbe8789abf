"""The incident engine's state: incidents, test windows, after-care cases, and `EngineState`.

Everything here is folded from recorded facts (`fold.evolve`); nothing is stored on its own.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from stilalarm.console.config import EnginePolicy
from stilalarm.console.core.engine.regstate import OwedPart, RegCase
from stilalarm.inventory.model import Site
from stilalarm.inventory.visits import minutes
from stilalarm.wire.messages import IncidentKind, IncidentState, IncidentStatus, Registration, RiskState


@dataclass(frozen=True)
class Incident:
    """One incident as the engine knows it (folded from facts): a press (`kind` alarm, with its
    unit, button and room) or a home visit nobody heard back from (`kind` overdue, with its visit)."""

    id: str
    unit_id: str | None
    button_id: str | None
    room_id: str | None
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
    kind: IncidentKind = "alarm"
    visit_id: str | None = None
    visitor: str | None = None
    """An overdue visit's visitor (person id)."""
    visit_private: tuple[str, str, str] = ("", "", "")
    """An open overdue visit's (client name, address, mobile): for the notices to those its escalation
    reaches, never on the wire state; emptied when the incident is resolved."""
    version: int = 1
    place: str = ""
    """Where a panic-page press says it is (address, position): in its notices only, never in the
    retained state everybody can read."""
    declined: tuple[str, ...] = ()
    """Who said 'kan niet komen', in order (`responses`)."""
    on_site_at: datetime | None = None
    """When the acknowledger marked 'ter plaatse'."""
    on_site_step: int = 0
    """Not yet on site after 'ik kom': 1 = the responder was reminded, 2 = the next level was told."""
    nobody_reachable: bool = False
    """Everyone on the escalation was absent or had declined; the desk was told (once)."""
    danger_presses: int = 0
    """Presses of the desk after the acknowledgement ('still in danger')."""

    def to_wire(self) -> IncidentState:
        """The retained IncidentState message of this incident (never a visit's private part)."""
        overdue = self.kind == "overdue"
        return IncidentState(
            incident_id=self.id,
            kind=self.kind,
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
            visit_id=self.visit_id,
            visitor=self.visitor,
            planned_end=self.pressed_at if overdue else None,
            declined=self.declined[:500],
            on_site_at=self.on_site_at,
            nobody_reachable=self.nobody_reachable,
            version=self.version,
        )


@dataclass(frozen=True)
class Visit:
    """A registered home visit, from its start until some time after it is closed."""

    id: str
    visitor: str
    team_id: str
    colleague: str
    mobile: str
    planned_end: datetime
    started_at: datetime
    evening: bool = False
    client_name: str = ""
    address: str = ""
    """The private part (`VisitDetails`); empty once purged."""
    incident_id: str | None = None
    """Its overdue incident, once raised."""
    reminded: bool = False
    """The evening rule's reminder to the colleague was sent."""
    closed_at: datetime | None = None
    closed_by: str | None = None


@dataclass(frozen=True)
class Risk:
    """An announced risky conversation (risicogesprek), until a day after its window (docs/RISKY.md)."""

    id: str
    person_id: str
    room_id: str
    team_id: str
    standby: str
    starts_at: datetime
    ends_at: datetime
    announced_at: datetime
    outside_hours: bool = False
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    reminded: bool = False
    """The stand-by colleague was reminded at the window's start (a `risk_start*` notice)."""
    ended: bool = False
    """Its window ended and its retained state was cleared (a `risk_ended` fact to nobody)."""

    def covers(self, room_id: str, now: datetime) -> bool:
        """Whether an alarm from `room_id` at `now` falls in this (not cancelled) conversation."""
        return self.room_id == room_id and self.cancelled_at is None and self.starts_at <= now < self.ends_at

    def running(self, now: datetime) -> bool:
        """Not cancelled and its window not over at `now` (announced ahead counts): its retained
        state is on the broker."""
        return self.cancelled_at is None and not self.ended and now < self.ends_at

    def to_wire(self) -> RiskState:
        """The retained RiskState of this conversation (what a console's list needs, nothing more)."""
        return RiskState(
            risk_id=self.id,
            room_id=self.room_id,
            person_id=self.person_id,
            standby=self.standby,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            confirmed=self.confirmed_at is not None,
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
    unit_id: str | None
    room_id: str | None
    resolver: str
    resolved_at: datetime
    reminders_sent: int = 0
    """How many of `AftercarePolicy.remind_after_h` have been sent (or passed)."""
    done_by: str | None = None
    done_at: datetime | None = None
    team_id: str | None = None
    """The incident's team (an overdue visit has no room to find it by)."""


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
    due_hint: datetime | None = None
    """No incident outside `dirty`, campaign or after-care case has work before this (a lower
    bound; `NEVER`: nothing scheduled; None: unknown, the next tick walks everything). With
    `dirty`, a tick looks only at what changed instead of walking every incident
    (docs/PERFORMANCE.md)."""
    dirty: frozenset[str] = frozenset()
    """Incidents changed since the tick last set `due_hint` (their due times may be earlier)."""
    visits: Mapping[str, Visit] = field(default_factory=dict)
    """Home visits: open ones, and closed ones for a day (a retried command is answered, not redone)."""
    registrations: Mapping[str, RegCase] = field(default_factory=dict)
    """Registrations ("Melding agressie"), incomplete and complete (`regstate.py`)."""
    owed: Mapping[str, OwedPart] = field(default_factory=dict)
    """Panic-page alarms resolved without the victim's part, by incident id, while their person is
    still to be reminded (`regstate.OwedPart`)."""
    risks: Mapping[str, Risk] = field(default_factory=dict)
    """Risky conversations, until a day after their window (a retried command is answered)."""
    unstaffed: frozenset[str] = frozenset()
    """Teams told to be open with nobody present (`staffing`), until someone is back or it closes."""

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
            dict(self.visits),
            dict(self.risks),
            self.unstaffed,
        )


def campaign_num(campaign_id: str) -> tuple[str, int]:
    """(day, number) of a test window id `test-YYYYMMDD-n`; ("", 0) for any other id."""
    parts = campaign_id.split("-")
    if len(parts) == 3 and parts[2].isdigit():
        return parts[1], int(parts[2])
    return "", 0


NEVER = datetime.max.replace(tzinfo=UTC)
"""`EngineState.due_hint` when nothing is scheduled."""


def overdue_level_due(s: EngineState, inc: Incident) -> datetime:
    """When an open overdue visit's next level (or repeat) is due: the colleague at once, the team
    lead after the answer time, everyone `everyone_after_min` later, then the team's repeat."""
    vp = s.site.visits
    if inc.level == 0:
        return inc.stored_at
    if inc.level == 1:
        return inc.stored_at + minutes(vp.answer_timeout_min)
    assert inc.level_at is not None
    if inc.level == 2:
        return inc.level_at + minutes(vp.everyone_after_min)
    return inc.level_at + timedelta(seconds=s.site.team(inc.team_id).escalation.repeat_every_s)


def on_site_due(s: EngineState, inc: Incident) -> datetime | None:
    """When an acknowledged alarm not yet 'ter plaatse' has its next on-site step: the reminder to
    the responder `on_site_within_s` after 'ik kom', the next level `on_site_escalate_after_s` later."""
    if inc.kind != "alarm" or inc.on_site_at is not None or inc.acknowledged_at is None:
        return None
    pol = s.site.team(inc.team_id).escalation
    if inc.on_site_step == 0:
        return inc.acknowledged_at + timedelta(seconds=pol.on_site_within_s)
    if inc.on_site_step == 1:
        return inc.acknowledged_at + timedelta(seconds=pol.on_site_within_s + pol.on_site_escalate_after_s)
    return None


def incident_due(s: EngineState, inc: Incident) -> datetime | None:
    """When `inc` has work next: its next level or repeat, its reminder, or its expiry."""
    pol = s.site.team(inc.team_id).escalation
    if inc.status is IncidentStatus.OPEN and inc.kind == "overdue":
        return overdue_level_due(s, inc)
    if inc.status is IncidentStatus.OPEN:
        if inc.level < len(pol.levels):
            return inc.stored_at + timedelta(seconds=pol.levels[inc.level].after_s)
        assert inc.level_at is not None
        return inc.level_at + timedelta(seconds=pol.repeat_every_s)
    if inc.status is IncidentStatus.ACKNOWLEDGED:
        if inc.acknowledged_at is None:
            return None
        dues = (
            [] if inc.reminded else [inc.acknowledged_at + timedelta(seconds=pol.remind_unresolved_after_s)]
        )
        on_site = on_site_due(s, inc)
        return min([*dues, on_site]) if on_site is not None else min(dues, default=None)
    assert inc.resolved_at is not None
    return inc.resolved_at + timedelta(seconds=s.policy.resolved_retention_s)
