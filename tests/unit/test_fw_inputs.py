"""The pure input state machine, with explicit times (ms): debounce, hold, faults, stuck."""

from __future__ import annotations

import pytest

from stilalarm.firmware import inputs
from stilalarm.firmware.inputs import (
    FaultCleared,
    FaultRaised,
    InputTiming,
    Pressed,
    Reading,
    Released,
    classify,
)
from stilalarm.inventory.kinds import Contact
from stilalarm.wire.messages import FaultKind, InputHealth

T = InputTiming(debounce_ms=10, min_hold_ms=50, fault_settle_ms=200, stuck_ms=30_000)
IDLE, P, CUT, SHORT = Reading.IDLE, Reading.PRESSED, Reading.CUT, Reading.SHORT


class Driver:
    """Feeds readings at given times and runs deadlines like the shell's timer does."""

    def __init__(self, timing: InputTiming = T, start: Reading = IDLE, now: int = 0) -> None:
        self.t = timing
        self.s = inputs.initial(start, now)
        self.now = now
        self.effects: list[tuple[int, inputs.Effect]] = []

    def run_until(self, when: int) -> None:
        """Fire every deadline up to `when` (the shell's timer), then set the clock to `when`."""
        while (d := inputs.next_deadline(self.t, self.s)) is not None and d <= when:
            self.s, fx = inputs.advance(self.t, self.s, d)
            self.effects += [(d, e) for e in fx]
            if inputs.next_deadline(self.t, self.s) == d:
                raise AssertionError(f"deadline {d} did not advance")
        self.now = when

    def at(self, when: int, reading: Reading) -> None:
        self.run_until(when)
        self.s, fx = inputs.sample(self.t, self.s, reading, when)
        self.effects += [(when, e) for e in fx]

    def presses(self) -> list[tuple[int, Pressed]]:
        return [(t, e) for t, e in self.effects if isinstance(e, Pressed)]

    def faults(self) -> list[tuple[int, inputs.Effect]]:
        return [(t, e) for t, e in self.effects if isinstance(e, FaultRaised | FaultCleared)]


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("contact", "no_high", "nc_high", "reading"),
    [
        (Contact.NO, True, None, IDLE),
        (Contact.NO, False, None, P),
        (Contact.NC, False, None, IDLE),
        (Contact.NC, True, None, P),
        (Contact.DUAL, True, False, IDLE),
        (Contact.DUAL, False, True, P),
        (Contact.DUAL, True, True, CUT),
        (Contact.DUAL, False, False, SHORT),
    ],
)
def test_classify(contact: Contact, no_high: bool, nc_high: bool | None, reading: Reading) -> None:
    assert classify(contact, no_high, nc_high) is reading


def test_dual_needs_nc_level() -> None:
    with pytest.raises(ValueError, match="NC pin"):
        classify(Contact.DUAL, True, None)


# --------------------------------------------------------------------------- hold + debounce


def test_press_held_50ms_is_one_alarm_with_start_time() -> None:
    d = Driver()
    d.at(1000, P)
    d.run_until(1049)
    assert d.presses() == []
    d.run_until(1050)
    assert d.presses() == [(1050, Pressed(started_ms=1000, detected_ms=1050))]
    d.at(1500, IDLE)
    d.run_until(2000)
    assert len(d.presses()) == 1
    assert [e for _t, e in d.effects if isinstance(e, Released)] == [Released(1510)]


def test_released_exactly_at_threshold_counts() -> None:
    d = Driver()
    d.at(0, P)
    d.at(50, IDLE)  # held exactly min_hold_ms
    d.run_until(1000)
    assert [e.detected_ms for _t, e in d.presses()] == [50]


def test_released_one_ms_before_threshold_does_not() -> None:
    d = Driver()
    d.at(0, P)
    d.at(49, IDLE)
    d.run_until(1000)
    assert d.presses() == []


def test_brief_knock_is_ignored() -> None:
    d = Driver()
    d.at(0, P)
    d.at(8, IDLE)  # shorter than the debounce
    d.run_until(1000)
    assert d.presses() == []
    assert d.s.stable is IDLE


def test_chatter_burst_does_not_alarm() -> None:
    d = Driver()
    t = 0
    for _ in range(40):  # 2 ms closed / 3 ms open, 200 ms of chatter
        d.at(t, P)
        d.at(t + 2, IDLE)
        t += 5
    d.run_until(t + 1000)
    assert d.presses() == []


def test_bounce_at_start_of_real_press_still_alarms_once() -> None:
    d = Driver()
    for t in (0, 2, 4, 6):  # contact bounce while closing
        d.at(t, P)
        d.at(t + 1, IDLE)
    d.at(8, P)
    d.run_until(200)
    assert [(e.started_ms, e.detected_ms) for _t, e in d.presses()] == [(8, 58)]


def test_blip_during_hold_neither_ends_nor_repeats_the_press() -> None:
    d = Driver()
    d.at(0, P)
    d.at(30, IDLE)  # 3 ms open while held: a bounce, not a release
    d.at(33, P)
    d.run_until(1000)
    assert [e.detected_ms for _t, e in d.presses()] == [50]
    d.at(1000, IDLE)
    d.at(1004, P)
    d.run_until(2000)
    assert len(d.presses()) == 1


def test_open_at_the_deadline_then_closed_again_counts_when_closed() -> None:
    d = Driver()
    d.at(0, P)
    d.at(45, IDLE)
    d.at(52, P)  # the blip straddles the 50 ms deadline
    d.run_until(100)
    assert [e.detected_ms for _t, e in d.presses()] == [52]


