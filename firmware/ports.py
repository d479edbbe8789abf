"""The unit runtime's ports and their plain implementations.

Everything outside the protocol logic is injected, so the same `UnitRuntime` runs on a Pi
(`stilalarm.wire.link.Link`, gpiozero pins, one outbox file) and 2,000 times in one simulator process
(a multiplexed MQTT client, MockFactory pins, one shared file):

- `Port.publish`       the link (the shell calls `link_up` / `link_down` / `on_message`)
- `Scheduler.call_later` timers (the shell's event loop)
- `Clock`              monotonic milliseconds and wall time
- `Outputs.show`       LED / buzzer
- `Observer`           observable changes (the simulator prints them as JSON lines)
- `Probe`              CPU temperature and Wi-Fi signal for the heartbeat
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from stilalarm.firmware import FIRMWARE_VERSION
from stilalarm.firmware.feedback import Pattern
from stilalarm.wire.messages import utcnow

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
class Timers:
    """The runtime's armed timers by key (one per button, 'retx', 'hb', 'fb', 'test', ...)."""

    handles: dict[str, Cancellable] = field(default_factory=dict)

    def cancel(self, key: str) -> None:
        h = self.handles.pop(key, None)
        if h is not None:
            h.cancel()

    def cancel_all(self) -> None:
        for h in self.handles.values():
            h.cancel()
        self.handles.clear()
