"""Report records from the event log: one pure fold of the console's facts into the plain
records `stilalarm.console.reporting` computes its exports and reports from.

- `IncidentRecord` per incident: press, stored, first notification, highest level reached
  (fired or skipped), who acknowledged and when, who resolved it with which registration,
  and the after-care reminders and completion.
- `ButtonTestRecord` per campaign and button of the campaign's units: tested at (the stored
  time of the first test press), by whom (the facilities person who started the campaign),
  the press -> stored latency, whether the LED confirmation was sent (the engine answers
  every recorded test press with `FeedbackCmd(test_ok)`, so a `test_result` fact is that
  proof), and the faults active on the button during the campaign. A fault makes the
  button `failed`; a button without a test press when the campaign ended (or so far, for a
  running campaign) is `not_tested`. Test presses outside a campaign (the local test key)
  count for a button's last test (supervision) but are not campaign records.
- `OfflineSpan` per unit from `unit_offline` to the next `unit_online`.

Rooms and teams are looked up in the current inventory; a room or unit removed since is
shown by its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from stilalarm.console.facts import (
    Acknowledged,
    AftercareDone,
    AlarmReceived,
    CampaignEnded,
    CampaignStarted,
    Fact,
    FaultCleared,
    FaultRaised,
    LevelSkipped,
    Notified,
    PressRepeated,
    Resolved,
    TestResult,
    UnitOffline,
    UnitOnline,
)
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationCorrected, RegistrationFiled
from stilalarm.console.reporting.records import ButtonTestRecord, IncidentRecord, OfflineSpan, TestOutcome
from stilalarm.console.reporting.regfold import attach
from stilalarm.console.responsefacts import Declined, NobodyReachable, OnSite
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason, Registration


@dataclass
class _Inc:
    fact: AlarmReceived | OverdueRaised
    presses: int = 1
    first_notified_at: datetime | None = None
    level: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    registration: Registration | None = None
    reminded: list[datetime] = field(default_factory=list)
    aftercare_by: str | None = None
    aftercare_at: datetime | None = None
    aftercare_note: str = ""
    declined: list[str] = field(default_factory=list)
    on_site_at: datetime | None = None
    nobody_reachable: bool = False
    presses_after_ack: int = 0


@dataclass
class _Camp:
    fact: CampaignStarted
    tests: dict[str, TestResult] = field(default_factory=dict)  # 'unit/button' -> first test press
    faults: dict[str, set[str]] = field(default_factory=dict)  # 'unit/button' -> faults seen
    ended: CampaignEnded | None = None


@dataclass(frozen=True)
class Records:
    """Everything the reports need, built from the log."""

    incidents: list[IncidentRecord]
    tests: list[ButtonTestRecord]
    offline: list[OfflineSpan]


def _button_faults(site: Site, unit_id: str, fault: str) -> list[str]:
    """'unit/button' keys a fault concerns: its button, or every button for unit faults (tamper)."""
    part, _, kind = fault.partition(":")
    units = {u.id: u for u in site.units}
    if part == "unit":
        if kind != "tamper" or unit_id not in units:
            return []  # a backlog says nothing about the buttons
        return [f"{unit_id}/{b.id}" for b in units[unit_id].buttons]
    return [f"{unit_id}/{part}"]


def build(site: Site, facts: Iterable[Fact]) -> Records:
    """Fold the log (in order) into incident, button test and offline records."""
    incs: dict[str, _Inc] = {}
    camps: dict[str, _Camp] = {}
    active: dict[str, dict[str, set[str]]] = {}  # unit -> fault -> button keys (faults now active)
    offline_since: dict[str, datetime] = {}
    spans: list[OfflineSpan] = []
    addresses: dict[str, str] = {}  # visit id -> address, while the purge has not deleted it
    filed: list[RegistrationFiled] = []
    completed: dict[str, RegistrationCompleted] = {}
    corrected: dict[str, list[RegistrationCorrected]] = {}
    for f in facts:
        match f:
            case AlarmReceived() | OverdueRaised():
                incs[f.incident_id] = _Inc(f)
            case RegistrationFiled():
                filed.append(f)
            case RegistrationCompleted():
                completed.setdefault(f.registration_id, f)
            case RegistrationCorrected():
                corrected.setdefault(f.registration_id, []).append(f)
            case VisitDetails():
                addresses[f.visit_id] = f.address
            case PressRepeated() if f.incident_id in incs:
                incs[f.incident_id].presses += f.count
                if incs[f.incident_id].acknowledged_at is not None:
                    incs[f.incident_id].presses_after_ack += f.count
            case Declined() if f.incident_id in incs:
                if f.person_id not in incs[f.incident_id].declined:
                    incs[f.incident_id].declined.append(f.person_id)
            case OnSite() if f.incident_id in incs:
                incs[f.incident_id].on_site_at = incs[f.incident_id].on_site_at or f.at
            case NobodyReachable() if f.incident_id in incs:
                incs[f.incident_id].nobody_reachable = True
            case Notified() if f.incident_id in incs:
                i = incs[f.incident_id or ""]
                if f.reason in (NotifyReason.ALARM, NotifyReason.ESCALATION):
                    if i.first_notified_at is None:
                        i.first_notified_at = f.at
                    i.level = max(i.level, f.level)
                elif f.text_key == "aftercare":
                    i.reminded.append(f.at)
            case LevelSkipped() if f.incident_id in incs:
                incs[f.incident_id].level = max(incs[f.incident_id].level, f.level)
            case Acknowledged() if f.incident_id in incs:
                i = incs[f.incident_id]
                if i.acknowledged_by is None:
                    i.acknowledged_by, i.acknowledged_at = f.person_id, f.at
            case Resolved() if f.incident_id in incs:
                i = incs[f.incident_id]
                i.resolved_by, i.resolved_at, i.registration = f.person_id, f.at, f.registration
            case AftercareDone() if f.incident_id in incs:
                i = incs[f.incident_id]
                if i.aftercare_by is None:
                    i.aftercare_by, i.aftercare_at, i.aftercare_note = f.person_id, f.at, f.note
            case CampaignStarted():
                c = _Camp(f)
                for uid in f.unit_ids:  # faults already active when the campaign starts count too
                    for fault, keys in active.get(uid, {}).items():
                        for k in keys:
                            c.faults.setdefault(k, set()).add(fault)
                camps[f.campaign_id] = c
            case CampaignEnded() if f.campaign_id in camps:
                camps[f.campaign_id].ended = f
            case TestResult() if f.campaign_id in camps:
                c = camps[f.campaign_id or ""]
                c.tests.setdefault(f"{f.unit_id}/{f.button_id}", f)
            case FaultRaised():
                concerned = _button_faults(site, f.unit_id, f.fault)
                active.setdefault(f.unit_id, {})[f.fault] = set(concerned)
                for c in camps.values():
                    if c.ended is None and f.unit_id in c.fact.unit_ids:
                        for k in concerned:
                            c.faults.setdefault(k, set()).add(f.fault)
            case FaultCleared():
                active.get(f.unit_id, {}).pop(f.fault, None)
            case UnitOffline():
                offline_since.setdefault(f.unit_id, f.at)
            case UnitOnline():
                start = offline_since.pop(f.unit_id, None)
                if start is not None:
                    spans.append(OfflineSpan(f.unit_id, start, f.at))
            case _:
                pass
    spans += [OfflineSpan(uid, start, None) for uid, start in offline_since.items()]
    return Records(
        incidents=attach(
            site, [_incident(site, i, addresses) for i in incs.values()], filed, completed, corrected
        ),
        tests=[r for c in camps.values() for r in _campaign(site, c)],
        offline=sorted(spans, key=lambda s: (s.start, s.unit_id)),
    )


def _incident(site: Site, i: _Inc, addresses: dict[str, str]) -> IncidentRecord:
    a = i.fact
    teams = {t.id: t for t in site.teams}
    if isinstance(a, OverdueRaised):  # no room, no unit: a home visit; its address only if it escalated
        room_id, label, kind, unit_id, presses = "", "huisbezoek", "huisbezoek", "", 0
        address = addresses.get(a.visit_id, "") if i.level >= 2 else ""
        pressed_at = a.planned_end
    else:
        room = {r.id: r for r in site.rooms}.get(a.room_id)
        room_id, unit_id, presses, address = a.room_id, a.unit_id, i.presses, ""
        label, kind = (room.label, room.kind.value) if room else (a.room_id, "")
        pressed_at = a.pressed_at
    return IncidentRecord(
        incident_id=a.incident_id,
        site_id=site.site.id,
        building=site.site.building,
        room_id=room_id,
        room_label=label,
        room_kind=kind,
        team_id=a.team_id,
        team_name=teams[a.team_id].name if a.team_id in teams else a.team_id,
        unit_id=unit_id,
        pressed_at=pressed_at,
        stored_at=a.at,
        presses=presses,
        first_notified_at=i.first_notified_at,
        levels_reached=i.level,
        acknowledged_by=i.acknowledged_by,
        acknowledged_at=i.acknowledged_at,
        resolved_by=i.resolved_by,
        resolved_at=i.resolved_at,
        registration=i.registration,
        aftercare_reminded_at=tuple(i.reminded),
        aftercare_done_by=i.aftercare_by,
        aftercare_done_at=i.aftercare_at,
        aftercare_note=i.aftercare_note,
        kind="overdue" if isinstance(a, OverdueRaised) else "alarm",
        visit_address=address,
        declined_by=tuple(i.declined),
        on_site_at=i.on_site_at,
        nobody_reachable=i.nobody_reachable,
        presses_after_ack=i.presses_after_ack,
    )


def _campaign(site: Site, c: _Camp) -> list[ButtonTestRecord]:
    units = {u.id: u for u in site.units}
    rooms = {r.id: r for r in site.rooms}
    if c.ended is not None:
        keys = [*c.ended.tested, *c.ended.untested]
    else:
        keys = [f"{uid}/{b.id}" for uid in c.fact.unit_ids if uid in units for b in units[uid].buttons]
    out = []
    for key in keys:
        unit_id, _, button_id = key.partition("/")
        unit = units.get(unit_id)
        room = rooms.get(unit.room) if unit else None
        test = c.tests.get(key)
        faults = tuple(sorted(c.faults.get(key, ())))
        if faults:
            outcome = TestOutcome.FAILED
        elif test is not None:
            outcome = TestOutcome.OK
        else:
            outcome = TestOutcome.NOT_TESTED
        out.append(
            ButtonTestRecord(
                campaign_id=c.fact.campaign_id,
                unit_id=unit_id,
                button_id=button_id,
                room_id=room.id if room else (unit.room if unit else ""),
                room_label=room.label if room else unit_id,
                team_id=room.team if room else "",
                started_at=c.fact.at,
                started_by=c.fact.person_id,
                outcome=outcome,
                tested_at=test.at if test else None,
                latency_ms=test.latency_ms if test else None,
                led_confirmed=test is not None,
                faults=faults,
            )
        )
    return out
