"""Risky conversations (risicogesprek): announcing, confirming, cancelling. Pure: time is `tx.now`.

The aggression protocol: a staff member who expects trouble informs a colleague or the team lead
beforehand; a (potentially) aggressive client is never received alone; a colleague follows the
conversation from the hall or an adjacent room; "Risicovolle gesprekken mogen uitsluitend tijdens de
normale openingsuren gepland worden of bij aanwezigheid van andere collega's".

- `risk_announce` (by the staff member who holds it): room, window, stand-by colleague. Told: the
  stand-by colleague (to confirm) and the room team's leads and deputies. Planned (partly) outside
  office hours (`[site] office_hours`, closing days included) without other colleagues present: it
  is accepted (help is open: the alarm still reaches the stand-by colleague) and the reply and the
  leads' notice quote the rule. Idempotent by risk id.
- `risk_confirm`: the stand-by colleague, or a lead or deputy of the room's team. `risk_cancel`:
  the announcer, the stand-by colleague, or a lead or deputy of the room's team. Anyone else:
  `not_authorised` (closed for control).
- During the window an alarm from the room reaches the stand-by colleague at once with level 1
  (`alarms._fire_level` asks `riskfold.standby_for`).
- While it runs (announced, not cancelled, its window not over) everyone told of it (the announcer,
  the stand-by colleague, the room team's leads and deputies) has a retained copy of its state
  (`PublishRisk`), so a console started later lists it; cancelling or the window's end clears it
  (`ClearRisk`).
- At the window's start the stand-by colleague is reminded (`risk_start`, or
  `risk_start_unconfirmed` while not confirmed); announced after the start: at the next tick, at
  once. Once: the notice is its own mark (`riskfold.mark_risk`), so a restart does not repeat it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.core.effects import ClearRisk, PublishRisk, Reply
from stilalarm.console.core.engine.alarms import EngineTx
from stilalarm.console.core.engine.riskfold import RISK_ENDED, RISK_START, RISK_START_UNCONFIRMED
from stilalarm.console.core.engine.state import EngineState, Risk
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import CommandRejected
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed
from stilalarm.wire.messages import NotifyReason, RiskAnnounceCmd, RiskCancelCmd, RiskConfirmCmd

RiskCmd = RiskAnnounceCmd | RiskConfirmCmd | RiskCancelCmd
"""The commands about risky conversations."""

MAX_AHEAD = timedelta(days=14)
"""A conversation may be announced at most this far ahead (later: a typing error)."""
MAX_LENGTH = timedelta(hours=4)
"""A conversation's window is at most this long."""


def on_risk_cmd(tx: EngineTx, cmd: RiskCmd) -> None:
    """Decide one risky-conversation command: facts, notices and always a reply."""
    match cmd:
        case RiskAnnounceCmd():
            _announce(tx, cmd)
        case RiskConfirmCmd() | RiskCancelCmd():
            r = tx.s.risks.get(cmd.risk_id)
            if r is None:
                _reject(
                    tx, cmd, "unknown_target", "reply_unknown_target", what=f"risicogesprek {cmd.risk_id}"
                )
            elif isinstance(cmd, RiskConfirmCmd):
                _confirm(tx, cmd, r)
            else:
                _cancel(tx, cmd, r)


def _reject(tx: EngineTx, cmd: RiskCmd, code: str, text_key: str, **values: str) -> None:
    tx.record(
        CommandRejected(
            at=tx.now,
            person_id=cmd.person_id,
            cmd_kind=cmd.kind,
            code=code,
            detail=f"{cmd.kind} {cmd.risk_id} by {cmd.person_id}: {code}: {text_key.removeprefix('reply_')}",
            cmd_id=cmd.cmd_id,
        )
    )
    tx.emit(Reply(cmd.person_id, cmd.cmd_id, False, code, text_key, values))


def _ok(tx: EngineTx, cmd: RiskCmd, text_key: str, r: Risk) -> None:
    site = tx.s.site
    names = {"room_name": site.room(r.room_id).label, "standby_name": site.person(r.standby).name}
    tx.emit(Reply(cmd.person_id, cmd.cmd_id, True, "ok", text_key, {**detail_of(tx.s, r), **names}))


def local_hhmm(s: EngineState, at: datetime) -> str:
    """A local date and time, 24/12 14:30 (the site's time zone)."""
    return at.astimezone(ZoneInfo(s.site.site.timezone)).strftime("%d/%m %H:%M")


