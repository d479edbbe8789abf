"""The fan-out process, seen from the service: start it, feed it, restart it, report for it.

E-mail and Apprise run in their own process (`alarm-console fanout`,
`stilalarm.console.delivery.fanout`), so the alarm path shares no interpreter with slow
channels. Their deliveries are outbox rows, stored with the fact that made them; `Fanout`
keeps the unfinished ones in memory (`pending`) and hands every one of them to each new
process. A row is finished when the process reports it delivered or given up.

Threads, none of them the writer: `fanout-supervisor` starts the process, reads its answers
into the service's callbacks and restarts it after a crash (back-off doubling from
RESTART_BACKOFF_S to RESTART_MAX_S); `fanout-feeder` writes deliveries to its stdin, so a
process that stops reading never blocks `submit`. FAULT_AFTER_CRASHES crashes in a row (or a
process that cannot be started) raise the channel fault `fanout` to facilities; the next
delivery clears it. The process dies with the service (end of stdin, PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from stilalarm.console.config import ServiceConfig
from stilalarm.console.delivery.channel import Delivery, DeliveryOutcome, OutcomeStatus
from stilalarm.console.delivery.dispatcher import Dispatcher, other_channels
from stilalarm.console.delivery.fanout import (
    Attempted,
    ChannelChange,
    Deliver,
    FromFanout,
    Ready,
    encode_line,
)
from stilalarm.console.delivery.journal import journal_path
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Notification

log = logging.getLogger("console")

FANOUT = "fanout"
"""The channel name of the fan-out process's own fault."""
RESTART_BACKOFF_S = 0.5
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0
"""A process that ran this long before it ended starts a new crash count."""
FAULT_AFTER_CRASHES = 3

OutcomeHandler = Callable[[DeliveryOutcome], None]
StateHandler = Callable[[str, str, datetime, str], None]
"""`(channel, "raised" | "cleared", since, reason)`."""
_CLOSE = object()


def fanout_command(cfg: ServiceConfig, *, verbose: bool = False) -> list[str]:
    """`alarm-console fanout` for this service (the same interpreter and inventory)."""
    cmd = [sys.executable, "-m", "stilalarm.console.cli", "fanout", "--site", str(cfg.site_path)]
    cmd += ["--journal", str(journal_path(cfg.db_path)), "--parent-pid", str(os.getpid())]
    return cmd + (["-v"] if verbose else [])


