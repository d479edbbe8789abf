"""A finished run as recorded: its files, the console's database (read-only), the results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stilalarm.console.facts import Fact
from stilalarm.console.store import Store


@dataclass
class Violation:
    invariant: str
    text: str
    t: float | None = None  # Unix time it is about, for the context
    keys: tuple[str, ...] = ()  # unit / incident / event ids to show context for


@dataclass
class Result:
    name: str
    title: str
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    note: str = ""

    def fail(self, text: str, t: float | None = None, *keys: str | None) -> None:
        self.violations.append(Violation(self.name, text, t, tuple(k for k in keys if k)))


def iter_jsonl(path: Path, skip: str | None = None) -> Iterator[dict[str, Any]]:
    """The JSON lines of a file, one at a time; lines containing `skip` are not even parsed."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if skip is not None and skip in line:
                continue
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"unparsable": line}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


def ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


@dataclass
class Run:
    """Everything a run recorded, loaded once, except the capture (streamed: `capture()`).

    Each line of the simulator gets `t`: its own `ts`, or `rx` (when the soak read it, this
    machine's clock) for a shard whose clock was stepped (`clock_step`)."""

    dir: Path
    plan: dict[str, Any]
    faults: list[dict[str, Any]]
    sim: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    hostile: list[dict[str, Any]]
    presses: list[dict[str, Any]]
    summary: dict[str, Any]

    @classmethod
    def load(cls, d: Path) -> Run:
        faults = [f for f in jsonl(d / "faults.jsonl") if "kind" in f]
        stepped = {f["target"] for f in faults if f["kind"] == "clock_step"}
        sim: list[dict[str, Any]] = []
        for p in sorted(d.glob("sim-shard-*.jsonl")):
            for x in iter_jsonl(p):
                own = x.get("ts", 0.0)
                x["t"] = x.get("rx", own) if f"shard-{x.get('shard')}" in stepped else own
                sim.append(x)
        sim.sort(key=lambda r: r["t"])
        return cls(
            d,
            json.loads((d / "plan.json").read_text(encoding="utf-8")),
            faults,
            sim,
            jsonl(d / "leads.jsonl"),
            jsonl(d / "hostile.jsonl"),
            jsonl(d / "presses.jsonl"),
            json.loads((d / "run.json").read_text(encoding="utf-8")) if (d / "run.json").exists() else {},
        )

    def capture(self) -> Iterator[dict[str, Any]]:
        """The observer's capture, one message at a time (never all in memory), without the
        units' heartbeats (most of it; no check reads them)."""
        return iter_jsonl(self.dir / "capture.jsonl", skip='/heartbeat",')


@dataclass
class Db:
    received: dict[str, dict[str, Any]]
    incidents: dict[str, dict[str, Any]]
    facts: list[Fact]
    unit_rows: list[dict[str, Any]]
    rejects: dict[str, int]

    @classmethod
    def load(cls, path: Path) -> Db:
        store = Store(path, readonly=True)
        try:
            received = {
                r["event_id"]: dict(r)
                for r in store.db.execute(
                    "SELECT event_id, unit_id, kind, at, incident_id, payload FROM received"
                )
            }
            return cls(received, {r["incident_id"]: r for r in store.incidents()}, list(store.facts()),
                       store.units(), store.rejects())  # fmt: skip
        finally:
            store.close()


def clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
