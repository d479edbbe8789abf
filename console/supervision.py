"""Unit supervision: a pure state machine over unit status, heartbeats and fault events.

`step(state, input, now) -> (state, effects)` with the same effect vocabulary as the
engine (`Record`, `Notify`, `SendReceipt`) plus `PublishHealth`. A unit is offline
when its last will arrives, when it shuts down, or when no heartbeat came for
`missed_heartbeats` intervals (the interval is the one the unit announces; before
the first heartbeat, the inventory's `heartbeat_s` counted from the service start).
Faults and offline units notify facilities (reason `fault`, never mixed with
alarms) and the room's team lead(s) when the room is left without a working
button. Flapping does not flood: one notice, then at most one summary per window.

The console's own stall is not the units' silence: a `SupTick` carries the shell's
monotonic clock reading, and a jump of more than `stall_s` between two ticks moves
every unit's silence baseline on by the gap (re-baselining) instead of declaring the
units offline for the time the console was not listening.

A unit's clock is compared with the console's on every heartbeat (`sent_at` against
the console's time of the step): off by more than `clock_skew_s` is the fault
`unit:clock` ("klok wijkt af"), reported to facilities and cleared when it is right
again. Notices and reports never use the unit's clock for anything that matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from console.config import SupervisionPolicy
from console.engine import Effect, Notify, Record, SendReceipt, notice_ids
from console.facts import (
    ButtonsChecked,
    Fact,
    FaultCleared,
    FaultRaised,
    Notified,
    TestResult,
    UnitOffline,
    UnitOnline,
    UnitRestarted,
)
from console.reporting.buttontests import TestState, test_state
from inventory.model import ButtonTestPolicy, Role, Site, UnitRole
from wire.messages import EventKind, Heartbeat, LinkState, NotifyReason, UnitEvent, UnitHealth, UnitStatus


@dataclass(frozen=True)
class UnitRecord:
    """What the log says about a unit."""

    unit_id: str
    online: bool | None = None
    """None: not seen since this console's log began."""
    since: datetime | None = None
    boot_id: uuid.UUID | None = None
    clean_shutdown: bool = False
    firmware: str = ""
    faults: frozenset[str] = frozenset()
    window_until: datetime | None = None
    suppressed: int = 0
    last_test_ok: datetime | None = None
    """The oldest of the buttons' last OK tests; None while a button of the unit was never tested."""
    button_ok: Mapping[str, datetime] = field(default_factory=dict)
    """Button id -> when its last test press was stored."""


@dataclass(frozen=True)
class LiveHealth:
    """What heartbeats say (not logged: rebuilt by the next heartbeat)."""

    last_heartbeat: datetime | None = None
    interval_s: float | None = None
    outbox_depth: int = 0
    test_mode: bool = False
    test_until: datetime | None = None
    firmware: str = ""
    published_at: datetime | None = None
    silent_from: datetime | None = None
    """Silence baseline moved on by the console's own stall (None: last_heartbeat / the start)."""
    clock_run: str = ""
    """What the last heartbeats in a row said of the unit's clock: ok, ahead or behind."""
    clock_run_since: datetime | None = None
    clock_run_n: int = 0
    clock_offset_s: float = 0.0
    """Console time minus the unit's sent_at at the last heartbeat (positive: the unit is behind)."""


_NO_LIVE = LiveHealth()


