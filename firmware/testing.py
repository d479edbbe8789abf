"""Test doubles for the runtime's ports: a manual clock + scheduler and a recording link.

Used by the pure tests (time is injected, nothing sleeps) and by `bench/fw_*.py`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from firmware.feedback import Pattern


class ManualTime:
    """Clock and scheduler in one: time only moves when `advance` / `run_until` is called."""

    def __init__(self, start_ms: int = 1_000_000, wall: datetime | None = None) -> None:
        self.ms = start_ms
        self._wall0 = wall or datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
        self._ms0 = start_ms
        self._heap: list[tuple[int, int, _Handle]] = []
        self._ids = itertools.count()

    # Clock
    def now_ms(self) -> int:
        return self.ms

    def wall(self) -> datetime:
        return self._wall0 + timedelta(milliseconds=self.ms - self._ms0)

    # Scheduler
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _Handle:
        h = _Handle(callback)
        heapq.heappush(self._heap, (self.ms + max(0, round(delay_s * 1000)), next(self._ids), h))
        return h

    def run_until(self, when_ms: int) -> None:
        """Fire every timer due up to `when_ms`, in order, then set the clock there."""
        while self._heap and self._heap[0][0] <= when_ms:
            due, _i, h = heapq.heappop(self._heap)
            self.ms = max(self.ms, due)
            if not h.cancelled:
                h.callback()
        self.ms = max(self.ms, when_ms)

    def advance(self, ms: int) -> None:
        self.run_until(self.ms + ms)

    def pending(self) -> int:
        return sum(1 for _d, _i, h in self._heap if not h.cancelled)


@dataclass
class _Handle:
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class RecordingPort:
    """A link that records what the unit publishes."""

    sent: list[tuple[str, bytes, int, bool]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.sent.append((topic, payload, qos, retain))

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p, _q, _r in self.sent if t == topic]


@dataclass
class RecordingOutputs:
    """LED / buzzer that remember every pattern shown."""

    shown: list[tuple[str, str]] = field(default_factory=list)

    def show(self, led: Pattern, buzzer: Pattern) -> None:
        self.shown.append((led.name, buzzer.name))
