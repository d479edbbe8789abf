"""Issue 11, findings 10 and 11 in the pure cores, with injected time: the console's own stall
is not the units' silence; a unit's clock is checked and never trusted for notices or reports;
a console shows a silent service as gone by its own clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core import supervision
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import Notify, Record
from stilalarm.console.core.engine import PersonCmdIn, UnitEventIn
from stilalarm.console.core.supervision import HeartbeatIn, StatusIn, SupTick, UnitsState
from stilalarm.console.delivery.render import render
from stilalarm.console.facts import AlarmReceived, Fact, FaultCleared, FaultRaised, UnitOffline
from stilalarm.console.reporting import export, monthly
from stilalarm.console.reporting import fold as recs
from stilalarm.console.timeline import Timelines, press_time
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.status import build_bar, is_stale, service_gone
from stilalarm.console.tui.texts import texts_for
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AckCmd,
    ConsoleStatus,
    EventKind,
    Heartbeat,
    LinkState,
    Registration,
    ResolveCmd,
    UnitEvent,
    UnitStatus,
)

SITE = parse_site(FAST_SITE)  # units beat every 1 s: offline after 3 s of silence
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
TZ = ZoneInfo("Europe/Brussels")
FACILITIES = ("fien", "gert")
UNITS = [u.id for u in SITE.units]


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


class Run:
    """Supervision alone, each step followed by a tick carrying the monotonic clock (as the shell).

    `mono` is the service's monotonic clock; by default it runs with the wall clock."""

    def __init__(self, **policy: float) -> None:
        self.s = UnitsState.initial(SITE, T0, SupervisionPolicy(**policy))
        self.effects: list[object] = []
        self.boots = {u: uuid.uuid4() for u in UNITS}

    def step(self, inp: supervision.SupInput, t: float) -> list[object]:
        self.s, eff = supervision.step(self.s, inp, at(t))
        self.effects += eff
        return list(eff)

    def tick(self, t: float, mono: float | None = None) -> list[object]:
        return self.step(SupTick(t if mono is None else mono), t)

    def beat(self, unit: str, t: float, *, sent: float | None = None, tick: bool = True) -> list[object]:
        """A heartbeat received at t, sent at `sent` by the unit's clock (default: t)."""
        hb = Heartbeat(
            unit_id=unit,
            boot_id=self.boots[unit],
            seq=1,
            sent_at=at(t if sent is None else sent),
            interval_s=1.0,
            uptime_s=1,
            outbox_depth=0,
            firmware_version="1.0",
            test_mode=False,
        )
        out = self.step(HeartbeatIn(hb), t)
        return out + (self.tick(t) if tick else [])

    def all_beat(self, t: float) -> None:
        for u in UNITS:
            self.beat(u, t, tick=False)
        self.tick(t)

    def facts(self) -> list[object]:
        return [e.fact for e in self.effects if isinstance(e, Record)]

    def notices(self) -> list[tuple[str, str | None, tuple[str, ...]]]:
        return [
            (e.notice.text_key, e.notice.unit_id, e.notice.person_ids)
            for e in self.effects
            if isinstance(e, Notify)
        ]


def online(r: Run) -> None:
    for u in UNITS:
        r.step(
            StatusIn(UnitStatus(unit_id=u, state=LinkState.ONLINE, boot_id=r.boots[u], reason="connected")), 0
        )
    for t in range(0, 5):
        r.all_beat(t)
    assert r.notices() == []


# --------------------------------------------------------------------------- finding 10: own stall


def test_a_stall_of_the_console_itself_is_not_the_units_silence() -> None:
    r = Run()
    online(r)
    # The service is SIGSTOPped at 4.x s and continues at 12 s: its monotonic clock jumped 8 s.
    # The units kept beating; their heartbeats are still in the socket when the first tick runs.
    assert r.tick(12) == []
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    assert r.s.stalls == 1 and r.s.last_stall_s == 8
    # the held-up heartbeats arrive, then life goes on: nobody is told anything
    for t in range(12, 20):
        r.all_beat(t)
    assert r.notices() == [] and not [f for f in r.facts() if isinstance(f, UnitOffline)]


