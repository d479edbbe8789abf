"""The phone panic page (ingress/page, served by alarm-web at /app/) in Debian's chromium.

Real processes: mosquitto with the rendered WEB_SITE, `alarm-console serve`, `alarm-web run`, and
the page driven by Playwright in /usr/bin/chromium (never a downloaded browser) on a phone-sized
viewport. The page is the unit `gsm-an` in room `huisbezoek` (team sociale-dienst, lead An).
Waits poll real state (the page's DOM and localStorage, the console's messages and database,
alarm-web's log); timeouts are for liveness only.

Screenshots go to a temporary folder, or to $STILALARM_SCREENSHOTS when set:
    STILALARM_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/e2e/test_panic_page.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    BrowserContext,
    Geolocation,
    Page,
    Playwright,
    Request,
    Route,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from stilalarm.console.store import Store
from stilalarm.devkit.webrun import WEB_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import IncidentStatus, Notification
from stilalarm.wire.topics import Topics
from tests.harness import wait_until
from tests.rig import WebRig

SITE = parse_site(WEB_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
PHONE: ViewportSize = {"width": 390, "height": 844}
WHERE = "Stationsstraat 12, Heusden-Zolder"
POSITION: Geolocation = {"latitude": 51.0355, "longitude": 5.2817, "accuracy": 12}


class Rig(WebRig):
    def __init__(self, dir: Path) -> None:
        super().__init__(dir, WEB_SITE)
        self.token = self.tokens["gsm-an"]
        self.shots = Path(os.environ.get("STILALARM_SCREENSHOTS") or dir / "shots")
        self.shots.mkdir(parents=True, exist_ok=True)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return super().cli(*args, "--broker-dir", str(self.broker.dir))

    def incidents(self) -> list[dict[str, Any]]:
        """The console's incidents of the panic page's unit."""
        with closing(Store(self.console.db, readonly=True)) as store:
            return [i for i in store.incidents() if i["unit_id"] == "gsm-an"]

    def stored_alarms(self) -> list[dict[str, Any]]:
        """The raw alarm events of the panic page's unit the console stored (each once)."""
        with closing(Store(self.console.db, readonly=True)) as store:
            rows = store.db.execute(
                "SELECT payload FROM received WHERE unit_id = 'gsm-an' AND kind = 'alarm'"
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def alarms_of(self, incident_id: str) -> list[Notification]:
        """An's alarm pages of that incident."""
        return [n for n in self.alarm_notes("an") if n.incident_id == incident_id]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.stop()


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    return exe


@pytest.fixture
def pw() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


def phone(pw: Playwright, profile: Path, origin: str) -> BrowserContext:
    """A phone-sized chromium with a real (non-incognito) profile, Dutch, location allowed."""
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=_chromium(),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        viewport=PHONE,
        has_touch=True,
        locale="nl-BE",
        geolocation=POSITION,
        permissions=["geolocation"],
    )


# -- what the page shows and holds -----------------------------------------------------------
def status(page: Page) -> tuple[str, str]:
    got = page.evaluate("(s => [s.dataset.state, s.textContent])(document.getElementById('status'))")
    return got[0], got[1]


def stored(page: Page, key: str) -> Any:
    return page.evaluate(f"JSON.parse(localStorage.getItem('stilalarm.{key}') || 'null')")


def press_ids(page: Page) -> set[str]:
    """Every press the page knows: queued, or the last answered one."""
    ids: list[str] = page.evaluate(
        """(() => {
        const q = JSON.parse(localStorage.getItem('stilalarm.queue') || '[]');
        const last = JSON.parse(localStorage.getItem('stilalarm.last') || 'null');
        return [...q.map(e => e.press_id), ...(last ? [last.press_id] : [])];
        })()"""
    )  # one look at both: a press moves from the queue to `last` when it is answered
    return set(ids)


def shows(page: Page, state: str, timeout: float = 15.0) -> None:
    wait_until(lambda: status(page)[0] == state, timeout, f"the page to show {state}")


