"""The Alarms list: unresolved incidents by urgency, the selection, the banner, what 'Ik kom' does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from stilalarm.console.tui.model.context import Ctx, elapsed_text
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.texts import Texts
from stilalarm.wire.messages import IncidentStatus, Notification


@dataclass(frozen=True)
class AlarmRow:
    """One unresolved incident in the Alarms list."""

    incident_id: str
    number: int
    status: IncidentStatus
    status_text: str
    location: str
    detail: str
    elapsed_text: str
    level: int
    level_text: str
    notified_text: str
    ack_text: str
    ack_name: str | None
    ack_by: str | None
    notified_short: str
    for_me: bool
    call_101: bool
    evacuate: str | None
    pressed_at: datetime
    """When the console stored the press (its own clock; a unit's clock may be wrong)."""
    provisional: bool = False
    """Known only from a notification so far (the retained state has not arrived yet)."""
    visit_id: str | None = None
    """An overdue home visit: its visit (the keys 'bereikt, alles ok' and 'geen antwoord' answer it)."""
    nobody_reachable: bool = False
    """Nobody on the whole escalation was reachable: the desk was told to call 101 itself."""
    on_site: bool = False
    """The acknowledger marked 'ter plaatse'."""
    declined_short: str = ""
    """Who said 'kan niet komen' (short names), or empty."""


@dataclass(frozen=True)
class Selection:
    """Which alarm the keys act on; `explicit` once the person picked it (number or arrows)."""

    incident_id: str | None = None
    explicit: bool = False


@dataclass(frozen=True)
class Banner:
    """The full-width takeover for an alarm routed to me that nobody acknowledged yet."""

    incident_id: str
    number: int
    headline: str
    detail: str
    call_101: str | None
    evacuate: str | None
    instruction: str
    must_pick: bool
    level: int


@dataclass(frozen=True)
class AlarmsView:
    rows: tuple[AlarmRow, ...]
    selection: Selection
    banner: Banner | None
    open_count: int

    def row(self, incident_id: str | None) -> AlarmRow | None:
        return next((r for r in self.rows if r.incident_id == incident_id), None)

    @property
    def selected(self) -> AlarmRow | None:
        return self.row(self.selection.incident_id)


def _urgency(
    st: IncidentStatus, level: int, pressed_at: datetime, ident: str
) -> tuple[bool, int, datetime, str]:
    """Sort key: open before acknowledged; higher level first; older first."""
    return (st is not IncidentStatus.OPEN, -level, pressed_at, ident)


def build_alarms(rec: Received, ctx: Ctx, now: datetime, sel: Selection) -> AlarmsView:
    """The sorted list of unresolved incidents, the resolved selection and the banner."""
    t = ctx.texts
    raw: list[tuple[tuple[bool, int, datetime, str], AlarmRow]] = []
    for iid, st in rec.incidents.items():
        if st.status is IncidentStatus.RESOLVED:
            continue
        note = rec.routed.get(iid)
        for_me = st.status is IncidentStatus.OPEN and (ctx.me in st.notified or note is not None)
        level = max(st.level, note.level if note is not None else 0)
        call_101 = st.call_101 or (note is not None and note.call_101)
        evac = st.evacuate or (note.evacuate if note is not None else None)
        if st.kind == "overdue":
            location = t.visit_location.format(name=ctx.name(st.visitor), team=ctx.team_name(st.team_id))
            detail = _call(note) or t.visit_late.format(time=ctx.time(st.planned_end)[:5])
        else:
            location = ctx.location(st.room_id or "", st.team_id)
            detail = _detail(ctx, st.unit_id or "?", st.room_id or "")
        row = AlarmRow(
            incident_id=iid,
            number=0,
            status=st.status,
            status_text=t.status_open if st.status is IncidentStatus.OPEN else t.status_acknowledged,
            location=location,
            detail=detail,
            elapsed_text=elapsed_text(t, (now - st.stored_at).total_seconds()),
            level=level,
            level_text=t.level.format(n=level),
            notified_text=", ".join(ctx.name(p) for p in st.notified) or t.nobody_yet,
            ack_text=t.coming.format(name=ctx.name(st.acknowledged_by)) if st.acknowledged_by else "—",
            ack_name=ctx.name(st.acknowledged_by) if st.acknowledged_by else None,
            ack_by=st.acknowledged_by,
            notified_short=", ".join(ctx.short_name(p) for p in st.notified) or t.nobody_yet,
            for_me=for_me,
            call_101=call_101,
            evacuate=ctx.room_label(evac) if evac else None,
            pressed_at=st.stored_at,
            visit_id=st.visit_id,
            nobody_reachable=st.nobody_reachable and st.status is IncidentStatus.OPEN,
            on_site=st.on_site_at is not None,
            declined_short=", ".join(ctx.short_name(p) for p in st.declined),
        )
        raw.append((_urgency(st.status, level, st.stored_at, iid), row))
    for iid, note in rec.routed.items():
        if iid in rec.incidents:
            continue
        room = note.room_id or ""
        row = AlarmRow(
            incident_id=iid,
            number=0,
            status=IncidentStatus.OPEN,
            status_text=t.status_open,
            location=ctx.location(room) if room else note.title,
            detail=_call(note) or _detail(ctx, note.unit_id or "?", room),
            elapsed_text=elapsed_text(t, (now - note.at).total_seconds()),
            level=note.level,
            level_text=t.level.format(n=note.level),
            notified_text=ctx.name(ctx.me),
            ack_text="—",
            ack_name=None,
            ack_by=None,
            notified_short=ctx.short_name(ctx.me),
            for_me=True,
            call_101=note.call_101,
            evacuate=ctx.room_label(note.evacuate) if note.evacuate else None,
            pressed_at=note.at,
            provisional=True,
            visit_id=note.visit_id,
        )
        raw.append((_urgency(IncidentStatus.OPEN, note.level, note.at, iid), row))
    raw.sort(key=lambda kr: kr[0])
    rows = tuple(replace(r, number=i + 1) for i, (_k, r) in enumerate(raw))
    open_count = sum(1 for r in rows if r.status is IncidentStatus.OPEN)
    routed = [r for r in rows if r.for_me]
    # selection: an explicit pick stays on its incident (by id, not by row); otherwise default
    ids = {r.incident_id for r in rows}
    if sel.incident_id in ids and sel.explicit:
        selection = sel
    else:
        default = routed[0] if routed else (rows[0] if rows else None)
        selection = Selection(default.incident_id if default else None, False)
    banner = _banner(ctx, rows, routed, selection, open_count)
    return AlarmsView(rows=rows, selection=selection, banner=banner, open_count=open_count)


def _call(note: Notification | None) -> str | None:
    """An overdue visit's line for someone its escalation reached: 'Bel <naam> op <gsm> · <adres>'.
    Only from the notification to me: nobody else's console has the number or the address."""
    if note is None or note.call is None:
        return None
    return f"{note.call} · {note.address}" if note.address else note.call


def _detail(ctx: Ctx, unit_id: str, room_id: str) -> str:
    floor = ctx.floor(room_id)
    line = ctx.texts.unit_line.format(unit=unit_id, floor=f" · {floor}" if floor else "")
    unit = ctx.site.index.units.get(unit_id)
    via = unit.via.value if unit is not None else "gpio"
    return line + {"phone": ctx.texts.via_phone, "app": ctx.texts.via_app}.get(via, "")


def _banner(
    ctx: Ctx, rows: tuple[AlarmRow, ...], routed: list[AlarmRow], sel: Selection, open_count: int
) -> Banner | None:
    if not routed:
        return None
    t = ctx.texts
    chosen = next((r for r in routed if r.incident_id == sel.incident_id), routed[0])
    must_pick = open_count > 1 and not sel.explicit
    if open_count <= 1:
        instruction = t.banner_one
    elif must_pick:
        instruction = t.banner_pick.format(n=open_count, max=min(9, len(rows)))
    else:
        picked = next(r for r in rows if r.incident_id == sel.incident_id)
        instruction = t.banner_picked.format(n=open_count, num=picked.number, location=picked.location)
    if chosen.visit_id is not None and chosen.level <= 1 and not must_pick:  # the colleague: call, answer
        instruction = t.banner_visit
    return Banner(
        incident_id=chosen.incident_id,
        number=chosen.number,
        headline=t.banner_alarm.format(location=chosen.location),
        detail=t.banner_detail.format(
            detail=chosen.detail, elapsed=chosen.elapsed_text, level=chosen.level_text
        ),
        call_101=t.banner_101 if chosen.call_101 else None,
        evacuate=t.banner_evacuate.format(room=chosen.evacuate) if chosen.evacuate else None,
        instruction=instruction,
        must_pick=must_pick,
        level=chosen.level,
    )


def pick(view: AlarmsView, number: int) -> Selection:
    """The person pressed a number: select that row explicitly (unchanged if there is none)."""
    if 1 <= number <= len(view.rows):
        return Selection(view.rows[number - 1].incident_id, True)
    return view.selection


def move(view: AlarmsView, delta: int) -> Selection:
    """Arrow keys: move the selection explicitly by `delta` rows (clamped)."""
    if not view.rows:
        return view.selection
    ids = [r.incident_id for r in view.rows]
    cur = ids.index(view.selection.incident_id) if view.selection.incident_id in ids else 0
    return Selection(ids[max(0, min(len(ids) - 1, cur + delta))], True)


@dataclass(frozen=True)
class AckDecision:
    """Either an incident to send 'Ik kom' for, or the message why not."""

    incident_id: str | None
    message: str


def ack_target(view: AlarmsView, texts: Texts) -> AckDecision:
    """What the 'Ik kom' key does now: never a guess when more than one alarm is open."""
    row = view.selected
    if row is None or view.open_count == 0:
        return AckDecision(None, texts.ack_none)
    if view.open_count > 1 and not view.selection.explicit:
        return AckDecision(None, texts.ack_pick_first)
    if row.status is not IncidentStatus.OPEN:
        return AckDecision(None, texts.ack_already.format(num=row.number, name=row.ack_name or "—"))
    return AckDecision(row.incident_id, texts.ack_sent.format(num=row.number, location=row.location))


@dataclass(frozen=True)
class VisitDecision:
    """Either the overdue visit to answer ('bereikt, alles ok' / 'geen antwoord') or why not."""

    visit_id: str | None
    message: str


def visit_target(view: AlarmsView, texts: Texts, reached: bool) -> VisitDecision:
    """What the keys 'bereikt, alles ok' (`reached`) and 'geen antwoord' do now: the selected overdue
    visit, never a guess among several open alarms."""
    row = view.selected
    if row is None or row.visit_id is None:
        return VisitDecision(None, texts.visit_none)
    if view.open_count > 1 and not view.selection.explicit:
        return VisitDecision(None, texts.visit_none)
    if not reached and row.status is not IncidentStatus.OPEN:
        return VisitDecision(None, texts.visit_closed.format(num=row.number, location=row.location))
    text = texts.visit_sent_reached if reached else texts.visit_sent_no_answer
    return VisitDecision(row.visit_id, text.format(num=row.number, location=row.location))
