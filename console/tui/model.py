"""The console's pure view-model: received messages + inventory + now -> what the screens show.

No Textual, no MQTT, no clock: `Received` accumulates what the broker delivered (each
`with_*` returns a new instance), and the `build_*` functions turn it into frozen rows,
the banner, the red bar and warnings. Everything here is unit-tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from console.tui.texts import Texts
from inventory.model import Site
from wire.messages import (
    CommandReply,
    ConsoleStatus,
    IncidentState,
    IncidentStatus,
    IncidentTimeline,
    LinkState,
    Notification,
    NotifyReason,
    PresenceState,
    UnitHealth,
)

ROUTING_REASONS = frozenset({NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT})
"""Notifications that put an alarm on this person's screen."""
TEST_OVERDUE = timedelta(days=7)
"""A unit without a successful test for this long is marked overdue (weekly test)."""
HISTORY_DAYS = 7
MISSED_BEATS = 3
"""The console service is gone after this many of its beats (ConsoleStatus.beat_s) were not heard."""


# --------------------------------------------------------------------------- received state


@dataclass(frozen=True)
class Received:
    """Everything the broker delivered so far; immutable, each update returns a new instance.

    `gen` counts connections: retained items re-delivered after a reconnect are marked
    with the new generation, and `pruned()` drops those that were not (cleared meanwhile).
    """

    incidents: Mapping[str, IncidentState] = field(default_factory=dict)
    timelines: Mapping[str, IncidentTimeline] = field(default_factory=dict)
    units: Mapping[str, UnitHealth] = field(default_factory=dict)
    presence: Mapping[str, PresenceState] = field(default_factory=dict)
    console: ConsoleStatus | None = None
    console_heard: datetime | None = None
    """When this console last heard the service's status or beat, by this console's own clock
    (never the service's `at`: the two PCs' clocks may differ)."""
    routed: Mapping[str, Notification] = field(default_factory=dict)
    """Latest alarm/escalation/repeat notification to me, per incident."""
    link_up: bool = False
    ever_up: bool = False
    down_since: datetime | None = None
    gen: int = 0
    seen: Mapping[str, int] = field(default_factory=dict)

    def _seen(self, key: str) -> dict[str, int]:
        return {**self.seen, key: self.gen}

    def with_incident(self, st: IncidentState) -> Received:
        """Keep the highest version per incident (an older one is only marked as seen)."""
        key = f"incident/{st.incident_id}"
        old = self.incidents.get(st.incident_id)
        if old is not None and st.version < old.version:
            return replace(self, seen=self._seen(key))
        return replace(self, incidents={**self.incidents, st.incident_id: st}, seen=self._seen(key))

    def without_incident(self, incident_id: str) -> Received:
        """An empty retained payload: the incident (and its routing) was cleared."""
        return replace(
            self,
            incidents={k: v for k, v in self.incidents.items() if k != incident_id},
            routed={k: v for k, v in self.routed.items() if k != incident_id},
        )

    def with_timeline(self, tl: IncidentTimeline) -> Received:
        key = f"timeline/{tl.incident_id}"
        old = self.timelines.get(tl.incident_id)
        if old is not None and tl.version < old.version:
            return replace(self, seen=self._seen(key))
        return replace(self, timelines={**self.timelines, tl.incident_id: tl}, seen=self._seen(key))

    def without_timeline(self, incident_id: str) -> Received:
        return replace(self, timelines={k: v for k, v in self.timelines.items() if k != incident_id})

    def with_unit(self, h: UnitHealth) -> Received:
        return replace(self, units={**self.units, h.unit_id: h}, seen=self._seen(f"unitstate/{h.unit_id}"))

    def without_unit(self, unit_id: str) -> Received:
        return replace(self, units={k: v for k, v in self.units.items() if k != unit_id})

    def with_presence(self, p: PresenceState) -> Received:
        return replace(
            self, presence={**self.presence, p.person_id: p}, seen=self._seen(f"presence/{p.person_id}")
        )

    def without_presence(self, person_id: str) -> Received:
        return replace(self, presence={k: v for k, v in self.presence.items() if k != person_id})

    def with_console(self, cs: ConsoleStatus | None, heard_at: datetime | None = None) -> Received:
        """The service's status or beat, heard at `heard_at` by this console's clock. A retained
        status delivered on (re)connect counts as heard then: if the service is hung, no beat
        follows and it shows as gone MISSED_BEATS beats later."""
        return replace(self, console=cs, console_heard=heard_at, seen=self._seen("console"))

    def with_notification(self, n: Notification) -> Received:
        """Remember routing notifications (alarm, escalation, repeat) per incident."""
        if n.reason not in ROUTING_REASONS or n.incident_id is None:
            return self
        return replace(self, routed={**self.routed, n.incident_id: n})

    def connected(self) -> Received:
        """The link is up (again): a new generation of retained state starts arriving."""
        return replace(self, link_up=True, ever_up=True, down_since=None, gen=self.gen + 1)

    def disconnected(self, now: datetime) -> Received:
        if not self.link_up:
            return self
        return replace(self, link_up=False, down_since=now)

    def pruned(self) -> Received:
        """After a resync: drop retained items the broker did not deliver again (cleared meanwhile)."""

        def keep(prefix: str, key: str) -> bool:
            return self.seen.get(f"{prefix}/{key}", -1) >= self.gen

        incidents = {k: v for k, v in self.incidents.items() if keep("incident", k)}
        return replace(
            self,
            incidents=incidents,
            timelines={k: v for k, v in self.timelines.items() if keep("timeline", k)},
            units={k: v for k, v in self.units.items() if keep("unitstate", k)},
            presence={k: v for k, v in self.presence.items() if keep("presence", k)},
            console=self.console if self.seen.get("console", -1) >= self.gen else None,
            routed={k: v for k, v in self.routed.items() if k in incidents},
        )


