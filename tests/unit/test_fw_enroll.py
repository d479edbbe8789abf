"""The enrolling Pi's LED (gpiozero MockFactory) and its fallback when the pin cannot be opened."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from stilalarm.firmware.enroll import Blinker
from stilalarm.wire.enroll import blink_plan
from tests.harness import wait_until


def test_the_led_blinks_the_code_and_goes_dark_when_done() -> None:
    factory = MockFactory()
    b = Blinker(17, "123456", factory)
    try:
        assert b.active and b.steps == blink_plan("123456")
        pin = factory.pin(17)
        wait_until(lambda: pin.state == 1, 5, "the long flash that starts the code")
    finally:
        b.close()
    assert factory.pin(17).state == 0


class _Broken:
    """A pin factory whose pins cannot be opened (like a Pi without lgpio)."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("no pin library")


def test_a_pin_that_cannot_be_opened_does_not_stop_enrolment(capsys: pytest.CaptureFixture[str]) -> None:
    b = Blinker(17, "123456", _Broken())
    assert not b.active
    b.close()  # nothing to close, no error
    assert "LED on GPIO17 cannot be used" in capsys.readouterr().out


def test_no_led_pin_no_blinking() -> None:
    b = Blinker(None, "123456", MockFactory())
    assert not b.active
    b.close()
