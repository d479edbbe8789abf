"""The one channel contract: a delivery, the channel protocol, retry policy, outcomes, errors, clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from stilalarm.inventory.people import ChannelKind, DeliveryPolicy, Person
from stilalarm.wire.messages import Notification, parse


@dataclass(frozen=True)
class Delivery:
    """One message for one person on one channel (what a channel sends; the outbox row of a durable one).

    `notification_id` is the message's id, stable across retries and restarts (receivers drop
    duplicates by it): the notification's id, or for a page the `PageCmd`'s `cmd_id`.
    """

    notification_id: uuid.UUID
    channel: str
    person_id: str
    address: str  # MQTT topic (notify, pager unit's cmd); e-mail address; "" for Apprise
    payload: bytes  # the encoded wire message: a Notification, or a PageCmd for the pager
    incident_id: str | None = None
    attempt_id: str = ""
    """`<notification_id>/<n>`, set by the fan-out process for attempt n (e-mail header
    `X-Stilalarm-Attempt`, Apprise JSON/XML/form header): never the same for two attempts,
    also across a crash of the fan-out process; "" elsewhere."""

    def notification(self) -> Notification:
        """The payload as a `Notification` (for channels that render it: e-mail, Apprise)."""
        return parse(Notification, self.payload)


class DeliveryError(Exception):
    """A send failed; `reason` is short, human and free of secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(DeliveryError):
    """Worth retrying: timeout, connection refused, no PUBACK yet, 4xx from the server, HTTP 5xx."""


class PermanentError(DeliveryError):
    """Retrying will not help: bad credentials, refused address, bad configuration."""


@runtime_checkable
class Channel(Protocol):
    """One way to reach people: the console (MQTT notify topic), the lead pager unit, e-mail, Apprise."""

    @property
    def kind(self) -> ChannelKind:
        """Which `ChannelKind` of a person's channel rules this channel serves."""
        ...

    @property
    def name(self) -> str:
        """Short name used in deliveries, outcomes, faults and the outbox ("mqtt", "pager", ...)."""
        ...

    @property
    def durable(self) -> bool:
        """True: its deliveries are kept in the outbox, retried until delivered (never given up
        while running) and re-sent after a restart. False: the site's delivery policy applies."""
        ...

    @property
    def attempt_timeout_s(self) -> float:
        """Hard bound of one `send`; the dispatcher abandons the attempt after it."""
        ...

    @property
    def self_bounded(self) -> bool:
        """True: `send` returns within `attempt_timeout_s` by itself, so the worker calls it
        directly (no helper thread per attempt: the console sends thousands in a burst)."""
        ...

    def applies(self, notification: Notification, person: Person) -> bool:
        """Whether this channel sends this notification to this person (routing by notification)."""
        ...

    def address(self, person: Person) -> str:
        """Where this channel reaches the person (topic, e-mail address, "")."""
        ...

    def send(self, item: Delivery) -> None:
        """Deliver once (idempotent per `notification_id`); raise `TransientError` or `PermanentError`."""
        ...


@dataclass(frozen=True)
class Retry:
    """A channel's queue bound, retry schedule and fault threshold."""

    attempts: int | None  # None: until delivered (while running)
    backoff_s: float  # the first retry delay; doubles each time
    max_backoff_s: float
    queue_size: int | None  # None: unbounded
    fault_after_failures: int | None  # None: the channel never raises a fault

    @classmethod
    def of(cls, policy: DeliveryPolicy) -> Retry:
        """The site's `[delivery]` policy (e-mail, Apprise, pager)."""
        return cls(
            attempts=policy.attempts,
            backoff_s=policy.backoff_s,
            max_backoff_s=MAX_BACKOFF_S,
            queue_size=policy.queue_size,
            fault_after_failures=policy.fault_after_failures,
        )


MAX_BACKOFF_S = 300.0
"""Retry delays of the site's policy double from `DeliveryPolicy.backoff_s` up to this."""

UNTIL_DELIVERED = Retry(
    attempts=None, backoff_s=0.2, max_backoff_s=10.0, queue_size=None, fault_after_failures=None
)
"""A durable channel's policy: never refuse, never give up while running (the outbox re-sends
after a restart), no channel fault (its failures are the broker link's, supervised elsewhere)."""


class OutcomeStatus(StrEnum):
    DELIVERED = "delivered"  # this attempt succeeded
    FAILED = "failed"  # this attempt failed (a retry may follow)
    GAVE_UP = "gave_up"  # no (more) attempts for this message on this channel


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one attempt (or to the whole message, for gave_up)."""

    notification_id: uuid.UUID
    incident_id: str | None
    person_id: str
    channel: str
    attempt: int  # 1-based; 0 when the message never got an attempt (queue full, stopped)
    status: OutcomeStatus
    reason: str  # "" when delivered; never contains a secret
    at: datetime  # UTC


class Clock(Protocol):
    """Wall time for outcomes and monotonic time for retry schedules."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