# --------------------------------------------------------------------------- context and formatting


@dataclass(frozen=True)
class Ctx:
    """What does not change while the console runs: inventory, who I am, language, time zone."""

    site: Site
    me: str
    texts: Texts

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.site.timezone)

    def name(self, person_id: str | None) -> str:
        if person_id is None:
            return "—"
        try:
            return self.site.person(person_id).name
        except KeyError:
            return person_id

    def short_name(self, person_id: str) -> str:
        """'An P.': first name and initial, for narrow columns."""
        parts = self.name(person_id).split()
        return parts[0] if len(parts) < 2 else f"{parts[0]} {parts[-1][0]}."

    def room_label(self, room_id: str) -> str:
        try:
            room = self.site.room(room_id)
        except KeyError:
            return room_id
        return room.label_en if self.texts.lang == "en" and room.label_en else room.label

    def team_name(self, team_id: str) -> str:
        try:
            return self.site.team(team_id).name
        except KeyError:
            return team_id

    def location(self, room_id: str, team_id: str | None = None) -> str:
        """'Spreekkamer 2 — Sociale dienst': the place in words, never an id alone."""
        if team_id is None:
            try:
                team_id = self.site.room(room_id).team
            except KeyError:
                return self.room_label(room_id)
        return self.texts.location.format(room=self.room_label(room_id), team=self.team_name(team_id))

    def floor(self, room_id: str) -> str:
        try:
            return self.site.room(room_id).floor
        except KeyError:
            return ""

    def time(self, dt: datetime | None) -> str:
        return "—" if dt is None else dt.astimezone(self.tz).strftime("%H:%M:%S")

    def day_time(self, dt: datetime) -> str:
        return dt.astimezone(self.tz).strftime("%d/%m %H:%M")

    def stamp(self, dt: datetime) -> str:
        return dt.astimezone(self.tz).strftime("%d/%m %H:%M:%S")

    def day(self, dt: datetime | None) -> str:
        return self.texts.u_never if dt is None else dt.astimezone(self.tz).strftime("%d/%m/%Y")