@dataclass(frozen=True)
class UnitsState:
    """Supervision state of every unit of the site."""

    site: Site
    policy: SupervisionPolicy
    started_at: datetime
    units: Mapping[str, UnitRecord]
    live: Mapping[str, LiveHealth] = field(default_factory=dict)
    checked_at: datetime | None = None
    """When the daily button check last ran (`buttons_checked`)."""
    scanned_at: datetime | None = None
    """Last full scan for silent units and ended flap windows (not from the log)."""
    due_hint: datetime | None = None
    """Earliest deadline that scan found; heartbeats only push deadlines later, and any unit
    fact clears it, so it never makes a check late. None: scan at the next tick."""
    mono: float | None = None
    """The shell's monotonic clock at the last tick that carried one (to see our own stalls)."""
    deaf: bool = False
    """The last tick said the console was not connected to the broker (it could hear nobody)."""
    stalls: int = 0
    """How many stalls of the console itself were seen (re-baselined) since the start."""
    last_stall_s: float = 0.0
    """The gap of the last one, in seconds."""

    @staticmethod
    def initial(site: Site, started_at: datetime, policy: SupervisionPolicy | None = None) -> UnitsState:
        return UnitsState(
            site=site,
            policy=policy or SupervisionPolicy(),
            started_at=started_at,
            units={u: UnitRecord(u) for u in site.index.units},
        )

    def comparable(self) -> tuple[object, ...]:
        """The fact-derived content (for rebuild == live checks)."""
        return (dict(self.units), self.checked_at)

    def button_state(self, unit_id: str, button_id: str, now: datetime) -> TestState:
        """A button's test state: ok (tested in 6 days), due (6-7 days), overdue (older or never)."""
        return test_state(self.units[unit_id].button_ok.get(button_id), now)

    def health(self, unit_id: str) -> UnitHealth:
        """The retained UnitHealth message of a unit."""
        r = self.units[unit_id]
        lv = self.live.get(unit_id, _NO_LIVE)
        return UnitHealth(
            unit_id=unit_id,
            online=bool(r.online),
            since=r.since,
            last_heartbeat=lv.last_heartbeat,
            faults=tuple(sorted(r.faults))[:32],
            firmware_version=lv.firmware or r.firmware,
            test_mode=lv.test_mode,
            test_until=lv.test_until,
            outbox_depth=lv.outbox_depth,
            last_test_ok=r.last_test_ok,
        )


# --------------------------------------------------------------------------- inputs / effects


@dataclass(frozen=True)
class StatusIn:
    status: UnitStatus


@dataclass(frozen=True)
class HeartbeatIn:
    heartbeat: Heartbeat


@dataclass(frozen=True)
class FaultIn:
    """A validated, non-duplicate fault / fault_cleared unit event."""

    event: UnitEvent


@dataclass(frozen=True)
class SupTick:
    """Time passed: detect silent units, send flapping summaries.

    `mono`: the shell's monotonic clock (seconds) at this tick. A jump of more than the
    policy's `stall_s` since the previous tick is the console's own stall; None: not known
    (no stall detection). `listening`: the console is connected to the broker; time it was
    not (this tick or the previous one said so) does not count as the units' silence either."""

    mono: float | None = None
    listening: bool = True


SupInput = StatusIn | HeartbeatIn | FaultIn | SupTick


@dataclass(frozen=True)
class PublishHealth:
    """Publish a unit's retained UnitHealth."""

    unit_id: str


SupEffect = Effect | PublishHealth

# --------------------------------------------------------------------------- evolve


def evolve(s: UnitsState, f: Fact) -> UnitsState:
    """Apply one recorded fact (pure; facts of other kinds are ignored)."""
    out = _evolve(s, f)
    if out is not s and out.due_hint is not None and getattr(f, "unit_id", None) is not None:
        out = replace(out, due_hint=None)  # a unit changed: its deadlines may be earlier now
    return out