def test_without_the_monotonic_reading_the_same_gap_declares_every_unit_offline() -> None:
    """What the shell did before: a tick without `mono` cannot tell, and every unit goes offline
    (the 18 false notices of the finding)."""
    r = Run()
    online(r)
    r.step(SupTick(), 12)
    offline = {f.unit_id for f in r.facts() if isinstance(f, UnitOffline)}
    assert offline == set(UNITS)
    assert any(k == "offline_silent" and to == FACILITIES for k, _u, to in r.notices())
    assert any(k == "unprotected" for k, _u, _to in r.notices())


def test_after_a_stall_a_unit_that_really_went_silent_is_still_declared_offline() -> None:
    r = Run()
    online(r)  # last beats at 4 s
    assert r.tick(12) == []  # stalled 8 s: silence counts from 4 + 8 = 12 s
    for t in (12, 13, 14):
        for u in UNITS:
            if u != "wachtzaal":  # wachtzaal died while the console stood still
                r.beat(u, t, tick=False)
        r.tick(t)
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    r.tick(15)  # 3 intervals after the re-baselined 12 s
    assert [(f.unit_id, f.why) for f in r.facts() if isinstance(f, UnitOffline)] == [("wachtzaal", "silent")]
    assert ("offline_silent", "wachtzaal", FACILITIES) in r.notices()


def test_short_gaps_do_not_rebaseline_and_a_silent_unit_goes_offline_on_time() -> None:
    r = Run()
    online(r)
    for t in (5, 6):  # ticks every second, as the writer wakes every beat
        for u in UNITS:
            if u != "wachtzaal":
                r.beat(u, t, tick=False)
        r.tick(t)
    r.tick(7)
    assert r.s.stalls == 0
    assert [f.unit_id for f in r.facts() if isinstance(f, UnitOffline)] == ["wachtzaal"]


def test_a_unit_never_seen_is_counted_from_after_the_stall_too() -> None:
    r = Run()
    r.tick(1)
    assert r.tick(9) == []  # stalled 8 s right after the start: nobody declared "never seen"
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    r.tick(10)  # silence counts from 0 + 8 s: the deadline is 11 s
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    r.tick(11)
    assert {f.why for f in r.facts() if isinstance(f, UnitOffline)} == {"never"}


def test_time_without_a_broker_connection_is_not_the_units_silence_either() -> None:
    """The broker dropped the console (after its stall, or a takeover of its client id): until it
    is connected again it hears nobody. Ticks keep coming every second, saying so."""
    r = Run()
    online(r)  # last beats at 4 s
    for t in range(5, 25):
        r.step(SupTick(t, listening=False), t)
    r.step(SupTick(25, listening=True), 25)  # reconnected; the units' beats follow
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    for t in (25, 26, 27):
        for u in UNITS:
            if u != "balie-1":  # balie-1 died meanwhile
                r.beat(u, t, tick=False)
        r.tick(t)
    assert not [f for f in r.facts() if isinstance(f, UnitOffline)]
    r.tick(28)
    r.tick(29)
    assert [f.unit_id for f in r.facts() if isinstance(f, UnitOffline)] == ["balie-1"]
    assert r.s.stalls == 0  # not a stall: nothing to log as one


def test_the_stall_threshold_is_policy() -> None:
    r = Run(stall_s=10)
    online(r)
    r.tick(12)  # 8 s < 10 s: not a stall by this policy
    assert r.s.stalls == 0 and [f for f in r.facts() if isinstance(f, UnitOffline)]


# --------------------------------------------------------------------------- finding 11: unit clocks


def clock_notices(r: Run, unit: str) -> list[str]:
    return [k for k, u, to in r.notices() if u == unit and k.startswith("clock") and to == FACILITIES]


