"""What the soak keeps: the observer's capture of every topic and the simulator's own lines.

Files (JSON lines, one object per line, `t` = receive time, Unix seconds, this machine's clock):
- `capture.jsonl`: every message the observer saw: `t`, `topic`, `retain`, `payload` (text, or
  `b64:` + base64 when it is not UTF-8).
- `sim-shard-N.jsonl`: every line `alarm-sim` shard N printed (its own `ts`), plus `gen` (which
  start of the shard: 0, then +1 after each kill and restart).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt

from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics


def payload_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(raw).decode("ascii")


def payload_bytes(text: str) -> bytes:
    return base64.b64decode(text[4:]) if text.startswith("b64:") else text.encode("utf-8")


class JsonlWriter:
    """Append JSON lines to a file, flushed, from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, default=str, separators=(",", ":")) + "\n"
        with self._lock:
            if not self._f.closed:
                self._f.write(line)
                self._f.flush()

    def close(self) -> None:
        with self._lock:
            self._f.close()


Listener = Callable[[str, bytes, float], None]


class Recorder:
    """The observer: every topic of the site, with a persistent session (so the broker queues what
    is published while it reconnects after a broker restart), written to `capture.jsonl`."""

    def __init__(self, creds: BrokerCredentials, out: Path) -> None:
        self.topics = Topics(creds.site_id)
        self.writer = JsonlWriter(out / "capture.jsonl")
        self.listeners: list[Listener] = []
        self.count = 0
        self.link = Link(creds, client_id=client_id(creds.username, "soak"), clean_session=False)
        self.link.subscribe_raw(self.topics.everything(), self._on)

    def _on(self, msg: mqtt.MQTTMessage) -> None:
        t = time.time()
        raw = bytes(msg.payload)
        self.count += 1
        self.writer.write(
            {"t": round(t, 6), "topic": msg.topic, "retain": bool(msg.retain), "payload": payload_text(raw)}
        )
        for fn in self.listeners:
            fn(msg.topic, raw, t)

    def start(self, timeout: float = 10.0) -> Recorder:
        self.link.start()
        if not self.link.wait_connected(timeout):
            raise TimeoutError("the soak's observer could not connect and subscribe")
        return self

    def stop(self) -> None:
        self.link.stop()
        self.writer.close()


def _alarm_sim() -> list[str]:
    script = Path(sys.executable).parent / "alarm-sim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stilalarm.firmware.sim"]


class Shard:
    """One `alarm-sim` process running some of the units, on its own outbox (`--state-dir`) so a
    SIGKILL and a restart resume from what was durably stored. Lines go to `sim-shard-N.jsonl`."""

    def __init__(self, index: int, units: list[str], site_file: Path, broker_dir: Path, out: Path) -> None:
        self.index = index
        self.units = units
        self.site_file = site_file
        self.broker_dir = broker_dir
        self.state_dir = out / f"shard-{index}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = out / f"sim-shard-{index}.log"
        self.writer = JsonlWriter(out / f"sim-shard-{index}.jsonl")
        self.gen = -1
        self.proc: JsonLineProcess | None = None
        self._written = 0
        self._lock = threading.Lock()
        self.stored: set[str] = set()  # event ids of alarm_stored lines, every generation
        self.receipted: set[str] = set()  # event ids with a receipt line, every generation
        self.last_lines: list[dict[str, Any]] = []  # every line of the generation killed last

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.proc.poll() is None

    def start(self) -> None:
        self.gen += 1
        self._written = 0
        self.proc = JsonLineProcess(self.argv(), self.log_path, stamp=True)

    def argv(self) -> list[str]:
        return [
            *_alarm_sim(),
            "--site", str(self.site_file),
            "--broker-dir", str(self.broker_dir),
            "--units", ",".join(self.units),
            "--state-dir", str(self.state_dir),
            "--stdin-eof", "ignore",
        ]  # fmt: skip

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        self.proc.wait_for("ready", timeout=timeout)

    def send(self, line: str) -> bool:
        """A control line; False when the shard is down (killed and not restarted yet)."""
        with self._lock:
            if not self.alive or self.proc is None:
                return False
            try:
                self.proc.send(line)
            except (BrokenPipeError, OSError, ValueError):
                return False
            return True

    def flush(self) -> None:
        """Write the lines printed since the last flush."""
        with self._lock:
            if self.proc is None:
                return
            new = self.proc.lines[self._written :]
            self._written += len(new)
        for rec in new:
            self.writer.write({**rec, "gen": self.gen, "shard": self.index})
            if rec.get("event") == "alarm_stored":
                self.stored.add(str(rec.get("event_id")))
            elif rec.get("event") == "receipt":
                self.receipted.add(str(rec.get("event_id")))

    def held(self) -> set[str] | None:
        """Event ids in the unit's durable outbox (read-only), None when it cannot be read. A unit
        deletes an alarm from its outbox only on its receipt, so a stored press that is not
        held any more was receipted, even if a SIGKILL took the receipt line with it."""
        ids: set[str] = set()
        for f in self.state_dir.glob("*outbox.sqlite"):
            try:
                con = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=5)
                try:
                    ids |= {r[0] for r in con.execute("SELECT event_id FROM events")}
                finally:
                    con.close()
            except sqlite3.Error:
                return None
        return ids

    def kill(self) -> None:
        """SIGKILL, then keep every line it printed before it died."""
        with self._lock:
            p = self.proc
            if p is None:
                return
            p.proc.kill()
            p.proc.wait(10)
            p._reader.join(10)  # every line the dead process wrote is read before we close the pipe
            self.last_lines = list(p.lines)
        self.flush()
        with self._lock:
            p.close()
            self.proc = None

    def stop(self) -> None:
        """`quit` (offline status for every unit, `bye`), then the last lines."""
        with self._lock:
            p = self.proc
        if p is None:
            return
        self.send("quit")
        try:
            p.proc.wait(15)
        except Exception:
            p.proc.kill()
            p.proc.wait(10)
        p._reader.join(10)
        self.flush()
        with self._lock:
            p.close()
            self.proc = None
        self.writer.close()

    def lines(self) -> list[dict[str, Any]]:
        return [] if self.proc is None else list(self.proc.lines)


class SoloUnit(Shard):
    """One unit as its own `alarm-unit run --sim --control-stdin` process (the firmware's real
    process, as on a Pi), inside its own network namespace (`prefix`), reaching the broker at
    `broker_addr` (host, port) over the namespace's veth link: the solo faults (unit_kill,
    net_cut, net_flap, clock_step, unit_crash_*) act on it."""

    prefix: tuple[str, ...] = ()
    broker_addr: tuple[str, int] | None = None

    def argv(self) -> list[str]:
        script = Path(sys.executable).parent / "alarm-unit"
        exe = [str(script)] if script.exists() else [sys.executable, "-m", "stilalarm.firmware.cli"]
        config = self.broker_dir / "units" / f"{self.units[0]}.json"
        if self.broker_addr is not None:
            cfg = json.loads(config.read_text(encoding="utf-8"))
            cfg["broker"]["host"], cfg["broker"]["port"] = self.broker_addr
            config = self.state_dir.parent / f"{self.units[0]}.json"
            config.write_text(json.dumps(cfg), encoding="utf-8")
            config.chmod(0o600)
        return [
            *self.prefix, *exe, "run", "--config", str(config), "--state-dir", str(self.state_dir),
            "--sim", "--control-stdin", "--log-level", "INFO",
        ]  # fmt: skip

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        self.proc.wait_for("link", timeout=timeout, state="up")
