"""Commands from the console (test mode, feedback, identify, page) and test mode itself.

Test mode comes from the console (`TestModeCmd`, with a campaign), the local test key or
`alarm-unit test-mode`; it ends when its window expires, every button was tested, or on command.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from stilalarm.firmware import feedback, testmode
from stilalarm.firmware.unitstate import UnitState, log
from stilalarm.inventory.kinds import UnitRole
from stilalarm.wire.messages import (
    TEST_WINDOW_MAX_MIN,
    ContractError,
    FeedbackCmd,
    IdentifyCmd,
    PageCmd,
    TestModeCmd,
    parse_unit_command,
)


class UnitCommands(UnitState):
    """The console's commands and test mode of a unit's runtime."""

    def _on_command(self, payload: bytes) -> None:
        try:
            cmd = parse_unit_command(payload)
        except ContractError as exc:
            log.warning("%s: malformed command ignored: %s", self.unit.id, exc)
            return
        if cmd.unit_id != self.unit.id:
            log.warning("%s: command for unit %s ignored", self.unit.id, cmd.unit_id)
            return
        now = self.clock.now_ms()
        if isinstance(cmd, TestModeCmd):
            if cmd.on and cmd.until is not None:
                self._start_test(cmd.until, cmd.campaign_id, "console")
            else:
                self._stop_test("console")
        elif isinstance(cmd, FeedbackCmd):
            self.fb = feedback.command(self.fb, cmd.feedback, now)
        elif isinstance(cmd, IdentifyCmd):
            self.fb = feedback.identify(self.fb, cmd.seconds, now)
        elif isinstance(cmd, PageCmd):
            if self.unit.role is not UnitRole.LEAD:
                log.warning("%s: page command for a desk unit ignored", self.unit.id)
                return
            self.fb = feedback.page(self.fb, cmd.level)
        self._refresh_outputs()

    def set_local_test_mode(self, on: bool, minutes: float | None = None, source: str = "local") -> None:
        """Test mode without a console (test key, `alarm-unit test-mode`)."""
        if on:
            mins = self.unit.test_mode_minutes if minutes is None else minutes
            mins = min(mins, TEST_WINDOW_MAX_MIN)
            self._start_test(self.clock.wall() + timedelta(minutes=mins), None, source)
        else:
            self._stop_test(source)

    def _start_test(self, until: datetime, campaign_id: str | None, source: str) -> None:
        now = self.clock.now_ms()
        self.test = testmode.start(
            frozenset(self._btn),
            now_ms=now,
            now=self.clock.wall(),
            until=until,
            campaign_id=campaign_id,
            source=source,
            prev=self.test,
        )
        self._timers.cancel("test")
        if not self.test.active(now) or self.test.until_ms is None:
            log.warning("%s: test mode until %s is already over; ignored", self.unit.id, until)
            return
        deadline = self.test.until_ms
        self._timers.handles["test"] = self.sched.call_later((deadline - now) / 1000, self._expire_test)
        shown = (self.test.until or until).isoformat()  # capped at 15 minutes
        self.observe("test_mode", on=True, until=shown, campaign_id=campaign_id, source=source)

    def _expire_test(self) -> None:
        self._timers.handles.pop("test", None)
        now = self.clock.now_ms()
        if self.test.until_ms is not None and now < self.test.until_ms:  # timer fired early
            self._timers.handles["test"] = self.sched.call_later(
                (self.test.until_ms - now) / 1000, self._expire_test
            )
            return
        if self.test.on:
            self.test = testmode.off(self.test)
            self.observe("test_mode", on=False, reason="expired")

    def _stop_test(self, source: str) -> None:
        self._timers.cancel("test")
        if self.test.on:
            self.test = testmode.off(self.test)
            self.observe("test_mode", on=False, reason=f"off ({source})")