def _evolve(s: UnitsState, f: Fact) -> UnitsState:
    if isinstance(f, ButtonsChecked):
        return replace(s, checked_at=f.at)
    uid = getattr(f, "unit_id", None)
    if uid is None or uid not in s.units:
        return s
    r = s.units[uid]
    counted = r.window_until is not None and f.at < r.window_until
    bump = r.suppressed + 1 if counted else r.suppressed
    match f:
        case UnitOnline():
            r = replace(
                r,
                online=True,
                since=f.at,
                boot_id=f.boot_id or r.boot_id,
                firmware=f.firmware_version or r.firmware,
                clean_shutdown=False,
                suppressed=bump,
            )
        case UnitOffline():
            r = replace(r, online=False, since=f.at, clean_shutdown=f.why == "shutdown", suppressed=bump)
        case UnitRestarted():
            r = replace(r, boot_id=f.new_boot_id, suppressed=bump)
        case FaultRaised():
            r = replace(r, faults=r.faults | {f.fault}, suppressed=bump)
        case FaultCleared():
            r = replace(r, faults=r.faults - {f.fault}, suppressed=bump)
        case Notified() if (
            f.incident_id is None and f.reason is NotifyReason.FAULT and f.text_key != "unprotected"
        ):
            r = replace(r, window_until=f.at + timedelta(seconds=s.policy.flap_window_s), suppressed=0)
        case TestResult():
            ok = {**r.button_ok, f.button_id: f.at}
            buttons = [b.id for b in s.site.unit(uid).buttons]
            oldest = min((ok[b] for b in buttons), default=None) if all(b in ok for b in buttons) else None
            r = replace(r, button_ok=ok, last_test_ok=oldest)
        case _:
            return s
    return replace(s, units={**s.units, uid: r})


def rebuild(
    site: Site, facts: Iterable[Fact], started_at: datetime, policy: SupervisionPolicy | None = None
) -> UnitsState:
    """The supervision state after folding the log; silence is counted from `started_at`."""
    s = UnitsState.initial(site, started_at, policy)
    for f in facts:
        s = evolve(s, f)
    return s


# --------------------------------------------------------------------------- step


class _Tx:
    def __init__(self, s: UnitsState, now: datetime) -> None:
        self.s = s
        self.now = now
        self.effects: list[SupEffect] = []
        self.changed: list[str] = []  # text keys of transitions, per unit, this step

    def record(self, fact: Fact) -> None:
        self.s = evolve(self.s, fact)
        self.effects.append(Record(fact))


def step(state: UnitsState, inp: SupInput, now: datetime) -> tuple[UnitsState, list[SupEffect]]:
    """Handle one input at `now`; return the new state and the effects, in order."""
    tx = _Tx(state, now)
    match inp:
        case StatusIn(status=st):
            _on_status(tx, st)
        case HeartbeatIn(heartbeat=hb):
            _on_heartbeat(tx, hb)
        case FaultIn(event=ev):
            _on_fault(tx, ev)
        case SupTick(mono=mono, listening=listening):
            _on_tick(tx, mono, listening)
    return tx.s, tx.effects


def next_due(s: UnitsState) -> datetime | None:
    """The earliest time a SupTick has something to do (from the cached hint when it has one)."""
    scan = s.due_hint if s.due_hint is not None else _earliest(s)
    return min(scan, check_due(s)) if scan is not None else check_due(s)


def _earliest(s: UnitsState) -> datetime | None:
    dues: list[datetime] = []
    for uid, r in s.units.items():
        if r.online is not False:
            dues.append(_silent_deadline(s, uid))
        if r.suppressed and r.window_until is not None:
            dues.append(r.window_until)
    return min(dues) if dues else None


def next_slot(after: datetime, pol: ButtonTestPolicy, tz: ZoneInfo) -> datetime:
    """The first check time after `after`: notify_at local time, then every notify_overdue_every_h."""
    local = after.astimezone(tz)
    hh, mm = (int(x) for x in pol.notify_at.split(":"))
    slot = datetime(local.year, local.month, local.day, hh, mm, tzinfo=tz)
    step = timedelta(hours=pol.notify_overdue_every_h)
    while slot > after:
        slot -= step
    while slot <= after:
        slot += step
    return slot.astimezone(UTC)


def check_due(s: UnitsState) -> datetime:
    """When the daily button check runs next (restart-safe: counted from the last recorded check)."""
    site = s.site
    return next_slot(s.checked_at or s.started_at, site.tests, ZoneInfo(site.site.timezone))


