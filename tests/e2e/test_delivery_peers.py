"""Fan-out against real local peers nobody here wrote: aiosmtpd (plain, STARTTLS + AUTH, implicit
TLS), Apprise's JSON webhook into `http.server`, a dead and a hanging SMTP server."""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from stilalarm.broker_config.local import free_port
from stilalarm.console.delivery.apprise_channel import AppriseChannel
from stilalarm.console.delivery.channel import DeliveryOutcome, OutcomeStatus
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.mail import MailChannel
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason
from tests.harness import wait_until
from tests.peers import HangingSmtp, Hook
from tests.unit.test_delivery_support import note, site_with

SMTP_USER = "stilalarm"
SMTP_PASSWORD = "smtp-Pa55word-never-logged"
HOOK_TOKEN = "hook-T0ken-never-logged"


# --------------------------------------------------------------------------- peers


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mech: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(mech)
        return AuthResult(success=ok, handled=False)


def smtp_server(inbox: Inbox, port: int | None = None, **kw: Any) -> Controller:
    c = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **kw)
    c.start()
    return c


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with openssl."""
    crt, key = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(crt), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


class Record:
    def __init__(self) -> None:
        self.outcomes: list[DeliveryOutcome] = []
        self.faults: list[tuple[str, str]] = []
        self.recovered: list[str] = []
        self.lock = threading.Lock()

    def outcome(self, o: DeliveryOutcome) -> None:
        with self.lock:
            self.outcomes.append(o)

    def of(self, channel: str, status: OutcomeStatus | None = None) -> list[DeliveryOutcome]:
        with self.lock:
            return [o for o in self.outcomes if o.channel == channel and status in (None, o.status)]

    def dispatcher(self, site: Site, *channels: Any) -> Dispatcher:
        return Dispatcher(
            site,
            channels,
            on_outcome=self.outcome,
            on_channel_fault=lambda ch, _since, reason: self.faults.append((ch, reason)),
            on_channel_recovered=lambda ch, _at: self.recovered.append(ch),
        )


def smtp_cfg(port: int, **kw: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none", "from_addr": "alarm@example.org", **kw}


FAST = {"attempts": 2, "backoff_s": 0.2, "queue_size": 10, "fault_after_failures": 2}
MAIL = {p: {"email": f"{p}@example.org"} for p in ("an", "bart", "chris", "dirk", "els", "fien")}


# --------------------------------------------------------------------------- e-mail


def test_email_in_dutch_reaches_a_real_smtp_server(site: Site) -> None:
    inbox = Inbox()
    server = smtp_server(inbox)
    fsite = site_with(site, smtp=smtp_cfg(server.port), people=MAIL)
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    try:
        n = note(
            "dirk",
            reason=NotifyReason.ESCALATION,
            level=3,
            room="balie-2",
            call_101=True,
            evacuate="Wachtzaal",
        )
        d.deliver(n)
        wait_until(lambda: len(rec.of("email", OutcomeStatus.DELIVERED)) == 1, what="e-mail delivered")
    finally:
        d.stop()
        server.stop()
    [msg] = inbox.messages
    assert msg["Subject"] == "ALARM Balie 2 (Burgerzaken) — niveau 3 — BEL 101"
    assert msg["To"] == "dirk@example.org" and msg["From"] == "alarm@example.org"
    body = msg.get_content()
    for part in ("Agressie-alarm in Balie 2 (gelijkvloers).", "Team: Burgerzaken", "Niveau: 3"):
        assert part in body
    assert "Tijd: 10:42:05 (03-03-2025)" in body
    assert "Bel 101." in body and "Evacueer de wachtzaal (Wachtzaal)." in body
    [o] = rec.outcomes
    assert (o.notification_id, o.person_id, o.attempt, o.incident_id) == (
        n.notification_id,
        "dirk",
        1,
        n.incident_id,
    )


def test_email_in_english_for_an_english_speaker(site: Site) -> None:
    inbox = Inbox()
    server = smtp_server(inbox)
    fsite = site_with(site, smtp=smtp_cfg(server.port), people=MAIL)
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    try:
        d.deliver(note("fien", level=3, call_101=True))
        wait_until(lambda: len(inbox.messages) == 1, what="e-mail received")
    finally:
        d.stop()
        server.stop()
    msg = inbox.messages[0]
    assert msg["Subject"] == "ALARM Interview room 1 (Sociale dienst) — level 3 — CALL 101"
    assert "Call 101 (police)." in msg.get_content()


def test_email_with_starttls_and_auth(
    site: Site, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FANOUT_SMTP_PW", SMTP_PASSWORD)
    inbox = Inbox()
    server = smtp_server(
        inbox,
        tls_context=server_tls(cert),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=inbox.authenticate,
    )
    cfg = smtp_cfg(server.port, security="starttls", username=SMTP_USER, password="env:FANOUT_SMTP_PW")
    fsite = site_with(site, smtp={**cfg, "ca_file": str(cert[0])}, people=MAIL)
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    try:
        d.deliver(note("an", level=3))
        wait_until(lambda: len(rec.of("email", OutcomeStatus.DELIVERED)) == 1, what="e-mail over STARTTLS")
        assert inbox.logins and len(inbox.messages) == 1
        # A wrong password is refused for good: no retry, and the password shows nowhere.
        monkeypatch.setenv("FANOUT_SMTP_PW", "wr0ng-" + SMTP_PASSWORD)
        d.deliver(note("bart", level=3))
        wait_until(lambda: len(rec.of("email", OutcomeStatus.GAVE_UP)) == 1, what="login refused")
    finally:
        d.stop()
        server.stop()
    failed = rec.of("email", OutcomeStatus.FAILED)
    assert [o.attempt for o in failed] == [1]
    assert "SMTP login refused for user stilalarm (535)" in failed[0].reason
    for o in rec.outcomes:
        assert SMTP_PASSWORD not in o.reason
    assert SMTP_PASSWORD not in caplog.text


def test_email_untrusted_certificate_is_a_permanent_failure(site: Site, cert: tuple[Path, Path]) -> None:
    inbox = Inbox()
    server = smtp_server(inbox, tls_context=server_tls(cert), require_starttls=True)
    fsite = site_with(site, smtp=smtp_cfg(server.port, security="starttls"), people=MAIL)  # no ca_file
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    try:
        d.deliver(note("an", level=3))
        wait_until(lambda: len(rec.of("email", OutcomeStatus.GAVE_UP)) == 1, what="give up")
    finally:
        d.stop()
        server.stop()
    assert "TLS certificate of 127.0.0.1 not trusted" in rec.of("email", OutcomeStatus.FAILED)[0].reason
    assert inbox.messages == []


def test_email_over_implicit_tls(
    site: Site, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_SMTP_PW", SMTP_PASSWORD)
    inbox = Inbox()
    server = smtp_server(
        inbox, ssl_context=server_tls(cert), authenticator=inbox.authenticate, auth_require_tls=False
    )
    cfg = smtp_cfg(server.port, security="tls", username=SMTP_USER, password="env:FANOUT_SMTP_PW")
    fsite = site_with(site, smtp={**cfg, "ca_file": str(cert[0])}, people=MAIL)
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    try:
        d.deliver(note("an", level=3))
        wait_until(lambda: len(inbox.messages) == 1, what="e-mail over implicit TLS")
    finally:
        d.stop()
        server.stop()
    assert inbox.logins


# --------------------------------------------------------------------------- Apprise


def chat_site(site: Site, port: int, people: tuple[str, ...] = ("an", "bart", "dirk")) -> Site:
    target = {"url": f"json://127.0.0.1:{port}/hook/{{secret}}", "secret": "env:FANOUT_HOOK_TOKEN"}
    return site_with(site, people={p: {"apprise": [target]} for p in people}, delivery=FAST)


def test_apprise_json_webhook_with_token_from_env(
    site: Site, hook: Hook, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FANOUT_HOOK_TOKEN", HOOK_TOKEN)
    fsite = chat_site(site, hook.port)
    rec = Record()
    d = rec.dispatcher(fsite, AppriseChannel(fsite))
    try:
        d.deliver(note("dirk", reason=NotifyReason.ESCALATION, level=3, call_101=True, evacuate="Wachtzaal"))
        wait_until(lambda: len(rec.of("apprise", OutcomeStatus.DELIVERED)) == 1, what="webhook delivered")
    finally:
        d.stop()
    [(path, payload)] = hook.posts
    assert path == f"/hook/{HOOK_TOKEN}"
    assert payload["version"] == "1.0"
    assert payload["type"] == "failure"
    assert payload["title"] == "ALARM Spreekkamer 1 (Sociale dienst) — niveau 3 — BEL 101"
    assert "Niveau: 3" in payload["message"] and "Bel 101." in payload["message"]
    assert "Evacueer de wachtzaal (Wachtzaal)." in payload["message"]
    assert HOOK_TOKEN not in caplog.text  # Apprise logs the POST URL at debug level: blanked


def test_apprise_failures_are_retried_and_the_token_never_shows(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FANOUT_HOOK_TOKEN", HOOK_TOKEN)
    hook = Hook(statuses=[500])
    dead = free_port()  # nothing listens here: the error names the URL, token included
    fsite = site_with(
        chat_site(site, hook.port),
        people={
            "bart": {
                "apprise": [
                    {"url": f"json://127.0.0.1:{dead}/x/{{secret}}", "secret": "env:FANOUT_HOOK_TOKEN"}
                ]
            }
        },
    )
    rec = Record()
    d = rec.dispatcher(fsite, AppriseChannel(fsite))
    try:
        d.deliver(note("an", level=3))
        d.deliver(note("bart", level=3))
        wait_until(lambda: len(rec.of("apprise", OutcomeStatus.DELIVERED)) == 1, timeout=10, what="retry")
        wait_until(lambda: len(rec.of("apprise", OutcomeStatus.GAVE_UP)) == 1, timeout=10, what="give up")
    finally:
        d.stop()
        hook.close()
    an = [(o.attempt, o.status) for o in rec.outcomes if o.person_id == "an"]
    assert an == [(1, OutcomeStatus.FAILED), (2, OutcomeStatus.DELIVERED)]
    bart = [(o.attempt, o.status) for o in rec.outcomes if o.person_id == "bart"]
    assert bart == [(1, OutcomeStatus.FAILED), (2, OutcomeStatus.FAILED), (2, OutcomeStatus.GAVE_UP)]
    assert "target 1 (json): not delivered" in rec.outcomes[0].reason
    assert len(hook.posts) == 1
    for o in rec.outcomes:
        assert HOOK_TOKEN not in o.reason
    assert HOOK_TOKEN not in caplog.text
    assert "***" in caplog.text  # the URL was logged, with the token blanked


def test_a_broken_target_does_not_keep_the_message_from_the_others(
    site: Site, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_HOOK_TOKEN", HOOK_TOKEN)
    monkeypatch.delenv("FANOUT_MISSING_TOKEN", raising=False)
    broken = {"url": "json://127.0.0.1:9/{secret}", "secret": "env:FANOUT_MISSING_TOKEN"}
    good = {"url": f"json://127.0.0.1:{hook.port}/hook/{{secret}}", "secret": "env:FANOUT_HOOK_TOKEN"}
    fsite = site_with(site, people={"an": {"apprise": [broken, good]}}, delivery=FAST)
    rec = Record()
    d = rec.dispatcher(fsite, AppriseChannel(fsite))
    try:
        d.deliver(note("an", level=3))
        wait_until(lambda: len(rec.of("apprise", OutcomeStatus.GAVE_UP)) == 1, what="permanent failure")
    finally:
        d.stop()
    assert len(hook.posts) == 1
    assert [(o.attempt, o.status.value) for o in rec.outcomes] == [(1, "failed"), (1, "gave_up")]
    assert "target 1 (json): secret env:FANOUT_MISSING_TOKEN is not set" in rec.outcomes[0].reason


# --------------------------------------------------------------------------- dead peers


def test_hanging_smtp_delays_neither_submit_nor_apprise(
    site: Site, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_HOOK_TOKEN", HOOK_TOKEN)
    hanging = HangingSmtp()
    people = ("an", "bart", "dirk")
    fsite = site_with(
        chat_site(site, hook.port, people),
        smtp=smtp_cfg(hanging.port, timeout_s=0.5),
        people={p: MAIL[p] for p in people},
    )
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite), AppriseChannel(fsite))
    try:
        took = []
        for p in people:
            t0 = time.perf_counter()
            d.deliver(note(p, level=3))
            took.append(time.perf_counter() - t0)
        assert max(took) < 0.05  # generous liveness bound; measured in microseconds (docs/DELIVERY.md)
        wait_until(lambda: len(rec.of("apprise", OutcomeStatus.DELIVERED)) == 3, what="chat while SMTP hangs")
        assert rec.of("email") == []  # the first SMTP attempt is still waiting for a greeting
        wait_until(lambda: len(rec.of("email", OutcomeStatus.GAVE_UP)) == 3, timeout=10, what="SMTP gives up")
    finally:
        d.stop(drain_s=0)
        hanging.close()
    failed = rec.of("email", OutcomeStatus.FAILED)
    assert len(failed) == 6 and all("no answer from 127.0.0.1" in o.reason for o in failed)
    per_person = {
        p: [(o.attempt, o.status.value) for o in rec.of("email") if o.person_id == p] for p in people
    }
    assert all(v == [(1, "failed"), (2, "failed"), (2, "gave_up")] for v in per_person.values())
    assert [ch for ch, _r in rec.faults] == ["email"]  # once, not per message


def test_dead_smtp_raises_one_fault_and_recovers(site: Site) -> None:
    port = free_port()  # nothing listens: connection refused
    fsite = site_with(site, smtp=smtp_cfg(port), people=MAIL, delivery=FAST)
    rec = Record()
    d = rec.dispatcher(fsite, MailChannel(fsite))
    inbox = Inbox()
    server = None
    try:
        for p in ("an", "bart", "chris"):
            d.deliver(note(p, level=3))
        wait_until(lambda: len(rec.of("email", OutcomeStatus.GAVE_UP)) == 3, what="three give-ups")
        assert rec.faults == [("email", f"connection to 127.0.0.1:{port} refused")]
        assert rec.recovered == []
        server = smtp_server(inbox, port=port)
        d.deliver(note("dirk", level=3))
        wait_until(lambda: rec.recovered == ["email"], what="recovery")
    finally:
        d.stop()
        if server is not None:
            server.stop()
    assert len(rec.faults) == 1
    assert [m["To"] for m in inbox.messages] == ["dirk@example.org"]