def detail_of(s: EngineState, r: Risk) -> dict[str, str]:
    """A conversation's notice and reply values (ids and local times; texts fill in names and labels)."""
    return {
        "risk": r.id,
        "person": r.person_id,
        "room": r.room_id,
        "standby": r.standby,
        "from": local_hhmm(s, r.starts_at),
        "until": local_hhmm(s, r.ends_at),
        "starts_at": r.starts_at.isoformat(),
        "ends_at": r.ends_at.isoformat(),
        "confirmed": "1" if r.confirmed_at is not None else "",
    }


def leads_of(s: EngineState, r: Risk) -> tuple[str, ...]:
    """The leads and deputies of the conversation's room's team (none if the inventory no longer has
    the team: a conversation folded from an older log)."""
    team = s.site.index.teams.get(r.team_id)
    return () if team is None else tuple(dict.fromkeys((*team.leads, *team.deputies)))


def everyone_of(s: EngineState, r: Risk) -> tuple[str, ...]:
    """The announcer, the stand-by colleague, the room team's leads and deputies."""
    return tuple(dict.fromkeys((r.person_id, r.standby, *leads_of(s, r))))


def outside_hours(s: EngineState, starts_at: datetime, ends_at: datetime) -> bool:
    """Whether a window is not wholly within office hours (its start or its end, or a day between)."""
    hours, tz = s.site.site.office_hours, ZoneInfo(s.site.site.timezone)
    last = ends_at - timedelta(microseconds=1)
    days_apart = last.astimezone(tz).date() != starts_at.astimezone(tz).date()
    return days_apart or not hours.is_open(starts_at, tz) or not hours.is_open(last, tz)


def others_present(s: EngineState, cmd: RiskAnnounceCmd, team_id: str) -> bool:
    """Other colleagues are in the building: the announcer says so, or someone of the room's team
    (not the announcer, not the stand-by colleague) has a console connected and is not absent."""
    if cmd.colleagues_present:
        return True
    team = s.site.team(team_id)
    people = {p.id for p in s.site.people if p.team == team_id} | set(team.leads) | set(team.deputies)
    people -= {cmd.person_id, cmd.standby}
    return any(s.consoles.get(p) and p not in s.absent for p in people)


def _announce(tx: EngineTx, cmd: RiskAnnounceCmd) -> None:
    s, site, person = tx.s, tx.s.site, cmd.person_id
    old = s.risks.get(cmd.risk_id)
    if old is not None:  # a retry (or someone else's id: never theirs to change)
        if old.person_id == person:
            _ok(tx, cmd, "reply_risk_announced", old)
        else:
            _reject(tx, cmd, "invalid", "reply_risk_id_taken", risk=cmd.risk_id)
        return
    if cmd.room not in site.index.rooms:
        _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"room {cmd.room}")
        return
    if cmd.standby not in site.index.people:
        _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"colleague {cmd.standby}")
        return
    if cmd.standby == person:
        _reject(tx, cmd, "invalid", "reply_risk_standby_self")
        return
    if cmd.ends_at <= cmd.starts_at or cmd.ends_at - cmd.starts_at > MAX_LENGTH:
        _reject(tx, cmd, "invalid", "reply_risk_window", hours=f"{MAX_LENGTH.total_seconds() / 3600:g}")
        return
    if cmd.ends_at <= tx.now:
        _reject(tx, cmd, "invalid", "reply_risk_past")
        return
    if cmd.starts_at > tx.now + MAX_AHEAD:
        _reject(tx, cmd, "invalid", "reply_risk_far", days=str(MAX_AHEAD.days))
        return
    team_id = site.room(cmd.room).team
    late = outside_hours(s, cmd.starts_at, cmd.ends_at) and not others_present(s, cmd, team_id)
    tx.record(
        RiskAnnounced(
            at=tx.now,
            risk_id=cmd.risk_id,
            person_id=person,
            room_id=cmd.room,
            team_id=team_id,
            standby=cmd.standby,
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            outside_hours=late,
            cmd_id=cmd.cmd_id,
        )
    )
    r = tx.s.risks[cmd.risk_id]
    _publish(tx, r)
    d = detail_of(tx.s, r)
    notice(tx, NotifyReason.INFO, (r.standby,), f"{r.id}:standby", "risk_standby", d)
    leads = tuple(p for p in leads_of(tx.s, r) if p not in (person, r.standby))
    notice(tx, NotifyReason.INFO, leads, f"{r.id}:announced", "risk_announced", d)
    if late:
        notice(tx, NotifyReason.INFO, leads, f"{r.id}:late", "risk_outside_hours", d)
    _ok(tx, cmd, "reply_risk_outside_hours" if late else "reply_risk_announced", r)


