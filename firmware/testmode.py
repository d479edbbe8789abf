"""Pure test-mode state: single-shot per button, expiring by itself.

Facilities put a unit in test mode (from the console, the local test key or
`alarm-unit test-mode on`). While it lasts, the *first* press of each button is
sent as a TEST event instead of an alarm; that button is live again at once, so
its next press is a real ALARM. Test mode ends at its deadline (monotonic, so a
wall-clock jump cannot stretch it), when switched off, or when every button was
tested. Nothing here is triggered by a gesture on a panic button.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

MAX_TEST_MS = 240 * 60 * 1000  # never longer than the inventory's maximum (240 min)


@dataclass(frozen=True)
class TestModeState:
    """Which buttons are still in test mode, until when, for which campaign."""

    __test__ = False  # not a pytest test class

    armed: frozenset[str] = frozenset()
    until_ms: int | None = None  # monotonic deadline
    until: datetime | None = None  # the same deadline in UTC, for reports
    campaign_id: str | None = None
    source: str = ""  # "console", "local" or "key"

    def active(self, now_ms: int) -> bool:
        """Any button still in test mode at `now_ms`."""
        return bool(self.armed) and self.until_ms is not None and now_ms < self.until_ms

    def is_test_press(self, button_id: str, now_ms: int) -> bool:
        """Whether a press of this button at `now_ms` is a test (not an alarm)."""
        return self.active(now_ms) and button_id in self.armed


OFF = TestModeState()


def start(
    buttons: frozenset[str],
    *,
    now_ms: int,
    now: datetime,
    until: datetime,
    campaign_id: str | None,
    source: str,
) -> TestModeState:
    """Every button in test mode until `until` (capped at 240 minutes from now)."""
    duration_ms = min(MAX_TEST_MS, max(0, int((until - now).total_seconds() * 1000)))
    if duration_ms <= 0:
        return OFF
    return TestModeState(
        armed=buttons,
        until_ms=now_ms + duration_ms,
        until=until,
        campaign_id=campaign_id,
        source=source,
    )


def record(state: TestModeState, button_id: str) -> TestModeState:
    """The test press of this button was recorded: it is live again."""
    armed = state.armed - {button_id}
    return replace(state, armed=armed) if armed else OFF


def expire(state: TestModeState, now_ms: int) -> TestModeState:
    """OFF once the deadline has passed; otherwise unchanged."""
    return state if state.active(now_ms) else OFF