def hold(page: Page, shot: Path | None = None) -> str:
    """Hold the alarm button until the page makes a press; its press id."""
    before = press_ids(page)
    box = page.locator("#alarm").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    if shot is not None:
        ring = "1 - parseFloat(getComputedStyle(ring).strokeDashoffset) / 100"
        wait_until(lambda: page.evaluate(ring) > 0.3, 5, "the progress ring to fill")
        page.screenshot(path=str(shot))
    wait_until(lambda: len(press_ids(page) - before) == 1, 10, "the hold to make a press")
    page.mouse.up()
    (new,) = press_ids(page) - before
    return str(new)


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_panic_page_hold_feedback_location_and_bad_network(rig: Rig, pw: Playwright) -> None:
    ctx = phone(pw, rig.dir / "profile", rig.web.url)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # The link from web/urls.txt: the token rides in the fragment, is kept, and leaves the address bar.
    page.goto(f"{rig.web.url}/app/#token={rig.token}")
    wait_until(lambda: page.inner_text("#owner") == "Paniekknop van An Peeters", 10, "whoami")
    assert page.url == f"{rig.web.url}/app/"
    assert page.evaluate("localStorage.getItem('stilalarm.token')") == rig.token
    assert page.evaluate("document.documentElement.lang") == "nl"
    wait_until(lambda: page.evaluate("navigator.serviceWorker.controller !== null"), 10, "the service worker")
    cdp = ctx.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and json.loads(manifest["data"])["display"] == "standalone"
    assert status(page) == ("idle", "")
    page.screenshot(path=str(rig.shots / "panic-page-idle.png"))

    # (1) A short tap raises nothing: a hint, no request, nothing queued.
    page.tap("#alarm")
    wait_until(lambda: page.inner_text("#hint") == "Houd ingedrukt", 5, "the hint")
    assert [r for r in requests if "/api/press" in r.url] == []
    assert stored(page, "queue") is None and stored(page, "last") is None
    assert status(page) == ("idle", "")

    # The visit's address, and the location shared (the person switched it on).
    page.fill("#where", WHERE)
    page.check("#share")
    wait_until(lambda: "locatie gevonden" in page.inner_text("#loc"), 10, "a position")

    # (2) A hold raises one alarm; the lead of sociale-dienst is paged.
    first = hold(page, rig.shots / "panic-page-holding.png")
    shows(page, "received")
    assert status(page)[1] == "ontvangen"
    page.screenshot(path=str(rig.shots / "panic-page-received.png"))
    wait_until(lambda: len(rig.incidents()) == 1, 10, "the incident in the console")
    (inc,) = rig.incidents()
    wait_until(lambda: bool(rig.alarms_of(inc["incident_id"])), 10, "An's alarm notice")
    assert rig.alarms_of(inc["incident_id"])[0].title.startswith("ALARM Huisbezoek sociale dienst")
    # (5) The press carried the visit's address and the position: the console stored them.
    (raw,) = rig.stored_alarms()
    assert raw["detail"] == f"{WHERE}; GPS 51.03550,5.28170 ±12 m"
    assert f"panic page press {first} " in rig.web.log()

    # (3) A lead acknowledges: the page says help is coming.
    ack = rig.cli("ack", inc["incident_id"], "--as", "an")
    assert ack.returncode == 0, ack.stderr
    shows(page, "coming")
    assert status(page)[1] == "hulp komt"
    page.screenshot(path=str(rig.shots / "panic-page-coming.png"))
    done = rig.cli(
        *("resolve", inc["incident_id"], "--as", "an", "--type", "verbaal", "--severity", "agressie"),
        *("--note", "cliënt kalmeerde"),
    )
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: rig.seen.incident_state(inc["incident_id"]).status is IncidentStatus.RESOLVED, 10, "resolved"
    )

    # (4) alarm-web unreachable: the press waits in the page's queue, survives a reload (the
    # service worker serves the page), and is delivered once when alarm-web is back, also when
    # the answer to its first delivery is lost on the way (the retry has the same press id).
    rig.web.terminate()
    second = hold(page)
    assert status(page) == ("sending", "wordt verzonden…")
    wait_until(lambda: stored(page, "queue")[0]["attempts"] >= 1, 10, "a failed attempt")
    page.reload()
    wait_until(lambda: page.inner_text("#owner") == "Paniekknop van An Peeters", 10, "the page offline")
    assert status(page) == ("sending", "wordt verzonden…")
    assert [e["press_id"] for e in stored(page, "queue")] == [second]

    sent: list[Any] = []
    lost: list[int] = []

    def lose_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if lost:
            route.continue_()
            return
        try:
            answer = route.fetch()  # alarm-web stores the press and answers ...
        except PlaywrightError:
            route.abort("connectionrefused")  # (not listening yet: an ordinary failed attempt)
            return
        lost.append(answer.status)
        route.abort("connectionreset")  # ... and the page never hears it

    page.route("**/app/api/press", lose_first_answer)
    rig.web.start()
    rig.web.wait_ready()
    shows(page, "received", 30)
    assert lost == [200] and len(sent) >= 2
    assert {b["press_id"] for b in sent} == {second}
    assert all(b["queued_s"] > 0 for b in sent)
    assert rig.web.log().count(f"panic page press {second} ") == 1
    assert stored(page, "queue") is None
    wait_until(lambda: len(rig.incidents()) == 2, 10, "the second incident")
    assert len(rig.stored_alarms()) == 2  # one event per hold: the retry raised nothing new
    assert first != second

    # The token never went to the server in a URL.
    assert not [r.url for r in requests if rig.token in r.url]
    for name in ("idle", "holding", "received", "coming"):
        assert is_png(rig.shots / f"panic-page-{name}.png"), name
    assert errors == []  # no script error on the page, before or after the reload
    ctx.close()


