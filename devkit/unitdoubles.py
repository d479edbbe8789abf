"""Test doubles for the runtime's ports: a manual clock + scheduler and a recording link.

Used by the pure tests (time is injected, nothing sleeps) and by `bench/fw_*.py`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stilalarm.firmware.feedback import Pattern


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


class JsonLineProcess:
    """A child process that prints JSON lines (alarm-sim, alarm-unit run --sim --control-stdin).

    stdout is read continuously by a thread (the child never blocks on a full pipe);
    stderr goes to `log_path`.
    """

    def __init__(
        self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, stamp: bool = False
    ) -> None:
        self.log_path = log_path
        self.stamp = stamp  # add `rx`: when this process read the line (Unix time, this machine)
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = {"event": "unparsable", "raw": raw.decode(errors="replace")}
            if self.stamp:
                rec["rx"] = round(time.time(), 6)
            with self._lock:
                self.lines.append(rec)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def find(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Lines with this event whose fields equal `match`."""
        with self._lock:
            return [
                r
                for r in self.lines
                if r.get("event") == event and all(r.get(k) == v for k, v in match.items())
            ]

    def wait_for(self, event: str, n: int = 1, timeout: float = 30.0, **match: Any) -> list[dict[str, Any]]:
        """Wait until at least `n` matching lines arrived; AssertionError (with the log tail) otherwise.

        The timeout only bounds liveness (a process start on a loaded 2-core machine can take
        seconds); it is never what a test measures."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.find(event, **match)
            if len(got) >= n:
                return got
            if self.proc.poll() is not None and len(self.find(event, **match)) < n:
                break
            time.sleep(0.01)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise AssertionError(
            f"no {n} x {event} {match} within {timeout} s (exit {self.proc.poll()}); stderr tail:\n{tail}"
        )

    def kill(self) -> None:
        """SIGKILL: no last words, no clean shutdown."""
        self.proc.kill()
        self.proc.wait(10)
        self.close()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.close()
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._log.close()
