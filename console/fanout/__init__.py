"""Fan-out delivery: reach each notified person on their other channels (issue #6).

The console service keeps sending every `Notification` on MQTT itself; it also hands
it to a `Dispatcher`, which delivers it by e-mail, Apprise (chat / push / SMS) and
the lead's pager unit, with per-channel queues and workers, retries with back-off,
an outcome per attempt and one fault per failing channel. See docs/FANOUT.md.
"""

from __future__ import annotations

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
from console.fanout.dispatcher import Dispatcher, build_dispatcher, default_channels
from console.fanout.mail import MailChannel
from console.fanout.pager import PagerChannel
from console.fanout.secrets import RedactingFilter, SecretError, redact, resolve_secret

__all__ = [
    "AppriseChannel",
    "Channel",
    "Clock",
    "DeliveryOutcome",
    "Dispatcher",
    "MailChannel",
    "OutcomeStatus",
    "PagerChannel",
    "PermanentError",
    "RedactingFilter",
    "SecretError",
    "SystemClock",
    "TransientError",
    "build_dispatcher",
    "default_channels",
    "redact",
    "resolve_secret",
]