class Fanout:
    """Routes e-mail and Apprise deliveries and supervises the process that sends them."""

    def __init__(
        self,
        site: Site,
        command: list[str],
        *,
        on_outcome: OutcomeHandler,
        on_state: StateHandler,
        backoff_s: float = RESTART_BACKOFF_S,
        max_backoff_s: float = RESTART_MAX_S,
    ) -> None:
        # Routing only (never started): which person gets which of these channels.
        self.router = Dispatcher(site, other_channels(site), on_outcome=lambda _o: None, start=False)
        self.channels = frozenset(self.router.workers)
        self.command = command
        self._on_outcome = on_outcome
        self._on_state = on_state
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.Lock()
        self.pending: dict[tuple[uuid.UUID, str], Delivery] = {}
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._faulted: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._started = False
        self.starts = 0
        self.ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._supervise, name="fanout-supervisor", daemon=True),
            threading.Thread(target=self._feed, name="fanout-feeder", daemon=True),
        ]

    @property
    def enabled(self) -> bool:
        """Whether the site has e-mail or Apprise at all (else no process is started)."""
        return bool(self.channels)

    def handles(self, channel: str) -> bool:
        return channel in self.channels

    def route(self, note: Notification, payload: bytes) -> list[Delivery]:
        """The e-mail and Apprise deliveries of one notification (for the outbox)."""
        return self.router.route(note, payload) if self.enabled else []

    def submit(self, d: Delivery) -> None:
        """Hand one outbox row to the process (now, and again after each restart until it is
        finished); never blocks."""
        with self._lock:
            self.pending[(d.notification_id, d.channel)] = d
        self._queue.put(d)

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        if self.enabled and not self._started:
            self._started = True
            for t in self._threads:
                t.start()

    def stop(self, drain_s: float = 2.0) -> None:
        """End stdin (the process finishes what it can within its drain) and wait for it."""
        if not self._started or self._stop.is_set():
            return
        self._stop.set()
        self._queue.put(_CLOSE)
        supervisor = self._threads[0]
        supervisor.join(drain_s + 5.0)
        if supervisor.is_alive():
            with self._lock:
                proc = self._proc
            if proc is not None:
                log.error("the fan-out process did not stop; killing it")
                proc.kill()
            supervisor.join(2.0)

    # -- feeder thread -------------------------------------------------------------
    def _feed(self) -> None:
        while True:
            item = self._queue.get()
            with self._lock:
                proc = self._proc
            if item is _CLOSE:
                if proc is not None and proc.stdin is not None:
                    try:
                        proc.stdin.close()
                    except OSError:
                        pass
                return
            if proc is None or proc.stdin is None or not isinstance(item, Delivery):
                continue  # the next process gets it from `pending`
            try:
                proc.stdin.write(encode_line(Deliver.of(item)))
                proc.stdin.flush()
            except (OSError, ValueError):  # it died: the restart hands everything over again
                pass

    # -- supervisor thread ---------------------------------------------------------
    def _supervise(self) -> None:
        crashes = 0
        while not self._stop.is_set():
            began = time.monotonic()
            reason = self._run_once()
            if self._stop.is_set():
                return
            crashes = 1 if time.monotonic() - began >= HEALTHY_AFTER_S else crashes + 1
            delay = min(self.backoff_s * 2 ** (crashes - 1), self.max_backoff_s)
            log.error(
                "the fan-out process (e-mail, Apprise) %s; restarting it in %.1f s (%d in a row); "
                "nothing due is lost, it is handed over again",
                reason,
                delay,
                crashes,
            )
            if crashes >= FAULT_AFTER_CRASHES or reason.startswith("cannot be started"):
                self._raise(FANOUT, f"{reason} ({crashes}x in a row)")
            self._stop.wait(delay)

    def _run_once(self) -> str:
        """Start one process and read it until it ends; why it ended."""
        try:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            return f"cannot be started ({exc})"
        with self._lock:
            self._proc = proc
            self.starts += 1
            again = list(self.pending.values())
        if self._stop.is_set() and proc.stdin is not None:  # stop() came while starting
            proc.stdin.close()
        for d in again:
            self._queue.put(d)
        if again:
            log.warning("handing %d unfinished e-mail/Apprise deliveries to the fan-out process", len(again))
        assert proc.stdout is not None
        for line in proc.stdout:
            self._answer(line)
        rc = proc.wait()
        with self._lock:
            self._proc = None
        self.ready.clear()
        if rc < 0:
            return f"was killed by {signal.Signals(-rc).name}"
        return f"exited with status {rc}"

    def _answer(self, line: bytes) -> None:
        try:
            m = FromFanout.validate_json(line)
        except ValidationError as exc:
            log.error("refused a line from the fan-out process: %s", exc.errors()[:1])
            return
        if isinstance(m, Ready):
            log.info("fan-out process %d ready", m.pid)
            self.ready.set()
        elif isinstance(m, Attempted):
            self._outcome(m.outcome())
        elif isinstance(m, ChannelChange):
            if m.state == "raised":
                self._raise(m.channel, m.reason, m.since)
            else:
                self._clear(m.channel, m.since)

    def _outcome(self, o: DeliveryOutcome) -> None:
        if o.status is not OutcomeStatus.FAILED:
            with self._lock:
                known = self.pending.pop((o.notification_id, o.channel), None)
            if known is None:
                return  # a final outcome reported again (handed over twice): recorded already
        self._call(self._on_outcome, o)
        if o.status is OutcomeStatus.DELIVERED:
            self._clear(o.channel, o.at)  # a new process does not know its channel was in fault
            self._clear(FANOUT, o.at)

    def _raise(self, channel: str, reason: str, since: datetime | None = None) -> None:
        with self._lock:
            if channel in self._faulted:
                return
            at = since or datetime.now(UTC)
            self._faulted[channel] = at
        self._call(self._on_state, channel, "raised", at, reason)

    def _clear(self, channel: str, at: datetime) -> None:
        with self._lock:
            if self._faulted.pop(channel, None) is None:
                return
        self._call(self._on_state, channel, "cleared", at, "")

    @staticmethod
    def _call(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("fan-out callback failed (ignored)")
