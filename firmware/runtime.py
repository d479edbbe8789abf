"""The protocol logic of one unit, shared by the real firmware and the simulator.

Inputs -> durable outbox -> wire; receipts, commands, heartbeat, feedback, test
mode. Everything outside is an injected port, so the same code runs on a Pi
(`wire.link.Link`, gpiozero pins, one outbox file) and 2,000 times in one
simulator process (a multiplexed MQTT client, MockFactory pins, one shared file):

- `Port.publish`       the link (the shell calls `link_up` / `link_down` / `on_message`)
- `Scheduler.call_later` timers (the shell's event loop)
- `Clock`              monotonic milliseconds and wall time
- `Outputs.show`       LED / buzzer
- `observe(name, fields)` observable changes (the simulator prints them as JSON lines)

Every method must be called from one thread (the shell's event loop).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from firmware import FIRMWARE_VERSION, feedback, inputs, testmode
from firmware.feedback import FeedbackState, Pattern
from firmware.inputs import ButtonState, InputTiming, SwitchState
from firmware.outbox import Outbox
from inventory.derived import UnitConfig
from inventory.model import Button, UnitRole
from wire.messages import (
    TEST_WINDOW_MAX_MIN,
    ContractError,
    EventKind,
    FaultKind,
    FeedbackCmd,
    Heartbeat,
    IdentifyCmd,
    InputHealth,
    LinkState,
    PageCmd,
    Receipt,
    TestModeCmd,
    UnitEvent,
    UnitStatus,
    encode,
    new_id,
    parse,
    parse_unit_command,
    utcnow,
)
from wire.topics import Topics, UnitChannel

log = logging.getLogger(__name__)

Observer = Callable[[str, dict[str, Any]], None]
Probe = Callable[[], tuple[float | None, int | None]]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable: ...


class Clock(Protocol):
    def now_ms(self) -> int:
        """Monotonic milliseconds."""
        ...

    def wall(self) -> datetime:
        """Current UTC time."""
        ...


class Port(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...


class Outputs(Protocol):
    def show(self, led: Pattern, buzzer: Pattern) -> None: ...


class SystemClock:
    """The real clocks."""

    def now_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def wall(self) -> datetime:
        return utcnow()


class SteppedClock:
    """Fault injection only (`clock` on the control channel): the wall clock `offset_s` off the
    true time, as after a bad NTP step or an RTC that drifted; the monotonic clock is untouched."""

    def __init__(self, base: Clock, offset_s: float) -> None:
        self.base = base
        self.offset_s = offset_s

    def now_ms(self) -> int:
        return self.base.now_ms()

    def wall(self) -> datetime:
        return self.base.wall() + timedelta(seconds=self.offset_s)


class NoOutputs:
    """A unit without LED or buzzer (or a test)."""

    def show(self, led: Pattern, buzzer: Pattern) -> None:
        pass


@dataclass(frozen=True)
class Settings:
    """Timing that is not in the inventory (defaults are the documented ones)."""

    fault_settle_ms: int = 200
    stuck_ms: int = 30_000
    tamper_settle_ms: int = 200
    test_key_settle_ms: int = 50
    retransmit_first_s: float = 2.0
    retransmit_max_s: float = 30.0
    heartbeat_offset_s: float | None = None  # first heartbeat after this (sim: random spread)
    firmware_version: str = FIRMWARE_VERSION


@dataclass
class _Pending:
    event: UnitEvent
    attempts: int
    detected_ms: int | None  # monotonic detection time (None: from a previous boot)
    next_due_ms: int | None = None
    durable: bool = True


@dataclass
class _Timers:
    handles: dict[str, Cancellable] = field(default_factory=dict)

    def cancel(self, key: str) -> None:
        h = self.handles.pop(key, None)
        if h is not None:
            h.cancel()

    def cancel_all(self) -> None:
        for h in self.handles.values():
            h.cancel()
        self.handles.clear()


def backoff_s(attempts: int, first_s: float, max_s: float) -> float:
    """Delay before the next retransmission after `attempts` transmissions."""
    return float(min(max_s, first_s * 2 ** max(0, attempts - 1)))


class UnitRuntime:
    """One unit's protocol logic (see the module docstring for the ports)."""

    def __init__(
        self,
        cfg: UnitConfig,
        *,
        outbox: Outbox,
        port: Port,
        scheduler: Scheduler,
        clock: Clock | None = None,
        outputs: Outputs | None = None,
        observe: Observer | None = None,
        probe: Probe | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.cfg = cfg
        self.unit = cfg.unit
        self.topics = Topics(cfg.site_id)
        self.outbox = outbox
        self.port = port
        self.sched = scheduler
        self.clock: Clock = clock or SystemClock()
        self.outputs: Outputs = outputs or NoOutputs()
        self._observe = observe
        self.probe = probe
        self.settings = settings or Settings()
        self.boot_id = new_id()
        self.up = False
        self.running = False
        self.pending: dict[uuid.UUID, _Pending] = {}
        now = self.clock.now_ms()
        self.started_ms = now
        self._btn: dict[str, Button] = {b.id: b for b in self.unit.buttons}
        self._timing: dict[str, InputTiming] = {
            b.id: InputTiming(
                debounce_ms=b.debounce_ms,
                min_hold_ms=b.min_hold_ms,
                fault_settle_ms=self.settings.fault_settle_ms,
                stuck_ms=self.settings.stuck_ms,
            )
            for b in self.unit.buttons
        }
        self.buttons: dict[str, ButtonState] = {
            b.id: inputs.initial(inputs.Reading.IDLE, now) for b in self.unit.buttons
        }
        self._last_eval: dict[str, int] = {}
        self.tamper: SwitchState | None = (
            inputs.switch_initial(False, now) if self.unit.tamper_pin is not None else None
        )
        self.test_key: SwitchState | None = (
            inputs.switch_initial(False, now) if self.unit.test_key_pin is not None else None
        )
        self.test = testmode.OFF
        self.fb = FeedbackState()
        self.shown: tuple[Pattern, Pattern] = (feedback.OFF, feedback.OFF)
        self._timers = _Timers()
        self._hb_seq = 0
        self._last_seq = 0
        # Fault injection only (`alarm-unit run --sim --control-stdin`, verb `crash`); production
        # never sets it. Called with "store" after the outbox write, before the publish, and with
        # "receipt" when a receipt arrives, before the outbox records it.
        self.crash_hook: Callable[[str, UnitEvent], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Load unreceipted events from the outbox (resent on the next link up) and start timers."""
        self.running = True
        for st in self.outbox.pending(self.unit.id):
            self.pending[st.event.event_id] = _Pending(st.event, st.attempts, None)
            self._last_seq = max(self._last_seq, st.event.seq)
        if self.pending:
            log.warning("%s: %d unreceipted event(s) from before; resending", self.unit.id, len(self.pending))
        self.outputs.show(feedback.OFF, feedback.OFF)
        first = self.settings.heartbeat_offset_s
        self._schedule("hb", self.unit.heartbeat_s if first is None else first, self._heartbeat)

    def stop(self) -> tuple[str, bytes]:
        """Stop all timers; returns the retained 'offline (shutdown)' status to publish last."""
        self.running = False
        self._timers.cancel_all()
        return self.last_words()

    def will(self) -> tuple[str, bytes]:
        """The last will: retained 'offline (lost)', set before connecting."""
        return self._status(LinkState.OFFLINE, "lost", at=None)

    def last_words(self) -> tuple[str, bytes]:
        """Retained 'offline (shutdown)' for a clean stop."""
        return self._status(LinkState.OFFLINE, "shutdown", at=self.clock.wall())

    def _status(self, state: LinkState, reason: str, at: datetime | None) -> tuple[str, bytes]:
        msg = UnitStatus.model_validate(
            {
                "unit_id": self.unit.id,
                "state": state,
                "boot_id": self.boot_id,
                "firmware_version": self.settings.firmware_version,
                "reason": reason,
                "at": at,
            }
        )
        return self.topics.unit_status(self.unit.id), encode(msg)

    def subscriptions(self) -> list[str]:
        """Topics the link must subscribe to (QoS1, before connecting)."""
        return [self.topics.unit_receipt(self.unit.id), self.topics.unit_cmd(self.unit.id)]

    # ------------------------------------------------------------------ link events
    def link_up(self) -> None:
        """Connected and subscribed: birth message, then every unreceipted event at once."""
        if not self.running:
            return
        self.up = True
        topic, payload = self._status(LinkState.ONLINE, "connected", at=self.clock.wall())
        self.port.publish(topic, payload, 1, True)
        self.observe("link", state="up")
        for p in sorted(self.pending.values(), key=lambda p: p.event.seq):
            self._transmit(p)
        self._arm_retransmit()

    def link_down(self, reason: str = "") -> None:
        """The connection is gone; events stay pending and go out on the next link up."""
        was = self.up
        self.up = False
        if was:
            self.observe("link", state="down", reason=reason)

    def on_message(self, topic: str, payload: bytes) -> None:
        """A message on one of `subscriptions()`. Bad input is logged and ignored."""
        if not self.running:
            return
        parsed = self.topics.parse_unit(topic)
        if parsed is None or parsed[0] != self.unit.id:
            log.warning("%s: message on unexpected topic %s ignored", self.unit.id, topic)
            return
        if parsed[1] is UnitChannel.RECEIPT:
            self._on_receipt(payload)
        elif parsed[1] is UnitChannel.CMD:
            self._on_command(payload)
        else:
            log.warning("%s: message on %s ignored", self.unit.id, topic)

    # ------------------------------------------------------------------ inputs
    def sample(self, button_id: str, no_high: bool, nc_high: bool | None, at_ms: int | None = None) -> None:
        """The pin levels of a button changed (from a GPIO edge)."""
        b = self._btn[button_id]
        reading = inputs.classify(b.contact, no_high, nc_high)
        now = self._at(button_id, at_ms)
        st, fx = inputs.sample(self._timing[button_id], self.buttons[button_id], reading, now)
        self.buttons[button_id] = st
        self._button_effects(button_id, fx)
        self._arm_button(button_id)

    def _at(self, key: str, at_ms: int | None) -> int:
        # never evaluate a machine backwards in time (an edge queued behind a timer)
        now = self.clock.now_ms() if at_ms is None else at_ms
        now = max(now, self._last_eval.get(key, now))
        self._last_eval[key] = now
        return now

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

    def _on_press(self, button_id: str, e: inputs.Pressed) -> None:
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
        self._emit(kind, button_id, detected_ms=e.detected_ms, started_ms=e.started_ms, campaign_id=campaign)

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

    # ------------------------------------------------------------------ outbox + wire
    def _emit(
        self,
        kind: EventKind,
        button_id: str | None,
        *,
        detected_ms: int,
        started_ms: int | None = None,
        fault: FaultKind | None = None,
        campaign_id: str | None = None,
    ) -> UnitEvent:
        """Store the event durably FIRST, then send it (and keep resending until receipted)."""
        now_ms = self.clock.now_ms()
        wall = self.clock.wall()
        occurred = wall - timedelta(milliseconds=max(0, now_ms - (started_ms or detected_ms)))

        def build(seq: int) -> UnitEvent:
            return UnitEvent(
                event_id=new_id(),
                unit_id=self.unit.id,
                kind=kind,
                button_id=button_id,
                fault=fault,
                seq=seq,
                boot_id=self.boot_id,
                occurred_at=occurred,
                sent_at=occurred,
                attempt=1,
                campaign_id=campaign_id,
            )

        durable = True
        coalesced: tuple[uuid.UUID, ...] = ()
        try:
            res = self.outbox.append(self.unit.id, build)
            ev, coalesced = res.event, res.coalesced
        except (sqlite3.Error, OSError):
            # Never lose the event because the disk failed: keep it in memory and send it.
            log.critical("%s: cannot store %s in the outbox; sending from memory only", self.unit.id, kind)
            ev = build(self._last_seq + 1)
            durable = False
        self._last_seq = max(self._last_seq, ev.seq)
        for old in coalesced:
            self.pending.pop(old, None)
        p = _Pending(ev, 0, detected_ms, durable=durable)
        self.pending[ev.event_id] = p
        fields: dict[str, Any] = {"event_id": str(ev.event_id), "button": button_id, "seq": ev.seq}
        if not durable:
            fields["durable"] = False
        if kind in (EventKind.FAULT, EventKind.FAULT_CLEARED):
            state = "raised" if kind is EventKind.FAULT else "cleared"
            self.observe("fault", fault=fault, state=state, **fields)
        else:
            if campaign_id is not None:
                fields["campaign_id"] = campaign_id
            self.observe(f"{kind.value}_stored", **fields)
        if self.crash_hook is not None:
            self.crash_hook("store", ev)
        self._transmit(p)
        self._arm_retransmit()
        return ev

    def _transmit(self, p: _Pending) -> None:
        if not self.up:
            p.next_due_ms = None  # goes out on the next link up
            return
        p.attempts += 1
        msg = p.event.model_copy(update={"attempt": p.attempts, "sent_at": self.clock.wall()})
        self.port.publish(self.topics.unit_event(self.unit.id), encode(msg), 1, False)
        s = self.settings
        p.next_due_ms = self.clock.now_ms() + int(
            1000 * backoff_s(p.attempts, s.retransmit_first_s, s.retransmit_max_s)
        )
        if p.durable:
            try:
                self.outbox.mark_sent(p.event.event_id, p.attempts)
            except sqlite3.Error:
                log.exception("%s: could not record the attempt count (ignored)", self.unit.id)
        if p.attempts > 1:
            ev = p.event
            log.info("%s: retransmitted %s %s (attempt %d)", self.unit.id, ev.kind, ev.event_id, p.attempts)

    def _pending_in_order(self) -> list[_Pending]:
        return sorted(self.pending.values(), key=lambda p: p.event.seq)

    def _arm_retransmit(self) -> None:
        self._timers.cancel("retx")
        due = [p.next_due_ms for p in self.pending.values() if p.next_due_ms is not None]
        if not due or not self.running:
            return
        delay = max(0.0, (min(due) - self.clock.now_ms()) / 1000)
        self._timers.handles["retx"] = self.sched.call_later(delay, self._retransmit_due)

    def _retransmit_due(self) -> None:
        self._timers.handles.pop("retx", None)
        now = self.clock.now_ms()
        for p in sorted(self.pending.values(), key=lambda p: p.event.seq):
            if p.next_due_ms is not None and p.next_due_ms <= now:
                self._transmit(p)
        self._arm_retransmit()

    def _on_receipt(self, payload: bytes) -> None:
        try:
            r = parse(Receipt, payload)
        except ContractError as exc:
            log.warning("%s: malformed receipt ignored: %s", self.unit.id, exc)
            return
        if r.unit_id != self.unit.id:
            log.warning("%s: receipt for unit %s ignored", self.unit.id, r.unit_id)
            return
        p = self.pending.pop(r.event_id, None)
        if p is None:
            log.info("%s: receipt for unknown or receipted event %s ignored", self.unit.id, r.event_id)
            return
        if self.crash_hook is not None:
            self.crash_hook("receipt", p.event)
        if p.durable:
            try:
                self.outbox.receipt(self.unit.id, r.event_id)
            except sqlite3.Error:
                log.exception("%s: could not remove %s (resent after restart)", self.unit.id, r.event_id)
        now = self.clock.now_ms()
        ev = p.event
        self.observe(
            "receipt",
            event_id=str(ev.event_id),
            kind=ev.kind.value,
            button=ev.button_id,
            incident_id=r.incident_id,
            duplicate=r.duplicate,
            attempts=p.attempts,
            latency_ms=None if p.detected_ms is None else now - p.detected_ms,
        )
        if ev.kind is EventKind.ALARM or (ev.kind is EventKind.TEST and r.incident_id is not None):
            self.fb = feedback.alarm_stored(self.fb)  # the console took a "test" as a real alarm
        elif ev.kind is EventKind.TEST:
            self.fb = feedback.test_recorded(self.fb, now)
        self._refresh_outputs()
        self._arm_retransmit()

    # ------------------------------------------------------------------ commands
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

    # ------------------------------------------------------------------ feedback
    def _refresh_outputs(self) -> None:
        now = self.clock.now_ms()
        self.fb = feedback.expire(self.fb, now)
        led, buzzer = feedback.outputs(self.fb, lead=self.unit.role is UnitRole.LEAD)
        if self.unit.buzzer_pin is None:
            buzzer = feedback.OFF
        if (led, buzzer) != self.shown:
            old_led, old_buzzer = self.shown
            self.shown = (led, buzzer)
            self.outputs.show(led, buzzer)
            if led != old_led:
                self.observe("led", pattern=led.name)
            if buzzer != old_buzzer:
                self.observe("buzzer", pattern=buzzer.name)
        self._timers.cancel("fb")
        d = feedback.next_deadline(self.fb)
        if d is not None and self.running:
            delay = max(0.0, (d - now) / 1000)
            self._timers.handles["fb"] = self.sched.call_later(delay, self._refresh_outputs)

    # ------------------------------------------------------------------ heartbeat + status
    def input_health(self) -> dict[str, InputHealth]:
        """Per button (and 'tamper': 'tamper' = lid open) health."""
        h = {bid: st.health for bid, st in self.buttons.items()}
        if self.tamper is not None:
            h["tamper"] = InputHealth.TAMPER if self.tamper.stable else InputHealth.OK
        return h

    def heartbeat(self) -> Heartbeat:
        """The heartbeat message as of now."""
        now = self.clock.now_ms()
        temp, dbm = self.probe() if self.probe is not None else (None, None)
        active = self.test.active(now)
        return Heartbeat(
            unit_id=self.unit.id,
            boot_id=self.boot_id,
            seq=self._hb_seq,
            sent_at=self.clock.wall(),
            interval_s=self.unit.heartbeat_s,
            uptime_s=(now - self.started_ms) / 1000,
            outbox_depth=len(self.pending),
            firmware_version=self.settings.firmware_version,
            test_mode=active,
            test_until=self.test.until if active else None,
            inputs=self.input_health(),
            cpu_temp_c=temp,
            wifi_dbm=dbm,
        )

    def _heartbeat(self) -> None:
        self._timers.handles.pop("hb", None)
        if not self.running:
            return
        self._schedule("hb", self.unit.heartbeat_s, self._heartbeat)
        if self.up:
            self.port.publish(self.topics.unit_heartbeat(self.unit.id), encode(self.heartbeat()), 0, False)
            self._hb_seq += 1

    def _schedule(self, key: str, delay_s: float, fn: Callable[[], None]) -> None:
        self._timers.cancel(key)
        self._timers.handles[key] = self.sched.call_later(delay_s, fn)

    def status(self) -> dict[str, Any]:
        """A summary for `status` lines and logs."""
        now = self.clock.now_ms()
        return {
            "link": "up" if self.up else "down",
            "outbox_depth": len(self.pending),
            "pending": [str(p.event.event_id) for p in self._pending_in_order()],
            "inputs": {k: v.value for k, v in self.input_health().items()},
            "test_mode": self.test.active(now),
            "led": self.shown[0].name,
            "boot_id": str(self.boot_id),
        }

    def observe(self, name: str, **fields: Any) -> None:
        """Report an observable change (log line; the simulator prints JSON)."""
        log.debug("%s: %s %s", self.unit.id, name, fields)
        if self._observe is not None:
            self._observe(name, fields)
