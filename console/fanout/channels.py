"""The channel contract, delivery outcomes, errors and the injectable clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from inventory.model import ChannelKind, Person
from wire.messages import Notification


class DeliveryError(Exception):
    """A send failed; `reason` is short, human and free of secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(DeliveryError):
    """Worth retrying: timeout, connection refused, 4xx from the server, HTTP 5xx."""


class PermanentError(DeliveryError):
    """Retrying will not help: bad credentials, refused address, bad configuration."""


@runtime_checkable
class Channel(Protocol):
    """One way to reach people besides the console (e-mail, Apprise, pager)."""

    @property
    def kind(self) -> ChannelKind:
        """Which `ChannelKind` of a person's channel rules this channel serves."""
        ...

    @property
    def name(self) -> str:
        """Short name used in outcomes and faults (the kind's value)."""
        ...

    @property
    def attempt_timeout_s(self) -> float:
        """Hard bound of one `send`; the dispatcher abandons the attempt after it."""
        ...

    def applies(self, notification: Notification, person: Person) -> bool:
        """Whether this channel has anything to send for this person and notification."""
        ...

    def send(self, notification: Notification, person: Person) -> None:
        """Deliver once; raise `TransientError` or `PermanentError` when that fails."""
        ...


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