def test_panic_page_without_its_link_asks_for_it_and_speaks_english(rig: Rig, pw: Playwright) -> None:
    """Opened without the link (an installed app on a phone that keeps its own storage): the page
    asks for the link; pasted, it works. The phone prefers English, so the page does too."""
    browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_context(viewport=PHONE, has_touch=True, locale="en-GB").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{rig.web.url}/app/")
    assert page.is_visible("#setup") and page.is_disabled("#alarm")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.fill("#link", f"https://alarm.fast.invalid:8443/app/#token={rig.token}")
    page.click("#setup button")
    wait_until(lambda: page.inner_text("#owner") == "Panic button of An Peeters", 10, "whoami")
    assert page.is_hidden("#setup") and page.is_enabled("#alarm")
    assert page.inner_text("label[for=where]") == "Address of the visit"
    page.tap("#alarm")
    wait_until(lambda: page.inner_text("#hint") == "Press and hold", 5, "the hint")
    assert stored(page, "queue") is None and rig.incidents() == []
    assert errors == []
    browser.close()


def test_panic_page_says_nobody_reachable_when_everyone_is_absent(rig: Rig, pw: Playwright) -> None:
    """Everyone the huisbezoek room's escalation names (an, dirk, the leads bart and chris,
    reception els) is marked absent; a hold on An's panic page: the page shows, in one discreet
    line, "Niemand bereikbaar. Bel zelf 101." (the desk LED's pattern), until someone acknowledges
    after all."""
    for p in ("an", "bart", "chris", "dirk", "els"):
        out = rig.cli("presence", "absent", "--as", p)
        assert out.returncode == 0, out.stderr
    ctx = phone(pw, rig.dir / "profile", rig.web.url)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{rig.web.url}/app/#token={rig.token}")
    wait_until(lambda: page.inner_text("#owner") == "Paniekknop van An Peeters", 10, "whoami")
    hold(page)
    shows(page, "nobody", 20)
    assert status(page)[1] == "Niemand bereikbaar. Bel zelf 101."
    page.screenshot(path=str(rig.shots / "panic-page-nobody.png"))
    (inc,) = rig.incidents()
    topic = T.incident(inc["incident_id"])
    wait_until(
        lambda: bool(rig.seen.on(topic)) and rig.seen.incident_state(inc["incident_id"]).nobody_reachable,
        10,
        "the consoles' badge",
    )
    # still discreet: the same small status line, no animation
    assert page.evaluate("getComputedStyle(document.getElementById('status')).animationName") == "none"
    # someone acknowledges after all: "hulp komt"
    ack = rig.cli("ack", inc["incident_id"], "--as", "an")
    assert ack.returncode == 0, ack.stderr
    shows(page, "coming")
    assert status(page)[1] == "hulp komt"
    assert is_png(rig.shots / "panic-page-nobody.png")
    assert errors == []
    ctx.close()


def test_panic_page_nobody_reachable_in_english(rig: Rig, pw: Playwright) -> None:
    """The same on a phone that prefers English: "Nobody reachable. Call 101 yourself."."""
    for p in ("an", "bart", "chris", "dirk", "els"):
        assert rig.cli("presence", "absent", "--as", p).returncode == 0
    browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_context(viewport=PHONE, has_touch=True, locale="en-GB").new_page()
    page.goto(f"{rig.web.url}/app/#token={rig.token}")
    wait_until(lambda: page.inner_text("#owner") == "Panic button of An Peeters", 10, "whoami")
    hold(page)
    shows(page, "nobody", 20)
    assert status(page)[1] == "Nobody reachable. Call 101 yourself."
    browser.close()
