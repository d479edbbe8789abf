"""One channel's worker: a bounded queue, retries with back-off, outcomes per attempt, faults.

The caller's side (`offer`) only appends under a short lock and returns: it never waits
for a channel. The worker thread tries each delivery in a helper thread bounded by the
channel's `attempt_timeout_s`; a delivery that fails is retried after its back-off while
other deliveries of the channel go ahead, and every attempt is reported.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from stilalarm.console.delivery.channel import (
    Channel,
    Clock,
    Delivery,
    DeliveryOutcome,
    OutcomeStatus,
    PermanentError,
    Retry,
    SystemClock,
    TransientError,
)
from stilalarm.console.delivery.secrets import redact

log = logging.getLogger(__name__)

OutcomeHandler = Callable[[DeliveryOutcome], None]
FaultHandler = Callable[[str, datetime, str], None]
"""`on_channel_fault(channel, since, reason)`: the channel failed `fault_after_failures`
messages in a row, the first at `since`; `reason` is the last error (no secrets)."""
RecoveredHandler = Callable[[str, datetime], None]
"""`on_channel_recovered(channel, at)`: a faulted channel delivered again at `at`."""


@dataclass(order=True)
class Job:
    """One delivery in a worker's schedule."""

    due: float
    seq: int
    item: Delivery = field(compare=False)
    attempt: int = field(default=0, compare=False)
    not_counted: int = field(default=0, compare=False)
    """Attempts interrupted by a restart of the fan-out process: they keep their numbers but do
    not count against the policy's `attempts` (fail open: one more try beats a missed message)."""


class Reporter:
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

    def outcome(
        self, channel: str, job: Job, status: OutcomeStatus, reason: str = "", *, quiet: bool = False
    ) -> None:
        """Report one outcome; `quiet`: a delivery of a durable channel is logged at debug level only."""
        d = job.item
        reason = redact(reason)
        out = DeliveryOutcome(
            notification_id=d.notification_id,
            incident_id=d.incident_id,
            person_id=d.person_id,
            channel=channel,
            attempt=job.attempt,
            status=status,
            reason=reason,
            at=self.clock.now(),
        )
        level = logging.WARNING
        if status is OutcomeStatus.DELIVERED:
            level = logging.DEBUG if quiet else logging.INFO
        log.log(
            level,
            "delivery %s %s to %s (notification %s, attempt %d)%s",
            channel,
            status.value,
            out.person_id,
            d.notification_id,
            out.attempt,
            f": {reason}" if reason else "",
        )
        try:
            self._on_outcome(out)
        except Exception:
            log.exception("on_outcome callback failed (ignored)")

    def fault(self, channel: str, since: datetime, reason: str) -> None:
        log.error("delivery channel %s failing since %s: %s", channel, since.isoformat(), redact(reason))
        if self._on_fault is not None:
            try:
                self._on_fault(channel, since, redact(reason))
            except Exception:
                log.exception("on_channel_fault callback failed (ignored)")

    def recovered(self, channel: str, at: datetime) -> None:
        log.warning("delivery channel %s works again", channel)
        if self._on_recovered is not None:
            try:
                self._on_recovered(channel, at)
            except Exception:
                log.exception("on_channel_recovered callback failed (ignored)")


class ChannelWorker:
    """One channel's bounded queue, retry schedule, fault state and worker thread."""

    def __init__(self, channel: Channel, policy: Retry, clock: Clock, report: Reporter) -> None:
        self.channel = channel
        self.name = channel.name
        self.policy = policy
        self.clock = clock
        self.report = report
        self._cond = threading.Condition()
        self._inbox: deque[Job] = deque()
        self._pending = 0  # queued + being tried + waiting for a retry; bounded by queue_size
        self._heap: list[Job] = []  # only the worker touches it
        self._stopping = False
        self._thread: threading.Thread | None = None
        # fault state (worker only)
        self._streak: set[str] = set()
        self._since: datetime | None = None
        self.faulted_since: datetime | None = None
        self.abandoned_attempts = 0

    # -- caller side ----------------------------------------------------------
    def offer(self, job: Job) -> bool:
        """Queue `job` unless stopping or the channel holds `queue_size` messages; never blocks long."""
        with self._cond:
            full = self.policy.queue_size is not None and self._pending >= self.policy.queue_size
            if self._stopping or full:
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
        self._thread = threading.Thread(target=self._loop, name=f"delivery-{self.name}", daemon=True)
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

    def _call(self, job: Job) -> None:
        """`channel.send` in a helper thread, abandoned after `attempt_timeout_s` or on stop
        (directly in the worker for a channel whose `send` bounds itself)."""
        if self.channel.self_bounded:
            self.channel.send(job.item)
            return
        errors: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                self.channel.send(job.item)
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        limit = self.channel.attempt_timeout_s
        start = SystemClock().monotonic()
        threading.Thread(target=run, name=f"delivery-{self.name}-send", daemon=True).start()
        while not done.wait(0.05):
            if SystemClock().monotonic() - start >= limit:
                self.abandoned_attempts += 1
                raise TransientError(f"no result within {limit:g} s (attempt abandoned)")
            if self._is_stopping():
                raise TransientError("dispatcher stopping")
        if errors:
            raise errors[0]

    def _attempt(self, job: Job) -> None:
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
            self.report.outcome(self.name, job, OutcomeStatus.DELIVERED, quiet=self.channel.durable)
            self._delivered()
            self._finish()
            return
        reason = redact(reason)
        self.report.outcome(self.name, job, OutcomeStatus.FAILED, reason)
        self._failed(job, reason)
        attempts, counted = self.policy.attempts, job.attempt - job.not_counted
        if permanent or (attempts is not None and counted >= attempts) or self._is_stopping():
            why = "permanent failure" if permanent else f"{counted} attempt(s) failed"
            self.report.outcome(self.name, job, OutcomeStatus.GAVE_UP, f"{why}: {reason}")
            self._finish()
            return
        delay = min(self.policy.backoff_s * 2 ** (max(counted, 1) - 1), self.policy.max_backoff_s)
        job.due = self.clock.monotonic() + delay
        heapq.heappush(self._heap, job)

    def _failed(self, job: Job, reason: str) -> None:
        threshold = self.policy.fault_after_failures
        if threshold is None:
            return
        if not self._streak:
            self._since = self.clock.now()
        self._streak.add(str(job.item.notification_id))
        if self.faulted_since is None and self._since is not None and len(self._streak) >= threshold:
            self.faulted_since = self._since
            self.report.fault(self.name, self._since, reason)

    def _delivered(self) -> None:
        self._streak.clear()
        self._since = None
        if self.faulted_since is not None:
            self.faulted_since = None
            self.report.recovered(self.name, self.clock.now())