def test_a_unit_ahead_of_the_console_is_a_clock_fault_at_once_and_cleared_when_right_again() -> None:
    r = Run(flap_window_s=2)
    online(r)
    eff = r.beat("balie-1", 5, sent=5 + 3600)  # one hour ahead: a delay cannot do that
    (n,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert (n.text_key, n.person_ids, n.unit_id) == ("clock_off", FACILITIES, "balie-1")
    assert n.detail == {
        "offset": "+3600",
        "unit_time": "2026-11-28 11:00:05",
        "console_time": "2026-11-28 10:00:05",
    }
    assert "unit:clock" in r.s.units["balie-1"].faults and "unit:clock" in r.s.health("balie-1").faults
    assert any(isinstance(f, FaultRaised) and f.fault == "unit:clock" for f in r.facts())
    for t in (6, 7):  # still ahead: reported once
        r.beat("balie-1", t, sent=t + 3600)
    assert clock_notices(r, "balie-1") == ["clock_off"]
    for t in (8, 9, 10):  # NTP fixed it: three good readings over more than an interval
        r.beat("balie-1", t)
    assert "unit:clock" not in r.s.units["balie-1"].faults
    assert any(isinstance(f, FaultCleared) and f.fault == "unit:clock" for f in r.facts())
    assert clock_notices(r, "balie-1") == ["clock_off", "clock_ok"]


def test_a_unit_behind_needs_readings_in_a_row_because_a_delay_looks_the_same() -> None:
    r = Run()
    online(r)
    r.beat("wachtzaal", 5, sent=5 - 3600)
    r.beat("wachtzaal", 6, sent=6 - 3600)
    assert clock_notices(r, "wachtzaal") == []  # two readings: could be a held-up queue
    r.beat("wachtzaal", 7, sent=7 - 3600)
    assert clock_notices(r, "wachtzaal") == ["clock_off"]
    (n,) = [e.notice for e in r.effects if isinstance(e, Notify) and e.notice.text_key == "clock_off"]
    assert n.detail["offset"] == "-3600" and n.detail["unit_time"] == "2026-11-28 09:00:07"


def test_heartbeats_held_up_by_the_consoles_own_stall_are_not_a_clock_fault() -> None:
    r = Run()
    online(r)
    # stalled from 4.5 to 60 s: the unit's heartbeats of 5..59 s all arrive in the first step after
    for sent in range(5, 60):
        r.beat("spreekkamer-1", 60, sent=sent, tick=False)
    r.tick(60)
    r.all_beat(61)  # and then they are on time again
    r.all_beat(62)
    assert clock_notices(r, "spreekkamer-1") == [] and r.notices() == []


def test_a_unit_in_1970_and_one_in_2099() -> None:
    r = Run()
    online(r)
    epoch = (datetime(1970, 1, 1, tzinfo=UTC) - T0).total_seconds()
    future = (datetime(2099, 1, 1, tzinfo=UTC) - T0).total_seconds()
    for t in (5, 6, 7):
        r.beat("spreekkamer-1", t, sent=epoch + t)
        r.beat("balie-1", t, sent=future + t)
    assert clock_notices(r, "spreekkamer-1") == ["clock_off"] == clock_notices(r, "balie-1")


def test_a_clock_at_the_end_of_the_calendar_is_reported_not_a_crash() -> None:
    r = Run()
    online(r)
    end = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - T0).total_seconds()
    r.beat("balie-1", 5, sent=end)
    (n,) = [e.notice for e in r.effects if isinstance(e, Notify) and e.notice.text_key == "clock_off"]
    assert n.detail["unit_time"] == "9999-12-31T23:59:59+00:00"


def test_a_small_offset_within_the_policy_is_fine() -> None:
    r = Run(clock_skew_s=10)
    online(r)
    for t in (5, 6, 7, 8):
        r.beat("balie-1", t, sent=t + 9)
        r.beat("wachtzaal", t, sent=t - 9)
    assert clock_notices(r, "balie-1") == [] == clock_notices(r, "wachtzaal")
    assert not r.s.units["balie-1"].faults and not r.s.units["wachtzaal"].faults


# --------------------------------------------------------------------------- finding 11: reports, notices