def elapsed_text(t: Texts, seconds: float) -> str:
    """'42 s', '3:05', '1:02:05': compact, ticking every second."""
    s = max(0, int(seconds))
    if s < 60:
        return t.secs.format(s=s)
    if s < 3600:
        return t.mins.format(m=s // 60, s=s % 60)
    return t.hours.format(h=s // 3600, m=(s % 3600) // 60, s=s % 60)


# --------------------------------------------------------------------------- alarms


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
        row = AlarmRow(
            incident_id=iid,
            number=0,
            status=st.status,
            status_text=t.status_open if st.status is IncidentStatus.OPEN else t.status_acknowledged,
            location=ctx.location(st.room_id, st.team_id),
            detail=_detail(ctx, st.unit_id, st.room_id),
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
            detail=_detail(ctx, note.unit_id or "?", room),
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


def _detail(ctx: Ctx, unit_id: str, room_id: str) -> str:
    floor = ctx.floor(room_id)
    return ctx.texts.unit_line.format(unit=unit_id, floor=f" · {floor}" if floor else "")


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


# --------------------------------------------------------------------------- status bar


@dataclass(frozen=True)
class Bar:
    """The top bar: `alarm` makes it red; the text always says what is wrong (never colour alone)."""

    alarm: bool
    text: str


def build_bar(rec: Received, ctx: Ctx, now: datetime, unreachable_teams: int = 0) -> Bar:
    """Disconnected, service offline or unknown: a red bar, at once."""
    t = ctx.texts
    problems: list[str] = []
    if not rec.link_up:
        if rec.ever_up and rec.down_since is not None:
            problems.append(t.bar_lost.format(since=ctx.time(rec.down_since)))
        else:
            problems.append(t.bar_connecting)
    elif rec.console is None:
        problems.append(t.bar_service_unknown)
    elif rec.console.state is LinkState.OFFLINE:
        problems.append(t.bar_service_offline.format(since=ctx.time(rec.console.at)))
    elif service_gone(rec, now):
        problems.append(t.bar_service_silent.format(since=ctx.time(rec.console_heard)))
    if problems:
        return Bar(True, " · ".join(problems))
    text = t.bar_ok
    if unreachable_teams:
        text += "   " + t.bar_unreachable.format(n=unreachable_teams)
    return Bar(False, text)


def service_gone(rec: Received, now: datetime) -> bool:
    """The service said it beats every `beat_s` but nothing was heard for MISSED_BEATS beats
    (by this console's clock `now`): it is hung or stopped, whatever the retained state says."""
    cs, heard = rec.console, rec.console_heard
    if cs is None or cs.state is not LinkState.ONLINE or cs.beat_s is None or heard is None:
        return False
    return (now - heard).total_seconds() > MISSED_BEATS * cs.beat_s


def is_stale(rec: Received, now: datetime | None = None) -> bool:
    """Whether what the screen shows may be out of date (no link, or no live service)."""
    if not rec.link_up or rec.console is None or rec.console.state is LinkState.OFFLINE:
        return True
    return now is not None and service_gone(rec, now)


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    room_id: str
    unit_text: str
    room_text: str
    online: bool | None
    state_text: str
    heartbeat_text: str
    faults_text: str
    firmware: str
    test_mode: bool
    test_text: str
    last_test_text: str
    overdue: bool


def build_units(rec: Received, ctx: Ctx, now: datetime) -> tuple[UnitRow, ...]:
    """Every unit of the inventory merged with the console's UnitHealth (inventory order)."""
    t = ctx.texts
    out: list[UnitRow] = []
    for u in ctx.site.units:
        h = rec.units.get(u.id)
        online = None if h is None else h.online
        last_ok = h.last_test_ok if h is not None else None
        overdue = last_ok is None or now - last_ok > TEST_OVERDUE
        test_mode = h is not None and h.test_mode
        out.append(
            UnitRow(
                unit_id=u.id,
                room_id=u.room,
                unit_text=u.id + (f" {t.u_pager}" if u.role.value == "lead" else ""),
                room_text=ctx.room_label(u.room),
                online=online,
                state_text=t.u_unknown if online is None else (t.u_online if online else t.u_offline),
                heartbeat_text=ctx.time(h.last_heartbeat) if h is not None else "—",
                faults_text=", ".join(h.faults) if h is not None and h.faults else "—",
                firmware=(h.firmware_version if h is not None else "") or "—",
                test_mode=test_mode,
                test_text=t.u_test_until.format(t=ctx.time(h.test_until))
                if h is not None and test_mode
                else "—",
                last_test_text=ctx.day(last_ok) + (f" {t.u_overdue}" if overdue else ""),
                overdue=overdue,
            )
        )
    return tuple(out)


def units_summary(rows: tuple[UnitRow, ...], t: Texts) -> str:
    return t.u_summary.format(
        n=len(rows),
        offline=sum(1 for r in rows if r.online is False),
        faults=sum(1 for r in rows if r.faults_text != "—"),
        overdue=sum(1 for r in rows if r.overdue),
    )


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryRow:
    incident_id: str
    pressed_text: str
    location: str
    team: str
    status: IncidentStatus
    status_text: str
    level: int
    ack_text: str
    resolved_text: str
    pressed_at: datetime


def build_history(
    rec: Received, ctx: Ctx, now: datetime, query: str = "", days: int = HISTORY_DAYS
) -> tuple[HistoryRow, ...]:
    """Incidents pressed in the last `days` days, newest first, filtered by words in any column."""
    t = ctx.texts
    status_text = {
        IncidentStatus.OPEN: t.status_open,
        IncidentStatus.ACKNOWLEDGED: t.status_acknowledged,
        IncidentStatus.RESOLVED: t.status_resolved,
    }
    words = query.lower().split()
    out: list[HistoryRow] = []
    for iid, st in rec.incidents.items():
        if now - st.stored_at > timedelta(days=days):
            continue
        row = HistoryRow(
            incident_id=iid,
            pressed_text=ctx.day_time(st.stored_at),
            location=ctx.room_label(st.room_id),
            team=ctx.team_name(st.team_id),
            status=st.status,
            status_text=status_text[st.status],
            level=st.level,
            ack_text=ctx.name(st.acknowledged_by) if st.acknowledged_by else "—",
            resolved_text=ctx.name(st.resolved_by) if st.resolved_by else "—",
            pressed_at=st.stored_at,
        )
        hay = " ".join(
            [
                iid,
                st.unit_id,
                st.room_id,
                st.team_id,
                st.status.value,
                row.location,
                row.team,
                row.status_text,
                row.ack_text,
                row.resolved_text,
                row.pressed_text,
            ]
        ).lower()
        if all(w in hay for w in words):
            out.append(row)
    out.sort(key=lambda r: (r.pressed_at, r.incident_id), reverse=True)
    return tuple(out)


@dataclass(frozen=True)
class TimelineLine:
    at_text: str
    what: str
    who: str
    text: str


def build_timeline(rec: Received, ctx: Ctx, incident_id: str) -> tuple[TimelineLine, ...]:
    """One incident's full history, oldest first, in words."""
    tl = rec.timelines.get(incident_id)
    if tl is None:
        return ()
    t = ctx.texts
    lines = []
    for e in sorted(tl.entries, key=lambda e: e.at):
        what = t.timeline_kinds.get(e.kind, e.kind)
        if e.level is not None:
            what += f" ({t.level.format(n=e.level)})"
        lines.append(
            TimelineLine(
                ctx.stamp(e.at),
                what,
                ctx.name(e.person_id) if e.person_id else "",
                e.text,
            )
        )
    return tuple(lines)


# --------------------------------------------------------------------------- presence


@dataclass(frozen=True)
class Member:
    person_id: str
    name: str
    role_text: str
    present: bool


@dataclass(frozen=True)
class TeamPresence:
    team_id: str
    name: str
    members: tuple[Member, ...]
    reachable: tuple[str, ...]
    warning: bool
    text: str


@dataclass(frozen=True)
class PresenceView:
    me_present: bool
    me_text: str
    teams: tuple[TeamPresence, ...]

    @property
    def unreachable(self) -> int:
        return sum(1 for tp in self.teams if tp.warning)


def is_present(rec: Received, person_id: str) -> bool:
    """People without a presence state count as present."""
    p = rec.presence.get(person_id)
    return True if p is None else p.present


def build_presence(rec: Received, ctx: Ctx) -> PresenceView:
    """Who is reachable per team (leads and deputies) and a warning where nobody is."""
    t = ctx.texts
    teams = []
    for team in ctx.site.teams:
        members: list[Member] = []
        for pid, role in [(p, t.p_lead) for p in team.leads] + [(p, t.p_deputy) for p in team.deputies]:
            members.append(Member(pid, ctx.name(pid), role, is_present(rec, pid)))
        reachable = tuple(dict.fromkeys(m.name for m in members if m.present))
        teams.append(
            TeamPresence(
                team_id=team.id,
                name=team.name,
                members=tuple(members),
                reachable=reachable,
                warning=not reachable,
                text=t.p_reachable.format(names=", ".join(reachable)) if reachable else t.p_nobody,
            )
        )
    me = is_present(rec, ctx.me)
    return PresenceView(me_present=me, me_text=t.p_me_present if me else t.p_me_absent, teams=tuple(teams))


# --------------------------------------------------------------------------- replies, registration


def reply_text(reply: CommandReply, what: str, t: Texts) -> str:
    """The line shown for the console's answer to one of my commands."""
    if reply.ok:
        return t.reply_ok.format(what=what)
    return t.reply_rejected.format(reason=reply.reason or t.reply_codes.get(reply.code, reply.code))


def registration_error(exc: ValidationError, t: Texts) -> str:
    """Registration's own error text, translated when we know it (else shown as is)."""
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in err["loc"])
        known = next((v for k, v in t.errors.items() if msg.startswith(k) or loc == k), None)
        parts.append(known or (f"{loc}: {msg}" if loc else msg))
    return " ".join(parts)


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """Everything every screen shows at one instant."""

    now: datetime
    bar: Bar
    stale: bool
    alarms: AlarmsView
    presence: PresenceView
    units: tuple[UnitRow, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    warnings: tuple[str, ...] = ()


def snapshot(
    rec: Received,
    ctx: Ctx,
    now: datetime,
    sel: Selection,
    *,
    history_query: str = "",
    history_days: int = HISTORY_DAYS,
    with_units: bool = True,
    with_history: bool = True,
) -> Snapshot:
    """Build the whole view at `now` (units / history can be skipped when not on screen)."""
    presence = build_presence(rec, ctx)
    warnings = tuple(f"{tp.name}: {tp.text}" for tp in presence.teams if tp.warning)
    return Snapshot(
        now=now,
        bar=build_bar(rec, ctx, now, presence.unreachable),
        stale=is_stale(rec, now),
        alarms=build_alarms(rec, ctx, now, sel),
        presence=presence,
        units=build_units(rec, ctx, now) if with_units else (),
        history=build_history(rec, ctx, now, history_query, history_days) if with_history else (),
        warnings=warnings,
    )
