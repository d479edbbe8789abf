"""Desk phones' alarm keys through alarm-web, with real processes: broker, console, alarm-web,
and an HTTP client doing what a phone does (a plain GET with the token in the URL)."""

from __future__ import annotations

import json
import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.devkit.webrun import WEB_SITE, WebProcess, tokens
from stilalarm.inventory.load import parse_site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    IncidentStatus,
    PresenceCmd,
    UnitHealth,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import fill, make_site_ca, wait_until
from tests.rig import WebRig

SITE = parse_site(WEB_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
PHONE = "telefoon-balie-1"  # room balie-1, team onthaal: chris, then bart, then everyone


class WebSystem(WebRig):
    def get(self, path: str, token: str | None, **kw: object) -> httpx.Response:
        params = {"token": token} if token is not None else {}
        return httpx.get(f"{self.web.url}{path}", params=params, timeout=10, **kw)  # type: ignore[arg-type]

    def incidents(self) -> list[str]:
        return sorted({tid for t, _p, _r in self.seen.messages if (tid := T.parse_tail(t, "incident"))})


def _system(tmp_path: Path, site_text: str) -> Iterator[WebSystem]:
    s = WebSystem(tmp_path, site_text)
    yield s
    s.stop()


@pytest.fixture
def system(tmp_path: Path) -> Iterator[WebSystem]:
    yield from _system(tmp_path, WEB_SITE)


def receipted_incident(s: WebSystem, event_id: str, timeout: float = 10) -> str:
    """The incident the console stored this event under (from its log of facts)."""

    def find() -> str | None:
        for f in s.facts():
            if f.get("event_id") == event_id and f.get("incident_id"):
                return str(f["incident_id"])
        return None

    wait_until(lambda: find() is not None, timeout, f"the console storing {event_id}")
    inc = find()
    assert inc is not None
    return inc


def test_a_phone_get_is_one_incident_that_escalates_and_is_registered(system: WebSystem) -> None:
    r = system.get("/phone/press", system.tokens["tel-balie-1"])
    assert r.status_code == 200 and r.json()["ok"] and r.json()["kind"] == "alarm"
    inc = receipted_incident(system, r.json()["event_id"])
    wait_until(lambda: system.seen.alarm_notifications("chris"), 10, "the team lead's notice")
    first = system.seen.alarm_notifications("chris")[0]
    assert first.level == 1 and first.incident_id == inc and first.title.startswith("ALARM Balie 1")
    assert "Via de alarmtoets van de bureautelefoon." in first.body
    wait_until(lambda: system.seen.alarm_notifications("bart"), 10, "the deputy's notice")
    wait_until(lambda: system.seen.alarm_notifications("els"), 10, "everyone, with 101")
    top = system.seen.alarm_notifications("els")[0]
    assert top.level == 3 and top.call_101 and "Bel 101" in top.body
    state = system.seen.incident_state(inc)
    assert state.unit_id == PHONE and state.room_id == "balie-1"
    # the lead acknowledges; the timeline and the registration are those of any alarm
    ack = system.cli("ack", inc, "--as", "chris", "--broker-dir", str(system.broker.dir))
    assert ack.returncode == 0, ack.stderr
    res = system.cli(
        *("resolve", inc, "--as", "chris", "--type", "verbaal", "--severity", "agressie"),
        *("--note", "via telefoon", "--broker-dir", str(system.broker.dir)),
    )
    assert res.returncode == 0, res.stderr
    wait_until(lambda: system.seen.incident_state(inc).status is IncidentStatus.RESOLVED, 10, "resolved")
    wait_until(lambda: system.seen.on(T.timeline(inc)), 5, "the retained timeline")
    timeline = json.loads(system.seen.on(T.timeline(inc))[-1])
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds[0] == "pressed" and "acknowledged" in kinds and "resolved" in kinds
    out = system.cli("incidents", "--json", "--db", str(system.console.db))
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert (
        row["incident_id"] == inc
        and row["unit_id"] == PHONE
        and row["registration"]["severity"] == "agressie"
    )


def test_retries_and_a_second_press_join_the_same_incident(system: WebSystem) -> None:
    token = system.tokens["tel-balie-1"]
    answers = [system.get("/phone/press", token) for _ in range(3)]  # a retry, a press again
    assert [a.status_code for a in answers] == [200, 200, 200]
    events = {a.json()["event_id"] for a in answers}
    assert len(events) == 3
    incidents = {receipted_incident(system, e) for e in events}
    assert len(incidents) == 1
    # a press from the other phone (another room, another team) is its own incident
    other = system.get("/phone/press", system.tokens["tel-spreekkamer-1"])
    assert receipted_incident(system, other.json()["event_id"]) not in incidents


def test_bad_tokens_floods_and_oversized_bodies_are_refused_and_change_nothing(system: WebSystem) -> None:
    t = system.tokens
    cases = {
        "missing": system.get("/phone/press", None),
        "malformed": system.get("/phone/press", "not a token!"),
        "unknown": system.get("/phone/press", "A" * 32),
        "revoked": system.get("/phone/press", t["tel-oud"]),
        "panic-page token on the phone route": system.get("/phone/press", t["gsm-an"]),
    }
    expect = {
        "missing": (401, "token_missing"),
        "malformed": (401, "token_malformed"),
        "unknown": (401, "token_unknown"),
        "revoked": (403, "token_revoked"),
        "panic-page token on the phone route": (403, "wrong_device"),
    }
    for name, r in cases.items():
        assert (r.status_code, r.json()["error"]) == expect[name], name
        assert r.json()["message"], name
    url = f"{system.web.url}/phone/press?token={t['tel-spreekkamer-1']}"
    big = httpx.post(url, content=b"x" * 5000, timeout=10)  # announced length over the limit
    assert big.status_code == 413 and big.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    streamed = httpx.post(url, content=chunks(), timeout=10)  # chunked: no length announced
    assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
    wrong_method = httpx.put(url, timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    # a flood on one token: the burst (5) passes, the rest is told to wait
    flood = [system.get("/phone/alive", t["tel-spreekkamer-1"]) for _ in range(30)]
    limited = [r for r in flood if r.status_code == 429]
    assert limited and all(
        r.json()["error"] == "rate_limited" and "Retry-After" in r.headers for r in limited
    )
    # nothing reached the console: no event, no incident
    assert not [f for f in system.facts() if f.get("kind") in ("alarm_raised", "pressed", "event_stored")]
    assert system.incidents() == []
    assert not any(
        f.get("unit_id") in (PHONE, "telefoon-spreekkamer-1") and "event_id" in f for f in system.facts()
    )
    # and no token is ever written to the log
    log = system.web.log()
    assert "refused" in log and "token_revoked" in log
    for secret in t.values():
        assert secret not in log


def _press_until_killed(s: WebSystem, token: str) -> None:
    """A phone's press that alarm-web never answers: it SIGKILLs itself (--crash-at)."""
    with pytest.raises(httpx.HTTPError):
        s.get("/phone/press", token)
    assert s.web.proc is not None
    wait_until(lambda: s.web.proc is not None and s.web.proc.poll() is not None, 10, "alarm-web dead")
    assert s.web.proc.returncode == -9


def _crashed_event(s: WebSystem, point: str) -> str:
    line = next(x for x in s.web.log().splitlines() if f"crashing at {point} of event" in x)
    return line.rsplit(" ", 1)[1]


def test_kill9_of_alarm_web_after_the_outbox_write_before_sending_loses_nothing(system: WebSystem) -> None:
    system.web.kill()
    system.web.start(["--crash-at", "store"]).wait_ready()
    _press_until_killed(system, system.tokens["tel-balie-1"])
    event_id = _crashed_event(system, "store")
    assert not any(f.get("event_id") == event_id for f in system.facts())  # only on alarm-web's disk
    system.web.start().wait_ready()
    inc = receipted_incident(system, event_id, timeout=20)  # resent from the outbox after the restart
    wait_until(lambda: system.seen.alarm_notifications("chris"), 10, "the lead's notice")
    assert {n.incident_id for n in system.seen.alarm_notifications("chris")} == {inc}
    assert "unreceipted event(s) from before; resending" in system.web.log()
    # the phone's own retry of that press joins the same incident
    again = system.get("/phone/press", system.tokens["tel-balie-1"])
    assert receipted_incident(system, again.json()["event_id"]) == inc


def test_kill9_of_alarm_web_at_the_receipt_loses_nothing_and_pages_once(system: WebSystem) -> None:
    system.web.kill()
    system.web.start(["--crash-at", "receipt"]).wait_ready()
    r = system.get("/phone/press", system.tokens["tel-balie-1"])
    assert r.status_code == 200  # answered once on disk; the receipt then kills alarm-web
    event_id = r.json()["event_id"]
    wait_until(lambda: system.web.proc is not None and system.web.proc.poll() is not None, 10, "killed")
    inc = receipted_incident(system, event_id)
    system.web.start().wait_ready()  # resends the event: the console answers "duplicate"
    wait_until(lambda: "stored by the console as incident" in system.web.log(), 20, "the receipt again")
    assert sum(1 for f in system.facts() if f.get("event_id") == event_id and f.get("incident_id")) == 1
    assert {n.incident_id for n in system.seen.alarm_notifications("chris")} == {inc}


def test_a_facilities_test_of_the_phone_key_never_pages(system: WebSystem) -> None:
    start = system.cli(
        "test", "start", "--as", "fien", "--unit", PHONE, "--broker-dir", str(system.broker.dir)
    )
    assert start.returncode == 0, start.stderr

    def in_test_mode() -> bool:
        r = system.get("/phone/press", None)  # refused, changes nothing: only to pace the loop
        assert r.status_code == 401
        return any(parse(UnitHealth, p).test_mode for p in system.seen.on(T.unitstate(PHONE)))

    wait_until(in_test_mode, 10, "the phone's unit in test mode")
    r = system.get("/phone/press", system.tokens["tel-balie-1"])
    assert r.status_code == 200 and r.json()["kind"] == "test"
    wait_until(lambda: any(f.get("event_id") == r.json()["event_id"] for f in system.facts()), 10, "stored")
    assert system.incidents() == []
    assert all(not system.seen.alarm_notifications(p) for p in ("an", "bart", "chris", "dirk", "els"))
    uuid.UUID(r.json()["event_id"])


@pytest.fixture
def quick_silence(tmp_path: Path) -> Iterator[WebSystem]:
    yield from _system(
        tmp_path, WEB_SITE.replace("phone_silent_after_min = 60", "phone_silent_after_min = 0.05")
    )


def test_a_silent_phone_is_a_fault_to_facilities_and_clears_when_heard(quick_silence: WebSystem) -> None:
    s = quick_silence

    def faulty(uid: str) -> bool:
        states = s.seen.on(T.unitstate(uid))
        return bool(states) and "unit:silent" in parse(UnitHealth, states[-1]).faults

    wait_until(lambda: faulty("telefoon-spreekkamer-1"), 20, "the silent fault")
    wait_until(lambda: any("silent" in n.body for n in s.seen.notifications("fien")), 10, "facilities told")
    r = s.get("/phone/alive", s.tokens["tel-spreekkamer-1"])
    assert r.status_code == 200
    wait_until(lambda: not faulty("telefoon-spreekkamer-1"), 10, "the fault cleared")
    assert "keep-alive from token tel-spreekkamer-1" in s.web.log()


def test_https_with_the_site_ca_and_nothing_without_it(tmp_path: Path) -> None:
    tls = make_site_ca(tmp_path / "tls", "localhost", "127.0.0.1")
    site_file = tmp_path / "site.toml"
    site_file.write_text(WEB_SITE)
    broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    web = WebProcess(broker.dir, tmp_path / "web", tmp_path / "web.log", tls_dir=tls)
    try:
        console.start()
        console.wait_ready()
        ca = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        web.start().wait_ready(verify=ca)
        assert web.url.startswith("https://")
        token = tokens(broker.dir)["tel-balie-1"]
        r = httpx.get(f"{web.url}/phone/press", params={"token": token}, verify=ca, timeout=10)
        assert r.status_code == 200 and r.json()["kind"] == "alarm"
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the site CA
            httpx.get(f"{web.url}/healthz", timeout=10)
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{web.port}/phone/press", params={"token": token}, timeout=10)
        wait_until(
            lambda: any(
                json.loads(x[0]).get("event_id") == r.json()["event_id"]
                for x in Store(console.db, readonly=True).db.execute("SELECT data FROM events").fetchall()
            ),
            10,
            "the press stored by the console",
        )
    finally:
        web.kill()
        console.kill()
        broker.kill()


def test_a_full_disk_under_alarm_web_still_pages_and_says_not_stored(tmp_path: Path, small_fs: Path) -> None:
    """Fail open: alarm-web's outbox on a real 4 MiB tmpfs that fills up. The press is answered
    503 (not stored: the phone or the page presses again) and still sent from memory: one incident,
    the lead paged. With space again, the next press is stored (200)."""
    gen = _system(tmp_path, WEB_SITE)
    s = next(gen)
    try:
        s.web.kill()
        s.web = WebProcess(s.broker.dir, small_fs / "web", tmp_path / "web-small.log").start()
        s.web.wait_ready()
        filler = small_fs / "filler"
        fill(filler)
        r = s.get("/phone/press", s.tokens["tel-balie-1"])
        assert r.status_code == 503 and r.json()["error"] == "not_stored", r.text
        wait_until(lambda: s.seen.alarm_notifications("chris"), 15, "the lead paged from memory")
        (inc,) = {n.incident_id for n in s.seen.alarm_notifications("chris")}
        assert "sending" in s.web.log() and "from memory" in s.web.log()
        filler.unlink()
        again = s.get("/phone/press", s.tokens["tel-balie-1"])
        assert again.status_code == 200
        assert receipted_incident(s, again.json()["event_id"]) == inc
    finally:
        next(gen, None)


def test_alarm_webs_own_login_cannot_act_for_a_person(system: WebSystem) -> None:
    """Closed for control: with alarm-web's broker password (web.json) an attacker can neither
    acknowledge nor mark anyone absent: on person/P/cmd the broker drops it (ACL), on
    person/P/webcmd the console takes nothing but home-visit start and end."""
    r = system.get("/phone/press", system.tokens["tel-balie-1"])
    inc = receipted_incident(system, r.json()["event_id"])
    attacker = Link(system.broker.creds("web"), client_id="web.attacker")
    replies: list[CommandReply] = []
    attacker.subscribe(T.person_reply("an"), lambda _t, p: replies.append(parse(CommandReply, p)))
    attacker.start()
    assert attacker.wait_connected(5)
    try:
        ack = AckCmd(cmd_id=uuid.uuid4(), person_id="an", issued_at=utcnow(), incident_id=inc)
        attacker.publish(T.person_cmd("an"), encode(ack), qos=1)  # not its topic: dropped
        web_ack = AckCmd(cmd_id=uuid.uuid4(), person_id="an", issued_at=utcnow(), incident_id=inc)
        attacker.publish(T.person_webcmd("an"), encode(web_ack), qos=1)
        away = PresenceCmd(cmd_id=uuid.uuid4(), person_id="an", issued_at=utcnow(), present=False)
        attacker.publish(T.person_webcmd("an"), encode(away), qos=1)
        wait_until(lambda: len(replies) >= 2, 10, "the console's refusals")
        assert {x.cmd_id for x in replies} == {web_ack.cmd_id, away.cmd_id}
        assert all(not x.ok and x.code == "not_authorised" for x in replies), replies
        wait_until(lambda: "through alarm-web" in system.console.log(), 5, "the refusal logged")
        assert system.seen.incident_state(inc).status is IncidentStatus.OPEN
        wait_until(lambda: system.seen.alarm_notifications("bart"), 10, "the escalation going on")
        assert not any(f.get("kind") == "acknowledged" for f in system.facts())
    finally:
        attacker.stop()


# Everyone balie-1's escalation names: chris (lead), bart (deputy), all leads (an, bart, chris),
# reception (els), prevention (dirk).
ESCALATION_ONTHAAL = ("an", "bart", "chris", "dirk", "els")


def test_a_phone_press_answer_says_nobody_reachable_when_everyone_is_absent(system: WebSystem) -> None:
    """Nobody on the whole escalation is present: the console tells the phone's web unit
    "niemand bereikbaar" (the desk LED's pattern); the press answer carries it, so a phone that can
    show an answer could say "bel zelf 101". The first answer cannot know it yet (it is sent once
    the press is on disk, before the console has it)."""
    for p in ESCALATION_ONTHAAL:
        out = system.cli("presence", "absent", "--as", p, "--broker-dir", str(system.broker.dir))
        assert out.returncode == 0, out.stderr
    token = system.tokens["tel-balie-1"]
    first = system.get("/phone/press", token)
    assert first.status_code == 200 and first.json()["kind"] == "alarm"
    assert first.json()["nobody_reachable"] is False and first.json()["feedback"] == "off"
    inc = receipted_incident(system, first.json()["event_id"])
    wait_until(
        lambda: bool(system.seen.on(T.incident(inc))) and system.seen.incident_state(inc).nobody_reachable,
        10,
        "nobody reachable in the incident's state",
    )

    def told(_t: str, p: bytes) -> bool:
        return b'"feedback"' in p and b"nobody_reachable" in p

    wait_until(
        lambda: any(told(t, p) for t, p, _r in system.seen.messages if t == T.unit_cmd(PHONE)),
        10,
        "the console's feedback to the phone's unit",
    )
    # alarm-web's unit runtime applies it on its own connection: press again (the same incident)
    # until its answer carries it; each press joins the incident
    answers = []
    for _ in range(20):
        again = system.get("/phone/press", token)
        assert again.status_code == 200
        answers.append(again.json())
        if again.json()["nobody_reachable"]:
            break
        time.sleep(0.5)  # pacing the presses under the token's rate limit, not a timed assertion
    assert answers[-1]["nobody_reachable"] is True and answers[-1]["feedback"] == "nobody_reachable"
    assert {receipted_incident(system, a["event_id"]) for a in answers} == {inc}
    # an acknowledgement after all: the answer says so, no more "nobody reachable"
    ack = system.cli("ack", inc, "--as", "chris", "--broker-dir", str(system.broker.dir))
    assert ack.returncode == 0, ack.stderr
    for _ in range(20):
        late = system.get("/phone/press", token).json()
        if late["feedback"] == "acknowledged":
            break
        time.sleep(0.5)
    assert late["feedback"] == "acknowledged" and late["nobody_reachable"] is False
