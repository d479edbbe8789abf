"""Pure input state machines: contact levels in, press / fault effects out.

No clock, no GPIO: every function takes the time (`now`, integer milliseconds on a
monotonic clock) and returns a new state plus the effects it caused. The shell
(`stilalarm.firmware.gpio` + `stilalarm.firmware.runtime`) feeds edges as samples and calls `advance`
at `next_deadline` to evaluate pending holds.

Button semantics (see docs/FIRMWARE.md):

- A raw reading is classified per contact type: NO (pressed = pin low), NC
  (pressed = pin high), dual supervised (idle = NO high & NC low, pressed = NO low
  & NC high, both high = cable cut, both low = short).
- Debounce: a reading counts once it has been stable `debounce_ms`; blips shorter
  than that are ignored in both directions (chatter neither starts nor ends a press).
- Minimum hold: a press is reported once the debounced reading has been PRESSED
  for `min_hold_ms` measured from the start of the run that made it PRESSED, and the
  contact is still pressed at that moment. One report per press; a new press after
  a debounced release is reported again.
- Faults (cut / short) must be stable `fault_settle_ms` (a dual button passes
  through both-open or both-closed while switching); they are reported as faults,
  never as presses, and cleared once the contact is healthy for as long again.
- Stuck: pressed continuously for `stuck_ms` (e.g. a jammed button or a cut NC
  cable) after the press was reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from stilalarm.inventory.kinds import Contact
from stilalarm.wire.messages import FaultKind, InputHealth


class Reading(StrEnum):
    """What the contacts of one button say right now."""

    IDLE = "idle"
    PRESSED = "pressed"
    CUT = "cut"
    SHORT = "short"


_HEALTHY = (Reading.IDLE, Reading.PRESSED)


def classify(contact: Contact, no_high: bool, nc_high: bool | None = None) -> Reading:
    """Classify pin levels (pull-ups: a closed contact reads low).

    For NO and NC buttons `no_high` is the level of the only pin (`Button.pin`).
    """
    if contact is Contact.NO:
        return Reading.IDLE if no_high else Reading.PRESSED
    if contact is Contact.NC:
        return Reading.PRESSED if no_high else Reading.IDLE
    if nc_high is None:
        raise ValueError("a dual-contact button needs the NC pin level")
    if no_high and not nc_high:
        return Reading.IDLE
    if not no_high and nc_high:
        return Reading.PRESSED
    return Reading.CUT if no_high else Reading.SHORT


@dataclass(frozen=True)
class InputTiming:
    """Timing of one button, in milliseconds."""

    debounce_ms: int = 10
    min_hold_ms: int = 50
    fault_settle_ms: int = 200
    stuck_ms: int = 30_000


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class Pressed:
    """A real press: held `min_hold_ms`. `started_ms` = when the contact closed."""

    started_ms: int
    detected_ms: int


@dataclass(frozen=True)
class Released:
    """The (reported) press ended."""

    at_ms: int


@dataclass(frozen=True)
class FaultRaised:
    """The input went bad (cut, short, stuck, tamper)."""

    fault: FaultKind
    at_ms: int


@dataclass(frozen=True)
class FaultCleared:
    """The input is healthy again."""

    fault: FaultKind
    at_ms: int


Effect = Pressed | Released | FaultRaised | FaultCleared


# --------------------------------------------------------------------------- button machine


@dataclass(frozen=True)
class ButtonState:
    """State of one button's machine. Build with `initial`."""

    raw: Reading
    raw_since: int
    stable: Reading
    health_since: int  # when raw last changed between healthy / cut / short
    press_start: int | None = None
    press_reported: bool = False
    stuck_reported: bool = False
    fault: Reading | None = None  # CUT or SHORT once reported

    @property
    def health(self) -> InputHealth:
        """Health as the heartbeat reports it."""
        if self.stuck_reported:
            return InputHealth.STUCK
        if self.fault is Reading.CUT:
            return InputHealth.CUT
        if self.fault is Reading.SHORT:
            return InputHealth.SHORT
        if self.stable is Reading.PRESSED:
            return InputHealth.PRESSED
        return InputHealth.OK

    def with_raw(self, reading: Reading, now: int) -> ButtonState:
        """The same state with a new raw reading at `now` (no deadline evaluated)."""
        if reading is self.raw:
            return self
        same_class = _health_class(reading) is _health_class(self.raw)
        since = self.health_since if same_class else now
        return replace(self, raw=reading, raw_since=now, health_since=since)


def initial(reading: Reading, now: int) -> ButtonState:
    """A machine that has just started and sees `reading`.

    A button that is already pressed at start is a press (it is not assumed idle):
    the start counts as the moment the contact closed.
    """
    return ButtonState(raw=Reading.IDLE, raw_since=now, stable=Reading.IDLE, health_since=now).with_raw(
        reading, now
    )


