"""Registration of every incident ("Melding agressie") with real processes: a broker, the console
service, alarm-web and the CLI. Hanne (staff, sociale dienst, lead An, deputy Dirk who is also
Preventie) files her part from the phone form; Ilse files hers from the CLI; An completes them; the
wrong person, an unknown incident and oversized text are refused with a reason and change nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.topics import Topics
from tests.e2e.test_report_browser import CHROMIUM_FLAGS
from tests.harness import wait_until
from tests.rig import WebRig

SITE = parse_site(VISIT_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
WHAT = "Een cliënt riep en dreigde in de wachtzaal."


class RegSystem(WebRig):
    def __init__(self, dir: Path) -> None:
        super().__init__(dir, VISIT_SITE)
        self.token = self.tokens["gsm-hanne"]

    def form(self, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.post(f"{self.web.url}/app/api/register", json=body, headers=headers, timeout=15)

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A person's command (`--broker-dir` added), as it ends."""
        return self.cli(*args, "--broker-dir", str(self.broker.dir))


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RegSystem]:
    s = RegSystem(tmp_path)
    yield s
    s.stop()


def test_filed_from_the_form_completed_by_the_lead_and_told_to_prevention(system: RegSystem) -> None:
    body = {
        "registration_id": "reg-e2e-1",
        "place_kind": "wachtzaal",
        "what_happened": WHAT,
        "aggression_types": ["verbaal", "psychisch"],
        "how_are_you": "Geschrokken.",
        "alcohol_drugs": True,
        "room_id": "wachtzaal",
    }
    r = system.form(body)
    assert r.status_code == 200 and r.json()["ok"] and r.json()["registration_id"] == "reg-e2e-1", r.text
    again = system.form(body)  # the page's retry with the same id
    assert again.status_code == 200 and again.json()["ok"], again.text
    (filed,) = system.facts("registration_filed")
    assert filed["person_id"] == "hanne" and filed["team_id"] == "sociale-dienst"
    assert (
        filed["place_kind"] == "wachtzaal"
        and filed["alcohol_drugs"] is True
        and filed["room_id"] == "wachtzaal"
    )
    assert WHAT not in system.web.log()  # what happened is never logged by alarm-web

    # bad input: refused with a reason, nothing recorded
    big = system.form({**body, "registration_id": "reg-e2e-2", "what_happened": "x" * 5000})
    assert big.status_code == 413, big.text
    long = system.form({**body, "registration_id": "reg-e2e-2", "what_happened": "x" * 4001})
    assert long.status_code in (413, 422), long.text
    unknown = system.form(
        {
            "registration_id": "reg-e2e-3",
            "incident_id": "inc-20200101-9",
            **{k: v for k, v in body.items() if k not in ("registration_id", "place_kind")},
        }
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_incident", unknown.text
    assert "inc-20200101-9" in unknown.json()["message"]
    forged = system.form({**body, "person_id": "ilse"})
    assert forged.status_code == 422
    assert len(system.facts("registration_filed")) == 1

    # the wrong person completing: refused, nothing recorded
    wrong = system.command("register", "complete", "reg-e2e-1", "--as", "chris", "--severity", "boosheid")
    assert wrong.returncode == 1 and "not_authorised" in wrong.stderr and "sociale" in wrong.stderr.lower()
    missing = system.command("register", "complete", "reg-nope", "--as", "an", "--severity", "boosheid")
    assert missing.returncode == 1 and "unknown_target" in missing.stderr
    assert system.facts("registration_completed") == []

    done = system.command(
        *("register", "complete", "reg-e2e-1", "--as", "an", "--severity", "agressie"),
        *("--sanctions", "waarschuwing", "--aftercare", "opvang"),
    )
    assert done.returncode == 0, done.stderr
    (completed,) = system.facts("registration_completed")
    assert completed["person_id"] == "an" and completed["sanctions"] == ["waarschuwing"]
    wait_until(
        lambda: any("reg-e2e-1" in n.title for n in system.seen.notifications("dirk")), 10, "Preventie told"
    )
    assert not any("reg-e2e-1" in n.title for n in system.seen.notifications("chris"))

    out = system.db("export", "--since", "2000-01-01", "--format", "json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["incident_id"] == "reg-e2e-1" and row["incident_kind"] == "registration"
    assert row["place_type"] == "wachtzaal" and row["reported_by"] == "hanne" and row["what_happened"] == WHAT
    assert row["severity"] == "agressie" and row["completed_by"] == "an" and row["complete"] == "ja"
    assert row["alcohol_drugs"] == "ja" and row["aggression_types"] == "verbaal;psychisch"

    # privacy: the victim and Preventie read it, a lead of another team does not; the right of access
    def readers(*who: str) -> list[str]:
        got = system.db("export", "--since", "2000-01-01", "--format", "json", *who)
        assert got.returncode == 0, got.stderr
        return [r["incident_id"] for r in json.loads(got.stdout)]

    assert readers("--as", "hanne", "--mine") == ["reg-e2e-1"]
    assert readers("--as", "dirk") == ["reg-e2e-1"] and readers("--as", "an") == ["reg-e2e-1"]
    assert readers("--as", "chris") == [] and readers("--as", "ilse", "--mine") == []
    no_who = system.db("export", "--since", "2000-01-01", "--mine")
    assert no_who.returncode == 2 and "--as" in no_who.stderr


def test_filed_from_the_cli_with_a_weapon_needs_the_police(system: RegSystem) -> None:
    filed = system.command(
        *("register", "file", "--as", "ilse", "--place", "spreekkamer", "--room", "spreekkamer-1"),
        *(
            "--what",
            "Hij toonde een mes.",
            "--form",
            "fysiek,verbaal",
            "--weapon",
            "--registration-id",
            "reg-e2e-9",
        ),
    )
    assert filed.returncode == 0 and "reg-e2e-9" in filed.stdout, filed.stderr
    bad = system.command("register", "complete", "reg-e2e-9", "--as", "dirk", "--severity", "geweld")
    assert bad.returncode == 1 and "invalid" in bad.stderr and "101" in bad.stderr
    ok = system.command(
        "register", "complete", "reg-e2e-9", "--as", "dirk", "--severity", "geweld", "--pv", "PV 26/123"
    )
    assert ok.returncode == 0, ok.stderr
    (completed,) = system.facts("registration_completed")
    assert completed["police_called"] is True and completed["pv_number"] == "PV 26/123"
    bad_form = system.command(
        "register", "file", "--as", "ilse", "--place", "balie", "--what", "x", "--form", "boos"
    )
    assert bad_form.returncode == 2 and "invalid" in bad_form.stderr


def test_the_registration_page_loads_in_a_real_browser(system: RegSystem) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    assert httpx.get(f"{system.web.url}/app/register.js", timeout=10).status_code == 200
    url = f"{system.web.url}/app/register.html#token={system.token}"
    dom = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={system.dir / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout  # fmt: skip
    assert "Aangemeld als Hanne Wouters." in dom
    assert '<option value="buiten">Buiten de organisatie</option>' in dom
    assert 'id="c-telephone_stalking"' in dom and "Telefonische stalking" in dom
    assert '<option value="spreekkamer-1">' in dom  # the optional room
    assert system.token not in dom


def test_the_board_report_counts_registrations_and_the_year_in_chromium(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from stilalarm.console.reporting import monthly
    from stilalarm.console.reporting.fold import build
    from stilalarm.console.reporting.html import render_html
    from tests.unit.test_registration_reports import filed, log

    earlier = [
        filed(f"reg-old-{n}", datetime(2025, 11, 15, tzinfo=UTC) + timedelta(days=31 * n)) for n in range(12)
    ]
    recs = build(SITE, [*earlier, *log()]).incidents
    f = monthly.compute(SITE, "2026-11", recs, [], [], datetime(2026, 12, 5, tzinfo=UTC))
    assert list(f.year) == [f"2025-{m:02d}" for m in range(11, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]
    assert f.year["2026-11"] == 3 and f.without_alarm == 2 and f.incomplete == 1
    page = tmp_path / "report.html"
    page.write_text(render_html(f), encoding="utf-8")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    dom = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Deze maand tegenover de vorige twaalf" in dom and "registraties zonder alarm" in dom
    year = dom.split("Deze maand tegenover de vorige twaalf", 1)[1].split("</section>", 1)[0]
    assert year.count('class="bar"') == 13
    assert "telefoon" in dom and "buiten" in dom  # places of registrations without an alarm


def test_preventie_receives_the_completed_registration_by_e_mail_and_webhook_with_the_record(
    tmp_path: Path,
) -> None:
    import base64

    from tests.e2e.test_delivery_peers import Inbox, smtp_server
    from tests.peers import Hook

    inbox = Inbox()
    smtp = smtp_server(inbox)
    hook = Hook()
    text = VISIT_SITE.replace(
        'id = "dirk"\nname = "Dirk Maes"\nroles = ["deputy", "prevention"]',
        'id = "dirk"\nname = "Dirk Maes"\nroles = ["deputy", "prevention"]\nemail = "dirk@example.org"\n'
        f'apprise = [{{ url = "json://127.0.0.1:{hook.port}/hook" }}]\n'
        'channels = [{ kind = "console" }, { kind = "email" }, { kind = "apprise" }]',
    ) + (
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
        'from_addr = "stilalarm@example.org"\ntimeout_s = 1\n'
    )
    assert "dirk@example.org" in text
    site = parse_site(text)
    (tmp_path / "site.toml").write_text(text)
    broker = LocalBroker(site, tmp_path / "broker")
    broker.start()
    console = ServiceProcess(tmp_path / "site.toml", tmp_path / "c.db", broker.dir, tmp_path / "c.log")
    try:
        console.start()
        console.wait_ready()
        b = ["--broker-dir", str(broker.dir)]

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*CLI, *args, *b], capture_output=True, text=True, timeout=30, check=False)

        filed = cli(
            *("register", "file", "--as", "ilse", "--place", "telefoon", "--telephone-stalking"),
            *(
                "--what",
                "Belt elke dag en dreigt.",
                "--form",
                "verbaal,psychisch",
                "--registration-id",
                "reg-mail-1",
            ),
        )
        assert filed.returncode == 0, filed.stderr
        assert inbox.messages == []  # not complete yet: nothing to Preventie
        done = cli("register", "complete", "reg-mail-1", "--as", "an", "--severity", "agressie", "--police")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: len(inbox.messages) >= 1, 15, "Dirk's e-mail")
        mail = inbox.messages[0]
        assert mail["To"] == "dirk@example.org" and "reg-mail-1" in str(mail["Subject"])
        (att,) = list(mail.iter_attachments())
        assert att.get_filename() == "melding-reg-mail-1.json"
        rec = json.loads(att.get_content())
        assert (
            rec["person_id"] == "ilse" and rec["completed_by"] == "an" and rec["telephone_stalking"] is True
        )
        assert rec["what_happened"] == "Belt elke dag en dreigt." and rec["police_called"] is True
        wait_until(lambda: len(hook.posts) >= 1, 15, "Dirk's webhook post")
        _path, body = hook.posts[0]
        (att,) = body["attachments"]
        assert att["filename"] == "melding.json" and json.loads(base64.b64decode(att["base64"])) == rec
    finally:
        console.kill()
        broker.kill()
        smtp.stop()
        hook.close()


def test_alarm_webs_own_login_cannot_complete_a_registration(system: RegSystem) -> None:
    """With alarm-web's broker password an attacker could file in a token holder's name, but never
    complete a registration: on person/P/webcmd the console refuses registration_complete."""
    import uuid

    from stilalarm.wire.link import Link
    from stilalarm.wire.messages import CommandReply, RegistrationCompleteCmd, Severity, encode, parse, utcnow

    r = system.form(
        {
            "registration_id": "reg-e2e-7",
            "place_kind": "balie",
            "what_happened": WHAT,
            "aggression_types": ["fysiek"],
        }
    )
    assert r.status_code == 200, r.text
    attacker = Link(system.broker.creds("web"), client_id="web.attacker")
    replies: list[CommandReply] = []
    attacker.subscribe(T.person_reply("an"), lambda _t, p: replies.append(parse(CommandReply, p)))
    attacker.start()
    assert attacker.wait_connected(5)
    try:
        cmd = RegistrationCompleteCmd(
            cmd_id=uuid.uuid4(),
            person_id="an",
            issued_at=utcnow(),
            registration_id="reg-e2e-7",
            severity=Severity.BOOSHEID,
        )
        attacker.publish(T.person_webcmd("an"), encode(cmd), qos=1)
        wait_until(lambda: len(replies) >= 1, 10, "the console's refusal")
        assert replies[0].cmd_id == cmd.cmd_id and not replies[0].ok and replies[0].code == "not_authorised"
        assert system.facts("registration_completed") == []
    finally:
        attacker.stop()


def test_a_part_is_corrected_by_its_author_only_and_preventie_gets_the_correction(system: RegSystem) -> None:
    """Hanne files from the CLI, An completes, Preventie (Dirk) gets it. Then the attack: Ilse (a
    colleague) and Dirk (Preventie, deputy) try to correct parts that are not theirs: refused with a
    reason, nothing changes. Unknown registration and oversized text: refused, nothing changes.
    Hanne and An correct their own parts: the export shows the new versions, the log keeps the old
    ones, and Preventie gets each correction with the new record through the tracked delivery."""
    filed = system.command(
        *("register", "file", "--as", "hanne", "--place", "balie", "--what", WHAT, "--form", "verbaal"),
        *("--registration-id", "reg-e2e-c"),
    )
    assert filed.returncode == 0, filed.stderr
    done = system.command("register", "complete", "reg-e2e-c", "--as", "an", "--severity", "boosheid")
    assert done.returncode == 0, done.stderr

    def told(word: str) -> list[Any]:
        return [n for n in system.seen.notifications("dirk") if "reg-e2e-c" in n.title and word in n.title]

    wait_until(lambda: bool(told("Melding agressie")), 10, "Preventie told of the completed registration")
    better = "Een cliënt riep, dreigde en duwde mij in de wachtzaal."
    victim_fix = ("--what", better, "--form", "verbaal,fysiek", "--how", "Blauwe plek.")

    # the attack: someone else corrects a part; and bad input. Refused, nothing recorded.
    other = system.command("register", "correct", "reg-e2e-c", "--as", "ilse", *victim_fix)
    assert other.returncode == 1 and "not_authorised" in other.stderr, other.stderr
    assert "deel van het slachtoffer" in other.stderr
    preventie = system.command("register", "correct", "reg-e2e-c", "--as", "dirk", "--severity", "geweld")
    assert preventie.returncode == 1 and "not_authorised" in preventie.stderr, preventie.stderr
    lead_by_victim = system.command(
        "register", "correct", "reg-e2e-c", "--as", "hanne", "--severity", "geweld"
    )
    assert lead_by_victim.returncode == 1 and "not_authorised" in lead_by_victim.stderr
    unknown = system.command("register", "correct", "reg-nope", "--as", "hanne", *victim_fix)
    assert unknown.returncode == 1 and "unknown_target" in unknown.stderr
    huge = system.command(
        "register", "correct", "reg-e2e-c", "--as", "hanne", "--what", "x" * 4001, "--form", "verbaal"
    )
    assert huge.returncode == 2 and "what_happened" in huge.stderr
    both = system.command(
        "register", "correct", "reg-e2e-c", "--as", "hanne", *victim_fix, "--severity", "geweld"
    )
    assert both.returncode == 2 and "one part" in both.stderr
    assert system.facts("registration_corrected") == []
    refused = system.facts("command_rejected")
    assert {f["person_id"] for f in refused if f["cmd_kind"] == "registration_correct"} == {
        "ilse",
        "dirk",
        "hanne",
    }

    def export_row() -> dict[str, Any]:
        out = system.db("export", "--since", "2000-01-01", "--format", "json")
        assert out.returncode == 0, out.stderr
        (row,) = json.loads(out.stdout)
        return dict(row)

    row = export_row()
    assert (row["what_happened"], row["severity"], row["corrected_by"]) == (WHAT, "boosheid", "")

    # the authors correct their own parts
    mine = system.command("register", "correct", "reg-e2e-c", "--as", "hanne", *victim_fix)
    assert mine.returncode == 0, mine.stderr
    lead = system.command(
        *("register", "correct", "reg-e2e-c", "--as", "an", "--severity", "agressie", "--police"),
        *("--pv", "PV 26/777", "--note", "Duw bevestigd door collega."),
    )
    assert lead.returncode == 0, lead.stderr
    wait_until(lambda: len(told("gecorrigeerd")) == 2, 10, "Preventie told of both corrections")
    newest = json.loads(told("gecorrigeerd")[-1].record or "{}")
    assert newest["what_happened"] == better and newest["severity"] == "agressie"
    assert (newest["corrected_by"], newest["corrected_part"], newest["pv_number"]) == (
        "an",
        "lead",
        "PV 26/777",
    )

    # the log keeps every version with its author and time; the export shows the newest
    (first,) = system.facts("registration_filed")
    assert first["what_happened"] == WHAT and first["person_id"] == "hanne"
    fixes = system.facts("registration_corrected")
    assert [(f["person_id"], f["victim"] is not None) for f in fixes] == [("hanne", True), ("an", False)]
    row = export_row()
    assert row["what_happened"] == better and row["aggression_types"] == "verbaal;fysiek"
    assert row["severity"] == "agressie" and row["police_called"] == "ja"
    assert row["reported_by"] == "hanne" and row["completed_by"] == "an"
    assert row["corrected_by"] == "hanne;an" and row["corrected_at"]
