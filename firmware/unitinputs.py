"""Inputs: button pin levels, the tamper switch and the test key, through their debounce machines.

A press becomes an alarm (a pager acknowledgement on a lead unit) or, in test mode, a test event;
faults (wiring, stuck, tamper) are raised and cleared as events.
"""

from __future__ import annotations

from stilalarm.firmware import inputs, testmode
from stilalarm.firmware.unitcommands import UnitCommands
from stilalarm.firmware.unitwire import UnitWire
from stilalarm.inventory.kinds import UnitRole
from stilalarm.wire.messages import EventKind, FaultKind, UnitEvent


class UnitInputs(UnitWire, UnitCommands):
    """The inputs of a unit's runtime (they emit events and switch test mode)."""

    def sample(self, button_id: str, no_high: bool, nc_high: bool | None, at_ms: int | None = None) -> None:
        """The pin levels of a button changed (from a GPIO edge)."""
        b = self._btn[button_id]
        reading = inputs.classify(b.contact, no_high, nc_high)
        now = self._at(button_id, at_ms)
        st, fx = inputs.sample(self._timing[button_id], self.buttons[button_id], reading, now)
        self.buttons[button_id] = st
        self._button_effects(button_id, fx)
        self._arm_button(button_id)

    def _tick_button(self, button_id: str, deadline: int) -> None:
        self._timers.handles.pop(f"btn:{button_id}", None)
        now = self._at(button_id, max(self.clock.now_ms(), deadline))
        st, fx = inputs.advance(self._timing[button_id], self.buttons[button_id], now)
        self.buttons[button_id] = st
        self._button_effects(button_id, fx)
        self._arm_button(button_id)

    def _arm_button(self, button_id: str) -> None:
        key = f"btn:{button_id}"
        self._timers.cancel(key)
        d = inputs.next_deadline(self._timing[button_id], self.buttons[button_id])
        if d is not None and self.running:
            delay = max(0.0, (d - self.clock.now_ms()) / 1000)
            self._timers.handles[key] = self.sched.call_later(delay, lambda: self._tick_button(button_id, d))

    def _button_effects(self, button_id: str, fx: list[inputs.Effect]) -> None:
        for e in fx:
            if isinstance(e, inputs.Pressed):
                self._on_press(button_id, e)
            elif isinstance(e, inputs.Released):
                self.observe("release", button=button_id)
            elif isinstance(e, inputs.FaultRaised):
                self._emit(EventKind.FAULT, button_id, fault=e.fault, detected_ms=e.at_ms)
            elif isinstance(e, inputs.FaultCleared):
                self._emit(EventKind.FAULT_CLEARED, button_id, fault=e.fault, detected_ms=e.at_ms)

    def remote_press(self, button_id: str, detail: str = "") -> tuple[UnitEvent, bool]:
        """A press that arrived over the network (alarm-web: a desk phone's key, the panic page).

        The same test-mode rule and outbox as a pin press; returns the event and whether it is on
        disk (False: the outbox failed, the event is sent from memory only)."""
        now = self.clock.now_ms()
        ev = self._on_press(button_id, inputs.Pressed(started_ms=now, detected_ms=now), detail)
        p = self.pending.get(ev.event_id)
        return ev, p is None or p.durable

    def remote_fault(self, fault: FaultKind, raised: bool) -> UnitEvent:
        """A fault of the whole unit seen by the network side (alarm-web: a desk phone went silent)."""
        kind = EventKind.FAULT if raised else EventKind.FAULT_CLEARED
        return self._emit(kind, None, fault=fault, detected_ms=self.clock.now_ms())

    def _on_press(self, button_id: str, e: inputs.Pressed, detail: str = "") -> UnitEvent:
        campaign = None
        if self.test.is_test_press(button_id, e.detected_ms):
            kind = EventKind.TEST
            campaign = self.test.campaign_id
            self.test = testmode.record(self.test, button_id, e.detected_ms)
            if not self.test.active(e.detected_ms):
                self._timers.cancel("test")
                self.observe("test_mode", on=False, reason="all buttons tested")
        else:
            kind = EventKind.PAGER_ACK if self.unit.role is UnitRole.LEAD else EventKind.ALARM
            if button_id in self.test.armed:  # pressed again within 60 s of its test: real, stays live
                self.test = testmode.disarm(self.test, button_id)
                if not self.test.on:
                    self._timers.cancel("test")
                    self.observe("test_mode", on=False, reason="every button tested or live")
        return self._emit(
            kind,
            button_id,
            detected_ms=e.detected_ms,
            started_ms=e.started_ms,
            campaign_id=campaign,
            detail=detail,
        )

    def tamper_sample(self, high: bool, at_ms: int | None = None) -> None:
        """The tamper switch level changed (high = lid open)."""
        if self.tamper is None:
            return
        now = self._at("tamper", at_ms)
        self.tamper, changed = inputs.switch_sample(self.settings.tamper_settle_ms, self.tamper, high, now)
        self._tamper_changed(changed, now)

    def _tamper_changed(self, changed: bool | None, now: int) -> None:
        if changed is not None:
            kind = EventKind.FAULT if changed else EventKind.FAULT_CLEARED
            self._emit(kind, None, fault=FaultKind.TAMPER, detected_ms=now)
        self._arm_switch("tamper")

    def test_key_sample(self, low: bool, at_ms: int | None = None) -> None:
        """The local test key level changed (low = key closed = test mode on)."""
        if self.test_key is None:
            return
        now = self._at("key", at_ms)
        self.test_key, changed = inputs.switch_sample(
            self.settings.test_key_settle_ms, self.test_key, low, now
        )
        self._key_changed(changed)

    def _key_changed(self, changed: bool | None) -> None:
        if changed is True:
            self.set_local_test_mode(True, source="key")
        elif changed is False and self.test.source == "key":
            self.set_local_test_mode(False, source="key")
        self._arm_switch("key")

    def _arm_switch(self, which: str) -> None:
        self._timers.cancel(which)
        st = self.tamper if which == "tamper" else self.test_key
        settle = self.settings.tamper_settle_ms if which == "tamper" else self.settings.test_key_settle_ms
        d = inputs.switch_deadline(settle, st) if st is not None else None
        if d is None or not self.running:
            return

        def fire() -> None:
            self._timers.handles.pop(which, None)
            now = self._at(which, max(self.clock.now_ms(), d))
            if which == "tamper" and self.tamper is not None:
                self.tamper, changed = inputs.switch_advance(settle, self.tamper, now)
                self._tamper_changed(changed, now)
            elif which == "key" and self.test_key is not None:
                self.test_key, changed = inputs.switch_advance(settle, self.test_key, now)
                self._key_changed(changed)

        self._timers.handles[which] = self.sched.call_later(max(0.0, (d - self.clock.now_ms()) / 1000), fire)
