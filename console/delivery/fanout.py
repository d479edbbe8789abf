"""The fan-out process (`alarm-console fanout`): e-mail and Apprise outside the alarm path.

`alarm-console serve` starts it, feeds it and restarts it (`stilalarm.console.shell.fanout`).
It runs the same `Dispatcher` and channel workers as every channel (`other_channels(site)`),
each channel wrapped in the attempt journal (`stilalarm.console.delivery.journal`).

Protocol: JSON lines (strict pydantic models, like the wire). On stdin the service sends
`Deliver` (one message for one channel; again after every restart until it is finished). On
stdout the process answers `Ready` once it has recovered its journal, `Attempted` per attempt
outcome (the `delivery_attempt` facts) and `ChannelChange` when a channel faults or recovers.
Logs go to stderr (the service's log). It stops at the end of stdin (finishing what it can
within a short drain), and dies with the service (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sqlite3
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stilalarm.console.delivery.channel import Delivery, DeliveryOutcome, OutcomeStatus, SystemClock
from stilalarm.console.delivery.dispatcher import Dispatcher, other_channels
from stilalarm.console.delivery.journal import Journal, JournaledChannel, Key
from stilalarm.inventory.model import Site

log = logging.getLogger(__name__)

FREE_INTERRUPTIONS = 3
"""Attempts of one message interrupted by a restart that do not count against the site's
`delivery.attempts`; beyond that they count (a message that keeps killing the process ends)."""
DRAIN_S = 2.0
"""At the end of stdin: how long the workers may finish what they hold."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deliver(_Msg):
    """Service -> fan-out: deliver one message on one channel (an outbox row)."""

    kind: Literal["deliver"] = "deliver"
    notification_id: uuid.UUID = Field(description="The notification's id (the outbox row's).")
    channel: str = Field(description="'email' or 'apprise'.")
    person_id: str = Field(description="Who gets it.")
    address: str = Field(description="The e-mail address; '' for Apprise.")
    payload: str = Field(description="The encoded Notification (JSON).")
    incident_id: str | None = Field(default=None, description="The incident, for the outcome.")

    @classmethod
    def of(cls, d: Delivery) -> Deliver:
        return cls(
            notification_id=d.notification_id,
            channel=d.channel,
            person_id=d.person_id,
            address=d.address,
            payload=d.payload.decode(),
            incident_id=d.incident_id,
        )

    def delivery(self) -> Delivery:
        return Delivery(
            self.notification_id,
            self.channel,
            self.person_id,
            self.address,
            self.payload.encode(),
            self.incident_id,
        )


class Ready(_Msg):
    """Fan-out -> service: the journal is recovered; deliveries are taken now."""

    kind: Literal["ready"] = "ready"
    pid: int = Field(description="The fan-out process's id (for the log).")


class Attempted(_Msg):
    """Fan-out -> service: one attempt's outcome (or the message's final gave_up)."""

    kind: Literal["outcome"] = "outcome"
    notification_id: uuid.UUID = Field(description="The notification's id.")
    incident_id: str | None = Field(default=None, description="The incident, if any.")
    person_id: str = Field(description="Who it was for.")
    channel: str = Field(description="'email' or 'apprise'.")
    attempt: int = Field(ge=0, description="The attempt number; never repeats for a message and channel.")
    status: OutcomeStatus = Field(description="delivered, failed or gave_up.")
    reason: str = Field(description="Why it failed; never a secret.")
    at: datetime = Field(description="When (UTC).")

    @classmethod
    def of(cls, o: DeliveryOutcome) -> Attempted:
        return cls(
            notification_id=o.notification_id,
            incident_id=o.incident_id,
            person_id=o.person_id,
            channel=o.channel,
            attempt=o.attempt,
            status=o.status,
            reason=o.reason,
            at=o.at,
        )

    def outcome(self) -> DeliveryOutcome:
        return DeliveryOutcome(
            self.notification_id,
            self.incident_id,
            self.person_id,
            self.channel,
            self.attempt,
            self.status,
            self.reason,
            self.at,
        )


class ChannelChange(_Msg):
    """Fan-out -> service: a channel started failing (raised) or works again (cleared)."""

    kind: Literal["channel"] = "channel"
    channel: str = Field(description="'email' or 'apprise'.")
    state: Literal["raised", "cleared"] = Field(description="Fault raised or cleared.")
    since: datetime = Field(description="The first failure (raised) or the recovery (cleared).")
    reason: str = Field(default="", description="The last error (raised); never a secret.")


FromFanout = TypeAdapter(Annotated[Ready | Attempted | ChannelChange, Field(discriminator="kind")])
"""What the fan-out process writes, one JSON object per line."""


