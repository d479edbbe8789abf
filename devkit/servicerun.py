"""Run `alarm-console serve` as a real subprocess (broker/e2e tests, the benchmark).

Also holds FAST_SITE: a small site whose escalation runs in seconds (levels at
0 / 1 / 2 s, repeat every 5 s) and whose units beat every second, so the real
service can be exercised end to end without waiting minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from stilalarm.wire.messages import EventKind, Receipt, UnitEvent, encode, parse, utcnow
from stilalarm.wire.topics import Topics

FAST_SITE = """
[site]
id = "fast"
name = "Testsite"
timezone = "Europe/Brussels"
language = "nl"
office_hours = { start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7] }  # always open

[[teams]]
id = "sociale-dienst"
name = "Sociale dienst"
leads = ["an"]
deputies = ["dirk"]
[teams.escalation]
repeat_every_s = 5
remind_unresolved_after_s = 60
[[teams.escalation.levels]]
after_s = 0
notify = ["team_leads"]
[[teams.escalation.levels]]
after_s = 1
notify = ["team_deputies"]
[[teams.escalation.levels]]
after_s = 2
notify = ["all_leads", "reception", "prevention"]
call_101 = true

[[teams]]
id = "onthaal"
name = "Onthaal"
leads = ["chris"]
deputies = ["bart"]
[teams.escalation]
repeat_every_s = 5
remind_unresolved_after_s = 60
[[teams.escalation.levels]]
after_s = 0
notify = ["team_leads"]
[[teams.escalation.levels]]
after_s = 1
notify = ["team_deputies"]
[[teams.escalation.levels]]
after_s = 2
notify = ["all_leads", "reception", "prevention"]
call_101 = true

[[rooms]]
id = "spreekkamer-1"
label = "Spreekkamer 1"
label_en = "Interview room 1"
kind = "spreekkamer"
team = "sociale-dienst"
floor = "1e verdieping"

[[rooms]]
id = "balie-1"
label = "Balie 1"
label_en = "Counter 1"
kind = "balie"
team = "onthaal"
floor = "gelijkvloers"
waiting_room = "wachtzaal"

[[rooms]]
id = "wachtzaal"
label = "Wachtzaal"
label_en = "Waiting room"
kind = "wachtzaal"
team = "onthaal"

[[rooms]]
id = "bureau"
label = "Bureau teamverantwoordelijken"
kind = "bureau"
team = "sociale-dienst"

[[units]]
id = "spreekkamer-1"
room = "spreekkamer-1"
heartbeat_s = 1
buttons = [{ id = "knop", contact = "dual", pin = 5, nc_pin = 6 }]

[[units]]
id = "balie-1"
room = "balie-1"
heartbeat_s = 1
buttons = [{ id = "knop", contact = "no", pin = 5 }, { id = "voet", contact = "no", pin = 13 }]

[[units]]
id = "wachtzaal"
room = "wachtzaal"
heartbeat_s = 1
buttons = [{ id = "knop", contact = "no", pin = 5 }]

[[units]]
id = "pager-an"
room = "bureau"
role = "lead"
person = "an"
heartbeat_s = 1
buttons = [{ id = "ik-kom", contact = "no", pin = 5 }]

[[people]]
id = "an"
name = "An Peeters"
roles = ["lead"]

[[people]]
id = "bart"
name = "Bart Janssens"
roles = ["lead", "deputy"]

[[people]]
id = "chris"
name = "Chris Claes"
roles = ["lead"]

[[people]]
id = "dirk"
name = "Dirk Maes"
roles = ["deputy", "prevention"]

[[people]]
id = "els"
name = "Els Wouters"
roles = ["reception"]

[[people]]
id = "fien"
name = "Fien Vermeulen"
roles = ["facilities"]
language = "en"