class Core:
    """The whole functional core with the log, as the service drives it."""

    def __init__(self) -> None:
        self.w = core.rebuild(SITE, [], T0)
        self.facts: list[Fact] = []
        self.effects: list[object] = []

    def __call__(self, inp: core.Input, t: datetime) -> list[object]:
        self.w, eff = core.step(self.w, inp, t)
        self.w, tick = core.step(self.w, core.Tick(), t)
        out: list[object] = [*eff, *tick]
        self.facts += [e.fact for e in out if isinstance(e, Record)]
        self.effects += out
        return out

    def press(self, unit: str, t: datetime, unit_clock: datetime) -> str:
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=EventKind.ALARM,
            button_id="knop",
            seq=1,
            boot_id=uuid.uuid4(),
            occurred_at=unit_clock - timedelta(milliseconds=30),
            sent_at=unit_clock,
        )
        self(UnitEventIn(ev), t)
        return max(self.w.engine.incidents, key=lambda i: self.w.engine.incidents[i].stored_at)

    def cmd(self, cmd: object, t: datetime) -> None:
        self(PersonCmdIn(cmd), t)  # type: ignore[arg-type]


REG = Registration.model_validate({"aggression_types": ["verbaal"], "severity": "boosheid"})


def test_reports_and_notices_use_the_consoles_time_whatever_the_units_clock_says() -> None:
    c = Core()
    clocks = {
        "spreekkamer-1": datetime(1970, 1, 1, tzinfo=UTC),
        "balie-1": datetime(2099, 6, 1, 12, tzinfo=UTC),
        "wachtzaal": None,  # +1 h and -1 h, below
    }
    t = T0 + timedelta(seconds=10)
    cases = [
        ("spreekkamer-1", clocks["spreekkamer-1"], "an"),
        ("balie-1", clocks["balie-1"], "chris"),
        ("wachtzaal", t + timedelta(minutes=1) + timedelta(hours=1), "chris"),
        ("wachtzaal", t + timedelta(minutes=2) - timedelta(hours=1), "chris"),
    ]
    ids = []
    for n, (unit, clock, lead) in enumerate(cases):
        pressed = t + timedelta(minutes=n)
        assert clock is not None
        iid = c.press(unit, pressed, clock)
        ids.append(iid)
        alarm = next(
            e.notice
            for e in c.effects
            if isinstance(e, Notify) and e.notice.incident_id == iid and e.notice.level
        )
        note = render(
            c.w.engine.site,
            alarm,
            alarm.person_ids[0],
            alarm.notification_ids[0],
            c.w.engine.incidents[iid],
        )
        assert f"Gedrukt om {pressed.astimezone(TZ):%H:%M:%S}" in note.body, note.body
        base = {"cmd_id": uuid.uuid4(), "person_id": lead, "issued_at": pressed}
        c.cmd(AckCmd(incident_id=iid, **base), pressed + timedelta(seconds=12))
        c.cmd(
            ResolveCmd(incident_id=iid, registration=REG, **{**base, "cmd_id": uuid.uuid4()}),
            pressed + timedelta(seconds=40),
        )

    r = recs.build(SITE, c.facts)
    assert [i.incident_id for i in r.incidents] == ids
    assert [i.ack_seconds for i in r.incidents] == [12.0] * 4
    since = [
        x
        for x in r.incidents
        if datetime(2026, 11, 28, tzinfo=TZ) <= x.stored_at < datetime(2026, 11, 29, tzinfo=TZ)
    ]
    rows = export.rows(since, TZ)
    assert [row["incident_id"] for row in rows] == ids
    assert {row["date"] for row in rows} == {"2026-11-28"}
    assert rows[0]["pressed_at"] == "2026-11-28 10:00:10" and rows[0]["unit_time"] == "1970-01-01 00:59:59"
    assert rows[1]["unit_time"].startswith("2099-06-01")
    assert [row["ack_seconds"] for row in rows] == [12.0] * 4
    figures = monthly.compute(SITE, "2026-11", r.incidents, r.offline, r.tests, T0)
    assert figures.incidents == 4 and figures.ack_worst_s == 12.0 and figures.ack_median_s == 12.0

    # the History screen's timeline: the press on the console's clock, the lead 12 s later
    tl = Timelines(SITE)
    for f in c.facts:
        tl.add(f)
    for iid, (_u, _c, _l) in zip(ids, cases, strict=True):
        timeline = tl.timeline(iid, 1)
        assert timeline is not None
        pressed_entry = timeline.entries[0]
        stored = c.w.engine.incidents[iid].stored_at
        assert stored - timedelta(seconds=1) <= pressed_entry.at <= stored
        assert any("12 s na de druk" in e.text for e in timeline.entries)


