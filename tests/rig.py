"""The end-to-end tests' common system: a real mosquitto with the project's generated config, an
observer that captures every message of the site, and the real `alarm-console serve` (a
subprocess), on the fast test site unless a test brings its own inventory.

`WebRig` adds alarm-web with the rendered tokens. A test file subclasses either for what only it
needs (units with a wrong clock, a form to post to, ...), extending `__init__` and `stop`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.devkit.webrun import WebProcess, tokens
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import IncidentState, Notification
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until

CONSOLE = str(Path(sys.executable).parent / "alarm-console")


class ConsoleRig:
    """Broker, observer and console service under `dir`; `stop()` ends them all."""

    def __init__(
        self,
        dir: Path,
        site_text: str = FAST_SITE,
        before_console: Callable[[ConsoleRig], None] | None = None,
    ) -> None:
        """Start everything; `before_console` runs once the broker and observer are up (e.g. to
        leave a unit's retained birth there before the console first looks)."""
        self.dir = dir
        self.site = parse_site(site_text)
        self.topics = Topics(self.site.site.id)
        self.site_file = dir / "site.toml"
        self.site_file.write_text(site_text)
        self.units: list[ScriptedUnit] = []
        self.broker = LocalBroker(self.site, dir / "broker")
        self.broker.start()
        try:
            self.seen = Capture(self.broker.creds("observer"), (f"{self.topics.base}/#",)).start()
            if before_console is not None:
                before_console(self)
            self.console = ServiceProcess(
                self.site_file, dir / "console.db", self.broker.dir, dir / "console.log"
            )
            self.console.start()
            self.console.wait_ready()
        except BaseException:
            for u in self.units:
                u.stop()
            if hasattr(self, "seen"):
                self.seen.stop()
            self.broker.kill()
            raise

    def stop(self) -> None:
        for u in self.units:
            u.stop()
        self.console.kill()
        self.seen.stop()
        self.broker.kill()

    def unit(self, unit_id: str) -> ScriptedUnit:
        """A scripted unit with its own login, connected."""
        u = ScriptedUnit(self.broker.creds(f"unit-{unit_id}"), unit_id).start()
        self.units.append(u)
        return u

    def press(self, unit: ScriptedUnit) -> str:
        """Press `unit`'s button; the incident id once the console receipted it."""
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        r = unit.receipt_for(ev.event_id)
        assert r is not None and r.incident_id is not None
        return r.incident_id

    def notes(self, person: str) -> list[Notification]:
        return self.seen.notifications(person)

    def alarm_notes(self, person: str) -> list[Notification]:
        return self.seen.alarm_notifications(person)

    def incident(self, incident_id: str) -> IncidentState:
        return self.seen.incident_state(incident_id)

    def facts(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The console's stored facts in order (of one kind, if given), read from its database."""
        rows = (
            Store(self.console.db, readonly=True)
            .db.execute("SELECT data FROM events ORDER BY seq")
            .fetchall()
        )
        return [f for f in (json.loads(r[0]) for r in rows) if kind is None or f["kind"] == kind]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`alarm-console ARGS` as it is."""
        return subprocess.run([CONSOLE, *args], capture_output=True, text=True, timeout=30, check=False)

    def person(self, *args: str) -> str:
        """A person's command (`--broker-dir` added) that must succeed; its output."""
        done = self.cli(*args, "--broker-dir", str(self.broker.dir))
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def db(self, *args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
        """A database command (`--db` and `--site` added)."""
        return self.cli(*args, "--db", str(db or self.console.db), "--site", str(self.site_file))


class WebRig(ConsoleRig):
    """`ConsoleRig` plus alarm-web (plain HTTP on a free port) and the tokens render made."""

    def __init__(self, dir: Path, site_text: str) -> None:
        super().__init__(dir, site_text)
        try:
            self.web = WebProcess(self.broker.dir, dir / "web", dir / "web.log").start()
            self.web.wait_ready()
        except BaseException:
            super().stop()
            raise
        self.tokens = tokens(self.broker.dir)

    def stop(self) -> None:
        self.web.kill()  # the one running now (a test may have replaced it)
        super().stop()
