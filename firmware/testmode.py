"""Pure test-mode state: single-shot per button, short, expiring by itself.

Facilities open a unit's test window (from the console, the local test key or
`alarm-unit test-mode on`) when they stand at it. While it lasts, the *first*
press of each button is sent as a TEST event instead of an alarm; that button is
live again at once, so its next press is a real ALARM. A real alarm can never be
lost to a test:

- a window lasts at most TEST_WINDOW_MAX_MIN (15) minutes, whatever it asks for;
- a button's press within REARM_GUARD_MS (60 s) of its previous test press is an
  ALARM, even when a new window re-armed it meanwhile (a repeated console command,
  the test key turned off and on);
- a button pressed as an ALARM while armed stays live for the rest of the window.

The console decides too: it takes a TEST event as a real alarm unless its own
window for the unit is open. Test mode ends at its deadline (monotonic, so a
wall-clock jump cannot stretch it), when switched off, or when every button was
tested. Nothing here is triggered by a gesture on a panic button.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from stilalarm.wire.messages import TEST_WINDOW_MAX_MIN

MAX_TEST_MS = int(TEST_WINDOW_MAX_MIN * 60 * 1000)
"""No window is longer (the inventory and the console command cap at the same 15 minutes)."""
REARM_GUARD_MS = 60_000
"""A button's press this soon after its previous test press is a real alarm."""


@dataclass(frozen=True)
class TestModeState:
    """Which buttons are still in test mode, until when, for which campaign."""

    __test__ = False  # not a pytest test class

    armed: frozenset[str] = frozenset()
    until_ms: int | None = None  # monotonic deadline
    until: datetime | None = None  # the same deadline in UTC, for reports
    campaign_id: str | None = None
    source: str = ""  # "console", "local" or "key"
    tested_ms: Mapping[str, int] = field(default_factory=dict)
    """Button id -> monotonic time of its last test press; kept when test mode ends (the guard)."""

    @property
    def on(self) -> bool:
        """A window was opened and has not been switched off or found over yet."""
        return self.until_ms is not None

    def active(self, now_ms: int) -> bool:
        """Any button still in test mode at `now_ms`."""
        return bool(self.armed) and self.until_ms is not None and now_ms < self.until_ms

    def is_test_press(self, button_id: str, now_ms: int) -> bool:
        """Whether a press of this button at `now_ms` is a test (not an alarm)."""
        if not (self.active(now_ms) and button_id in self.armed):
            return False
        last = self.tested_ms.get(button_id)
        return last is None or now_ms - last >= REARM_GUARD_MS


OFF = TestModeState()


def off(state: TestModeState) -> TestModeState:
    """No window open; the guard times of recent test presses are kept."""
    return TestModeState(tested_ms=state.tested_ms) if state.tested_ms else OFF


def start(
    buttons: frozenset[str],
    *,
    now_ms: int,
    now: datetime,
    until: datetime,
    campaign_id: str | None,
    source: str,
    prev: TestModeState = OFF,
) -> TestModeState:
    """Every button in test mode until `until` (capped at MAX_TEST_MS from now); `prev`'s guard
    times are kept, so re-opening a window does not make a just-tested button a test again."""
    duration_ms = min(MAX_TEST_MS, max(0, int((until - now).total_seconds() * 1000)))
    if duration_ms <= 0:
        return off(prev)
    return TestModeState(
        armed=buttons,
        until_ms=now_ms + duration_ms,
        until=min(until, now + timedelta(milliseconds=duration_ms)),
        campaign_id=campaign_id,
        source=source,
        tested_ms=prev.tested_ms,
    )


def record(state: TestModeState, button_id: str, now_ms: int) -> TestModeState:
    """The test press of this button at `now_ms` was recorded: it is live again."""
    tested = {**state.tested_ms, button_id: now_ms}
    armed = state.armed - {button_id}
    return replace(state, armed=armed, tested_ms=tested) if armed else TestModeState(tested_ms=tested)


def disarm(state: TestModeState, button_id: str) -> TestModeState:
    """This button was pressed as a real alarm while armed: it stays live for the window."""
    if button_id not in state.armed:
        return state
    armed = state.armed - {button_id}
    return replace(state, armed=armed) if armed else off(state)


def expire(state: TestModeState, now_ms: int) -> TestModeState:
    """Off once the deadline has passed; otherwise unchanged."""
    return state if state.active(now_ms) else off(state)
