"""Part of scenario `fanout`: `kill -9` of the fan-out process during delivery loses nothing.

The fan-out bench site (20 leads, each with console + pager + e-mail + Apprise JSON webhook), a
working SMTP server (aiosmtpd) that takes `SMTP_DELAY_S` per message, so deliveries are in flight
when the kill comes, and the webhook receiver. Alarms follow each other (each resolved, so the next
opens a new incident); meanwhile the `alarm-console fanout` process is SIGKILLed `KILLS` times,
each time after its successor delivered something. Then every e-mail and Apprise row of the
console's outbox must be finished. Figures: due deliveries (outbox rows) against what the SMTP
server and the webhook received (by notification id), and (notification, attempt) pairs that
arrived twice (`X-Stilalarm-Attempt`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.ctx import Ctx
from bench.report import Row
from bench.sc_fanout import CONSOLE, SC, _alarms, run_fanout, site_toml
from bench.system import Capture
from stilalarm.broker_config.local import LocalBroker, free_port, high_publish_limit
from stilalarm.inventory import load_site
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel
from tests.harness import wait_until
from tests.peers import Hook, fanout_children

ATTEMPT = "X-Stilalarm-Attempt"
SMTP_DELAY_S = 0.02
KILLS = 3


class SlowInbox:
    """An aiosmtpd handler that keeps each message's attempt header, `SMTP_DELAY_S` per message."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(SMTP_DELAY_S)
        raw = envelope.original_content or envelope.content
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for line in text.splitlines():
            if line.lower().startswith(ATTEMPT.lower() + ":"):
                self.attempts.append(line.split(":", 1)[1].strip())
                break
        else:
            self.attempts.append("?")
        return "250 OK"


def _rows(db: Path) -> list[tuple[str, str, str | None]]:
    """(notification id, channel, delivered_at) of every e-mail and Apprise outbox row."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        sql = (
            "SELECT notification_id, channel, delivered_at FROM outbox WHERE channel IN ('email', 'apprise')"
        )
        return [(str(r[0]), str(r[1]), r[2]) for r in con.execute(sql)]
    finally:
        con.close()


def run_fanout_kill(ctx: Ctx) -> None:
    """Alarms with e-mail and webhook fan-out while the fan-out process is killed; then count."""
    d = ctx.dir("fanout-kill")
    inbox, hook = SlowInbox(), Hook()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    site_file = d / "site.toml"
    site_file.write_text(site_toml(smtp_port, hook.port))
    site = load_site(site_file)
    broker = LocalBroker(high_publish_limit(site), d / "broker")
    broker.start()
    t = Topics(site.site.id)
    cap = Capture().start(
        broker,
        [
            t.all_people(PersonChannel.NOTIFY),
            t.all_people(PersonChannel.REPLY),
            t.all_units(UnitChannel.RECEIPT),
            t.console_status(),
        ],
    )
    db = d / "c.db"
    argv = [
        CONSOLE,
        "serve",
        "--site",
        str(site_file),
        "--db",
        str(db),
        "--broker-dir",
        str(broker.dir),
        "--init",
    ]
    proc: subprocess.Popen[bytes] | None = None
    killed: list[int] = []
    errors: list[BaseException] = []
    try:
        with (d / "serve.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        cap.wait(lambda x: x.topic == t.console_status() and b'"online"' in x.payload, 30, "console online")
        serve = proc.pid

        def alarms() -> None:
            try:
                _alarms(broker, cap, ctx.n(30, 8))
            except BaseException as exc:  # reported below, after the kills
                errors.append(exc)

        th = threading.Thread(target=alarms, daemon=True)
        th.start()
        for _ in range(KILLS):
            seen = len(inbox.attempts) + len(hook.headers)
            wait_until(
                lambda: [p for p in fanout_children(serve) if p not in killed], 60, "a fan-out process"
            )
            wait_until(lambda s=seen: len(inbox.attempts) + len(hook.headers) >= s + 20, 60, "deliveries")
            (child,) = [p for p in fanout_children(serve) if p not in killed][:1]
            os.kill(child, signal.SIGKILL)
            killed.append(child)
        th.join(180)
        if errors:
            raise errors[0]
        wait_until(lambda: all(r[2] for r in _rows(db)), 180, "every e-mail and Apprise row finished")
        rows = _rows(db)
        mailed = {a.split("/")[0] for a in inbox.attempts}
        posted_attempts = [h.get(ATTEMPT, "?") for h in hook.headers]
        posted = {a.split("/")[0] for a in posted_attempts}
        due_mail = {r[0] for r in rows if r[1] == "email"}
        due_hook = {r[0] for r in rows if r[1] == "apprise"}
        made = len(due_mail & mailed) + len(due_hook & posted)
        due = len(due_mail) + len(due_hook)
        twice = sum(n - 1 for n in Counter(inbox.attempts).values() if n > 1)
        twice += sum(n - 1 for n in Counter(posted_attempts).values() if n > 1)
        retried = sum(1 for a in [*inbox.attempts, *posted_attempts] if not a.endswith("/1"))
        ctx.res.add(
            Row(
                SC,
                f"fan-out process kill -9 x{KILLS} during delivery: due deliveries made",
                float(made),
                "",
                float(due),
                "due (e-mail + webhook outbox rows)",
                "all made, none twice per attempt id",
                made == due and twice == 0,
                note=f"{made} of {due} made; {twice} twice",
            )
        )
        n_alarms = ctx.n(30, 8)
        parts = [
            f"{n_alarms} alarms (each resolved) to 20 leads with e-mail",
            f"(SMTP {SMTP_DELAY_S * 1000:.0f} ms per message) and a JSON webhook;",
            f"the fan-out process SIGKILLed {len(killed)} times during delivery.",
            f"Outbox: {len(due_mail)} e-mail and {len(due_hook)} webhook deliveries due, all finished;",
            f"received: {len(inbox.attempts)} e-mails and {len(posted_attempts)} posts,",
            f"{len(due_mail & mailed)}/{len(due_mail)} and {len(due_hook & posted)}/{len(due_hook)}",
            f"of the due ones; {retried} were a later attempt (after a kill the interrupted one is",
            "sent again as attempt n+1: fail open); (notification, attempt) pairs received twice:",
            f"{twice}.",
        ]
        ctx.res.note(f"{SC}-kill", " ".join(parts))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        cap.stop()
        broker.stop()
        smtp.stop()
        hook.close()


def run_fanout_all(ctx: Ctx) -> None:
    """The whole `fanout` scenario: the hanging channels' effect, then the kill -9 check."""
    run_fanout(ctx)
    run_fanout_kill(ctx)
