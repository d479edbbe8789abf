"""Control lines for simulated units, and the actuator that drives their MockFactory pins.

Used by `alarm-sim` (many units) and `alarm-unit run --sim --control-stdin` (one
unit). The actuator acts like a person or a broken cable would: it only changes
pin levels; everything after that (debounce, hold, outbox, wire) is the real code.

Lines (one per command, `#` starts a comment):

    press UNIT [BUTTON]          press and hold past min_hold (+50 ms), then release
    hold UNIT SECONDS [BUTTON]   press and hold SECONDS, then release
    release UNIT                 release every button now
    cut UNIT [BUTTON]            cable cut: every contact of the button(s) open
    short UNIT [BUTTON]          short: every contact of the button(s) closed
    restore UNIT                 every input back to idle (cable repaired, lid closed)
    tamper UNIT                  open the enclosure lid (tamper switch)
    test-key UNIT on|off         turn the local test key (if the unit has one)
    status UNIT                  print the unit's status line
    kill UNIT                    the unit dies without last words (simulator only)
    crash UNIT store|receipt     alarm-unit --control-stdin only (fault injection): the process
                                 SIGKILLs itself at the next alarm, right after the outbox write
                                 and before the publish (store), or when its receipt arrives and
                                 before the outbox records it (receipt)
    clock UNIT SECONDS           alarm-unit --control-stdin only (fault injection): the unit's wall
                                 clock steps to SECONDS (signed) off the true time; 0 puts it right
    quit                         stop cleanly (offline status for every unit)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from stilalarm.inventory.kinds import Contact
from stilalarm.inventory.places import Button, Unit

VERBS_WITH_UNIT = (
    "press",
    "hold",
    "release",
    "cut",
    "short",
    "restore",
    "tamper",
    "test-key",
    "status",
    "kill",
    "crash",
    "clock",
)
CLOCK_MAX_S = 20 * 365 * 86400.0  # a clock step of at most 20 years either way
CRASH_POINTS = ("store", "receipt")
TRANSIT_S = 0.003  # a dual button passes through both-open / both-closed this long while switching


class ControlError(ValueError):
    """A control line that cannot be understood; the message shows the right form."""


@dataclass(frozen=True)
class Control:
    """One parsed control line."""

    verb: str
    unit: str | None = None
    button: str | None = None
    seconds: float | None = None
    on: bool | None = None
    point: str | None = None


def parse_control(line: str) -> Control | None:
    """Parse a line; None for blank lines and comments; ControlError if malformed."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    verb, args = words[0].lower(), words[1:]
    if verb == "quit":
        if args:
            raise ControlError("usage: quit")
        return Control("quit")
    if verb not in VERBS_WITH_UNIT:
        raise ControlError(f"unknown command {verb!r}; use one of: {', '.join(VERBS_WITH_UNIT)}, quit")
    if not args:
        raise ControlError(f"usage: {verb} UNIT ...")
    unit, rest = args[0], args[1:]
    if verb == "hold":
        if not rest:
            raise ControlError("usage: hold UNIT SECONDS [BUTTON]")
        try:
            seconds = float(rest[0])
        except ValueError:
            raise ControlError(f"hold: {rest[0]!r} is not a number of seconds") from None
        if not 0 < seconds <= 3600:
            raise ControlError("hold: SECONDS must be between 0 and 3600")
        if len(rest) > 2:
            raise ControlError("usage: hold UNIT SECONDS [BUTTON]")
        return Control(verb, unit, rest[1] if len(rest) == 2 else None, seconds=seconds)
    if verb == "test-key":
        if len(rest) != 1 or rest[0] not in ("on", "off"):
            raise ControlError("usage: test-key UNIT on|off")
        return Control(verb, unit, on=rest[0] == "on")
    if verb == "clock":
        try:
            offset = float(rest[0]) if len(rest) == 1 else None
        except ValueError:
            offset = None
        if offset is None or not abs(offset) <= CLOCK_MAX_S:
            raise ControlError("usage: clock UNIT SECONDS (signed, at most 20 years either way)")
        return Control(verb, unit, seconds=offset)
    if verb == "crash":
        if len(rest) != 1 or rest[0] not in CRASH_POINTS:
            raise ControlError("usage: crash UNIT store|receipt")
        return Control(verb, unit, point=rest[0])
    if verb in ("press", "cut", "short"):
        if len(rest) > 1:
            raise ControlError(f"usage: {verb} UNIT [BUTTON]")
        return Control(verb, unit, rest[0] if rest else None)
    if rest:
        raise ControlError(f"usage: {verb} UNIT")
    return Control(verb, unit)