def _confirm(tx: EngineTx, cmd: RiskConfirmCmd, r: Risk) -> None:
    person = cmd.person_id
    if person not in (r.standby, *leads_of(tx.s, r)):
        key = "reply_risk_confirm_self" if person == r.person_id else "reply_risk_not_yours"
        _reject(tx, cmd, "not_authorised", key)
        return
    if r.cancelled_at is not None:
        _reject(tx, cmd, "invalid", "reply_risk_cancelled_already", risk=r.id)
        return
    if r.confirmed_at is None:
        tx.record(RiskConfirmed(at=tx.now, risk_id=r.id, person_id=person, cmd_id=cmd.cmd_id))
        r = tx.s.risks[r.id]
        _publish(tx, r)
        d = {**detail_of(tx.s, r), "by": person}
        to = everyone_of(tx.s, r)  # the confirmer too: every console's list shows it confirmed
        notice(tx, NotifyReason.INFO, to, f"{r.id}:confirmed", "risk_confirmed", d)
    _ok(tx, cmd, "reply_risk_confirmed", r)


def _cancel(tx: EngineTx, cmd: RiskCancelCmd, r: Risk) -> None:
    person = cmd.person_id
    if person not in (r.person_id, r.standby, *leads_of(tx.s, r)):
        _reject(tx, cmd, "not_authorised", "reply_risk_not_yours")
        return
    if r.cancelled_at is None:
        tx.record(RiskCancelled(at=tx.now, risk_id=r.id, person_id=person, cmd_id=cmd.cmd_id))
        r = tx.s.risks[r.id]
        tx.emit(ClearRisk(r.id, everyone_of(tx.s, r)))
        d = {**detail_of(tx.s, r), "by": person}
        to = everyone_of(tx.s, r)  # the canceller too: every console's list drops it
        notice(tx, NotifyReason.INFO, to, f"{r.id}:cancelled", "risk_cancelled", d)
    _ok(tx, cmd, "reply_risk_cancelled", r)


def _publish(tx: EngineTx, r: Risk) -> None:
    """Its retained state for everyone told of it, while it runs (never again after its end)."""
    if r.running(tx.now):
        tx.emit(PublishRisk(r.id, everyone_of(tx.s, r)))


# --------------------------------------------------------------------------- timers


def risk_due(r: Risk) -> datetime | None:
    """When a conversation has work: the stand-by colleague's reminder at its start, then its end
    (the retained state cleared); None when cancelled or ended."""
    if r.cancelled_at is not None or r.ended:
        return None
    return r.ends_at if r.reminded else min(r.starts_at, r.ends_at)


def risks_due(s: EngineState) -> list[datetime]:
    """The due times of every conversation with work left."""
    return [d for d in (risk_due(r) for r in s.risks.values()) if d is not None]


def fire_risks(tx: EngineTx) -> None:
    """The reminders and ends due at tx.now, by start. An input at the same `now` came first: a
    conversation cancelled exactly at its start is not reminded."""
    for r in sorted(tx.s.risks.values(), key=lambda x: (x.starts_at, x.id)):
        due = risk_due(r)
        if due is None or due > tx.now:
            continue
        if not r.reminded and tx.now < r.ends_at:
            _remind(tx, r)
        elif r.ends_at <= tx.now:  # over (also when the console was down for all of it: no reminder)
            notice(tx, NotifyReason.INFO, (), f"{r.id}:ended", RISK_ENDED, {"risk": r.id}, to_nobody=True)
            tx.emit(ClearRisk(r.id, everyone_of(tx.s, r)))


def _remind(tx: EngineTx, r: Risk) -> None:
    """The window starts (or started before it was announced): the stand-by colleague stands by now."""
    key = RISK_START if r.confirmed_at is not None else RISK_START_UNCONFIRMED
    notice(tx, NotifyReason.REMINDER, (r.standby,), f"{r.id}:start", key, detail_of(tx.s, r))