def test_repeated_presses_are_each_reported() -> None:
    d = Driver()
    for start in (0, 500, 1000):
        d.at(start, P)
        d.at(start + 100, IDLE)
    d.run_until(2000)
    assert [e.started_ms for _t, e in d.presses()] == [0, 500, 1000]


def test_min_hold_equal_to_debounce() -> None:
    d = Driver(InputTiming(debounce_ms=20, min_hold_ms=20))
    d.at(0, P)
    d.run_until(19)
    assert d.presses() == []
    d.run_until(20)
    assert [e.detected_ms for _t, e in d.presses()] == [20]


def test_pressed_at_start_is_a_press() -> None:
    d = Driver(start=P, now=0)
    d.run_until(100)
    assert [e.started_ms for _t, e in d.presses()] == [0]


# --------------------------------------------------------------------------- NO / NC wiring end to end


def test_nc_button_levels() -> None:
    d = Driver()
    d.at(0, classify(Contact.NC, False))
    d.at(100, classify(Contact.NC, True))  # NC opens: pressed
    d.run_until(200)
    assert [e.started_ms for _t, e in d.presses()] == [100]


def test_nc_cable_cut_is_a_press_then_stuck() -> None:
    d = Driver()
    d.at(0, classify(Contact.NC, True))  # a cut NC cable reads as a permanent press
    d.run_until(30_100)
    assert len(d.presses()) == 1
    assert d.faults() == [(30_000, FaultRaised(FaultKind.STUCK, 30_000))]
    assert d.s.health is InputHealth.STUCK
    d.at(40_000, classify(Contact.NC, False))  # repaired
    d.run_until(41_000)
    assert d.faults()[-1] == (40_010, FaultCleared(FaultKind.STUCK, 40_010))
    assert d.s.health is InputHealth.OK


# --------------------------------------------------------------------------- dual contact


def test_cut_is_a_fault_not_an_alarm_after_settling() -> None:
    d = Driver()
    d.at(0, CUT)
    d.run_until(199)
    assert d.faults() == []
    d.run_until(1000)
    assert d.presses() == []
    assert d.faults() == [(200, FaultRaised(FaultKind.CUT, 200))]
    assert d.s.health is InputHealth.CUT
    d.at(2000, IDLE)
    d.run_until(3000)
    assert d.faults()[-1] == (2200, FaultCleared(FaultKind.CUT, 2200))
    assert d.s.health is InputHealth.OK


def test_short_is_a_fault() -> None:
    d = Driver()
    d.at(0, SHORT)
    d.run_until(1000)
    assert d.presses() == []
    assert d.faults() == [(200, FaultRaised(FaultKind.SHORT, 200))]


def test_cut_then_short_replaces_the_fault() -> None:
    d = Driver()
    d.at(0, CUT)
    d.at(500, SHORT)
    d.run_until(1000)
    assert [e for _t, e in d.faults()] == [
        FaultRaised(FaultKind.CUT, 200),
        FaultCleared(FaultKind.CUT, 700),
        FaultRaised(FaultKind.SHORT, 700),
    ]


@pytest.mark.parametrize("transit", [CUT, SHORT])
def test_press_through_an_intermediate_state_is_a_press_and_no_fault(transit: Reading) -> None:
    d = Driver()
    d.at(0, transit)  # break-before-make (both open) or make-before-break (both closed)
    d.at(4, P)
    d.at(300, transit)  # and again on release
    d.at(303, IDLE)
    d.run_until(2000)
    assert [e.started_ms for _t, e in d.presses()] == [4]
    assert d.faults() == []


def test_slow_transit_longer_than_debounce_is_still_no_fault() -> None:
    d = Driver()
    d.at(0, CUT)
    d.at(40, P)  # 40 ms in between: longer than the debounce, shorter than the fault settle
    d.run_until(2000)
    assert [e.started_ms for _t, e in d.presses()] == [40]
    assert d.faults() == []


def test_press_while_cut_reported_still_alarms() -> None:
    # NC wire cut: idle reads CUT; a press closes the NO contact and reads PRESSED
    d = Driver()
    d.at(0, CUT)
    d.run_until(500)
    d.at(500, P)
    d.run_until(560)
    assert [e.detected_ms for _t, e in d.presses()] == [550]  # not delayed by the fault
    d.at(600, CUT)
    d.run_until(2000)
    assert [e for _t, e in d.faults()] == [FaultRaised(FaultKind.CUT, 200)]  # no flapping


def test_next_deadline_is_none_when_quiet() -> None:
    d = Driver()
    d.at(0, P)
    d.run_until(100)
    assert inputs.next_deadline(T, d.s) == 30_000  # only the stuck check remains
    d.at(200, IDLE)
    d.run_until(300)
    assert inputs.next_deadline(T, d.s) is None


# --------------------------------------------------------------------------- switch (tamper, test key)


def test_switch_settles() -> None:
    s = inputs.switch_initial(False, 0)
    s, ch = inputs.switch_sample(200, s, True, 100)
    assert ch is None and inputs.switch_deadline(200, s) == 300
    s, ch = inputs.switch_advance(200, s, 299)
    assert ch is None
    s, ch = inputs.switch_advance(200, s, 300)
    assert ch is True and s.stable is True
    s, ch = inputs.switch_sample(200, s, False, 400)
    s, ch2 = inputs.switch_sample(200, s, True, 450)  # back before settling
    s, ch3 = inputs.switch_advance(200, s, 1000)
    assert (ch, ch2, ch3) == (None, None, None) and s.stable is True
