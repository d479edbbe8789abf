"""The dispatcher: bounded per-channel queues, one worker thread per channel, retries, faults.

`submit()` only appends to in-memory queues under a short lock and returns: it never
waits for a channel, so the console's MQTT path cannot be delayed by a hanging SMTP
server or chat gateway. Each channel has its own worker thread; a message that fails
is retried with exponential back-off (other messages of that channel go ahead in the
meantime), and every attempt is reported through `on_outcome`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from console.fanout.apprise_channel import AppriseChannel
from console.fanout.channels import (
    Channel,
    Clock,
    DeliveryOutcome,
    OutcomeStatus,
    PermanentError,
    SystemClock,
    TransientError,
)
from console.fanout.mail import MailChannel
from console.fanout.pager import PagerChannel, Publish
from console.fanout.secrets import install_log_redaction, redact
from inventory.model import ChannelKind, DeliveryPolicy, Person, Site
from wire.messages import Notification

log = logging.getLogger(__name__)

OutcomeHandler = Callable[[DeliveryOutcome], None]
FaultHandler = Callable[[str, datetime, str], None]
"""`on_channel_fault(channel, since, reason)`: the channel failed `fault_after_failures`
messages in a row, the first at `since`; `reason` is the last error (no secrets)."""
RecoveredHandler = Callable[[str, datetime], None]
"""`on_channel_recovered(channel, at)`: a faulted channel delivered again at `at`."""

MAX_BACKOFF_S = 300.0
"""Retry delays double from `DeliveryPolicy.backoff_s` up to this."""

_seq = itertools.count()


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    notification: Notification = field(compare=False)
    person: Person = field(compare=False)
    attempt: int = field(default=0, compare=False)


class _Reporter:
    """Calls the integrator's callbacks; an exception in one is logged, never propagated."""

    def __init__(
        self,
        on_outcome: OutcomeHandler,
        on_fault: FaultHandler | None,
        on_recovered: RecoveredHandler | None,
        clock: Clock,
    ) -> None:
        self._on_outcome = on_outcome
        self._on_fault = on_fault
        self._on_recovered = on_recovered
        self.clock = clock

    def outcome(self, channel: str, job: _Job, status: OutcomeStatus, reason: str = "") -> None:
        n = job.notification
        reason = redact(reason)
        out = DeliveryOutcome(
            notification_id=n.notification_id,
            incident_id=n.incident_id,
            person_id=job.person.id,
            channel=channel,
            attempt=job.attempt,
            status=status,
            reason=reason,
            at=self.clock.now(),
        )
        level = logging.INFO if status is OutcomeStatus.DELIVERED else logging.WARNING
        log.log(
            level,
            "fan-out %s %s to %s (notification %s, attempt %d)%s",
            channel,
            status.value,
            out.person_id,
            n.notification_id,
            out.attempt,
            f": {reason}" if reason else "",
        )
        try:
            self._on_outcome(out)
        except Exception:
            log.exception("on_outcome callback failed (ignored)")

    def fault(self, channel: str, since: datetime, reason: str) -> None:
        log.error("fan-out channel %s failing since %s: %s", channel, since.isoformat(), redact(reason))
        if self._on_fault is not None:
            try:
                self._on_fault(channel, since, redact(reason))
            except Exception:
                log.exception("on_channel_fault callback failed (ignored)")

    def recovered(self, channel: str, at: datetime) -> None:
        log.warning("fan-out channel %s works again", channel)
        if self._on_recovered is not None:
            try:
                self._on_recovered(channel, at)
            except Exception:
                log.exception("on_channel_recovered callback failed (ignored)")


