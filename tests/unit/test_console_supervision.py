"""Unit supervision with injected time: wills, silence, flapping, restarts, faults, backlog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core import supervision
from stilalarm.console.core.effects import Notify, PublishHealth, Record
from stilalarm.console.core.supervision import FaultIn, HeartbeatIn, StatusIn, SupTick, UnitsState
from stilalarm.console.facts import UnitOffline, UnitRestarted
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import EventKind, FaultKind, Heartbeat, LinkState, UnitEvent, UnitStatus

SITE = parse_site(FAST_SITE)  # units beat every 1 s
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
FACILITIES = ("fien", "gert")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


class Run:
    def __init__(self, window_s: float = 600) -> None:
        self.s = UnitsState.initial(SITE, T0, SupervisionPolicy(flap_window_s=window_s))
        self.log: list[object] = []

    def __call__(self, inp: supervision.SupInput, t: float) -> list[object]:
        self.s, eff = supervision.step(self.s, inp, at(t))
        self.log += eff
        return list(eff)

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def notices(effects: list[object]) -> list[tuple[str, tuple[str, ...]]]:
    return [(e.notice.text_key, e.notice.person_ids) for e in effects if isinstance(e, Notify)]


def status(unit: str, state: LinkState, reason: str, boot: uuid.UUID) -> StatusIn:
    return StatusIn(UnitStatus(unit_id=unit, state=state, boot_id=boot, reason=reason))  # type: ignore[arg-type]


def beat(unit: str, boot: uuid.UUID, *, interval: float = 1.0, depth: int = 0) -> HeartbeatIn:
    return HeartbeatIn(
        Heartbeat(
            unit_id=unit,
            boot_id=boot,
            seq=1,
            sent_at=T0,
            interval_s=interval,
            uptime_s=1,
            outbox_depth=depth,
            firmware_version="1.0",
            test_mode=False,
        )
    )


def fault(unit: str, kind: EventKind, f: FaultKind, button: str | None = "knop") -> FaultIn:
    return FaultIn(
        UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=kind,
            fault=f,
            button_id=button,
            seq=1,
            boot_id=uuid.uuid4(),
            occurred_at=T0,
            sent_at=T0,
        )
    )


def online_all(r: Run, t: float = 0) -> dict[str, uuid.UUID]:
    boots = {u.id: uuid.uuid4() for u in SITE.units}
    for uid, b in boots.items():
        r(status(uid, LinkState.ONLINE, "connected", b), t)
    return boots


def test_first_sight_is_recorded_without_a_notice() -> None:
    r = Run()
    eff = r(status("balie-1", LinkState.ONLINE, "connected", uuid.uuid4()), 0)
    assert notices(eff) == [] and PublishHealth("balie-1") in eff
    assert r.s.units["balie-1"].online is True


def test_last_will_notifies_facilities_and_the_lead_of_an_unprotected_room() -> None:
    r = Run()
    boots = online_all(r)
    eff = r(status("balie-1", LinkState.OFFLINE, "lost", boots["balie-1"]), 5)
    assert notices(eff) == [("offline_lost", FACILITIES), ("unprotected", ("chris",))]
    assert r.s.units["balie-1"].online is False
    # a second copy of the will changes nothing
    assert r(status("balie-1", LinkState.OFFLINE, "lost", boots["balie-1"]), 5.1) == []


def test_a_silent_unit_is_offline_after_three_intervals() -> None:
    r = Run()
    boots = online_all(r)
    for uid, b in boots.items():
        r(beat(uid, b, interval=2.0), 10)
    assert [f for f in r.facts() if isinstance(f, UnitOffline)] == []
    assert supervision.next_due(r.s) == at(16)
    for uid, b in boots.items():
        if uid != "wachtzaal":
            r(beat(uid, b, interval=2.0), 15)
    assert r(SupTick(), 15.9) == []
    eff = r(SupTick(), 16)
    assert notices(eff)[0] == ("offline_silent", FACILITIES)
    assert [(f.unit_id, f.why) for f in r.facts() if isinstance(f, UnitOffline)] == [("wachtzaal", "silent")]


def test_units_never_seen_are_offline_three_heartbeats_after_the_start() -> None:
    r = Run()
    assert r(SupTick(), 2.9) == []
    eff = r(SupTick(), 3)
    offline = {(f.unit_id, f.why) for f in r.facts() if isinstance(f, UnitOffline)}
    assert offline == {(u.id, "never") for u in SITE.units}
    assert {k for k, _ in notices(eff)} == {"offline_never"}  # the rooms were never protected: no lead notice


def test_flapping_gives_one_notice_then_one_summary_per_window() -> None:
    r = Run(window_s=60)
    boot = uuid.uuid4()
    r(status("wachtzaal", LinkState.ONLINE, "connected", boot), 0)
    sent = notices(r(status("wachtzaal", LinkState.OFFLINE, "lost", boot), 1))
    for i in range(5):
        sent += notices(r(status("wachtzaal", LinkState.ONLINE, "connected", boot), 2 + i * 2))
        sent += notices(r(status("wachtzaal", LinkState.OFFLINE, "lost", boot), 3 + i * 2))
        r(SupTick(), 3 + i * 2)
    assert [k for k, _ in sent] == ["offline_lost", "unprotected"]
    eff = r(SupTick(), 61)
    (summary,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert summary.text_key == "flapping" and summary.detail["count"] == "10"
    assert summary.detail["state"] == "offline" and summary.person_ids == FACILITIES
    assert notices(r(SupTick(), 200)) == []  # quiet since: no more summaries


def test_new_boot_id_without_clean_shutdown_is_an_unexpected_restart() -> None:
    r = Run()
    b1, b2, b3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    r(status("balie-1", LinkState.ONLINE, "connected", b1), 0)
    eff = r(beat("balie-1", b2), 1)  # came back before its will was even published
    assert notices(eff) == [("restarted", FACILITIES)]
    assert [(f.old_boot_id, f.new_boot_id) for f in r.facts() if isinstance(f, UnitRestarted)] == [(b1, b2)]
    # a clean shutdown and a new boot is not unexpected
    r2 = Run()
    r2(status("balie-1", LinkState.ONLINE, "connected", b1), 0)
    r2(status("balie-1", LinkState.OFFLINE, "shutdown", b1), 1)
    r2(status("balie-1", LinkState.ONLINE, "connected", b3), 700)
    assert not any(isinstance(f, UnitRestarted) for f in r2.facts())


def test_stale_will_of_an_older_run_is_ignored() -> None:
    r = Run()
    b1, b2 = uuid.uuid4(), uuid.uuid4()
    r(status("balie-1", LinkState.ONLINE, "connected", b1), 0)
    r(status("balie-1", LinkState.ONLINE, "connected", b2), 1)
    assert r(status("balie-1", LinkState.OFFLINE, "lost", b1), 2) == []
    assert r.s.units["balie-1"].online is True


def test_faults_notify_once_and_recovery_is_recorded() -> None:
    r = Run(window_s=60)
    online_all(r)
    eff = r(fault("spreekkamer-1", EventKind.FAULT, FaultKind.CUT), 1)
    assert notices(eff) == [("fault", FACILITIES), ("unprotected", ("an",))]
    assert r.s.units["spreekkamer-1"].faults == {"knop:cut"}
    assert notices(r(fault("spreekkamer-1", EventKind.FAULT, FaultKind.CUT), 2)) == []  # same fault again
    r(fault("spreekkamer-1", EventKind.FAULT_CLEARED, FaultKind.CUT), 100)
    assert r.s.units["spreekkamer-1"].faults == frozenset()
    assert ("fault_cleared", FACILITIES) in notices(r.log)


def test_one_of_two_buttons_faulty_keeps_the_room_protected() -> None:
    r = Run()
    online_all(r)
    eff = r(fault("balie-1", EventKind.FAULT, FaultKind.SHORT, "voet"), 1)
    assert notices(eff) == [("fault", FACILITIES)]


def test_a_unit_that_cannot_read_its_pins_leaves_the_room_unprotected() -> None:
    r = Run()
    online_all(r)
    eff = r(fault("spreekkamer-1", EventKind.FAULT, FaultKind.PINS, None), 1)
    assert notices(eff) == [("fault", FACILITIES), ("unprotected", ("an",))]
    assert r.s.units["spreekkamer-1"].faults == {"unit:pins"}


def test_outbox_backlog_is_a_fault() -> None:
    r = Run()
    boots = online_all(r)
    eff = r(beat("balie-1", boots["balie-1"], depth=50), 1)
    assert notices(eff) == [("backlog", FACILITIES)]
    assert "unit:backlog" in r.s.units["balie-1"].faults
    r(beat("balie-1", boots["balie-1"], depth=0), 700)
    assert "unit:backlog" not in r.s.units["balie-1"].faults


def test_rebuild_from_facts_gives_the_same_unit_records() -> None:
    r = Run(window_s=60)
    boots = online_all(r)
    r(status("balie-1", LinkState.OFFLINE, "lost", boots["balie-1"]), 1)
    r(status("balie-1", LinkState.ONLINE, "connected", uuid.uuid4()), 2)
    r(fault("wachtzaal", EventKind.FAULT, FaultKind.TAMPER, None), 3)
    r(SupTick(), 10)
    r(SupTick(), 70)
    rebuilt = supervision.rebuild(SITE, r.facts(), T0, SupervisionPolicy(flap_window_s=60))  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
