"""E-mail and Apprise in their own process (`alarm-console fanout`, supervised by `serve`):
real processes, a real mosquitto, a real SMTP server (aiosmtpd) and webhook receiver.

`kill -9` of the fan-out process while the SMTP server holds its deliveries: after the restart
every due e-mail arrives, no (notification, attempt) pair arrives twice, and the alarm path
never waited for it. Liveness timeouts only; no timed assertions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from stilalarm.console.delivery.channel import DeliveryOutcome
from stilalarm.console.shell.fanout import FANOUT, Fanout
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from tests.e2e.test_delivery_peers import Inbox, smtp_server
from tests.e2e.test_delivery_service import Sys, start  # noqa: F401  (the fixture)
from tests.harness import wait_until
from tests.peers import Hook, fanout_children

ATTEMPT = "X-Stilalarm-Attempt"


class HoldingInbox(Inbox):
    """Keeps every message at DATA, and holds the reply until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.held = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if not self.release.is_set():
            self.held += 1
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return reply


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def the_child(s: Sys) -> int:
    assert s.console.proc is not None
    pid = s.console.proc.pid
    wait_until(lambda: len(fanout_children(pid)) == 1, 20, "the fan-out process")
    [child] = fanout_children(pid)
    wait_until(lambda: f"fan-out process {child} ready" in s.console.log(), 20, "the fan-out process ready")
    return child


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def email_rows(s: Sys, channel: str = "email") -> list[tuple[object, ...]]:
    """(notification_id, delivered_at) of every e-mail (or Apprise) outbox row."""
    sql = f"SELECT notification_id, delivered_at FROM outbox WHERE channel = '{channel}'"
    return query(s.console.db, sql)


def hook_attempts(hook: Hook) -> list[tuple[str, int]]:
    """(notification_id, attempt) of every webhook post, from its X-Stilalarm-Attempt header."""
    out = []
    for h in list(hook.headers):
        nid, n = h[ATTEMPT].rsplit("/", 1)
        out.append((nid, int(n)))
    return out


def attempt_of(m: EmailMessage) -> tuple[str, int]:
    nid, n = str(m[ATTEMPT]).rsplit("/", 1)
    assert str(m["Message-ID"]).startswith(f"<{nid}@")
    return nid, int(n)