def _silence_base(s: UnitsState, uid: str) -> datetime:
    """Where a unit's silence is counted from: its last sign of life, the start, or later when
    the console itself stalled since."""
    lv = s.live.get(uid, _NO_LIVE)
    base = lv.last_heartbeat or s.started_at
    return max(base, lv.silent_from) if lv.silent_from is not None else base


def _silent_deadline(s: UnitsState, uid: str) -> datetime:
    lv = s.live.get(uid, _NO_LIVE)
    interval = lv.interval_s or s.site.unit(uid).heartbeat_s
    return _silence_base(s, uid) + timedelta(seconds=interval * s.policy.missed_heartbeats)


def room_protected(s: UnitsState, room_id: str) -> bool:
    """Whether the room has a desk unit online with at least one button without a fault."""
    for uid in s.site.index.units_in_room.get(room_id, ()):
        unit = s.site.unit(uid)
        r = s.units[uid]
        if unit.role is not UnitRole.DESK or not r.online or "unit:tamper" in r.faults:
            continue
        bad = {f.split(":", 1)[0] for f in r.faults}
        if any(b.id not in bad for b in unit.buttons):
            return True
    return False


def _transition(tx: _Tx, uid: str, facts: list[Fact], text_key: str, detail: dict[str, str]) -> None:
    """Record transition facts of one unit, then notify facilities (unless in a flap window)."""
    room = tx.s.site.unit(uid).room
    was_protected = room_protected(tx.s, room)
    in_window = (w := tx.s.units[uid].window_until) is not None and tx.now < w
    for f in facts:
        tx.record(f)
    if not in_window:
        _notice(tx, uid, tx.s.site.people_with(Role.FACILITIES), text_key, detail)
    now_protected = room_protected(tx.s, room)
    if was_protected and not now_protected and not in_window and tx.s.site.unit(uid).role is UnitRole.DESK:
        leads = tx.s.site.team(tx.s.site.room(room).team).leads
        _notice(tx, uid, leads, "unprotected", {"room": room})
    tx.effects.append(PublishHealth(uid))


def _notice(tx: _Tx, uid: str, to: tuple[str, ...], text_key: str, detail: dict[str, str]) -> None:
    if not to:
        return
    fact = Notified(
        at=tx.now,
        reason=NotifyReason.FAULT,
        unit_id=uid,
        person_ids=to,
        notification_ids=notice_ids(f"{uid}:{text_key}", NotifyReason.FAULT, 0, tx.now, to),
        text_key=text_key,
        detail=detail,
    )
    tx.record(fact)
    tx.effects.append(Notify(fact))


def _came_alive(tx: _Tx, uid: str, boot_id: uuid.UUID, firmware: str) -> None:
    r = tx.s.units[uid]
    facts: list[Fact] = []
    keys: list[str] = []
    if r.boot_id is not None and boot_id != r.boot_id and not r.clean_shutdown:
        facts.append(UnitRestarted(at=tx.now, unit_id=uid, old_boot_id=r.boot_id, new_boot_id=boot_id))
        keys.append("restarted")
    if r.online is not True:
        facts.append(UnitOnline(at=tx.now, unit_id=uid, boot_id=boot_id, firmware_version=firmware))
        if r.online is False:
            keys.append("online")
    elif boot_id != r.boot_id and not facts:
        facts.append(UnitOnline(at=tx.now, unit_id=uid, boot_id=boot_id, firmware_version=firmware))
    if facts and keys:
        _transition(tx, uid, facts, keys[0], {})
    elif facts:  # first sight: recorded, nobody to tell
        for f in facts:
            tx.record(f)
        tx.effects.append(PublishHealth(uid))


