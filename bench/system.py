"""Shared machinery of the benchmark: a wall-clock capture of MQTT traffic, /proc sampling,
bare-paho sink processes, and small parsing helpers.

Latencies are differences of wall-clock times taken on this one host: the unit event's
`occurred_at` (the unit's clock), alarm-sim's line `ts`, and the capture's receive time.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from bench.fw_proc import cpu_s, rss_mb
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link

PY = sys.executable


class CredsSource(Protocol):
    """A local broker whose rendered logins can be read: `LocalBroker`, or `LocalCluster` (its
    first node)."""

    def creds(self, user: str) -> BrokerCredentials: ...


def iso(ts: str) -> float:
    """Unix time of an ISO-8601 UTC timestamp as the wire writes it."""
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@dataclass
class Msg:
    at: float  # wall time of receipt in the capture
    topic: str
    payload: bytes
    retained: bool

    def json(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.payload)
        return obj


@dataclass
class Capture:
    """Everything received on some topic filters, stamped with the wall clock (`time.time()`)."""

    items: list[Msg] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    link: Link | None = None

    def add(self, msg: mqtt.MQTTMessage) -> None:
        m = Msg(time.time(), msg.topic, bytes(msg.payload), bool(msg.retain))
        with self.cond:
            self.items.append(m)
            self.cond.notify_all()

    def start(
        self,
        broker: CredsSource,
        filters: list[str],
        client_id: str = cid_for("observer", "bench-capture"),
        qos: int = 1,
    ) -> Capture:
        """Subscribe to `filters` at `qos` with a clean session of the observer login."""
        lk = Link(broker.creds("observer"), client_id=client_id, clean_session=True)
        for f in filters:
            lk.subscribe_raw(f, self.add, qos)
        lk.start()
        if not lk.wait_connected(10):
            raise TimeoutError("capture could not connect to the broker")
        self.link = lk
        return self

    def stop(self) -> None:
        if self.link is not None:
            self.link.stop()
            self.link = None

    def mark(self) -> int:
        with self.cond:
            return len(self.items)

    def since(self, start: int) -> list[Msg]:
        with self.cond:
            return list(self.items[start:])

    def wait(self, pred: Callable[[Msg], bool], timeout: float, what: str, start: int = 0) -> Msg:
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.items):
                    if pred(self.items[i]):
                        return self.items[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
                self.cond.wait(left)

    def wait_count(self, pred: Callable[[Msg], bool], n: int, timeout: float, start: int = 0) -> int:
        """Wait until n matching messages arrived (from `start`); returns how many did."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = sum(1 for m in self.items[start:] if pred(m))
                left = deadline - time.monotonic()
                if got >= n or left <= 0:
                    return got
                self.cond.wait(min(left, 0.5))


@dataclass
class Usage:
    cpu_pct: float  # of one core, averaged over the window
    rss_mb: float  # highest VmRSS sampled
    seconds: float


def sample(pids: dict[str, int], seconds: float, every: float = 1.0) -> dict[str, Usage]:
    """CPU (utime+stime from /proc/<pid>/stat) and peak RSS (VmRSS) of each pid over `seconds`."""
    c0 = {k: cpu_s(p) for k, p in pids.items()}
    peak = {k: rss_mb(p) for k, p in pids.items()}
    t0 = time.monotonic()
    while (left := seconds - (time.monotonic() - t0)) > 0:
        time.sleep(min(every, left))
        for k, p in pids.items():
            peak[k] = max(peak[k], rss_mb(p))
    dt_s = time.monotonic() - t0
    return {k: Usage(100 * (cpu_s(p) - c0[k]) / dt_s, peak[k], dt_s) for k, p in pids.items()}


class Sink:
    """`python -m bench.sink` as a subprocess: a bare paho client (the whole-process baseline)."""

    def __init__(
        self,
        broker_dir: Path,
        topics: list[str],
        *,
        user: str = "observer",
        extra: list[str] | None = None,
        prefix: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        argv = [*(prefix or []), PY, "-m", "bench.sink", "--broker-dir", str(broker_dir), "--user", user]
        for t in topics:
            argv += ["--topic", t]
        argv += extra or []
        self._log = open(log, "ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def line(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next JSON line the sink prints."""
        assert self.proc.stdout is not None
        out: list[str] = []
        t = threading.Thread(
            target=lambda: out.append(self.proc.stdout.readline() if self.proc.stdout else ""), daemon=True
        )
        t.start()
        t.join(timeout)
        if not out or not out[0]:
            raise TimeoutError("bench.sink printed nothing")
        obj: dict[str, Any] = json.loads(out[0])
        return obj

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    s = sorted(values)
    return f"min {s[0]:.1f}, median {s[len(s) // 2]:.1f}, max {s[-1]:.1f}"
