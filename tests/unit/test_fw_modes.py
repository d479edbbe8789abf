"""Pure test-mode and feedback (LED pattern) logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stilalarm.firmware import feedback, testmode
from stilalarm.firmware.feedback import Base, FeedbackState
from stilalarm.wire.messages import Feedback

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def started(minutes: float = 15, buttons: frozenset[str] = frozenset({"a", "b"})) -> testmode.TestModeState:
    return testmode.start(
        buttons,
        now_ms=0,
        now=NOW,
        until=NOW + timedelta(minutes=minutes),
        campaign_id="c-1",
        source="console",
    )


def test_test_mode_is_single_shot_per_button() -> None:
    tm = started()
    assert tm.is_test_press("a", 1000) and tm.is_test_press("b", 1000)
    tm = testmode.record(tm, "a", 1000)
    assert not tm.is_test_press("a", 2000)  # live again at once
    assert not tm.is_test_press("a", 200_000)  # for the rest of the window, while b is still armed
    assert tm.is_test_press("b", 2000)
    tm = testmode.record(tm, "b", 3000)
    assert not tm.on and not tm.active(3000) and tm.armed == frozenset()


def test_a_press_within_60_s_of_its_test_press_is_an_alarm_even_after_a_new_window() -> None:
    tm = testmode.record(started(), "a", 1000)
    for reopened_at in (2000, 30_000):  # the console re-sends the window, or the key is turned again
        again = testmode.start(
            frozenset({"a", "b"}),
            now_ms=reopened_at,
            now=NOW,
            until=NOW + timedelta(minutes=5),
            campaign_id="c-2",
            source="console",
            prev=testmode.off(tm),
        )
        assert again.active(reopened_at) and again.is_test_press("b", reopened_at + 1)
        assert not again.is_test_press("a", 1000 + testmode.REARM_GUARD_MS - 1)  # real alarm
        assert again.is_test_press("a", 1000 + testmode.REARM_GUARD_MS)  # a test again after 60 s


def test_an_alarm_press_of_an_armed_button_keeps_it_live() -> None:
    tm = testmode.record(started(), "a", 1000)
    tm = testmode.start(
        frozenset({"a", "b"}),
        now_ms=5000,
        now=NOW,
        until=NOW + timedelta(minutes=5),
        campaign_id=None,
        source="key",
        prev=tm,
    )
    assert "a" in tm.armed and not tm.is_test_press("a", 6000)
    tm = testmode.disarm(tm, "a")  # the runtime sent it as an ALARM
    assert not tm.is_test_press("a", 1000 + 10 * testmode.REARM_GUARD_MS)  # live for the whole window
    assert tm.is_test_press("b", 6000)
    assert not testmode.disarm(testmode.disarm(tm, "b"), "a").on  # nothing armed: the window is over


def test_test_mode_expires_by_itself() -> None:
    tm = started(minutes=15)
    end = 15 * 60 * 1000
    assert tm.active(end - 1) and tm.is_test_press("a", end - 1)
    assert not tm.active(end) and not tm.is_test_press("a", end)
    assert testmode.expire(tm, end) == testmode.OFF
    assert testmode.expire(tm, end - 1) == tm
    assert testmode.expire(testmode.record(tm, "a", 5), end).tested_ms == {"a": 5}  # the guard stays


def test_test_mode_already_over_or_too_long() -> None:
    past = testmode.start(
        frozenset({"a"}), now_ms=0, now=NOW, until=NOW - timedelta(seconds=1), campaign_id=None, source="x"
    )
    assert past == testmode.OFF
    long = started(minutes=240)  # what `test start --all --minutes 240` used to open
    assert long.until_ms == testmode.MAX_TEST_MS == 15 * 60 * 1000
    assert long.until == NOW + timedelta(minutes=15)


def test_led_stored_then_acknowledged_then_off() -> None:
    s = FeedbackState()
    assert feedback.outputs(s, lead=False) == (feedback.OFF, feedback.OFF)
    s = feedback.alarm_stored(s)
    assert feedback.outputs(s, lead=False)[0] == feedback.STORED
    s = feedback.command(s, Feedback.ACKNOWLEDGED, 0)
    assert feedback.outputs(s, lead=False)[0] == feedback.ACKNOWLEDGED
    s = feedback.alarm_stored(s)  # a further press's receipt does not downgrade "help is coming"
    assert s.base is Base.ACKNOWLEDGED
    s = feedback.command(s, Feedback.OFF, 0)
    assert feedback.outputs(s, lead=False) == (feedback.OFF, feedback.OFF)


def test_desk_unit_never_beeps_except_test_ok() -> None:
    s = feedback.page(feedback.alarm_stored(FeedbackState()), 3)
    assert feedback.outputs(s, lead=False) == (feedback.OFF, feedback.OFF)  # a page means nothing here
    s = feedback.command(FeedbackState(), Feedback.ACKNOWLEDGED, 0)
    assert feedback.outputs(s, lead=False)[1] == feedback.OFF
    s = feedback.test_recorded(FeedbackState(), 0)
    assert feedback.outputs(s, lead=False) == (feedback.TEST_OK, feedback.BEEP_TEST_OK)


def test_test_ok_overlay_expires_back_to_base() -> None:
    s = feedback.test_recorded(feedback.alarm_stored(FeedbackState()), 1000)
    assert feedback.next_deadline(s) == 1000 + feedback.TEST_OK_MS
    assert feedback.outputs(feedback.expire(s, 1999), lead=False)[0] == feedback.TEST_OK
    s = feedback.expire(s, 2000)
    assert feedback.outputs(s, lead=False)[0] == feedback.STORED
    assert feedback.next_deadline(s) is None


def test_identify_only_when_no_alarm_is_shown() -> None:
    s = feedback.identify(FeedbackState(), 10, 0)
    assert feedback.outputs(s, lead=False)[0] == feedback.IDENTIFY
    busy = feedback.identify(feedback.alarm_stored(FeedbackState()), 10, 0)
    assert feedback.outputs(busy, lead=False)[0] == feedback.STORED


def test_lead_pager_levels_and_silence() -> None:
    s = feedback.page(FeedbackState(), 1)
    led, buzzer = feedback.outputs(s, lead=True)
    assert led.name == "page-1" and buzzer.name == "page-1"
    faster = feedback.outputs(feedback.page(s, 3), lead=True)[0]
    assert faster.on_s + faster.off_s < led.on_s + led.off_s
    assert feedback.outputs(feedback.page(s, 0), lead=True) == (feedback.OFF, feedback.OFF)


def test_nobody_reachable_blinks_its_own_pattern_silently_until_acknowledged() -> None:
    s = feedback.command(feedback.alarm_stored(FeedbackState()), Feedback.NOBODY_REACHABLE, 0)
    led, buzzer = feedback.outputs(s, lead=False)
    assert led == feedback.NOBODY_REACHABLE and buzzer == feedback.OFF
    assert led not in (feedback.STORED, feedback.ACKNOWLEDGED, feedback.IDENTIFY, feedback.TEST_OK)
    assert feedback.outputs(feedback.alarm_stored(s), lead=False)[0] == feedback.NOBODY_REACHABLE  # a receipt
    s = feedback.command(s, Feedback.ACKNOWLEDGED, 0)  # someone comes after all
    assert feedback.outputs(s, lead=False)[0] == feedback.ACKNOWLEDGED
    assert feedback.command(s, Feedback.NOBODY_REACHABLE, 0) == s  # never over 'acknowledged'
    assert feedback.outputs(feedback.command(s, Feedback.OFF, 0), lead=False)[0] == feedback.OFF
