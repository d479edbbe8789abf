"""Home visits with real processes: a broker, the console service, alarm-web, and an HTTP client doing
what the visit page does. The test site (stilalarm.devkit.webrun.VISIT_SITE) runs in seconds: overdue
1.2 s after the planned end, the team lead 3 s later, everyone 3 s after that. Hanne (staff, sociale
dienst, lead An) registers the visit from her phone; Ilse is the agreed colleague."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stilalarm.devkit.webrun import VISIT_SITE, tokens
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import IncidentStatus, Notification, utcnow
from stilalarm.wire.topics import Topics
from tests.e2e.test_report_browser import CHROMIUM_FLAGS
from tests.harness import wait_until
from tests.rig import WebRig

SITE = parse_site(VISIT_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
ADDRESS = "Kerkstraat 12, 3550 Heusden-Zolder"
CLIENT = "Jan Klant"
CALL = "Bel Hanne Wouters op 0470 12 34 56"
POLICE = f"Verwittig de politie (101): vraag een plaatsbezoek op {ADDRESS}."
EVERYONE = ("chris", "els", "dirk")  # with An: all leads, reception, prevention


class VisitSystem(WebRig):
    def __init__(self, dir: Path) -> None:
        super().__init__(dir, VISIT_SITE)
        self.token = self.tokens["gsm-hanne"]

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.post(f"{self.web.url}{path}", json=body, headers=headers, timeout=15)

    def visit(self, visit_id: str, in_s: float, **kw: Any) -> httpx.Response:
        body = {
            "visit_id": visit_id,
            "client_name": CLIENT,
            "address": ADDRESS,
            "planned_end": (utcnow() + timedelta(seconds=in_s)).isoformat(),
            "colleague": "ilse",
            "mobile": "0470 12 34 56",
            **kw,
        }
        return self.post("/app/api/visit", body)

    def kinds(self) -> list[str]:
        return [str(f["kind"]) for f in self.facts()]

    def notes(self, person: str, key: str = "") -> list[Notification]:
        return [n for n in super().notes(person) if key in n.body or key in n.title]

    def incidents(self) -> list[str]:
        return sorted({tid for t, _p, _r in self.seen.messages if (tid := T.parse_tail(t, "incident"))})


@pytest.fixture
def system(tmp_path: Path) -> Iterator[VisitSystem]:
    s = VisitSystem(tmp_path)
    yield s
    s.stop()


def _no_private_data_outside(s: VisitSystem, reached: set[str]) -> None:
    """The client's name and the address went only to those the escalation reached, in their own
    notifications (and from Hanne's phone to the console in her own command); never in a retained
    state, a timeline, a reply, a log line or anyone else's notifications."""
    for topic, payload, _r in s.seen.messages:
        parsed = T.parse_person(topic)
        if parsed is not None and parsed[0] in reached and parsed[1].value == "notify":
            continue
        if topic in (T.person_cmd("hanne"), T.person_webcmd("hanne")):
            continue
        text = payload.decode(errors="replace")
        assert ADDRESS not in text and CLIENT not in text, topic
    for line in (s.web.log(), s.console.log()):
        assert ADDRESS not in line and CLIENT not in line


def test_an_overdue_visit_escalates_colleague_lead_everyone_with_the_police_instruction(
    system: VisitSystem,
) -> None:
    r = system.visit("v-e2e-1", 2)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] and r.json()["visit_id"] == "v-e2e-1" and "Meld je af" in r.json()["message"]
    again = system.visit("v-e2e-1", 2)  # the page's retry: answered, nothing new
    assert again.status_code == 200 and again.json()["ok"]
    listed = httpx.get(
        f"{system.web.url}/app/api/visits", headers={"Authorization": f"Bearer {system.token}"}, timeout=10
    ).json()
    assert [v["visit_id"] for v in listed["visits"]] == ["v-e2e-1"] and listed["name"] == "Hanne Wouters"
    assert {"id": "ilse", "name": "Ilse Jacobs"} in listed["colleagues"]

    wait_until(lambda: system.notes("ilse", "Bel Hanne"), 15, "the colleague told to call")
    first = system.notes("ilse", "Bel Hanne")[0]
    assert first.call == CALL and first.address == ADDRESS and CLIENT in first.body and not first.call_101
    wait_until(lambda: system.incidents() != [], 10, "the incident's retained state (after the page)")
    (inc,) = system.incidents()
    assert first.incident_id == inc
    wait_until(lambda: system.notes("an", POLICE), 15, "the team lead told to warn the police")
    lead = system.notes("an", POLICE)[0]
    assert lead.call_101 and lead.call == CALL and lead.address == ADDRESS
    for p in EVERYONE:
        wait_until(lambda p=p: system.notes(p, POLICE), 15, f"everyone: {p}")
    state = system.seen.incident_state(inc)
    assert state.kind == "overdue" and state.visitor == "hanne" and state.visit_id == "v-e2e-1"
    assert (
        state.level == 3 and state.call_101 and state.unit_id is None and state.status is IncidentStatus.OPEN
    )
    assert set(state.notified) == {"ilse", "an", *EVERYONE}
    assert system.incidents() == [inc]  # one incident, whatever the retries and repeats

    # An takes it up, the police go; she registers it like any alarm
    ack = system.cli("ack", inc, "--as", "an", "--broker-dir", str(system.broker.dir))
    assert ack.returncode == 0, ack.stderr
    res = system.cli(
        *("resolve", inc, "--as", "an", "--type", "verbaal", "--severity", "agressie", "--police"),
        *("--note", "politie ter plaatse, cliënt dreigend", "--broker-dir", str(system.broker.dir)),
    )
    assert res.returncode == 0, res.stderr
    wait_until(lambda: system.seen.incident_state(inc).status is IncidentStatus.RESOLVED, 10, "resolved")
    wait_until(lambda: system.seen.on(T.timeline(inc)), 5, "the retained timeline")
    timeline = json.loads(system.seen.on(T.timeline(inc))[-1])
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds[:2] == ["overdue", "notified"] and kinds.count("escalated") == 2
    assert "acknowledged" in kinds and kinds[-1] == "resolved"
    assert [k for k in system.kinds() if k == "overdue_raised"] == ["overdue_raised"]

    out = system.cli(
        *("export", "--since", "2000-01-01", "--format", "json"),
        *("--site", str(system.dir / "site.toml"), "--db", str(system.console.db)),
    )
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert (
        row["incident_id"] == inc and row["incident_kind"] == "overdue" and row["place_type"] == "huisbezoek"
    )
    assert row["levels_reached"] == 3 and row["acknowledged_by"] == "an" and row["police_called"] == "ja"
    assert row["visit_address"] == ADDRESS  # it escalated: the police were asked to go there
    _no_private_data_outside(system, {"ilse", "an", *EVERYONE})