def test_press_time_keeps_an_outbox_wait_and_drops_a_clock_that_jumped() -> None:
    def alarm(at_: datetime, pressed: datetime, sent: datetime) -> AlarmReceived:
        return AlarmReceived(
            at=at_,
            incident_id="i",
            unit_id="balie-1",
            button_id="knop",
            room_id="balie-1",
            team_id="onthaal",
            event_id=uuid.uuid4(),
            pressed_at=pressed,
            sent_at=sent,
        )

    now = T0
    hour = timedelta(hours=1)
    # a good clock, the alarm waited 5 min in the outbox (broker down): believed as is
    assert press_time(alarm(now, now - timedelta(minutes=5), now)) == now - timedelta(minutes=5)
    # an hour ahead, waited 5 min: the wait is kept, the hour removed
    assert press_time(alarm(now, now + hour - timedelta(minutes=5), now + hour)) == now - timedelta(minutes=5)
    # pressed in 1970, NTP set the clock before the send: not believed, the stored time
    assert press_time(alarm(now, datetime(1970, 1, 1, tzinfo=UTC), now)) == now


# --------------------------------------------------------------------------- finding 10: the console's view


CTX = Ctx(SITE, "an", texts_for("nl"))
NOW = T0


def beat(s: float) -> ConsoleStatus:
    return ConsoleStatus(state=LinkState.ONLINE, at=at(s), beat_s=1.0)


def test_three_missed_beats_by_the_consoles_own_clock_mean_the_service_is_gone() -> None:
    rec = Received().connected().with_console(beat(0), heard_at=NOW)
    for s in (1, 2, 3):
        assert not service_gone(rec, at(s)) and not build_bar(rec, CTX, at(s)).alarm
    bar = build_bar(rec, CTX, at(3.1))
    assert service_gone(rec, at(3.1)) and is_stale(rec, at(3.1))
    assert bar.alarm and "ALARMCENTRALE OFFLINE: geen teken van leven sinds 10:00:00" in bar.text
    # a beat arrives: fine again
    rec = rec.with_console(beat(4), heard_at=at(4))
    assert not build_bar(rec, CTX, at(4.5)).alarm


def test_the_services_own_time_in_the_beat_is_not_used() -> None:
    """The service's clock may be an hour off from this PC's: only when WE heard it counts."""
    rec = (
        Received()
        .connected()
        .with_console(ConsoleStatus(state=LinkState.ONLINE, at=at(-3600), beat_s=1), NOW)
    )
    assert not service_gone(rec, at(1))
    rec = (
        Received().connected().with_console(ConsoleStatus(state=LinkState.ONLINE, at=at(3600), beat_s=1), NOW)
    )
    assert service_gone(rec, at(3.5))


def test_a_console_that_connects_late_to_a_hung_service_shows_it_gone_three_beats_later() -> None:
    """The retained online status of a service that hangs since an hour is delivered on connect:
    it counts as heard then, and no beat follows."""
    retained = ConsoleStatus(state=LinkState.ONLINE, at=at(-3600), beat_s=1.0)
    rec = Received().connected().with_console(retained, heard_at=NOW)
    assert not build_bar(rec, CTX, at(2)).alarm
    assert build_bar(rec, CTX, at(3.5)).alarm


def test_a_service_that_does_not_beat_is_judged_by_its_retained_status_only() -> None:
    rec = Received().connected().with_console(ConsoleStatus(state=LinkState.ONLINE, at=NOW), heard_at=NOW)
    assert not service_gone(rec, at(3600)) and not build_bar(rec, CTX, at(3600)).alarm
