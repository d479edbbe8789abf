"""Retention: what `alarm-console purge` deletes from the event log (pure planning).

The log is append-only in normal operation; the purge is the one documented exception
(privacy: keep personal data no longer than the protocol needs). The site's
`[retention]` section (`stilalarm.inventory.model.RetentionPolicy`) sets the periods:

- `registrations_days` (default 1826, 5 years): a *resolved* incident whose resolve is older
  is deleted whole: every fact carrying its incident id (alarm, notifications, acks, the
  registration, after-care), its raw unit events and its projection row. Open incidents are
  never deleted.
- `supervision_days` (default 90): unit supervision detail older than this is deleted:
  online/offline/restart and fault facts, unit and daily-check notices, refused commands,
  presence changes, raw unit payloads (`received`) and rendered notifications (`outbox`).
  What the live state is folded from is kept: per unit the newest `unit_online`,
  `unit_offline` and `unit_restarted`, per unit and fault the newest fact when it is a
  raise (the fault is still active), per person the newest presence change, per building the
  newest `building_unreachable` / `building_reachable`, and the newest daily button check. A
  rebuild after the purge therefore gives the same unit, building, presence and check state as before.
- `tests_days` (default 730): ended test campaigns (start and end) and test presses older than
  this are deleted, except each button's newest test press (its last successful test).
- `[visits] keep_details_days` (default 30): a home visit closed (checked in, reached, or its
  overdue incident resolved) longer ago loses everything personal: its `visit_details` (the
  client's name and the address), its `visit_started` (the mobile number), its evening reminder
  and, for a visit without incident, its `visit_ended`; and the rendered notifications of its
  incident and reminder (`outbox`), which carry the address. The overdue incident itself (who,
  when, levels, the registration) is kept like any other (`registrations_days`). Open visits
  are never touched.
- Registrations ("Melding agressie", docs/REGISTRATION.md) follow `registrations_days`: one
  filed after an alarm goes with its incident (both parts); one without alarm goes whole (both
  parts) once its last part is older (the lead's part, or the victim's if never completed).
- Risky conversations (`risk_announced`, `risk_confirmed`, `risk_cancelled`) go with the supervision
  detail: `supervision_days` after the later of the fact and the conversation's window end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from stilalarm.console.facts import (
    BuildingReachable,
    BuildingUnreachable,
    ButtonsChecked,
    CampaignEnded,
    CampaignStarted,
    CommandRejected,
    Fact,
    FaultCleared,
    FaultRaised,
    Notified,
    PresenceChanged,
    Resolved,
    TestResult,
    UnitOffline,
    UnitOnline,
    UnitRestarted,
)
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationCorrected, RegistrationFiled
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitStarted
from stilalarm.inventory.policies import RetentionPolicy
from stilalarm.inventory.visits import VisitPolicy


@dataclass(frozen=True)
class PurgePlan:
    """What a purge deletes from `events`, and the cut-off times for the other tables."""

    seqs: frozenset[int]
    incidents: tuple[str, ...]
    kinds: dict[str, int] = field(default_factory=dict)
    """Deleted facts per kind."""
    registrations_before: datetime | None = None
    supervision_before: datetime | None = None
    tests_before: datetime | None = None
    notifications: tuple[str, ...] = ()
    """Rendered notifications (`outbox` rows, by notification id) to delete: a purged visit's."""
    visits: tuple[str, ...] = ()
    """Home visits whose personal details are deleted."""


def plan(
    facts: Iterable[tuple[int, Fact]],
    policy: RetentionPolicy,
    now: datetime,
    visits: VisitPolicy | None = None,
) -> PurgePlan:
    """The facts (by log `seq`) a purge at `now` deletes under `policy` (and the visit policy)."""
    reg_cut = now - timedelta(days=policy.registrations_days)
    sup_cut = now - timedelta(days=policy.supervision_days)
    test_cut = now - timedelta(days=policy.tests_days)
    log = list(facts)
    visit_cut = now - timedelta(days=(visits or VisitPolicy()).keep_details_days)
    gone_visits, visit_seqs, visit_notes = _visit_details(log, visit_cut)

    resolved_at: dict[str, datetime] = {}
    newest: dict[tuple[str, ...], int] = {}  # kept-state key -> seq of its newest fact
    ended_at: dict[str, datetime] = {}
    risk_end: dict[str, datetime] = {}  # a risky conversation's window end (docs/RISKY.md)
    for seq, f in log:
        match f:
            case RiskAnnounced():
                risk_end[f.risk_id] = max(f.ends_at, risk_end.get(f.risk_id, f.ends_at))
            case Resolved():
                resolved_at[f.incident_id] = f.at
            case UnitOnline() | UnitOffline() | UnitRestarted():
                newest[("unit", f.unit_id, f.kind)] = seq
            case FaultRaised() | FaultCleared():
                newest[("fault", f.unit_id, f.fault)] = seq
            case PresenceChanged():
                newest[("presence", f.person_id)] = seq
            case ButtonsChecked():
                newest[("checked",)] = seq
            case BuildingUnreachable() | BuildingReachable():
                newest[("building", f.building_id)] = seq
            case TestResult():
                newest[("test", f.unit_id, f.button_id)] = seq
            case CampaignEnded():
                ended_at[f.campaign_id] = f.at
            case _:
                pass
    keep = set(newest.values())
    # a cleared fault's newest fact says nothing the fold needs: it may go when old
    keep -= {seq for seq, f in log if isinstance(f, FaultCleared)}
    gone_incidents = {i for i, at in resolved_at.items() if at < reg_cut}
    reg_seqs = _registrations(log, reg_cut, gone_incidents)
    old_campaigns = {c for c, at in ended_at.items() if at < test_cut}

    seqs: set[int] = set()
    kinds: Counter[str] = Counter()
    for seq, f in log:
        iid = getattr(f, "incident_id", None)
        if (iid is not None and iid in gone_incidents) or seq in visit_seqs or seq in reg_seqs:
            drop = True
        elif isinstance(f, CampaignStarted | CampaignEnded):
            drop = f.campaign_id in old_campaigns
        elif isinstance(f, TestResult):
            drop = f.at < test_cut and seq not in keep
        elif isinstance(f, Notified):
            drop = f.incident_id is None and f.at < sup_cut
        elif isinstance(f, CommandRejected):
            drop = f.at < sup_cut
        elif isinstance(f, RiskAnnounced | RiskConfirmed | RiskCancelled):
            drop = max(f.at, risk_end.get(f.risk_id, f.at)) < sup_cut  # never before its window ended
        elif isinstance(
            f,
            UnitOnline
            | UnitOffline
            | UnitRestarted
            | FaultRaised
            | FaultCleared
            | PresenceChanged
            | ButtonsChecked
            | BuildingUnreachable
            | BuildingReachable,
        ):
            drop = f.at < sup_cut and seq not in keep
        else:
            drop = False
        if drop:
            seqs.add(seq)
            kinds[f.kind] += 1
    return PurgePlan(
        seqs=frozenset(seqs),
        incidents=tuple(sorted(gone_incidents)),
        kinds=dict(sorted(kinds.items())),
        registrations_before=reg_cut,
        supervision_before=sup_cut,
        tests_before=test_cut,
        notifications=visit_notes,
        visits=gone_visits,
    )