def _health_class(r: Reading) -> Reading:
    return Reading.IDLE if r in _HEALTHY else r


def _fault_kind(r: Reading) -> FaultKind:
    return FaultKind.CUT if r is Reading.CUT else FaultKind.SHORT


def advance(t: InputTiming, s: ButtonState, now: int) -> tuple[ButtonState, list[Effect]]:
    """Evaluate every deadline that has passed at `now`."""
    fx: list[Effect] = []
    # 1. debounce: the raw reading becomes the stable one once it held long enough
    if s.raw is not s.stable and now - s.raw_since >= t.debounce_ms:
        if s.stable is Reading.PRESSED:
            if s.press_reported:
                fx.append(Released(now))
            if s.stuck_reported:
                fx.append(FaultCleared(FaultKind.STUCK, now))
            s = replace(s, press_start=None, press_reported=False, stuck_reported=False)
        s = replace(s, stable=s.raw)
        if s.stable is Reading.PRESSED:
            s = replace(s, press_start=s.raw_since)
    # 2. minimum hold, then stuck
    start = s.press_start
    if s.stable is Reading.PRESSED and start is not None:
        if not s.press_reported and s.raw is Reading.PRESSED and now - start >= t.min_hold_ms:
            fx.append(Pressed(started_ms=start, detected_ms=now))
            s = replace(s, press_reported=True)
        if s.press_reported and not s.stuck_reported and now - start >= t.stuck_ms:
            fx.append(FaultRaised(FaultKind.STUCK, now))
            s = replace(s, stuck_reported=True)
    # 3. supervision faults, settled
    settled = now - s.health_since >= t.fault_settle_ms
    if settled and s.raw not in _HEALTHY and s.fault is not s.raw:
        if s.fault is not None:
            fx.append(FaultCleared(_fault_kind(s.fault), now))
        fx.append(FaultRaised(_fault_kind(s.raw), now))
        s = replace(s, fault=s.raw)
    elif settled and s.raw in _HEALTHY and s.fault is not None:
        fx.append(FaultCleared(_fault_kind(s.fault), now))
        s = replace(s, fault=None)
    return s, fx


def sample(t: InputTiming, s: ButtonState, reading: Reading, now: int) -> tuple[ButtonState, list[Effect]]:
    """A new raw reading at `now` (from an edge). Deadlines up to `now` are evaluated first."""
    s, fx = advance(t, s, now)
    s = s.with_raw(reading, now)
    s, more = advance(t, s, now)
    return s, fx + more


def next_deadline(t: InputTiming, s: ButtonState) -> int | None:
    """The earliest time at which `advance` may produce something, or None."""
    times: list[int] = []
    if s.raw is not s.stable:
        times.append(s.raw_since + t.debounce_ms)
    if s.stable is Reading.PRESSED and s.press_start is not None:
        if not s.press_reported and s.raw is Reading.PRESSED:
            times.append(s.press_start + t.min_hold_ms)
        elif s.press_reported and not s.stuck_reported:
            times.append(s.press_start + t.stuck_ms)
    if (s.raw not in _HEALTHY and s.fault is not s.raw) or (s.raw in _HEALTHY and s.fault is not None):
        times.append(s.health_since + t.fault_settle_ms)
    return min(times) if times else None


# --------------------------------------------------------------------------- two-state switch


@dataclass(frozen=True)
class SwitchState:
    """A plain switch (tamper, test key) that must hold a level `settle_ms` to count."""

    raw: bool
    raw_since: int
    stable: bool


def switch_initial(active: bool, now: int) -> SwitchState:
    """A switch whose current level is taken as settled (no effect at start)."""
    return SwitchState(raw=active, raw_since=now, stable=active)


def switch_advance(settle_ms: int, s: SwitchState, now: int) -> tuple[SwitchState, bool | None]:
    """Evaluate the settle deadline; returns the new stable level when it changed."""
    if s.raw != s.stable and now - s.raw_since >= settle_ms:
        return replace(s, stable=s.raw), s.raw
    return s, None


def switch_sample(settle_ms: int, s: SwitchState, active: bool, now: int) -> tuple[SwitchState, bool | None]:
    """A new level at `now`; returns the new stable level when it changed."""
    s, changed = switch_advance(settle_ms, s, now)
    if active != s.raw:
        s = replace(s, raw=active, raw_since=now)
    s, again = switch_advance(settle_ms, s, now)
    return s, again if again is not None else changed


def switch_deadline(settle_ms: int, s: SwitchState) -> int | None:
    """When the pending level change settles, or None."""
    return s.raw_since + settle_ms if s.raw != s.stable else None
