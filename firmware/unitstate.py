"""The state of one unit's runtime and the helpers every part of it uses.

`UnitState` holds what `UnitRuntime` is made of: the injected ports (see `stilalarm.firmware.ports`),
the input machines, test mode, feedback and the pending events. The parts build on it:
`stilalarm.firmware.unitwire` (outbox + wire), `stilalarm.firmware.unitcommands` (commands, test mode),
`stilalarm.firmware.unitinputs` (buttons, tamper, test key) and `stilalarm.firmware.runtime` (lifecycle, link,
heartbeat). Every method must be called from one thread (the shell's event loop).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stilalarm.firmware import feedback, inputs, testmode
from stilalarm.firmware.feedback import FeedbackState, Pattern
from stilalarm.firmware.inputs import ButtonState, InputTiming, SwitchState
from stilalarm.firmware.outbox import Outbox
from stilalarm.firmware.ports import (
    Clock,
    NoOutputs,
    Observer,
    Outputs,
    Port,
    Probe,
    Scheduler,
    Settings,
    SystemClock,
    Timers,
)
from stilalarm.inventory.derived import UnitConfig
from stilalarm.inventory.kinds import UnitRole
from stilalarm.inventory.places import Button
from stilalarm.wire.messages import UnitConfigPush, UnitEvent, new_id
from stilalarm.wire.topics import Topics

# one logger for the whole runtime, whichever part logs
log = logging.getLogger("stilalarm.firmware.runtime")


@dataclass
class Pending:
    """An event sent (or to send) and not yet receipted."""

    event: UnitEvent
    attempts: int
    detected_ms: int | None  # monotonic detection time (None: from a previous boot)
    next_due_ms: int | None = None
    durable: bool = True


class UnitState:
    """One unit's runtime state; the parts of `UnitRuntime` add the behaviour."""

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
        self.pending: dict[uuid.UUID, Pending] = {}
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
        self._timers = Timers()
        self._hb_seq = 0
        self._hb_sent_ms: int | None = None  # when the last heartbeat went out (monotonic)
        self._last_seq = 0
        # Fault injection only (`alarm-unit run --sim --control-stdin`, verb `crash`); production
        # never sets it. Called with "store" after the outbox write, before the publish, and with
        # "receipt" when a receipt arrives, before the outbox records it.
        self.crash_hook: Callable[[str, UnitEvent], None] | None = None
        # Config pushed by the console (unit/U/config, `stilalarm.firmware.fleetconfig`): the version
        # applied (None: the rendered file only), where the shell stores an applied push (raises
        # OSError when it cannot: then the push is refused), and what it does after one is applied
        # (re-open the pins when their layout changed).
        self.config_serial: int | None = None
        self.config_version: str | None = None
        self.store_config: Callable[[UnitConfigPush], None] | None = None
        self.on_reconfigured: Callable[[UnitConfig, bool], None] | None = None
        self._config_refused: str | None = None  # digest of the last refused push (said once)

    def observe(self, name: str, **fields: Any) -> None:
        """Report an observable change (log line; the simulator prints JSON)."""
        log.debug("%s: %s %s", self.unit.id, name, fields)
        if self._observe is not None:
            self._observe(name, fields)

    def _schedule(self, key: str, delay_s: float, fn: Callable[[], None]) -> None:
        self._timers.cancel(key)
        self._timers.handles[key] = self.sched.call_later(delay_s, fn)

    def _at(self, key: str, at_ms: int | None) -> int:
        # never evaluate a machine backwards in time (an edge queued behind a timer)
        now = self.clock.now_ms() if at_ms is None else at_ms
        now = max(now, self._last_eval.get(key, now))
        self._last_eval[key] = now
        return now

    def _refresh_outputs(self) -> None:
        """Show the feedback state on LED and buzzer, and arm its next change."""
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
