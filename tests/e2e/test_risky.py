"""Risky conversations and office hours with real processes: a broker, the console service, the
`alarm-console risk` CLI with each person's own login, and a scripted desk unit. The test site
(stilalarm.devkit.webrun.VISIT_SITE) escalates in seconds; Hanne (staff, sociale dienst, lead An,
deputy Dirk) holds the conversation in spreekkamer-1, Ilse stands by."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import ScriptedUnit, ServiceProcess
from stilalarm.devkit.webrun import VISIT_SITE, WebProcess, tokens
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    LinkState,
    Notification,
    NotifyReason,
    UnitHealth,
    UnitStatus,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.e2e.test_report_browser import CHROMIUM_FLAGS
from tests.harness import Capture, wait_until

SITE = parse_site(VISIT_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
ALWAYS = 'start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7]'
RULE = (
    "Risicovolle gesprekken mogen uitsluitend tijdens de normale openingsuren gepland worden of bij "
    "aanwezigheid van andere collega's"
)


def closed_today() -> str:
    """VISIT_SITE with today (local) a closing day: the building is closed all day."""
    today = utcnow().astimezone(ZoneInfo(SITE.site.timezone)).date()
    return VISIT_SITE.replace(ALWAYS, f"{ALWAYS}, closed_days = [{today.isoformat()}]")


@dataclass
class System:
    dir: Path
    broker: LocalBroker
    console: ServiceProcess
    seen: Capture
    units: list[ScriptedUnit]

    def unit(self, unit_id: str) -> ScriptedUnit:
        u = ScriptedUnit(self.broker.creds(f"unit-{unit_id}"), unit_id).start()
        self.units.append(u)
        return u

    def notes(self, person: str, key: str = "") -> list[Notification]:
        return [n for n in self.seen.notifications(person) if key in n.body or key in n.title]

    def cli(self, *args: str, who: str) -> subprocess.CompletedProcess[str]:
        cmd = [*CLI, *args, "--as", who, "--broker-dir", str(self.broker.dir)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)

    def announce(self, risk_id: str, *extra: str, who: str = "hanne") -> subprocess.CompletedProcess[str]:
        now = utcnow()
        start, until = (now - timedelta(minutes=1)).isoformat(), (now + timedelta(minutes=30)).isoformat()
        args = ("risk", "announce", "--room", "spreekkamer-1", "--from", start, "--until", until)
        return self.cli(*args, "--standby", "ilse", "--risk-id", risk_id, *extra, who=who)


def status(unit: ScriptedUnit, state: LinkState, reason: str, boot: uuid.UUID) -> None:
    msg = UnitStatus(unit_id=unit.unit_id, state=state, boot_id=boot, reason=reason)  # type: ignore[arg-type]
    unit.link.publish(T.unit_status(unit.unit_id), encode(msg), retain=True)


def _system(tmp_path: Path, site_text: str, online: str | None = None) -> Iterator[System]:
    """The processes; `online`: a unit whose retained birth is there before the console starts (so
    the console's first sight of it is online, not a 'never seen' notice opening its flap window)."""
    site_file = tmp_path / "site.toml"
    site_file.write_text(site_text)
    broker = LocalBroker(parse_site(site_text), tmp_path / "broker")
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    units = []
    if online is not None:
        units.append(ScriptedUnit(broker.creds(f"unit-{online}"), online).start())
        status(units[0], LinkState.ONLINE, "connected", units[0].boot_id)
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    console.start()
    console.wait_ready()
    s = System(tmp_path, broker, console, seen, units)
    yield s
    for u in s.units:
        u.stop()
    console.kill()
    seen.stop()
    broker.kill()


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    yield from _system(tmp_path, VISIT_SITE)


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[System]:
    yield from _system(tmp_path, closed_today())


@pytest.fixture
def closed_with_unit(tmp_path: Path) -> Iterator[System]:
    yield from _system(tmp_path, closed_today(), online="spreekkamer-1")


def test_an_alarm_in_the_room_of_a_confirmed_risky_conversation_reaches_the_standby_at_once(
    system: System,
) -> None:
    out = system.announce("r-e2e-1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok r-e2e-1 Risicogesprek aangemeld") and "Ilse Jacobs" in out.stdout
    wait_until(lambda: system.notes("ilse", "Stand-by gevraagd"), 10, "Ilse asked to stand by")
    assert system.notes("an", "Risicogesprek in Spreekkamer 1") and system.notes("dirk", "Risicogesprek in")
    # someone else may not confirm: refused with a reason, nothing changed
    els = system.cli("risk", "confirm", "r-e2e-1", who="els")
    assert els.returncode == 1 and "not_authorised" in els.stderr and "stand-by collega" in els.stderr
    ok = system.cli("risk", "confirm", "r-e2e-1", who="ilse")
    assert ok.returncode == 0 and "bevestigd" in ok.stdout, ok.stderr
    wait_until(lambda: system.notes("hanne", "Stand-by bevestigd"), 10, "Hanne told it is confirmed")

    unit = system.unit("spreekkamer-1")
    unit.press()
    wait_until(lambda: system.seen.alarm_notifications("ilse"), 10, "the stand-by colleague paged")
    (page,) = system.seen.alarm_notifications("ilse")
    assert page.level == 1 and page.reason is NotifyReason.ALARM and page.room_id == "spreekkamer-1"
    (lead,) = [n for n in system.seen.alarm_notifications("an") if n.level == 1]
    assert lead.incident_id == page.incident_id
    state = system.seen.incident_state(page.incident_id or "")
    assert state.notified[:2] == ("an", "ilse")


def test_bad_announcements_are_refused_with_a_reason(system: System) -> None:
    bad_room = system.cli(
        *("risk", "announce", "--room", "nergens", "--from", "10:00", "--until", "11:00"),
        *("--standby", "ilse"),
        who="hanne",
    )
    assert bad_room.returncode == 1 and "unknown_target" in bad_room.stderr and "nergens" in bad_room.stderr
    bad_time = system.cli(
        *("risk", "announce", "--room", "spreekkamer-1", "--from", "morgen", "--until", "11:00"),
        *("--standby", "ilse"),
        who="hanne",
    )
    assert bad_time.returncode == 2 and "invalid command" in bad_time.stderr
    self_standby = system.cli(
        *("risk", "announce", "--room", "spreekkamer-1", "--from", "10:00", "--until", "11:00"),
        *("--standby", "hanne"),
        who="hanne",
    )
    assert self_standby.returncode == 1 and "niet jezelf" in self_standby.stderr
    assert not system.notes("ilse") and not system.notes("an")


def test_outside_office_hours_with_nobody_else_the_announcement_is_warned_with_the_rule(
    closed: System,
) -> None:
    out = closed.announce("r-e2e-late")
    assert out.returncode == 0, out.stderr
    assert RULE in out.stdout
    wait_until(lambda: closed.notes("an", "buiten de openingsuren"), 10, "the lead warned")
    assert RULE in closed.notes("an", "buiten de openingsuren")[0].body
    # with colleagues present: no warning
    ok = closed.announce("r-e2e-late-2", "--colleagues-present")
    assert ok.returncode == 0 and RULE not in ok.stdout, ok.stderr


def online(s: System) -> bool:
    health = s.seen.on(T.unitstate("spreekkamer-1"))
    return bool(health) and parse(UnitHealth, health[-1]).online


def test_a_room_left_unprotected_on_a_closing_day_is_told_to_facilities_only(
    closed_with_unit: System,
) -> None:
    s = closed_with_unit
    (unit,) = s.units
    wait_until(lambda: online(s), 10, "the unit online")
    status(unit, LinkState.OFFLINE, "lost", unit.boot_id)

    def unprotected(person: str) -> bool:  # Fien reads English, the others Dutch
        return bool(s.notes(person, "geen werkende alarmknop") or s.notes(person, "no working panic button"))

    wait_until(lambda: unprotected("fien") and unprotected("gert"), 15, "facilities told")
    assert not unprotected("an") and not unprotected("dirk") and not unprotected("chris")


@pytest.fixture
def web(system: System) -> Iterator[tuple[System, WebProcess, str]]:
    w = WebProcess(system.broker.dir, system.dir / "web", system.dir / "web.log").start()
    w.wait_ready()
    yield system, w, tokens(system.broker.dir)["gsm-hanne"]
    w.kill()


def test_the_phone_form_announces_and_cancels_and_refuses_bad_input(
    web: tuple[System, WebProcess, str],
) -> None:
    system, w, token = web
    auth = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: object = None) -> httpx.Response:
        for _ in range(20):  # the token's rate limit: wait as the page does (Retry-After)
            r = httpx.post(f"{w.url}{path}", json=body, headers=auth, timeout=15)
            if r.status_code != 429:
                return r
            time.sleep(float(r.headers.get("Retry-After", "1")))
        return r

    choices = httpx.get(f"{w.url}/app/api/risk", headers=auth, timeout=10).json()
    assert {"id": "spreekkamer-1", "label": "Spreekkamer 1"} in choices["rooms"]
    assert {"id": "ilse", "name": "Ilse Jacobs"} in choices["colleagues"] and choices[
        "name"
    ] == "Hanne Wouters"
    page = httpx.get(f"{w.url}/app/risk.html", timeout=10)
    assert page.status_code == 200 and "risk.js" in page.text
    now = utcnow()
    body = {
        "risk_id": "r-web-1",
        "room": "spreekkamer-1",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(minutes=30)).isoformat(),
        "standby": "ilse",
    }
    for bad, status in (
        ({**body, "room": "Spreekkamer 1"}, 422),  # not an id
        ({**body, "ends_at": "vanavond"}, 422),
        ({**body, "extra": 1}, 422),
        ({**body, "room": "nergens"}, 404),  # the console's refusal, with its reason
        ({**body, "standby": "hanne"}, 422),
    ):
        r = post("/app/api/risk", bad)
        assert r.status_code == status, r.text
        assert not r.json()["ok"] and r.json()["message"]
    assert not system.notes("ilse")
    r = post("/app/api/risk", body)
    assert r.status_code == 200 and r.json()["ok"] and "aangemeld" in r.json()["message"], r.text
    assert post("/app/api/risk", body).status_code == 200  # the page's retry: answered, nothing new
    wait_until(lambda: system.notes("ilse", "Stand-by gevraagd"), 10, "Ilse asked to stand by")
    assert len(system.notes("ilse", "Stand-by gevraagd")) == 1
    # Hanne may not confirm her own; Ilse confirms from the CLI; Hanne cancels from the page
    own = post("/app/api/risk/r-web-1/confirm")
    assert own.status_code == 403 and "stand-by collega" in own.json()["message"]
    assert system.cli("risk", "confirm", "r-web-1", who="ilse").returncode == 0
    gone = post("/app/api/risk/r-web-1/cancel")
    assert gone.status_code == 200 and "geannuleerd" in gone.json()["message"]
    wait_until(lambda: system.notes("ilse", "Risicogesprek geannuleerd"), 10, "Ilse told it is cancelled")
    # the press after the cancellation goes to the lead only
    unit = system.unit("spreekkamer-1")
    unit.press()
    wait_until(lambda: system.seen.alarm_notifications("an"), 10, "the lead paged")
    assert not system.seen.alarm_notifications("ilse")


def test_the_risk_page_loads_in_a_real_browser_with_rooms_and_colleagues(
    web: tuple[System, WebProcess, str],
) -> None:
    system, w, token = web
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    assert httpx.get(f"{w.url}/app/risk.js", timeout=10).status_code == 200
    dom = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={system.dir / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", f"{w.url}/app/risk.html#token={token}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout  # fmt: skip
    assert "Aangemeld als Hanne Wouters." in dom and '<option value="ilse">Ilse Jacobs</option>' in dom
    assert '<option value="spreekkamer-1">Spreekkamer 1</option>' in dom
    assert token not in dom  # the token is never written into the page