def test_a_visit_ended_in_time_raises_nothing(system: VisitSystem) -> None:
    r = system.visit("v-e2e-2", 3)
    assert r.status_code == 200, r.text
    end = system.post("/app/api/visit/v-e2e-2/end")
    assert end.status_code == 200 and end.json()["ok"], end.text
    again = system.post("/app/api/visit/v-e2e-2/end")  # the page's retry
    assert again.status_code == 200 and again.json()["ok"]
    wait_until(lambda: "visit_ended" in system.kinds(), 5, "the check-in stored")
    # well past the planned end + grace + every escalation delay: nothing happened
    deadline = utcnow() + timedelta(seconds=3 + 1.2 + 3 + 3 + 1)
    wait_until(lambda: utcnow() >= deadline, 15, "the time a forgotten visit would have escalated")
    assert system.incidents() == []
    assert "overdue_raised" not in system.kinds()
    for p in ("ilse", "an", *EVERYONE):
        assert system.notes(p) == [], p
    listed = httpx.get(
        f"{system.web.url}/app/api/visits", headers={"Authorization": f"Bearer {system.token}"}, timeout=10
    ).json()
    assert listed["visits"] == [
        {"visit_id": "v-e2e-2", "planned_end": listed["visits"][0]["planned_end"], "ended": True}
    ]
    _no_private_data_outside(system, set())