def _registrations(log: list[tuple[int, Fact]], cut: datetime, gone_incidents: set[str]) -> set[int]:
    """The seqs of the registrations' parts to delete: with their incident, or (without alarm) when
    the last part is older than `cut`."""
    incident: dict[str, str | None] = {}
    last: dict[str, datetime] = {}
    for _seq, f in log:
        if isinstance(f, RegistrationFiled):
            incident[f.registration_id] = f.incident_id
            last[f.registration_id] = f.at
        elif isinstance(f, RegistrationCompleted | RegistrationCorrected):
            last[f.registration_id] = max(f.at, last.get(f.registration_id, f.at))
    gone = {r for r, iid in incident.items() if (iid in gone_incidents if iid else last[r] < cut)}
    return {
        seq
        for seq, f in log
        if isinstance(f, RegistrationFiled | RegistrationCompleted | RegistrationCorrected)
        and f.registration_id in gone
    }


def _visit_details(
    log: list[tuple[int, Fact]], cut: datetime
) -> tuple[tuple[str, ...], set[int], tuple[str, ...]]:
    """(visits closed before `cut`, the seqs of their personal facts, their notification ids)."""
    closed: dict[str, datetime] = {}
    visit_of: dict[str, str] = {}  # overdue incident -> visit
    for _seq, f in log:
        match f:
            case OverdueRaised():
                visit_of[f.incident_id] = f.visit_id
            case VisitEnded():
                closed.setdefault(f.visit_id, f.at)
            case Resolved() if f.incident_id in visit_of:
                closed.setdefault(visit_of[f.incident_id], f.at)
            case _:
                pass
    gone = {v for v, at in closed.items() if at < cut}
    seqs: set[int] = set()
    notes: list[str] = []
    for seq, f in log:
        match f:
            case VisitStarted() | VisitDetails() if f.visit_id in gone:
                seqs.add(seq)
            case VisitEnded() if f.visit_id in gone and f.incident_id is None:
                seqs.add(seq)
            case Notified() if f.incident_id is None and f.detail.get("visit") in gone:
                seqs.add(seq)  # the evening reminder
                notes += [str(n) for n in f.notification_ids]
            case Notified() if visit_of.get(f.incident_id or "") in gone:
                notes += [str(n) for n in f.notification_ids]
            case _:
                pass
    return tuple(sorted(gone)), seqs, tuple(notes)


def split(p: PurgePlan, max_facts: int) -> list[PurgePlan]:
    """`p` as purges of at most `max_facts` facts each, oldest facts first; the last one also deletes
    the incidents' rows, the notifications and the supervision rows. Together they delete what `p`
    deletes. (A cluster's active purges in steps, so its writer is never held long: docs/HA.md.)"""
    seqs = sorted(p.seqs)
    chunks = [seqs[i : i + max_facts] for i in range(0, len(seqs), max_facts)] or [[]]
    head = [
        PurgePlan(seqs=frozenset(c), incidents=(), kinds={}, notifications=(), visits=()) for c in chunks[:-1]
    ]
    return [*head, replace(p, seqs=frozenset(chunks[-1]))]


def describe(p: PurgePlan, rows: dict[str, int], dry_run: bool) -> str:
    """What the purge removed (or would remove), for people."""
    verb = "would remove" if dry_run else "removed"
    lines = [
        f"{verb} {len(p.seqs)} fact(s) from the event log"
        + (f", {len(p.incidents)} whole resolved incident(s)" if p.incidents else ""),
    ]
    if p.registrations_before:
        lines.append(f"  incidents resolved before {p.registrations_before:%Y-%m-%d}: {len(p.incidents)}")
    for iid in p.incidents:
        lines.append(f"    {iid}")
    if p.visits:
        lines.append(f"  home visits whose client, address and mobile are deleted: {len(p.visits)}")
    for kind, n in p.kinds.items():
        lines.append(f"  {kind}: {n}")
    for table, n in rows.items():
        lines.append(f"  {table} rows: {n}")
    return "\n".join(lines) + "\n"