CallLater = Callable[[float, Callable[[], None]], Any]


class PinActuator:
    """Drives one simulated unit's pins (MockFactory) like a person or a broken cable."""

    def __init__(self, unit: Unit, factory: Any, call_later: CallLater) -> None:
        self.unit = unit
        self.factory = factory
        self.call_later = call_later

    def _pin(self, n: int) -> Any:
        return self.factory.pin(n)

    def _set(self, n: int | None, high: bool) -> None:
        if n is None:
            return
        p = self._pin(n)
        if bool(p.state) != high:
            p.drive_high() if high else p.drive_low()

    def button(self, button_id: str | None) -> Button:
        """The named button, or the unit's first; ControlError if unknown."""
        if button_id is None:
            return self.unit.buttons[0]
        for b in self.unit.buttons:
            if b.id == button_id:
                return b
        raise ControlError(f"unit {self.unit.id} has no button {button_id!r}")

    def idle(self) -> None:
        """Every input at rest: NO open, NC closed, lid closed, test key off."""
        for b in self.unit.buttons:
            self._idle(b)
        self._set(self.unit.tamper_pin, False)
        self._set(self.unit.test_key_pin, True)

    def _idle(self, b: Button) -> None:
        if b.contact is Contact.NC:
            self._set(b.pin, False)
        else:
            self._set(b.pin, True)
            self._set(b.nc_pin, False)

    def down(self, b: Button) -> None:
        """Press (dual: the NC contact opens first, then the NO contact closes)."""
        if b.contact is Contact.NO:
            self._set(b.pin, False)
        elif b.contact is Contact.NC:
            self._set(b.pin, True)
        else:
            self._set(b.nc_pin, True)
            self.call_later(TRANSIT_S, lambda: self._set(b.pin, False))

    def up(self, b: Button) -> None:
        """Release (dual: the NO contact opens first, then the NC contact closes)."""
        if b.contact is Contact.DUAL:
            self._set(b.pin, True)
            self.call_later(TRANSIT_S, lambda: self._set(b.nc_pin, False))
        else:
            self._idle(b)

    def press(self, button_id: str | None = None, seconds: float | None = None) -> Button:
        """Press and release after `seconds` (default: min_hold + 50 ms)."""
        b = self.button(button_id)
        hold = seconds if seconds is not None else (b.min_hold_ms + 50) / 1000
        self.down(b)
        self.call_later(TRANSIT_S + hold, lambda: self.up(b))
        return b

    def release(self) -> None:
        for b in self.unit.buttons:
            self.up(b)

    def cut(self, button_id: str | None = None) -> None:
        """Every contact open (a cut cable). For an NC button this looks like a press."""
        for b in self._targets(button_id):
            self._set(b.pin, True)
            self._set(b.nc_pin, True)

    def short(self, button_id: str | None = None) -> None:
        """Every contact closed (a shorted cable). For an NO button this looks like a press."""
        for b in self._targets(button_id):
            self._set(b.pin, False)
            self._set(b.nc_pin, False)

    def restore(self) -> None:
        self.idle()

    def tamper(self) -> None:
        if self.unit.tamper_pin is None:
            raise ControlError(f"unit {self.unit.id} has no tamper switch")
        self._set(self.unit.tamper_pin, True)

    def test_key(self, on: bool) -> None:
        if self.unit.test_key_pin is None:
            raise ControlError(f"unit {self.unit.id} has no test key")
        self._set(self.unit.test_key_pin, not on)

    def _targets(self, button_id: str | None) -> tuple[Button, ...]:
        return self.unit.buttons if button_id is None else (self.button(button_id),)


class JsonLines:
    """Observable changes as one flushed JSON object per line: {"ts", "unit", "event", ...}."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def emit(self, unit: str | None, event: str, **fields: Any) -> None:
        rec: dict[str, Any] = {"ts": round(time.time(), 6), "unit": unit, "event": event}
        rec.update(fields)
        try:
            self.out.write(json.dumps(rec, default=str, separators=(", ", ": ")) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):  # the reader went away; nothing to tell anyone
            pass