def _on_status(tx: _Tx, st: UnitStatus) -> None:
    uid = st.unit_id
    if st.state is LinkState.ONLINE:
        lv = tx.s.live.get(uid, _NO_LIVE)
        tx.s = replace(
            tx.s,
            live={
                **tx.s.live,
                uid: replace(
                    lv, last_heartbeat=tx.now, silent_from=None, firmware=st.firmware_version or lv.firmware
                ),
            },
        )
        _came_alive(tx, uid, st.boot_id, st.firmware_version)
        return
    r = tx.s.units[uid]
    if r.online is False:
        return
    if st.boot_id != r.boot_id and r.boot_id is not None and r.online:
        return  # the will of an older run, after the new run is already online
    why = "shutdown" if st.reason == "shutdown" else "lost"
    _transition(tx, uid, [UnitOffline(at=tx.now, unit_id=uid, why=why)], f"offline_{why}", {})


def _on_heartbeat(tx: _Tx, hb: Heartbeat) -> None:
    uid = hb.unit_id
    old = tx.s.live.get(uid, _NO_LIVE)
    lv = _clock_sample(
        tx.s.policy,
        old,
        LiveHealth(
            last_heartbeat=tx.now,
            interval_s=hb.interval_s,
            outbox_depth=hb.outbox_depth,
            test_mode=hb.test_mode,
            test_until=hb.test_until,
            firmware=hb.firmware_version,
            published_at=old.published_at,
        ),
        hb.sent_at,
        tx.now,
    )
    tx.s = replace(tx.s, live={**tx.s.live, uid: lv})
    _came_alive(tx, uid, hb.boot_id, hb.firmware_version)
    _check_clock(tx, uid, hb.sent_at)
    r = tx.s.units[uid]
    backlog = hb.outbox_depth > tx.s.policy.backlog_threshold
    if backlog and "unit:backlog" not in r.faults:
        fact: Fact = FaultRaised(at=tx.now, unit_id=uid, fault="unit:backlog")
        _transition(tx, uid, [fact], "backlog", {"depth": str(hb.outbox_depth)})
    elif not backlog and "unit:backlog" in r.faults:
        fact = FaultCleared(at=tx.now, unit_id=uid, fault="unit:backlog")
        _transition(tx, uid, [fact], "fault_cleared", {"fault": "backlog", "button": ""})
    changed = (old.test_mode, old.outbox_depth > 0) != (lv.test_mode, lv.outbox_depth > 0)
    stale = old.published_at is None or tx.now - old.published_at >= timedelta(
        seconds=tx.s.policy.health_refresh_s
    )
    if changed or stale or any(isinstance(e, PublishHealth) for e in tx.effects):
        tx.s = replace(tx.s, live={**tx.s.live, uid: replace(lv, published_at=tx.now)})
        if not any(isinstance(e, PublishHealth) for e in tx.effects):
            tx.effects.append(PublishHealth(uid))


def _on_fault(tx: _Tx, ev: UnitEvent) -> None:
    uid = ev.unit_id
    assert ev.fault is not None
    key = f"{ev.button_id or 'unit'}:{ev.fault.value}"
    r = tx.s.units[uid]
    detail = {"fault": ev.fault.value, "button": f" ({ev.button_id})" if ev.button_id else ""}
    if ev.kind is EventKind.FAULT and key not in r.faults:
        _transition(
            tx, uid, [FaultRaised(at=tx.now, unit_id=uid, fault=key, event_id=ev.event_id)], "fault", detail
        )
    elif ev.kind is EventKind.FAULT_CLEARED and key in r.faults:
        fact = FaultCleared(at=tx.now, unit_id=uid, fault=key, event_id=ev.event_id)
        _transition(tx, uid, [fact], "fault_cleared", detail)
    tx.effects.append(SendReceipt(uid, ev.event_id, None))