def test_reached_all_ok_closes_it_and_the_export_has_no_address(system: VisitSystem) -> None:
    r = system.visit("v-e2e-3", 1)
    assert r.status_code == 200, r.text
    wait_until(lambda: system.notes("ilse", "Bel Hanne"), 15, "the colleague told to call")
    wait_until(lambda: system.incidents() != [], 10, "the incident's retained state (after the page)")
    (inc,) = system.incidents()
    answer = system.cli(
        "visit", "answer", "v-e2e-3", "--reached", "--as", "ilse", "--broker-dir", str(system.broker.dir)
    )
    assert answer.returncode == 0, answer.stderr
    wait_until(lambda: system.seen.incident_state(inc).status is IncidentStatus.RESOLVED, 10, "closed")
    state = system.seen.incident_state(inc)
    assert state.resolved_by == "ilse" and state.level == 1
    assert system.notes("an", POLICE) == []  # closed before the lead was needed
    wait_until(lambda: system.seen.on(T.timeline(inc)), 5, "the retained timeline")
    timeline = json.loads(system.seen.on(T.timeline(inc))[-1])
    assert [e["kind"] for e in timeline["entries"]][-2:] == ["visit_reached", "resolved"]
    # the visitor comes back later and checks in: already closed, answered ok, nothing more
    end = system.post("/app/api/visit/v-e2e-3/end")
    assert end.status_code == 200 and end.json()["ok"]
    out = system.cli(
        *("export", "--since", "2000-01-01", "--format", "json"),
        *("--site", str(system.dir / "site.toml"), "--db", str(system.console.db)),
    )
    (row,) = json.loads(out.stdout)
    assert row["incident_kind"] == "overdue" and row["false_alarm"] == "ja" and row["visit_address"] == ""
    assert row["description"] == "huisbezoek: bereikt, alles ok"
    _no_private_data_outside(system, {"ilse"})


def test_visit_requests_are_checked_like_every_other(system: VisitSystem) -> None:
    bad = system.post("/app/api/visit", {"address": ADDRESS, "planned_end": "16:30", "mobile": "x"})
    assert bad.status_code == 422 and bad.json()["error"] == "bad_body"
    past = system.visit("v-e2e-4", -60)
    assert past.status_code == 422 and past.json()["error"] == "invalid"
    other_team = system.visit("v-e2e-5", 60, team="onthaal")
    assert other_team.status_code == 403 and other_team.json()["error"] == "not_authorised"
    phone = httpx.post(
        f"{system.web.url}/app/api/visit",
        json={"address": ADDRESS},
        headers={"Authorization": f"Bearer {tokens(system.broker.dir)['tel-balie-1']}"},
        timeout=10,
    )
    assert phone.status_code == 403 and phone.json()["error"] == "wrong_device"
    nobody = httpx.post(f"{system.web.url}/app/api/visit/v-x/end", timeout=10)
    assert nobody.status_code == 401
    assert not any(k.startswith("visit_started") for k in system.kinds())
    # a reply the console never gives (it is stopped): 503, and the page's retry with the same id works
    system.console.kill()
    slow = system.visit("v-e2e-6", 60)
    assert (
        slow.status_code == 503
        and slow.json()["error"] == "no_reply"
        and slow.json()["visit_id"] == "v-e2e-6"
    )
    system.console.start()
    system.console.wait_ready()
    ok = system.visit("v-e2e-6", 60)
    assert ok.status_code == 200 and ok.json()["ok"], ok.text
    wait_until(lambda: system.kinds().count("visit_started") >= 1, 5, "the visit stored")
    assert system.kinds().count("visit_started") == 1  # the first publish may arrive late: still once


def test_the_visit_page_loads_in_a_real_browser_with_the_persons_colleagues(system: VisitSystem) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    assert httpx.get(f"{system.web.url}/app/visit.js", timeout=10).status_code == 200
    url = f"{system.web.url}/app/visit.html#token={system.token}"
    dom = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={system.dir / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout  # fmt: skip
    assert "Aangemeld als Hanne Wouters." in dom and '<option value="ilse">Ilse Jacobs</option>' in dom
    assert system.token not in dom  # the token is never written into the page
