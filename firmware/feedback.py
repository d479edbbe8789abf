"""Pure feedback logic: what the discreet LED (and, where allowed, the buzzer) shows.

Desk units never make a sound for an alarm: the buzzer is used only to confirm a
recorded test press and on lead pager units. The LED is off normally, pulses
briefly when the console stored the alarm, is steady on when a lead acknowledged
("help is on the way"), and goes off when resolved. When nobody on the whole escalation can be
reached (all absent or all declined) it blinks evenly once a second ("niemand bereikbaar": call
101 yourself) until someone acknowledges; the escalation goes on meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from stilalarm.wire.messages import Feedback


@dataclass(frozen=True)
class Pattern:
    """An output pattern: steady off (on_s == 0), steady on (off_s == 0), or blinking."""

    name: str
    on_s: float = 0.0
    off_s: float = 0.0
    count: int | None = None  # blink count; None = forever

    @property
    def is_off(self) -> bool:
        return self.on_s == 0


OFF = Pattern("off")
STORED = Pattern("stored", on_s=0.08, off_s=1.92)  # a short pulse every 2 s
ACKNOWLEDGED = Pattern("acknowledged", on_s=1.0, off_s=0.0)  # steady on
NOBODY_REACHABLE = Pattern("nobody_reachable", on_s=0.5, off_s=0.5)  # even 1 Hz blink: call 101
TEST_OK = Pattern("test_ok", on_s=0.15, off_s=0.15, count=3)
IDENTIFY = Pattern("identify", on_s=0.1, off_s=0.1)
BEEP_TEST_OK = Pattern("test_ok", on_s=0.1, off_s=0.1, count=2)

TEST_OK_MS = 1_000


def page_pattern(level: int) -> Pattern:
    """Lead pager: faster blinking (and beeping) for higher levels."""
    on, off = {1: (0.5, 1.5), 2: (0.3, 0.7)}.get(level, (0.15, 0.25))
    return Pattern(f"page-{min(level, 3)}", on_s=on, off_s=off)


class Base(StrEnum):
    """The lasting state behind any short overlay."""

    OFF = "off"
    STORED = "stored"
    ACKNOWLEDGED = "acknowledged"
    NOBODY_REACHABLE = "nobody_reachable"
    PAGE = "page"


@dataclass(frozen=True)
class FeedbackState:
    """Lasting base state plus an optional timed overlay (test ok, identify)."""

    base: Base = Base.OFF
    page_level: int = 0
    overlay: str | None = None  # "test_ok" or "identify"
    overlay_until_ms: int | None = None


def alarm_stored(s: FeedbackState) -> FeedbackState:
    """The console's receipt for an alarm arrived (never downgrades 'acknowledged')."""
    return replace(s, base=Base.STORED) if s.base in (Base.OFF, Base.STORED) else s


def test_recorded(s: FeedbackState, now_ms: int) -> FeedbackState:
    """The console's receipt for a test press arrived: confirm briefly."""
    return replace(s, overlay="test_ok", overlay_until_ms=now_ms + TEST_OK_MS)


def command(s: FeedbackState, fb: Feedback, now_ms: int) -> FeedbackState:
    """A FeedbackCmd from the console."""
    if fb is Feedback.OFF:
        return replace(s, base=Base.OFF, page_level=0)
    if fb is Feedback.STORED:
        return alarm_stored(s)
    if fb is Feedback.ACKNOWLEDGED:
        return replace(s, base=Base.ACKNOWLEDGED)
    if fb is Feedback.NOBODY_REACHABLE:  # never over 'acknowledged': someone is coming after all
        return s if s.base is Base.ACKNOWLEDGED else replace(s, base=Base.NOBODY_REACHABLE)
    return test_recorded(s, now_ms)


def identify(s: FeedbackState, seconds: float, now_ms: int) -> FeedbackState:
    """Blink so a technician finds the unit; ignored while an alarm is shown."""
    if s.base is not Base.OFF:
        return s
    return replace(s, overlay="identify", overlay_until_ms=now_ms + int(seconds * 1000))


def page(s: FeedbackState, level: int) -> FeedbackState:
    """PageCmd on a lead unit: signal at `level`, 0 = silence."""
    if level <= 0:
        return replace(s, base=Base.OFF, page_level=0)
    return replace(s, base=Base.PAGE, page_level=level)


def expire(s: FeedbackState, now_ms: int) -> FeedbackState:
    """Drop the overlay once its time is over."""
    if s.overlay_until_ms is not None and now_ms >= s.overlay_until_ms:
        return replace(s, overlay=None, overlay_until_ms=None)
    return s


def next_deadline(s: FeedbackState) -> int | None:
    """When the overlay ends, or None."""
    return s.overlay_until_ms


def outputs(s: FeedbackState, *, lead: bool) -> tuple[Pattern, Pattern]:
    """(LED pattern, buzzer pattern). A desk unit only beeps to confirm a test."""
    if s.overlay == "test_ok":
        return TEST_OK, BEEP_TEST_OK
    if s.overlay == "identify":
        return IDENTIFY, OFF
    if s.base is Base.STORED:
        return STORED, OFF
    if s.base is Base.ACKNOWLEDGED:
        return ACKNOWLEDGED, OFF
    if s.base is Base.NOBODY_REACHABLE:
        return NOBODY_REACHABLE, OFF
    if s.base is Base.PAGE and lead:
        p = page_pattern(s.page_level)
        return p, p
    return OFF, OFF