def _clock_sample(
    pol: SupervisionPolicy, old: LiveHealth, new: LiveHealth, sent_at: datetime, now: datetime
) -> LiveHealth:
    """Add one heartbeat's clock reading to the unit's run of agreeing readings."""
    offset = (now - sent_at).total_seconds()
    kind = "ahead" if offset < -pol.clock_skew_s else "behind" if offset > pol.clock_skew_s else "ok"
    if kind == old.clock_run and old.clock_run_since is not None:
        since, n = old.clock_run_since, old.clock_run_n + 1
    else:
        since, n = now, 1
    return replace(new, clock_run=kind, clock_run_since=since, clock_run_n=n, clock_offset_s=offset)


def _clock_settled(s: UnitsState, lv: LiveHealth, now: datetime) -> bool:
    """Enough readings in a row, spread over at least one heartbeat interval of console time:
    a burst of heartbeats held up by the console's own stall all arrive in one step, so they
    can never settle a verdict by themselves."""
    if lv.clock_run_since is None or lv.clock_run_n < s.policy.clock_samples:
        return False
    return (now - lv.clock_run_since).total_seconds() >= (lv.interval_s or 0) or s.policy.clock_samples == 1


def _check_clock(tx: _Tx, uid: str, sent_at: datetime) -> None:
    """Raise `unit:clock` when the unit's clock is off, clear it when it is right again.

    The offset seen is the clock error plus the transport delay (never negative: the step's
    time is taken after the heartbeat arrived). So a unit ahead of the console is certain at
    once; one that seems behind may only be late, and must say so in `clock_samples` readings
    in a row; a faulty clock counts as correct only after as many good readings."""
    lv = tx.s.live[uid]
    faulty = "unit:clock" in tx.s.units[uid].faults
    settled = lv.clock_run == "ahead" or _clock_settled(tx.s, lv, tx.now)
    if not faulty and lv.clock_run in ("ahead", "behind") and settled:
        tz = ZoneInfo(tx.s.site.site.timezone)
        detail = {
            "offset": f"{-lv.clock_offset_s:+.0f}",
            "unit_time": _local(sent_at, tz),
            "console_time": _local(tx.now, tz),
        }
        _transition(tx, uid, [FaultRaised(at=tx.now, unit_id=uid, fault="unit:clock")], "clock_off", detail)
    elif faulty and lv.clock_run == "ok" and _clock_settled(tx.s, lv, tx.now):
        _transition(tx, uid, [FaultCleared(at=tx.now, unit_id=uid, fault="unit:clock")], "clock_ok", {})


def _local(t: datetime, tz: ZoneInfo) -> str:
    """`t` in the site's time zone; a unit's clock at the edge of the calendar as it came."""
    try:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError):
        return t.isoformat()


def _rebaseline(tx: _Tx, gap_s: float) -> None:
    """The console could not hear anyone for `gap_s` (stalled, or not connected): every unit's
    silence counts from `gap_s` later (never later than now)."""
    s = tx.s
    gap = timedelta(seconds=gap_s)
    live = dict(s.live)
    for uid in s.site.index.units:
        lv = live.get(uid, _NO_LIVE)
        live[uid] = replace(lv, silent_from=min(tx.now, _silence_base(s, uid) + gap))
    tx.s = replace(s, live=live, due_hint=None)


def _on_tick(tx: _Tx, mono: float | None = None, listening: bool = True) -> None:
    if mono is not None:
        last = tx.s.mono
        gap = 0.0 if last is None else max(0.0, mono - last)
        if gap > tx.s.policy.stall_s:
            _rebaseline(tx, gap)
            tx.s = replace(tx.s, stalls=tx.s.stalls + 1, last_stall_s=gap)
        elif gap and (tx.s.deaf or not listening):
            _rebaseline(tx, gap)
        tx.s = replace(tx.s, mono=mono, deaf=not listening)
    if tx.now >= check_due(tx.s):
        _check_buttons(tx)
    hint = tx.s.due_hint
    if hint is not None and tx.now < hint:
        return  # nothing can be due yet: no per-unit work on this tick
    _scan_units(tx)
    tx.s = replace(tx.s, scanned_at=tx.now, due_hint=_earliest(tx.s))


