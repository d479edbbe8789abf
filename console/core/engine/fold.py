"""The incident engine's fold: `evolve` applies one recorded fact, `rebuild` folds a whole log.

The state is the fold of the recorded facts, so a restart rebuilds it from the log and every
open escalation resumes from its recorded times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from stilalarm.console.config import EnginePolicy
from stilalarm.console.core.engine.regcorrect import apply_correction
from stilalarm.console.core.engine.registrations import REMIND_KEY, apply_registration, apply_reminded
from stilalarm.console.core.engine.regowed import VICTIM_REMIND_KEY, apply_victim_reminded
from stilalarm.console.core.engine.riskfold import RISK_MARKS, apply_risk, mark_risk
from stilalarm.console.core.engine.staffing import STAFFING_KEYS, apply_staffing
from stilalarm.console.core.engine.state import (
    AftercareCase,
    Campaign,
    EngineState,
    Incident,
    campaign_num,
    needs_aftercare,
)
from stilalarm.console.core.engine.visitfold import EVENING_REMINDER, apply_visit, close_visit, mark_reminded
from stilalarm.console.facts import (
    Acknowledged,
    AftercareDone,
    AlarmReceived,
    CampaignEnded,
    CampaignStarted,
    ConsoleLinked,
    Fact,
    IncidentExpired,
    LevelSkipped,
    Notified,
    PresenceChanged,
    PressRepeated,
    Resolved,
    TestResult,
)
from stilalarm.console.regfacts import (
    RegistrationCompleted,
    RegistrationCorrected,
    RegistrationFiled,
    RegistrationOwed,
)
from stilalarm.console.responsefacts import Declined, NobodyReachable, OnSite
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitNoAnswer, VisitStarted
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import IncidentStatus, NotifyReason


def evolve(s: EngineState, f: Fact) -> EngineState:
    """Apply one recorded fact to the state (pure; unknown kinds are ignored), keeping the due
    hint true: a changed incident is marked dirty (it may be due earlier), a campaign,
    after-care, visit, registration or risky-conversation change makes the hint unknown."""
    out = _apply(s, f)
    if out is s or out.due_hint is None:
        return out
    if (
        out.campaigns is not s.campaigns
        or out.aftercare is not s.aftercare
        or out.visits is not s.visits
        or out.registrations is not s.registrations
        or out.risks is not s.risks
        or out.owed is not s.owed
    ):
        return replace(out, due_hint=None, dirty=frozenset())
    iid = getattr(f, "incident_id", None)
    if isinstance(iid, str) and iid not in out.dirty:
        return replace(out, dirty=out.dirty | {iid})
    return out


def _apply(s: EngineState, f: Fact) -> EngineState:
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
                place=f.place,
            )
            day, _, n = f.incident_id.partition("-")
            last = s.last_incident
            num = int(n) if n.isdigit() else 0
            newest = (day, num) if (day, num) > last else last
            return replace(s, live={**s.live, inc.id: inc}, last_incident=newest)
        case PressRepeated():

            def pressed(i: Incident) -> Incident:
                danger = i.danger_presses + (f.count if i.status is IncidentStatus.ACKNOWLEDGED else 0)
                return replace(
                    i, presses=i.presses + f.count, place=f.place or i.place, danger_presses=danger
                )

            return _upd(s, f.incident_id, pressed)
        case Declined():
            return _upd(
                s,
                f.incident_id,
                lambda i: i if f.person_id in i.declined else replace(i, declined=(*i.declined, f.person_id)),
            )
        case OnSite():
            return _upd(s, f.incident_id, lambda i: replace(i, on_site_at=i.on_site_at or f.at))
        case NobodyReachable():
            return _upd(s, f.incident_id, lambda i: replace(i, nobody_reachable=True))
        case Notified() if f.incident_id is not None and f.text_key in ON_SITE_STEPS:
            step_n = ON_SITE_STEPS[f.text_key]

            def on_site_step(i: Incident) -> Incident:
                paged = i.notified + tuple(p for p in f.person_ids if p not in i.notified)
                return replace(i, on_site_step=max(i.on_site_step, step_n), notified=paged)

            return _upd(s, f.incident_id, on_site_step)
        case Notified() if f.text_key == "aftercare" and f.incident_id in s.aftercare:
            case_ = s.aftercare[f.incident_id or ""]
            step_n = int(f.detail.get("step", case_.reminders_sent + 1))
            return replace(
                s,
                aftercare={**s.aftercare, case_.incident_id: replace(case_, reminders_sent=step_n)},
            )
        case Notified() if f.text_key == REMIND_KEY and f.incident_id is None:
            return apply_reminded(s, f)
        case Notified() if f.text_key == VICTIM_REMIND_KEY and f.incident_id is None:
            return apply_victim_reminded(s, f)
        case Notified() if f.text_key in STAFFING_KEYS and f.incident_id is None:
            return apply_staffing(s, f)
        case Notified() if f.text_key == EVENING_REMINDER and f.incident_id is None:
            return mark_reminded(s, f.detail.get("visit", ""))
        case Notified() if f.text_key in RISK_MARKS and f.incident_id is None:
            return mark_risk(s, f)
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
            s = apply_registration(s, f)
            inc0 = s.live.get(f.incident_id) or s.closed.get(f.incident_id)
            if inc0 is not None and needs_aftercare(s.site, f.registration):
                case_ = AftercareCase(
                    f.incident_id, inc0.unit_id, inc0.room_id, f.person_id, f.at, team_id=inc0.team_id
                )
                s = replace(s, aftercare={**s.aftercare, f.incident_id: case_})
            if inc0 is not None and inc0.kind == "overdue":  # the visit is over; its private part goes
                s = close_visit(s, inc0.visit_id, f.at, f.person_id)
            return _upd(
                s,
                f.incident_id,
                lambda i: replace(
                    i,
                    status=IncidentStatus.RESOLVED,
                    resolved_by=f.person_id,
                    resolved_at=f.at,
                    registration=f.registration,
                    visit_private=("", "", ""),
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
            newest_c = max(s.last_campaign, campaign_num(f.campaign_id))
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
        case RegistrationFiled() | RegistrationCompleted() | RegistrationOwed():
            return apply_registration(s, f)
        case RegistrationCorrected():
            return apply_correction(s, f)
        case VisitStarted() | VisitDetails() | OverdueRaised() | VisitNoAnswer() | VisitEnded():
            return apply_visit(s, f)
        case RiskAnnounced() | RiskConfirmed() | RiskCancelled():
            return apply_risk(s, f)
        case _:
            return s


ON_SITE_STEPS = {"onsite_remind": 1, "no_show": 2, "danger": 0, "danger_escalated": 0}
"""The response notices (`responses`): who they tell joins `notified` (so their pagers are stopped
with the rest); the on-site steps record their step (1 reminded, 2 the next level told)."""


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


def rebuild(site: Site, facts: Iterable[Fact], policy: EnginePolicy | None = None) -> EngineState:
    """The state after folding every recorded fact, in order."""
    s = EngineState.initial(site, policy)
    for f in facts:
        s = evolve(s, f)
    return s
