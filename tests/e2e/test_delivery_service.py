"""Delivery through the real service (`alarm-console serve` subprocess) and a real mosquitto,
with real peers nobody here wrote: an aiosmtpd SMTP server, Apprise's JSON webhook into a
local http.server, a hanging SMTP server, and a lead pager unit.

Liveness timeouts only; "not delayed" is proven by order of events, never by timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import (
    EventKind,
    IncidentState,
    IncidentStatus,
    IncidentTimeline,
    Notification,
    NotifyReason,
    parse,
)
from stilalarm.wire.topics import Topics
from tests.e2e.test_delivery_peers import Inbox, smtp_server
from tests.harness import Capture, wait_until
from tests.peers import HangingSmtp, Hook

T = Topics("fast")


def fanout_site(smtp_port: int, hook_port: int) -> str:
    """FAST_SITE with e-mail for An (level 1 up) and Dirk, Apprise for An, a quick delivery policy."""
    text = FAST_SITE.replace(
        'id = "an"\nname = "An Peeters"\nroles = ["lead"]',
        'id = "an"\nname = "An Peeters"\nroles = ["lead"]\nemail = "an@example.org"\n'
        f'apprise = [{{ url = "json://127.0.0.1:{hook_port}/hook/{{secret}}", secret = "env:HOOK_TOKEN" }}]\n'
        'channels = [{ kind = "console" }, { kind = "pager" }, { kind = "email" }, { kind = "apprise" }]',
    ).replace(
        'id = "dirk"\nname = "Dirk Maes"\nroles = ["deputy", "prevention"]',
        'id = "dirk"\nname = "Dirk Maes"\nroles = ["deputy", "prevention"]\nemail = "dirk@example.org"\n'
        'channels = [{ kind = "console" }, { kind = "email" }]',
    )
    assert text.count("example.org") == 2
    return text + (
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'from_addr = "stilalarm@example.org"\ntimeout_s = 1\n'
        "\n[delivery]\nattempts = 2\nbackoff_s = 0.2\nfault_after_failures = 1\n"
    )


@dataclass
class Sys:
    site: Site
    broker: LocalBroker
    console: ServiceProcess
    seen: Capture
    units: list[ScriptedUnit]

    def unit(self, uid: str) -> ScriptedUnit:
        u = ScriptedUnit(self.broker.creds(f"unit-{uid}"), uid).start()
        self.units.append(u)
        return u

    def notes(self, person: str) -> list[Notification]:
        return self.seen.notifications(person)

    def timeline(self, iid: str) -> IncidentTimeline | None:
        tls = [parse(IncidentTimeline, p) for p in self.seen.on(T.timeline(iid)) if p]
        return tls[-1] if tls else None

    def state(self, iid: str) -> IncidentState:
        return max(
            (parse(IncidentState, p) for p in self.seen.on(T.incident(iid)) if p), key=lambda s: s.version
        )


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    made: list[Sys] = []
    monkeypatch.setenv("HOOK_TOKEN", "tok-s3cret")

    def go(smtp_port: int, hook_port: int) -> Sys:
        text = fanout_site(smtp_port, hook_port)
        site = parse_site(text)
        (tmp_path / "site.toml").write_text(text)
        broker = LocalBroker(site, tmp_path / "broker")
        broker.start()
        seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
        console = ServiceProcess(tmp_path / "site.toml", tmp_path / "c.db", broker.dir, tmp_path / "c.log")
        console.start()
        console.wait_ready()
        s = Sys(site, broker, console, seen, [])
        made.append(s)
        return s

    yield go
    for s in made:
        for u in s.units:
            u.stop()
        s.console.kill()
        s.seen.stop()
        s.broker.kill()


def test_email_and_webhook_reach_the_lead_and_show_in_the_timeline(start) -> None:
    inbox = Inbox()
    smtp = smtp_server(inbox)
    hook = Hook()
    try:
        s = start(smtp.port, hook.port)
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        rec = unit.receipt_for(ev.event_id)
        assert rec is not None and rec.incident_id
        iid = rec.incident_id
        wait_until(lambda: len(inbox.messages) >= 1, 15, "An's e-mail")
        wait_until(lambda: len(hook.posts) >= 1, 15, "An's webhook post")
        mail = inbox.messages[0]
        assert mail["To"] == "an@example.org"
        assert "Spreekkamer 1" in str(mail["Subject"])
        path, body = hook.posts[0]
        assert path == "/hook/tok-s3cret" and "Spreekkamer 1" in body["title"] + body["message"]

        def delivered_in_timeline() -> bool:
            tl = s.timeline(iid)
            done = [e.text.split()[0] for e in tl.entries if e.kind == "delivery_delivered"] if tl else []
            return {"email", "apprise", "pager"} <= set(done)

        # e-mail and webhook, and An's pager unit: the same bookkeeping for every channel
        wait_until(delivered_in_timeline, 15, "the three deliveries in the incident's timeline")
        tl = s.timeline(iid)
        assert tl is not None
        kinds = [e.kind for e in tl.entries]
        assert kinds[:3] == ["pressed", "stored", "notified"]
        assert "tok-s3cret" not in tl.model_dump_json()  # secrets never reach the timeline
    finally:
        smtp.stop()
        hook.close()


def test_hanging_smtp_delays_neither_level_2_nor_the_pager_ack_and_raises_one_fault(start) -> None:
    hanging = HangingSmtp()
    hook = Hook()
    try:
        s = start(hanging.port, hook.port)
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        iid = unit.receipt_for(ev.event_id).incident_id  # type: ignore[union-attr]
        # Level 2 (after 1 s) reaches the deputy over MQTT while An's e-mail still hangs.
        wait_until(lambda: any(n.level == 2 for n in s.notes("dirk")), 10, "level 2 to the deputy")
        # The pager unit acknowledges: escalation stops, the incident says who comes.
        pager = s.unit("pager-an")
        pager.press(kind=EventKind.PAGER_ACK, button="ik-kom")
        wait_until(lambda: s.state(iid).status is IncidentStatus.ACKNOWLEDGED, 10, "acknowledged by pager")
        assert s.state(iid).acknowledged_by == "an"

        # The e-mail channel failed, retried, gave up: in the timeline, and one fault for facilities.
        def gave_up() -> bool:
            tl = s.timeline(iid)
            return bool(tl) and any(e.kind == "delivery_gave_up" for e in tl.entries)  # type: ignore[union-attr]

        wait_until(gave_up, 20, "the e-mail give-up in the timeline")
        tl = s.timeline(iid)
        assert tl is not None
        assert any(e.kind == "delivery_failed" for e in tl.entries)
        wait_until(
            lambda: any(n.reason is NotifyReason.FAULT and "SMTP" in n.body for n in s.notes("fien")),
            20,
            "the channel fault notice to facilities",
        )
        faults = [n for n in s.notes("fien") if n.reason is NotifyReason.FAULT and "SMTP" in n.body]
        assert len(faults) == 1
    finally:
        hanging.close()
        hook.close()