[[people]]
id = "gert"
name = "Gert Smets"
roles = ["facilities"]
"""


def _exe() -> list[str]:
    script = Path(sys.executable).parent / "alarm-console"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stilalarm.console.cli"]


class ProcessGroup:
    """A command run in its own process group, logging to `log_path`: what this run logged, SIGKILL
    and SIGTERM (`ServiceProcess`, `stilalarm.devkit.webrun.WebProcess`)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def log(self) -> str:
        """Everything this run (since the last start) logged."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL (a crash, a power cut of the process)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


class ServiceProcess(ProcessGroup):
    """`alarm-console serve` in its own process group; start, SIGKILL, SIGTERM, restart.

    The first `start` passes `--init` (a new system's first run creates its database, like the
    installer's `alarm-console db init`); a restart never does, so a database that went missing
    in between is refused as it would be in production. `init=False`: never pass it."""

    def __init__(
        self,
        site_file: Path,
        db: Path,
        broker_dir: Path,
        log_path: Path,
        *,
        init: bool = True,
        prefix: list[str] | None = None,
    ) -> None:
        """`prefix`: run the command under it (e.g. `ip netns exec NS`: in a network namespace)."""
        super().__init__(log_path)
        self.prefix = prefix or []
        self.site_file = site_file
        self.db = db
        self.broker_dir = broker_dir
        self.init = init
        self._starts = 0

    def start(self, extra: list[str] | None = None) -> None:
        first_run = ["--init"] if self.init and self._starts == 0 else []
        self._starts += 1
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                *self.prefix,
                *_exe(),
                "serve",
                "--site",
                str(self.site_file),
                "--db",
                str(self.db),
                "--broker-dir",
                str(self.broker_dir),
                *first_run,
                *(extra or []),
            ],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the service has connected and published its retained state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "published console status" in self.log():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"alarm-console serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise TimeoutError(f"alarm-console serve not ready within {timeout} s:\n{self.log()}")


class ScriptedUnit:
    """A desk unit played by a test or the benchmark: publishes `UnitEvent`s as `unit-<id>`,
    keeps each until its receipt arrives and retransmits it (same event id) every
    `retry_s`, like the firmware's outbox (in memory only)."""

    def __init__(self, creds: BrokerCredentials, unit_id: str, retry_s: float = 1.0) -> None:
        self.unit_id = unit_id
        self.topics = Topics(creds.site_id)
        self.boot_id = uuid.uuid4()
        self.seq = 0
        self.retry_s = retry_s
        self.pending: dict[uuid.UUID, UnitEvent] = {}
        self.receipts: list[Receipt] = []
        self.commands: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.link = Link(creds, client_id=creds.session_client_id())
        self.link.subscribe(self.topics.unit_receipt(unit_id), self._on_receipt)
        self.link.subscribe(self.topics.unit_cmd(unit_id), lambda _t, p: self.commands.append(p))
        self._thread = threading.Thread(target=self._retransmit, daemon=True)

    def start(self, timeout: float = 5.0) -> ScriptedUnit:
        self.link.start()
        if not self.link.wait_connected(timeout):
            raise TimeoutError(f"unit {self.unit_id} could not connect")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.link.stop()

    def press(self, kind: EventKind = EventKind.ALARM, button: str = "knop", **kw: Any) -> UnitEvent:
        """Publish a new event (kept for retransmission until receipted)."""
        self.seq += 1
        now = utcnow()
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=self.unit_id,
            kind=kind,
            button_id=button,
            seq=self.seq,
            boot_id=self.boot_id,
            occurred_at=now,
            sent_at=now,
            **kw,
        )
        with self._lock:
            self.pending[ev.event_id] = ev
        self.link.publish(self.topics.unit_event(self.unit_id), encode(ev), qos=1)
        return ev

    def receipt_for(self, event_id: uuid.UUID) -> Receipt | None:
        with self._lock:
            return next(
                (r for r in self.receipts if r.event_id == event_id and not r.duplicate), None
            ) or next((r for r in self.receipts if r.event_id == event_id), None)

    def _on_receipt(self, _topic: str, payload: bytes) -> None:
        r = parse(Receipt, payload)
        with self._lock:
            self.receipts.append(r)
            self.pending.pop(r.event_id, None)

    def _retransmit(self) -> None:
        while not self._stop.wait(self.retry_s):
            with self._lock:
                due = list(self.pending.values())
            for ev in due:
                again = ev.model_copy(update={"attempt": ev.attempt + 1, "sent_at": utcnow()})
                with self._lock:
                    if ev.event_id in self.pending:
                        self.pending[ev.event_id] = again
                self.link.publish(self.topics.unit_event(self.unit_id), encode(again), qos=1)