def _scan_units(tx: _Tx) -> None:
    for uid in tx.s.site.index.units:
        r = tx.s.units[uid]
        if r.online is not False and tx.now >= _silent_deadline(tx.s, uid):
            lv = tx.s.live.get(uid, _NO_LIVE)
            why = "silent" if (r.online or lv.last_heartbeat is not None) else "never"
            last = lv.last_heartbeat or r.since or tx.s.started_at
            _transition(
                tx,
                uid,
                [UnitOffline(at=tx.now, unit_id=uid, why=why)],
                f"offline_{why}",
                {"last": last.isoformat()},
            )
        r = tx.s.units[uid]
        if r.suppressed and r.window_until is not None and tx.now >= r.window_until:
            state = "online" if r.online else "offline"
            minutes = str(round(tx.s.policy.flap_window_s / 60))
            _notice(
                tx,
                uid,
                tx.s.site.people_with(Role.FACILITIES),
                "flapping",
                {"count": str(r.suppressed), "minutes": minutes, "state": state},
            )


def _check_buttons(tx: _Tx) -> None:
    """The daily check: facilities get one summary of overdue and faulty buttons, each team lead
    one notice about their own rooms. Recorded (`buttons_checked`), so a restart does not repeat it."""
    s = tx.s
    overdue: list[str] = []
    faulty: list[str] = []
    rooms: dict[str, set[str]] = {}  # team -> rooms with an overdue or faulty desk button
    faulty_rooms: set[str] = set()
    for uid, unit in s.site.index.units.items():
        r = s.units[uid]
        bad = {f.split(":", 1)[0] for f in r.faults}
        for b in unit.buttons:
            late = s.button_state(uid, b.id, tx.now) is TestState.OVERDUE
            broken = b.id in bad
            if late:
                overdue.append(f"{uid}/{b.id}")
            if broken:
                faulty.append(f"{uid}/{b.id}")
            if (late or broken) and unit.role is UnitRole.DESK:
                rooms.setdefault(s.site.room(unit.room).team, set()).add(unit.room)
            if broken and unit.role is UnitRole.DESK:
                faulty_rooms.add(unit.room)
    tx.record(ButtonsChecked(at=tx.now, overdue=tuple(overdue), faulty=tuple(faulty)))
    if not overdue and not faulty:
        return
    reason = NotifyReason.FAULT if faulty else NotifyReason.INFO
    detail = {
        "overdue": str(len(overdue)),
        "faulty": str(len(faulty)),
        "buttons": ", ".join([*faulty, *(b for b in overdue if b not in faulty)])[:1500],
    }
    _daily_notice(tx, s.site.people_with(Role.FACILITIES), reason, "tests_overdue", detail)
    if not s.site.tests.notify_leads:
        return
    per_lead: dict[str, set[str]] = {}
    for team_id, team_rooms in rooms.items():
        for lead in s.site.team(team_id).leads:
            per_lead.setdefault(lead, set()).update(team_rooms)
    for lead, lead_rooms in sorted(per_lead.items()):
        why = NotifyReason.FAULT if lead_rooms & faulty_rooms else NotifyReason.INFO
        _daily_notice(tx, (lead,), why, "rooms_untested", {"rooms": ",".join(sorted(lead_rooms))})


def _daily_notice(
    tx: _Tx, to: tuple[str, ...], reason: NotifyReason, text_key: str, detail: dict[str, str]
) -> None:
    if not to:
        return
    fact = Notified(
        at=tx.now,
        reason=reason,
        person_ids=to,
        notification_ids=notice_ids(f"tests:{text_key}", reason, 0, tx.now, to),
        text_key=text_key,
        detail=detail,
    )
    tx.record(fact)
    tx.effects.append(Notify(fact))
