"""The dispatcher's retry, give-up, fault, queue and routing logic, on a fake clock and fake channels."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from stilalarm.console.delivery.channel import Delivery, DeliveryOutcome, OutcomeStatus, TransientError
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.secrets import SecretError, redact, resolve_secret
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind
from stilalarm.wire.messages import NotifyReason
from tests.harness import wait_until
from tests.unit.test_delivery_support import FakeChannel, FakeClock, note, site_with

D, F, G = OutcomeStatus.DELIVERED, OutcomeStatus.FAILED, OutcomeStatus.GAVE_UP


class Record:
    """Collects every callback of a dispatcher."""

    def __init__(self) -> None:
        self.outcomes: list[DeliveryOutcome] = []
        self.faults: list[tuple[str, datetime, str]] = []
        self.recovered: list[tuple[str, datetime]] = []
        self.lock = threading.Lock()

    def outcome(self, o: DeliveryOutcome) -> None:
        with self.lock:
            self.outcomes.append(o)

    def fault(self, channel: str, since: datetime, reason: str) -> None:
        self.faults.append((channel, since, reason))

    def recover(self, channel: str, at: datetime) -> None:
        self.recovered.append((channel, at))

    def trail(self) -> list[tuple[str, int, OutcomeStatus]]:
        with self.lock:
            return [(o.channel, o.attempt, o.status) for o in self.outcomes]


@pytest.fixture
def fsite(site: Site) -> Site:
    """Everyone has e-mail and a chat target; retries: 3 attempts, 2 s doubling; fault after 2."""
    chat = {"apprise": [{"url": "json://127.0.0.1:9/hook"}]}
    return site_with(
        site,
        smtp={"host": "127.0.0.1", "port": 25, "security": "none", "from_addr": "alarm@example.org"},
        people={p.id: {"email": f"{p.id}@example.org", **chat} for p in site.people},
        delivery={"attempts": 3, "backoff_s": 2, "queue_size": 10, "fault_after_failures": 2},
    )


def make(fsite: Site, *channels: FakeChannel, start: bool = False) -> tuple[Dispatcher, Record, FakeClock]:
    rec, clock = Record(), FakeClock()
    d = Dispatcher(
        fsite,
        channels,
        on_outcome=rec.outcome,
        on_channel_fault=rec.fault,
        on_channel_recovered=rec.recover,
        clock=clock,
        start=start,
    )
    return d, rec, clock


def test_transient_failures_are_retried_with_doubling_backoff_then_given_up(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["transient"] * 5)
    d, rec, clock = make(fsite, mail)
    n = note("an", level=3)
    d.deliver(n)
    d.pump()
    assert rec.trail() == [("email", 1, F)]
    clock.advance(1.9)
    d.pump()
    assert len(rec.outcomes) == 1  # not due yet: first retry after 2 s
    clock.advance(0.1)
    d.pump()
    assert rec.trail()[-1] == ("email", 2, F)
    clock.advance(3.9)
    d.pump()
    assert len(rec.outcomes) == 2  # second retry after 4 s
    clock.advance(0.1)
    d.pump()
    assert rec.trail() == [("email", 1, F), ("email", 2, F), ("email", 3, F), ("email", 3, G)]
    last = rec.outcomes[-1]
    assert last.notification_id == n.notification_id and last.incident_id == n.incident_id
    assert last.person_id == "an" and "3 attempt(s) failed: server busy" in last.reason
    assert d.pending() == {"email": 0}


def test_a_retry_that_succeeds_is_delivered(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["transient", "ok"])
    d, rec, clock = make(fsite, mail)
    d.deliver(note("an", level=3))
    d.pump()
    clock.advance(2)
    d.pump()
    assert rec.trail() == [("email", 1, F), ("email", 2, D)]
    assert rec.outcomes[-1].reason == ""


def test_permanent_failure_gives_up_at_once(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["permanent"])
    d, rec, _clock = make(fsite, mail)
    d.deliver(note("an", level=3))
    d.pump()
    assert rec.trail() == [("email", 1, F), ("email", 1, G)]
    assert rec.outcomes[-1].reason == "permanent failure: address refused"


def test_other_messages_go_ahead_while_one_waits_for_its_retry(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["transient", "ok"])
    d, rec, _clock = make(fsite, mail)
    first, second = note("an", level=3), note("bart", level=3)
    d.deliver(first)
    d.deliver(second)
    d.pump()
    assert [(o.person_id, o.status) for o in rec.outcomes] == [("an", F), ("bart", D)]


def test_routing_follows_the_persons_channels_for_the_level(fsite: Site) -> None:
    pager = FakeChannel(ChannelKind.PAGER)
    mail = FakeChannel(ChannelKind.EMAIL)
    chat = FakeChannel(ChannelKind.APPRISE)
    d, rec, _clock = make(fsite, pager, mail, chat)
    d.deliver(note("an", level=1))  # default rules: pager from 1, e-mail and Apprise from 3
    d.pump()
    assert sorted(o.channel for o in rec.outcomes) == ["pager"]
    d.deliver(note("an", level=3))
    d.pump()
    assert sorted(o.channel for o in rec.outcomes) == ["apprise", "email", "pager", "pager"]
    d.deliver(note("an", reason=NotifyReason.FAULT, level=0, incident=None))  # level 0: every channel
    d.pump()
    assert len(rec.outcomes) == 7  # the fake pager applies to anything


def test_a_console_channel_that_is_not_durable_is_refused(fsite: Site) -> None:
    with pytest.raises(ValueError, match="console"):
        make(fsite, FakeChannel(ChannelKind.CONSOLE))


def test_a_durable_channel_retries_until_delivered_and_never_refuses(fsite: Site) -> None:
    console = FakeChannel(ChannelKind.CONSOLE, ["transient"] * 8, durable=True)
    d, rec, clock = make(fsite, console)
    n = note("an", level=3)
    d.deliver(n)
    d.pump()
    for delay in [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]:  # doubling from 0.2 s, capped at 10 s
        before = len(rec.outcomes)
        clock.advance(delay * 0.9)
        d.pump()
        assert len(rec.outcomes) == before  # not due yet
        clock.advance(delay * 0.1 + 1e-6)
        d.pump()
        assert len(rec.outcomes) == before + 1
    # attempts = 3 and fault_after_failures = 2 are for the other channels: no give-up, no fault
    assert rec.trail() == [("console", k, F) for k in range(1, 9)] + [("console", 9, D)]
    assert rec.faults == [] and d.faults() == {}
    for _ in range(25):  # queue_size = 10 bounds the other channels only
        d.deliver(note("bart", level=0))
    assert d.pending() == {"console": 25}
    assert all(o.status is not G for o in rec.outcomes)


def test_a_self_bounded_channel_is_called_directly_the_others_in_a_helper_thread(fsite: Site) -> None:
    console = FakeChannel(ChannelKind.CONSOLE, durable=True)
    console.self_bounded = True  # like MqttChannel: its send waits at most its PUBACK timeout
    mail = FakeChannel(ChannelKind.EMAIL)
    d, rec, _clock = make(fsite, console, mail)
    d.deliver(note("an", level=3))
    d.pump()
    assert sorted(rec.trail()) == [("console", 1, D), ("email", 1, D)]
    assert console.threads == [threading.current_thread().name]  # pump runs the worker's part here
    assert mail.threads == ["delivery-email-send"]


def test_fault_is_raised_once_and_recovery_reported(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["permanent"] * 4 + ["ok"])
    d, rec, clock = make(fsite, mail)
    d.deliver(note("an", level=3))
    d.pump()
    assert rec.faults == []  # one failed message is not a fault (fault_after_failures = 2)
    since = clock.now()
    clock.advance(60)
    for _ in range(3):
        d.deliver(note("bart", level=3))
        d.pump()
    assert rec.faults == [("email", since, "address refused")]
    assert d.faults() == {"email": since}
    clock.advance(60)
    d.deliver(note("chris", level=3))
    d.pump()
    assert rec.recovered == [("email", clock.now())]
    assert d.faults() == {}


def test_retries_of_one_message_count_as_one_failed_message(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["transient"] * 3)
    d, rec, clock = make(fsite, mail)
    d.deliver(note("an", level=3))
    for _ in range(3):
        d.pump()
        clock.advance(10)
    assert len([o for o in rec.outcomes if o.status is F]) == 3
    assert rec.faults == []


def test_queue_full_never_blocks_and_is_reported(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["hang"])
    d, rec, _clock = make(fsite, mail, start=True)
    try:
        t0 = time.perf_counter()
        for _ in range(25):
            d.deliver(note("an", level=3))
        took = time.perf_counter() - t0
        full = [o for o in rec.outcomes if o.status is G]
        assert len(full) == 15  # queue_size 10: one in its attempt + 9 waiting, then full
        assert {o.reason for o in full} == {"queue full"} and {o.attempt for o in full} == {0}
        assert took < 1.0  # generous: it is microseconds (see docs/DELIVERY.md)
    finally:
        mail.release.set()
        d.stop(drain_s=5)
    assert len([o for o in rec.outcomes if o.status is D]) == 10


def test_a_hanging_attempt_is_abandoned_after_the_channel_timeout(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["sleep:3", "ok"], timeout_s=0.2)
    d, rec, clock = make(fsite, mail)
    d.deliver(note("an", level=3))
    t0 = time.monotonic()
    d.pump()
    assert time.monotonic() - t0 < 2
    assert rec.trail() == [("email", 1, F)]
    assert "no result within 0.2 s" in rec.outcomes[0].reason
    clock.advance(2)
    d.pump()
    assert rec.trail()[-1] == ("email", 2, D)


def test_callback_errors_do_not_stop_delivery(fsite: Site, caplog: pytest.LogCaptureFixture) -> None:
    mail = FakeChannel(ChannelKind.EMAIL)

    def boom(_o: DeliveryOutcome) -> None:
        raise RuntimeError("callback bug")

    d = Dispatcher(fsite, [mail], on_outcome=boom, start=False)
    d.deliver(note("an", level=3))
    d.deliver(note("bart", level=3))
    d.pump()
    assert len(mail.sent) == 2
    assert "on_outcome callback failed" in caplog.text


def test_stop_drains_then_gives_up_on_what_is_left(fsite: Site) -> None:
    mail = FakeChannel(ChannelKind.EMAIL, ["hang"])
    d, rec, _clock = make(fsite, mail, start=True)
    d.deliver(note("an", level=3))
    d.deliver(note("bart", level=3))
    wait_until(lambda: d.pending() == {"email": 2}, what="two pending")
    t0 = time.monotonic()
    d.stop(drain_s=0.2)
    assert time.monotonic() - t0 < 3
    assert [o.status for o in rec.outcomes] == [F, G, G]
    assert rec.outcomes[-1].reason == "dispatcher stopped before delivery"
    d.deliver(note("chris", level=3))
    assert rec.outcomes[-1].reason == "dispatcher stopped"
    mail.release.set()


def test_secrets_are_blanked_from_reasons_and_logs(
    fsite: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FANOUT_TEST_TOKEN", "s3cr3t-t0ken-value")
    token = resolve_secret("env:FANOUT_TEST_TOKEN")

    class Leaky(FakeChannel):
        def send(self, item: Delivery) -> None:
            raise TransientError(f"POST http://hooks.example/{token} failed")

    caplog.set_level(logging.DEBUG)
    d, rec, _clock = make(fsite, Leaky(ChannelKind.APPRISE))
    d.deliver(note("an", level=3))
    d.pump()
    assert rec.outcomes and all(token not in o.reason for o in rec.outcomes)
    assert "http://hooks.example/*** failed" in rec.outcomes[0].reason
    assert token not in caplog.text
    assert redact(f"x {token} y") == "x *** y"


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "pw"
    f.write_text("file-secret\n")
    assert resolve_secret(f"file:{f}") == "file-secret"
    monkeypatch.delenv("FANOUT_MISSING", raising=False)
    with pytest.raises(SecretError, match="FANOUT_MISSING missing"):
        resolve_secret("env:FANOUT_MISSING")
    with pytest.raises(SecretError, match="cannot be read"):
        resolve_secret(f"file:{tmp_path / 'nope'}")