@pytest.fixture
def slow_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SMTP timeouts of 30 s in the test site, so a held reply is not a failed attempt."""
    import tests.e2e.test_delivery_service as tds

    plain = tds.fanout_site
    monkeypatch.setattr(
        tds, "fanout_site", lambda a, b: plain(a, b).replace("timeout_s = 1\n", "timeout_s = 30\n")
    )
    yield


def test_deliveries_go_through_the_fanout_process_with_attempt_ids(start) -> None:  # noqa: F811
    inbox, hook = Inbox(), Hook()
    smtp = smtp_server(inbox)
    try:
        s: Sys = start(smtp.port, hook.port)
        child = the_child(s)
        assert s.console.proc is not None and child != s.console.proc.pid
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        wait_until(lambda: len(inbox.messages) >= 1 and len(hook.headers) >= 1, 15, "An's e-mail and webhook")
        nid, n = attempt_of(inbox.messages[0])
        assert n == 1
        assert hook.headers[0][ATTEMPT].endswith("/1")
        # the e-mail's row is in the outbox (stored with its fact) and finished once delivered
        wait_until(lambda: (nid,) in [(r[0],) for r in email_rows(s) if r[1]], 10, "the outbox row finished")
        assert f"fan-out process {child} ready" in s.console.log()
        # a normal stop (SIGTERM to serve) ends the child in order: no crash, no restart
        assert s.console.terminate() == 0
        wait_until(lambda: not alive(child), 10, "the fan-out process ended with serve")
        assert "restarting it" not in s.console.log()
    finally:
        smtp.stop()
        hook.close()


def test_kill_9_of_the_fanout_process_loses_no_email_and_repeats_no_attempt_id(
    start,  # noqa: F811
    slow_smtp: None,
) -> None:
    inbox, hook = HoldingInbox(), Hook()
    smtp = smtp_server(inbox)
    try:
        s: Sys = start(smtp.port, hook.port)
        child = the_child(s)
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        wait_until(lambda: inbox.held >= 1, 15, "an e-mail held at DATA by the SMTP server")

        # The fan-out process stands still: the alarm path does not notice.
        os.kill(child, signal.SIGSTOP)
        other = s.unit("balie-1")
        ev2 = other.press()
        wait_until(lambda: other.receipt_for(ev2.event_id) is not None, 10, "the second alarm's receipt")
        iid2 = other.receipt_for(ev2.event_id).incident_id  # type: ignore[union-attr]
        wait_until(lambda: any(n.incident_id == iid2 for n in s.notes("an")), 10, "the console notification")
        iid = unit.receipt_for(ev.event_id).incident_id  # type: ignore[union-attr]
        wait_until(lambda: any(n.incident_id == iid and n.level == 2 for n in s.notes("dirk")), 10, "level 2")

        # kill -9 while the SMTP server holds its delivery; the service restarts it
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: not alive(child), 10, "the old fan-out process gone")
        inbox.release.set()
        the_new = the_child(s)
        assert the_new != child

        def all_delivered() -> bool:
            rows, chats = email_rows(s), email_rows(s, "apprise")
            got = {attempt_of(m)[0] for m in inbox.messages}
            posted = {nid for nid, _n in hook_attempts(hook)}
            return (
                bool(rows and chats)
                and all(r[1] is not None and r[0] in got for r in rows)
                and all(r[1] is not None and r[0] in posted for r in chats)
            )

        wait_until(all_delivered, 60, "every due e-mail and webhook delivered after the restart")
        pairs = Counter(attempt_of(m) for m in inbox.messages)
        assert max(pairs.values()) == 1, f"an attempt id arrived twice: {pairs}"
        posts = Counter(hook_attempts(hook))
        assert max(posts.values()) == 1, f"a webhook attempt id arrived twice: {posts}"
        # the interrupted attempt is in the log as failed, and its message went again as attempt 2+
        facts = query(s.console.db, "SELECT data FROM events WHERE kind = 'delivery_attempt'")
        assert any("interrupted: fan-out process restarted" in str(f[0]) for f in facts)
        assert any(n >= 2 for _nid, n in pairs)
        # the fan-out process's own crash is logged, and one crash is no fault for facilities
        assert "the fan-out process (e-mail, Apprise) was killed by SIGKILL" in s.console.log()
        assert not [n for n in s.notes("fien") if "e-mail/chat" in n.body]
    finally:
        inbox.release.set()
        smtp.stop()
        hook.close()


def test_the_fanout_process_dies_with_the_service_and_the_next_one_resumes(start) -> None:  # noqa: F811
    inbox, hook = Inbox(), Hook()
    smtp = smtp_server(inbox)
    try:
        s: Sys = start(smtp.port, hook.port)
        child = the_child(s)
        assert s.console.proc is not None
        os.kill(s.console.proc.pid, signal.SIGKILL)  # only serve, not its process group
        s.console.proc.wait()
        wait_until(lambda: not alive(child), 10, "the fan-out process gone with its service")
        s.console.start()
        s.console.wait_ready()
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        wait_until(lambda: len(inbox.messages) >= 1, 15, "An's e-mail from the new fan-out process")
    finally:
        smtp.stop()
        hook.close()


def test_a_fanout_process_that_keeps_failing_is_a_fault_for_facilities_and_the_alarm_path_runs_on(
    start,  # noqa: F811
    tmp_path: Path,
) -> None:
    inbox, hook = Inbox(), Hook()
    smtp = smtp_server(inbox)
    blocker = tmp_path / "c.fanout.db"  # the journal's place is taken: every fan-out process exits
    blocker.mkdir()
    try:
        s: Sys = start(smtp.port, hook.port)
        unit = s.unit("spreekkamer-1")
        ev = unit.press()
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
        iid = unit.receipt_for(ev.event_id).incident_id  # type: ignore[union-attr]
        wait_until(lambda: any(n.incident_id == iid for n in s.notes("an")), 10, "An's console notification")

        def told(word: str) -> list[str]:
            return [n.body for n in s.notes("fien") if "e-mail/chat" in n.body and word in n.body]

        wait_until(lambda: bool(told("unreachable")), 60, "the fan-out fault told to facilities")
        assert "cannot open the attempt journal" in s.console.log()
        assert inbox.messages == []
        blocker.rmdir()  # fixed: the next process starts, sends what is due, and the fault clears
        wait_until(lambda: len(inbox.messages) >= 1, 60, "An's e-mail after the fix")
        wait_until(lambda: bool(told("works again")), 20, "the fan-out recovery told to facilities")
        assert len(told("unreachable")) == 1
    finally:
        smtp.stop()
        hook.close()


def test_a_fanout_process_that_crash_loops_or_cannot_start_is_a_channel_fault(tmp_path: Path) -> None:
    text = FAST_SITE.replace('roles = ["lead"]', 'roles = ["lead"]\nemail = "an@example.org"', 1)
    site = parse_site(
        text + '\n[smtp]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\nfrom_addr = "s@example.org"\n'
    )
    states: list[tuple[str, str]] = []
    outcomes: list[DeliveryOutcome] = []

    def fanout(command: list[str]) -> Fanout:
        return Fanout(
            site,
            command,
            on_outcome=outcomes.append,
            on_state=lambda ch, state, _at, _why: states.append((ch, state)),
            backoff_s=0.01,
            max_backoff_s=0.05,
        )

    crashing = fanout([sys.executable, "-c", "raise SystemExit(3)"])
    assert crashing.enabled
    crashing.start()
    try:
        wait_until(lambda: states == [(FANOUT, "raised")], 30, "the crash loop raised as a fault")
        assert crashing.starts >= 3
    finally:
        crashing.stop()
    missing = fanout([str(tmp_path / "no-such-program")])
    missing.start()
    try:
        wait_until(lambda: len(states) == 2, 30, "a process that cannot be started raised at once")
        assert states[1] == (FANOUT, "raised") and missing.starts == 0
    finally:
        missing.stop()
    assert outcomes == []