class ChannelWorker:
    """One channel's bounded queue, retry schedule, fault state and worker thread."""

    def __init__(self, channel: Channel, policy: DeliveryPolicy, clock: Clock, report: _Reporter) -> None:
        self.channel = channel
        self.name = channel.name
        self.policy = policy
        self.clock = clock
        self.report = report
        self._cond = threading.Condition()
        self._inbox: deque[_Job] = deque()
        self._pending = 0  # queued + being tried + waiting for a retry; bounded by queue_size
        self._heap: list[_Job] = []  # only the worker touches it
        self._stopping = False
        self._thread: threading.Thread | None = None
        # fault state (worker only)
        self._streak: set[str] = set()
        self._since: datetime | None = None
        self.faulted_since: datetime | None = None
        self.abandoned_attempts = 0

    # -- caller side ----------------------------------------------------------
    def offer(self, job: _Job) -> bool:
        """Queue `job` unless the channel already holds `queue_size` messages; never blocks long."""
        with self._cond:
            if self._stopping or self._pending >= self.policy.queue_size:
                return False
            self._pending += 1
            self._inbox.append(job)
            self._cond.notify()
            return True

    @property
    def pending(self) -> int:
        """Messages this channel still holds (queued, in an attempt, or waiting to retry)."""
        with self._cond:
            return self._pending

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"fanout-{self.name}", daemon=True)
        self._thread.start()

    def wait_idle(self, deadline: float) -> bool:
        """Wait (real time) until nothing is pending or the monotonic `deadline` passes."""
        with self._cond:
            while self._pending:
                left = deadline - SystemClock().monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def request_stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker side ------------------------------------------------------------
    def pump(self) -> float | None:
        """Run every job that is due now (tests call this without a thread); next due time or None."""
        self._take_inbox()
        while self._heap and self._heap[0].due <= self.clock.monotonic() and not self._is_stopping():
            self._attempt(heapq.heappop(self._heap))
            self._take_inbox()
        return self._heap[0].due if self._heap else None

    def _is_stopping(self) -> bool:
        with self._cond:
            return self._stopping

    def _take_inbox(self) -> None:
        with self._cond:
            while self._inbox:
                heapq.heappush(self._heap, self._inbox.popleft())

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._inbox:
                    if self._heap:
                        left = self._heap[0].due - self.clock.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    else:
                        self._cond.wait()
                if self._stopping:
                    break
            self.pump()
        self._take_inbox()
        while self._heap:
            job = heapq.heappop(self._heap)
            self.report.outcome(self.name, job, OutcomeStatus.GAVE_UP, "dispatcher stopped before delivery")
            self._finish()

    def _finish(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def _call(self, job: _Job) -> None:
        """`channel.send` in a helper thread, abandoned after `attempt_timeout_s` or on stop."""
        errors: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                self.channel.send(job.notification, job.person)
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        limit = self.channel.attempt_timeout_s
        start = SystemClock().monotonic()
        threading.Thread(target=run, name=f"fanout-{self.name}-send", daemon=True).start()
        while not done.wait(0.05):
            if SystemClock().monotonic() - start >= limit:
                self.abandoned_attempts += 1
                raise TransientError(f"no result within {limit:g} s (attempt abandoned)")
            if self._is_stopping():
                raise TransientError("dispatcher stopping")
        if errors:
            raise errors[0]

    def _attempt(self, job: _Job) -> None:
        job.attempt += 1
        permanent = False
        try:
            self._call(job)
        except PermanentError as exc:
            reason, permanent = exc.reason, True
        except TransientError as exc:
            reason = exc.reason
        except Exception as exc:  # a channel bug: report it, retry like a transient failure
            reason = f"{type(exc).__name__}: {exc}"
        else:
            self.report.outcome(self.name, job, OutcomeStatus.DELIVERED)
            self._delivered()
            self._finish()
            return
        reason = redact(reason)
        self.report.outcome(self.name, job, OutcomeStatus.FAILED, reason)
        self._failed(job, reason)
        if permanent or job.attempt >= self.policy.attempts or self._is_stopping():
            why = "permanent failure" if permanent else f"{job.attempt} attempt(s) failed"
            self.report.outcome(self.name, job, OutcomeStatus.GAVE_UP, f"{why}: {reason}")
            self._finish()
            return
        delay = min(self.policy.backoff_s * 2 ** (job.attempt - 1), MAX_BACKOFF_S)
        job.due = self.clock.monotonic() + delay
        heapq.heappush(self._heap, job)

    def _failed(self, job: _Job, reason: str) -> None:
        if not self._streak:
            self._since = self.clock.now()
        self._streak.add(str(job.notification.notification_id))
        if (
            self.faulted_since is None
            and self._since is not None
            and len(self._streak) >= self.policy.fault_after_failures
        ):
            self.faulted_since = self._since
            self.report.fault(self.name, self._since, reason)

    def _delivered(self) -> None:
        self._streak.clear()
        self._since = None
        if self.faulted_since is not None:
            self.faulted_since = None
            self.report.recovered(self.name, self.clock.now())


class Dispatcher:
    """Delivers each notification on the person's channels for its level (the console excepted)."""

    def __init__(
        self,
        site: Site,
        channels: Iterable[Channel],
        *,
        on_outcome: OutcomeHandler,
        on_channel_fault: FaultHandler | None = None,
        on_channel_recovered: RecoveredHandler | None = None,
        policy: DeliveryPolicy | None = None,
        clock: Clock | None = None,
        start: bool = True,
    ) -> None:
        self.site = site
        self.clock = clock or SystemClock()
        self.policy = policy or site.delivery
        self._report = _Reporter(on_outcome, on_channel_fault, on_channel_recovered, self.clock)
        self._people = {p.id: p for p in site.people}
        self.workers: dict[ChannelKind, ChannelWorker] = {}
        for ch in channels:
            if ch.kind is ChannelKind.CONSOLE:
                raise ValueError("the console channel stays in the service, not in the dispatcher")
            if ch.kind in self.workers:
                raise ValueError(f"two channels for {ch.kind.value}")
            self.workers[ch.kind] = ChannelWorker(ch, self.policy, self.clock, self._report)
        self._routes: dict[tuple[str, int], tuple[ChannelWorker, ...]] = {}
        self._closed = False
        install_log_redaction("console.fanout")
        if start:
            for w in self.workers.values():
                w.start()

    def _route(self, person: Person, level: int) -> tuple[ChannelWorker, ...]:
        key = (person.id, level)
        route = self._routes.get(key)
        if route is None:
            kinds = person.channels_at(level) - {ChannelKind.CONSOLE}
            route = tuple(self.workers[k] for k in sorted(kinds) if k in self.workers)
            self._routes[key] = route
        return route

    def submit(self, notification: Notification) -> None:
        """Queue `notification` on each of the person's channels for its level; never blocks, never raises.

        A channel whose queue is full reports a `gave_up` outcome ("queue full") at once.
        """
        try:
            person = self._people.get(notification.person_id)
            if person is None:
                log.warning("fan-out: unknown person %s, nothing sent", notification.person_id)
                return
            now = self.clock.monotonic()
            for w in self._route(person, notification.level):
                if not w.channel.applies(notification, person):
                    continue
                job = _Job(due=now, seq=next(_seq), notification=notification, person=person)
                if not w.offer(job):
                    why = "dispatcher stopped" if self._closed else "queue full"
                    self._report.outcome(w.name, job, OutcomeStatus.GAVE_UP, why)
        except Exception:
            log.exception("fan-out submit failed for notification %s", notification.notification_id)

    def pump(self) -> None:
        """Run due jobs in the caller's thread (for tests with `start=False` and a fake clock)."""
        for w in self.workers.values():
            w.pump()

    def pending(self) -> dict[str, int]:
        """Messages held per channel (queued, being tried, or waiting to retry)."""
        return {w.name: w.pending for w in self.workers.values()}

    def faults(self) -> dict[str, datetime]:
        """Channels currently in fault, with since when."""
        return {w.name: w.faulted_since for w in self.workers.values() if w.faulted_since is not None}

    def stop(self, drain_s: float = 5.0) -> None:
        """Let the workers finish what they hold for up to `drain_s`, then stop them.

        Whatever is still held then gets a `gave_up` outcome ("dispatcher stopped ...").
        """
        self._closed = True
        deadline = SystemClock().monotonic() + drain_s
        for w in self.workers.values():
            w.wait_idle(deadline)
        for w in self.workers.values():
            w.request_stop()
        for w in self.workers.values():
            w.join(2.0)


def default_channels(site: Site, publish: Publish | None = None) -> list[Channel]:
    """The channels the inventory asks for: e-mail with [smtp], Apprise, the pager with `publish`."""
    chans: list[Channel] = []
    if site.smtp is not None:
        chans.append(MailChannel(site))
    if any(p.apprise for p in site.people):
        chans.append(AppriseChannel(site))
    if publish is not None:
        chans.append(PagerChannel(site, publish))
    return chans


def build_dispatcher(
    site: Site,
    *,
    publish: Publish | None,
    on_outcome: OutcomeHandler,
    on_channel_fault: FaultHandler | None = None,
    on_channel_recovered: RecoveredHandler | None = None,
) -> Dispatcher:
    """A started dispatcher with the site's default channels and delivery policy."""
    return Dispatcher(
        site,
        default_channels(site, publish),
        on_outcome=on_outcome,
        on_channel_fault=on_channel_fault,
        on_channel_recovered=on_channel_recovered,
    )
