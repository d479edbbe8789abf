"""Pins that cannot be opened: what the unit says, the `pins` fault raised once, retries, and the
clear once they open (the pin watch with MockFactory and a failing factory; no sleeping)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.exc import BadPinFactory
from gpiozero.pins.mock import MockFactory

from stilalarm.firmware import feedback
from stilalarm.firmware.pinwatch import MARKER, PinWatch, SwitchOutputs, diagnose
from stilalarm.wire.messages import FaultKind, UnitEvent
from tests.unit.test_fw_runtime import config


@pytest.fixture
def mock() -> Iterator[MockFactory]:
    old = Device.pin_factory
    f = MockFactory()
    yield f
    f.reset()
    Device.pin_factory = old


class Sink:
    """Records what the watch tells the runtime."""

    def __init__(self) -> None:
        self.faults: list[tuple[FaultKind, bool]] = []
        self.samples: list[str] = []

    def remote_fault(self, fault: FaultKind, raised: bool) -> UnitEvent:
        self.faults.append((fault, raised))
        return None  # type: ignore[return-value]  # the watch does not use it

    def sample(self, button_id: str, no_high: bool, nc_high: bool | None, at_ms: int | None = None) -> None:
        self.samples.append(button_id)

    def tamper_sample(self, high: bool, at_ms: int | None = None) -> None:
        self.samples.append("tamper")

    def test_key_sample(self, low: bool, at_ms: int | None = None) -> None:
        self.samples.append("key")


class Timers:
    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.due.append((delay, fn))

    def fire(self) -> None:
        _, fn = self.due.pop(0)
        fn()


def watch(tmp: Path, sink: Sink, timers: Timers, factory: Callable[[], Any]) -> PinWatch:
    return PinWatch(
        config("spreekkamer-1").unit,
        sink,
        lambda fn: fn(),
        lambda: 0,
        tmp,
        timers.call_later,
        factory=factory,
    )


def failing_then(mock: MockFactory, failures: int) -> Callable[[], Any]:
    left = [failures]

    def factory() -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise BadPinFactory("Unable to load any default pin factory!")
        return mock

    return factory


def test_unreadable_pins_raise_the_fault_once_retry_and_clear_when_they_open(
    mock: MockFactory, tmp_path: Path
) -> None:
    sink, timers = Sink(), Timers()
    w = watch(tmp_path, sink, timers, failing_then(mock, 3))
    w.start()
    assert sink.faults == [(FaultKind.PINS, True)] and (tmp_path / MARKER).exists()
    assert not w.ready and [d for d, _ in timers.due] == [30.0]
    timers.fire()
    timers.fire()
    assert sink.faults == [(FaultKind.PINS, True)]  # not raised again at every attempt
    timers.fire()  # fourth attempt: the pins open
    assert w.ready and timers.due == []
    assert sink.faults == [(FaultKind.PINS, True), (FaultKind.PINS, False)]
    assert not (tmp_path / MARKER).exists()
    assert "knop" in sink.samples  # the current levels were read at once
    w.close()


def test_a_later_run_remembers_the_raised_fault(mock: MockFactory, tmp_path: Path) -> None:
    sink, timers = Sink(), Timers()
    watch(tmp_path, sink, timers, failing_then(mock, 1)).start()
    assert sink.faults == [(FaultKind.PINS, True)]
    # the process restarts, still without pins: no second raise
    sink2 = Sink()
    w2 = watch(tmp_path, sink2, Timers(), failing_then(mock, 1))
    w2.start()
    assert sink2.faults == []
    # a run that reads its pins at once clears it; a run after that says nothing
    sink3 = Sink()
    w3 = watch(tmp_path, sink3, Timers(), lambda: mock)
    w3.start()
    assert sink3.faults == [(FaultKind.PINS, False)]
    w3.close()
    sink4 = Sink()
    w4 = watch(tmp_path, sink4, Timers(), lambda: mock)
    w4.start()
    assert sink4.faults == []
    w4.close()


def test_outputs_show_the_last_pattern_once_the_pins_open(mock: MockFactory, tmp_path: Path) -> None:
    sink, timers = Sink(), Timers()
    outs = SwitchOutputs()
    w = PinWatch(
        config("balie-1").unit,
        sink,
        lambda fn: fn(),
        lambda: 0,
        tmp_path,
        timers.call_later,
        factory=failing_then(mock, 1),
        outputs=outs,
    )
    w.start()
    outs.show(
        feedback.Pattern("steady", on_s=1.0, off_s=0.0), feedback.OFF
    )  # the runtime shows feedback meanwhile
    timers.fire()
    assert w.ready and outs.real is not None and outs.real.led is not None
    assert outs.real.led.is_lit
    w.close()


def test_the_diagnosis_says_what_to_do() -> None:
    no_chip = diagnose(BadPinFactory("Unable to load any default pin factory!"), gpiochips=[])
    assert "no GPIO chip" in no_chip and "--sim" in no_chip
    denied = diagnose(PermissionError(13, "Permission denied"), gpiochips=["/dev/gpiochip0"])
    assert "gpio" in denied and "group" in denied
    missing = diagnose(
        ModuleNotFoundError("No module named 'lgpio'"), gpiochips=["/dev/gpiochip0"], lgpio=False
    )
    assert "apt install python3-lgpio" in missing