def encode_line(m: _Msg) -> bytes:
    return m.model_dump_json().encode() + b"\n"


class _Out:
    """stdout, one whole line at a time (the workers' threads report concurrently)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, m: _Msg) -> None:
        with self._lock:
            try:
                self._out.write(encode_line(m))
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):  # the service is gone: we die with it
                pass


class FanoutProcess:
    """The child's work: the journal, the workers, and the messages the service hands over."""

    def __init__(self, site: Site, journal: Journal, out: IO[bytes]) -> None:
        self.journal = journal
        self.out = _Out(out)
        self.clock = SystemClock()
        self._held: set[Key] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self.channels = {c.name: JournaledChannel(c, journal, self.clock) for c in other_channels(site)}
        self.dispatcher = Dispatcher(
            site,
            list(self.channels.values()),
            on_outcome=self._outcome,
            on_channel_fault=lambda ch, since, why: self.out.send(
                ChannelChange(channel=ch, state="raised", since=since, reason=why)
            ),
            on_channel_recovered=lambda ch, at: self.out.send(
                ChannelChange(channel=ch, state="cleared", since=at)
            ),
            clock=self.clock,
            start=False,
        )

    def start(self) -> None:
        """Recover the journal (report interrupted attempts), start the workers, say ready."""
        for o in self.journal.recover(self.clock.now()):
            log.warning("attempt %d of %s on %s was interrupted", o.attempt, o.notification_id, o.channel)
            self.out.send(Attempted.of(o))
        self.dispatcher.start()
        self.out.send(Ready(pid=os.getpid()))

    def take(self, m: Deliver) -> None:
        """One message from the service: queue it (once), or report its final outcome again."""
        key: Key = (m.notification_id, m.channel)
        ch = self.channels.get(m.channel)
        if ch is None:  # the inventory lost the channel since the row was stored: finish the row
            why = f"no {m.channel} channel in the inventory any more"
            log.error("%s: %s not sent", why, m.notification_id)
            d = m.delivery()
            gone = DeliveryOutcome(
                d.notification_id,
                d.incident_id,
                d.person_id,
                d.channel,
                0,
                OutcomeStatus.GAVE_UP,
                why,
                self.clock.now(),
            )
            self.out.send(Attempted.of(gone))
            return
        with self._lock:
            if key in self._held:
                return  # already being delivered (a resubmission after the service's restart of us)
            h = self.journal.history(key)
            if h.final is not None:
                self.out.send(Attempted.of(h.final))
                return
            self._held.add(key)
        ch.resume(key, h.last)
        self.dispatcher.submit(
            m.delivery(), attempts_made=h.last, not_counted=min(h.interrupted, FREE_INTERRUPTIONS)
        )

    def _outcome(self, o: DeliveryOutcome) -> None:
        final = o.status is not OutcomeStatus.FAILED
        if o.status is OutcomeStatus.GAVE_UP and self._stopping:
            return  # not finished: the service hands it over again to the next process
        try:
            self.journal.outcome(o)
        except Exception:  # the report still goes out: the service's log is the record
            log.exception("cannot journal the outcome of %s on %s", o.notification_id, o.channel)
        self.out.send(Attempted.of(o))
        if final:
            key: Key = (o.notification_id, o.channel)
            with self._lock:
                self._held.discard(key)
            ch = self.channels.get(o.channel)
            if ch is not None:
                ch.forget(key)

    def stop(self, drain_s: float) -> None:
        self._stopping = True  # what is left is not given up: it stays in the service's outbox
        self.dispatcher.stop(drain_s=drain_s)


def die_with_parent(parent: int) -> bool:
    """Ask Linux to kill this process when its parent dies; False if it already has (then exit)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            log.warning("cannot ask to die with the service (prctl); stdin's end still stops us")
    return not (parent and os.getppid() != parent)


def run(site: Site, journal_path: Path, inp: IO[bytes], out: IO[bytes], *, drain_s: float = DRAIN_S) -> int:
    """The fan-out process's main loop: until the end of `inp`."""
    try:
        journal = Journal(journal_path)
    except (sqlite3.Error, OSError) as exc:
        log.critical(
            "cannot open the attempt journal %s (%s): no e-mail or Apprise message can be sent. Make its "
            "directory writable for the service's user, or move a damaged file away (it is rebuilt).",
            journal_path,
            exc,
        )
        return 1
    proc = FanoutProcess(site, journal, out)
    proc.start()
    try:
        for line in inp:
            if not line.strip():
                continue
            try:
                m = Deliver.model_validate_json(line)
            except ValidationError as exc:
                log.error("refused a line from the service: %s", exc.errors()[:1])
                continue
            proc.take(m)
    finally:
        proc.stop(drain_s)
        journal.close()
    return 0
