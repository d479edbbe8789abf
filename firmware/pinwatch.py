"""Opening the unit's pins, and what happens when they cannot be read.

A Pi without a pin library (no `python3-lgpio`), a machine without GPIO, or a service user without
access to `/dev/gpiochip*` used to end `alarm-unit run` with a raw gpiozero traceback, and under
`Restart=always` it crash-looped without a word to anyone. Now the unit:
- says what is missing and what to do (log line at CRITICAL and stderr);
- stays up and connected, and raises the unit fault `pins` ("knoppen onleesbaar") through its
  outbox, so facilities see it and the room shows as unprotected;
- tries again every `retry_s`; once the pins open, it clears the fault and reads them.

A marker file in the state directory remembers that the fault was raised, so a later run that can
read its pins clears it (and a run that still cannot does not raise it twice).
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from stilalarm.firmware import gpio
from stilalarm.firmware.feedback import Pattern
from stilalarm.inventory.places import Unit
from stilalarm.wire.messages import FaultKind, UnitEvent

log = logging.getLogger("alarm-unit")

MARKER = "pins-unreadable"
"""File in the state directory: the `pins` fault was raised and not yet cleared."""

RETRY_S = 30.0
"""Seconds between two attempts to open the pins."""


class FaultSink(gpio.InputSink, Protocol):
    """What the watch needs of the unit runtime: its inputs, and unit faults through the outbox."""

    def remote_fault(self, fault: FaultKind, raised: bool) -> UnitEvent: ...


def diagnose(exc: BaseException, gpiochips: list[str] | None = None, lgpio: bool | None = None) -> str:
    """What is missing and what to do, for a failure to open the pins (one sentence or two); the
    GPIO chips and whether lgpio is installed are looked up unless given."""
    chips = sorted(glob.glob("/dev/gpiochip*")) if gpiochips is None else gpiochips
    has_lgpio = importlib.util.find_spec("lgpio") is not None if lgpio is None else lgpio
    name = type(exc).__name__
    text = f"{name}: {exc}"
    if isinstance(exc, PermissionError) or "ermission" in str(exc):
        return (
            f"cannot open the GPIO chip ({text}). Add the service user to the group 'gpio' "
            "(the service file stilalarm-unit.service runs it with Group=gpio) and restart."
        )
    if not chips:
        return (
            f"this machine has no GPIO chip (/dev/gpiochip* is missing; {text}). alarm-unit reads "
            "the buttons on a Raspberry Pi; elsewhere run it with --sim for simulated pins."
        )
    if not has_lgpio:
        return (
            f"the pin library lgpio is not installed ({text}). Install it: "
            "`apt install python3-lgpio` (Raspberry Pi OS and Debian), then restart the service; "
            "or run with --sim for simulated pins."
        )
    if "in use" in str(exc).lower() or name == "GPIOPinInUse":
        return f"a pin of this unit is used by another program ({text}). Stop that program, then restart."
    return f"the pins cannot be opened ({text}). Check the wiring config's pin numbers and python3-lgpio."


class SwitchOutputs:
    """The runtime's outputs before and after the pins open: remembers the last pattern and shows
    it as soon as the LED and buzzer exist."""

    def __init__(self) -> None:
        self.real: gpio.GpioOutputs | None = None
        self._last: tuple[Pattern, Pattern] | None = None

    def attach(self, real: gpio.GpioOutputs) -> None:
        self.real = real
        if self._last is not None:
            real.show(*self._last)

    def show(self, led: Pattern, buzzer: Pattern) -> None:
        self._last = (led, buzzer)
        if self.real is not None:
            self.real.show(led, buzzer)

    def close(self) -> None:
        if self.real is not None:
            self.real.close()


class PinWatch:
    """Opens the pins of `unit` for `sink`; on failure says why, raises `pins` and retries."""

    def __init__(
        self,
        unit: Unit,
        sink: FaultSink,
        post: gpio.Post,
        clock_ms: Callable[[], int],
        state_dir: Path,
        call_later: Callable[[float, Callable[[], None]], Any],
        *,
        factory: Callable[[], Any] = lambda: None,
        retry_s: float = RETRY_S,
        outputs: SwitchOutputs | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        self.unit = unit
        self.sink = sink
        self.post = post
        self.clock_ms = clock_ms
        self.marker = state_dir / MARKER
        self.call_later = call_later
        self.factory = factory
        self.retry_s = retry_s
        self.on_open = on_open
        self.outputs = outputs or SwitchOutputs()
        self.inputs: gpio.GpioInputs | None = None
        self.attempts = 0
        self._said: str | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        """Whether the pins are open and read."""
        return self.inputs is not None

    def start(self) -> None:
        """First attempt (call on the event loop, after the runtime started)."""
        self._attempt()

    def _attempt(self) -> None:
        if self._closed or self.ready:
            return
        self.attempts += 1
        outs: gpio.GpioOutputs | None = None
        try:
            pf = self.factory()
            outs = gpio.GpioOutputs(self.unit, pf)
            ins = gpio.GpioInputs(self.unit, self.sink, self.post, self.clock_ms, pf)
        except Exception as exc:  # gpiozero raises many kinds (BadPinFactory, PinInvalidPin, OSError, ...)
            if outs is not None:
                outs.close()
            self._failed(exc)
            return
        self.inputs = ins
        self.outputs.attach(outs)
        if self.on_open is not None:
            self.on_open()  # the simulator drives its idle levels before the first reading
        ins.post_initial()
        if self.marker.exists():
            self.sink.remote_fault(FaultKind.PINS, raised=False)
            self._unmark()
        if self.attempts > 1 or self._said is not None:
            log.warning(
                "unit %s: the pins can be read again (attempt %d); fault 'pins' cleared",
                self.unit.id,
                self.attempts,
            )

    def _failed(self, exc: BaseException) -> None:
        why = diagnose(exc)
        if why != self._said:
            self._said = why
            line = f"unit {self.unit.id}: BUTTONS UNREADABLE, this room is not protected: {why}"
            log.critical("%s (trying again every %g s)", line, self.retry_s)
        elif self.attempts % 20 == 0:  # not every attempt: a journal line per ten minutes at the default
            log.warning("unit %s: pins still unreadable (attempt %d): %s", self.unit.id, self.attempts, why)
        if not self.marker.exists():
            self.sink.remote_fault(FaultKind.PINS, raised=True)
            self._mark()
        self.call_later(self.retry_s, self._attempt)

    def _mark(self) -> None:
        try:
            self.marker.touch()
        except OSError as exc:  # the fault is in the outbox all the same; a later clear may repeat
            log.warning("cannot write %s: %s", self.marker, exc)

    def _unmark(self) -> None:
        try:
            os.unlink(self.marker)
        except OSError as exc:
            log.warning("cannot remove %s: %s", self.marker, exc)

    def reopen(self, unit: Unit) -> None:
        """The unit's pin layout changed (a config from the console): release the pins and open the
        new ones at once. The input machines stay in the runtime; the first reading of each pin
        follows right after the open (`post_initial`)."""
        if self._closed:
            return
        if self.inputs is not None:
            self.inputs.close()
            self.inputs = None
        if self.outputs.real is not None:
            self.outputs.real.close()
            self.outputs.real = None
        self.unit = unit
        self.attempts = 0
        self._said = None
        self._attempt()

    def close(self) -> None:
        """Stop retrying and release the pins."""
        self._closed = True
        if self.inputs is not None:
            self.inputs.close()
        self.outputs.close()
