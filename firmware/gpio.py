"""gpiozero glue: pin edges -> runtime samples, feedback patterns -> LED / buzzer.

All inputs use the Pi's internal pull-ups (a closed contact reads low) and no
gpiozero `bounce_time`: debouncing is done by the pure machine in
`stilalarm.firmware.inputs`, with the time of each edge. Edge callbacks run in gpiozero's
thread (or, on MockFactory, in the thread that drives the pin); they only read
the levels and `post` the sample to the runtime's event loop.

Pin factory: gpiozero picks the real one by default (lgpio on a Pi 5); `--sim` or
`GPIOZERO_PIN_FACTORY=mock` uses `MockFactory`. The simulator gives every unit its
own MockFactory (every unit uses the same pin numbers).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from stilalarm.firmware.feedback import Pattern
from stilalarm.inventory.places import Unit

Post = Callable[[Callable[[], None]], None]


class InputSink(Protocol):
    """What the pins feed (the unit runtime)."""

    def sample(
        self, button_id: str, no_high: bool, nc_high: bool | None, at_ms: int | None = None
    ) -> None: ...

    def tamper_sample(self, high: bool, at_ms: int | None = None) -> None: ...

    def test_key_sample(self, low: bool, at_ms: int | None = None) -> None: ...


def mock_factory() -> Any:
    """A fresh gpiozero MockFactory (simulated pins)."""
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


def use_mock_pins() -> Any:
    """Make MockFactory the default pin factory (for `--sim`); returns it."""
    from gpiozero import Device

    Device.pin_factory = mock_factory()
    return Device.pin_factory


def wants_mock(sim: bool) -> bool:
    """Whether to use simulated pins: `--sim` or GPIOZERO_PIN_FACTORY=mock."""
    return sim or os.environ.get("GPIOZERO_PIN_FACTORY", "").lower() == "mock"


class GpioInputs:
    """The unit's buttons, tamper switch and test key, wired to an InputSink."""

    def __init__(
        self,
        unit: Unit,
        sink: InputSink,
        post: Post,
        clock_ms: Callable[[], int],
        factory: Any = None,
    ) -> None:
        self._devices: list[Any] = []
        self._initial: list[Callable[[], None]] = []
        try:
            self._open(unit, sink, post, clock_ms, factory)
        except BaseException:
            self.close()  # a pin that failed half-way: release the ones already open
            raise

    def _open(
        self, unit: Unit, sink: InputSink, post: Post, clock_ms: Callable[[], int], factory: Any
    ) -> None:
        from gpiozero import DigitalInputDevice

        def device(pin: int) -> Any:
            d = DigitalInputDevice(pin, pull_up=True, bounce_time=None, pin_factory=factory)
            self._devices.append(d)
            return d

        def hook(devs: list[Any], make: Callable[[int], Callable[[], None]]) -> None:
            def changed() -> None:
                post(make(clock_ms()))

            for d in devs:
                d.when_activated = changed
                d.when_deactivated = changed
            self._initial.append(changed)

        for b in unit.buttons:
            if b.pin is None:
                raise ValueError(
                    f"unit {unit.id}: button {b.id} has no pin; only a Pi unit (via = gpio) has pins"
                )
            no = device(b.pin)
            nc = device(b.nc_pin) if b.nc_pin is not None else None

            def button_sample(at: int, bid: str = b.id, no: Any = no, nc: Any = nc) -> Callable[[], None]:
                no_high = not no.is_active
                nc_high = None if nc is None else not nc.is_active
                return lambda: sink.sample(bid, no_high, nc_high, at)

            hook([no] + ([nc] if nc is not None else []), button_sample)
        if unit.tamper_pin is not None:
            tamper = device(unit.tamper_pin)  # closed lid = contact closed = low

            def tamper_sample(at: int, d: Any = tamper) -> Callable[[], None]:
                high = not d.is_active
                return lambda: sink.tamper_sample(high, at)

            hook([tamper], tamper_sample)
        if unit.test_key_pin is not None:
            key = device(unit.test_key_pin)  # key closed = low = test mode

            def key_sample(at: int, d: Any = key) -> Callable[[], None]:
                low = bool(d.is_active)
                return lambda: sink.test_key_sample(low, at)

            hook([key], key_sample)

    def post_initial(self) -> None:
        """Feed the current levels once (a button pressed or a cable cut at boot counts)."""
        for fn in self._initial:
            fn()

    def close(self) -> None:
        for d in self._devices:
            d.close()
        self._devices.clear()


class GpioOutputs:
    """LED and buzzer (if fitted) showing feedback patterns."""

    def __init__(self, unit: Unit, factory: Any = None) -> None:
        from gpiozero import LED, Buzzer

        self.led: Any = None
        self.buzzer: Any = None
        try:
            if unit.led_pin is not None:
                self.led = LED(unit.led_pin, pin_factory=factory)
            if unit.buzzer_pin is not None:
                self.buzzer = Buzzer(unit.buzzer_pin, pin_factory=factory)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _apply(dev: Any, p: Pattern) -> None:
        if dev is None:
            return
        if p.is_off:
            dev.off()
        elif p.off_s == 0:
            dev.on()
        else:
            dev.blink(on_time=p.on_s, off_time=p.off_s, n=p.count, background=True)

    def show(self, led: Pattern, buzzer: Pattern) -> None:
        self._apply(self.led, led)
        self._apply(self.buzzer, buzzer)

    def close(self) -> None:
        for d in (self.led, self.buzzer):
            if d is not None:
                d.close()
