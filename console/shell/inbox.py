"""What the writer's inbox carries besides raw MQTT messages, and the log of refused messages."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from stilalarm.console.core import nodes
from stilalarm.console.core.effects import Record, SupEffect, Tx
from stilalarm.console.core.notice import notice
from stilalarm.console.core.standbys import Effect, EnoughAgain, TooFew
from stilalarm.console.delivery.channel import DeliveryOutcome, OutcomeStatus
from stilalarm.console.facts import ChannelFault, DeliveryAttempt
from stilalarm.console.ingest import Raw, Rejected
from stilalarm.console.retention import PurgePlan
from stilalarm.console.store import Batch
from stilalarm.inventory.kinds import Role
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason
from stilalarm.wire.topics import UnitChannel

log = logging.getLogger("console")

COMPANY_WAIT_S = 0.02
"""How long a batch of only heartbeats and delivery outcomes waits for more before it is handled."""
_HEARTBEAT = "/" + UnitChannel.HEARTBEAT.value


@dataclass(frozen=True)
class Outcome:
    """A delivery attempt finished (from a channel worker thread)."""

    outcome: DeliveryOutcome


@dataclass(frozen=True)
class ChannelState:
    """A delivery channel started failing (raised) or works again (cleared)."""

    channel: str
    state: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class ClusterProblem:
    """Something on the cluster that facilities must fix and that does not stop the alarm path
    (`key` its text key: "queue_unlimited", the queued QoS1 messages could not be limited)."""

    key: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class StandbyNotice:
    """The active console's standbys changed (console/ha/presence.py): tell facilities."""

    effect: Effect


@dataclass(frozen=True)
class NodeNotice:
    """A broker node went silent or answers again (console/core/nodes.py): tell facilities."""

    effect: nodes.Effect


@dataclass(frozen=True)
class Up:
    """The link (re)connected: republish the retained truth."""


@dataclass
class PurgeNow:
    """The retention purge of a cluster's active console (`stilalarm.console.ha.retention`): the writer
    appends it to the log and applies it after the batch it arrives in, then sets `done`."""

    plan: PurgePlan
    done: threading.Event = field(default_factory=threading.Event)
    rows: dict[str, int] = field(default_factory=dict)
    """What the purge removed from the other tables (`Store.purge`)."""
    error: str = ""
    """Why the purge was not done ('' when it was)."""


STOP = object()
"""Put by `stop()`: the writer finishes this batch and ends."""


class RejectLog:
    """Log refused messages with their reason without flooding: 5 per reason per 10 s, then a count."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._since = time.monotonic()

    def add(self, r: Rejected) -> None:
        self.total[r.reason] += 1
        now = time.monotonic()
        if now - self._since > 10:
            for reason, n in self._window.items():
                if n > 5:
                    log.warning("refused %d more message(s) for %s in the last 10 s", n - 5, reason)
            self._window.clear()
            self._since = now
        self._window[r.reason] += 1
        if self._window[r.reason] <= 5:
            log.warning("refused message (%s): %s", r.reason, r.detail)


def attempt_fact(o: DeliveryOutcome) -> DeliveryAttempt:
    """The `delivery_attempt` fact of a non-durable channel's outcome."""
    return DeliveryAttempt(
        at=o.at,
        notification_id=o.notification_id,
        incident_id=o.incident_id,
        person_id=o.person_id,
        channel=o.channel,
        attempt=o.attempt,
        status=o.status.value,
        reason=o.reason[:300],
    )


def bookkeep(
    o: DeliveryOutcome, batch: Batch, now: datetime, *, durable: bool, outboxed: bool
) -> list[SupEffect]:
    """Record one outcome: a durable channel's delivery in its outbox row; every other channel's
    attempt as a `delivery_attempt` fact, and for e-mail / Apprise (`outboxed`: outbox rows sent
    by the fan-out process) the row finished once delivered or given up."""
    finished = o.status is OutcomeStatus.DELIVERED if durable else o.status is not OutcomeStatus.FAILED
    if finished and (durable or outboxed):
        batch.delivered.append((now.isoformat(), str(o.notification_id), o.channel))
    return [] if durable else [Record(attempt_fact(o))]


def channel_state(site: Site, item: ChannelState, now: datetime) -> list[SupEffect]:
    """Record a channel fault / recovery and tell facilities, once per change."""
    fact = ChannelFault(at=now, channel=item.channel, state=item.state, since=item.since, reason=item.reason)
    to = site.people_with(Role.FACILITIES)
    key = "channel_fault" if item.state == "raised" else "channel_recovered"
    detail = {"channel": item.channel, "since": item.since.isoformat(), "reason": item.reason[:200]}
    tx: Tx[None, SupEffect] = Tx(None, now)  # the shell's own notice: no core folds it
    tx.record(fact)
    notice(tx, NotifyReason.FAULT, to, f"channel-{item.channel}", key, detail, to_nobody=True)
    log.warning("delivery channel %s %s: %s", item.channel, item.state, item.reason)
    return tx.effects


def cluster_problem(site: Site, item: ClusterProblem, now: datetime) -> list[SupEffect]:
    """Tell facilities of a cluster problem (the active console, once per start)."""
    to = site.people_with(Role.FACILITIES)
    detail = {"since": item.since.isoformat(), "reason": item.reason[:300]}
    tx: Tx[None, SupEffect] = Tx(None, now)  # the shell's own notice: no core folds it
    notice(tx, NotifyReason.FAULT, to, f"cluster-{item.key}", item.key, detail, to_nobody=True)
    log.error("cluster problem %s, told to %d facilities people: %s", item.key, len(to), item.reason)
    return tx.effects


def standby_notice(site: Site, item: StandbyNotice, now: datetime) -> list[SupEffect]:
    """Tell facilities that the site has too few standby consoles, enough again, or an older one."""
    e = item.effect
    reason = NotifyReason.FAULT
    if isinstance(e, TooFew):
        key = "standby_missing"
        silent = ", ".join(f"{n} ({round(s)} s)" for n, s in e.silent)
        detail = {"want": str(e.want), "heard": ", ".join(e.heard) or "-", "silent": silent or "-"}
        log.error("too few standby consoles: %d of %d (silent: %s)", len(e.heard), e.want, detail["silent"])
    elif isinstance(e, EnoughAgain):
        key, reason = "standby_back", NotifyReason.INFO
        detail = {"heard": ", ".join(e.heard)}
        log.warning("standby consoles back: %s", detail["heard"])
    else:
        key = "standby_older"
        detail = {"console": e.name, "version": e.version, "mine": e.mine}
        log.error("standby console %s runs stilalarm %s, older than this one's %s", e.name, e.version, e.mine)
    tx: Tx[None, SupEffect] = Tx(None, now)  # the shell's own notice: no core folds it
    notice(tx, reason, site.people_with(Role.FACILITIES), f"standby-{key}", key, detail, to_nobody=True)
    return tx.effects


def node_notice(site: Site, item: NodeNotice, now: datetime) -> list[SupEffect]:
    """Tell facilities that a broker node of the cluster does not answer, or answers again."""
    e = item.effect
    if isinstance(e, nodes.NodeSilent):
        key, reason = "node_silent", NotifyReason.FAULT
        detail = {
            "node": e.node,
            "seconds": str(round(e.silent_s)),
            "why": e.why[:200],
            "answering": ", ".join(e.answering) or "-",
        }
        log.error(
            "broker node %s silent for %d s (%s); answering: %s",
            e.node,
            e.silent_s,
            e.why,
            detail["answering"],
        )
    else:
        key, reason = "node_back", NotifyReason.INFO
        detail = {"node": e.node}
        log.warning("broker node %s answers again", e.node)
    tx: Tx[None, SupEffect] = Tx(None, now)  # the shell's own notice: no core folds it
    notice(tx, reason, site.people_with(Role.FACILITIES), f"{key}-{e.node}", key, detail, to_nobody=True)
    return tx.effects


def can_wait(item: object) -> bool:
    """Input that loses nothing by waiting a few ms: a delivery outcome, a unit's heartbeat."""
    return isinstance(item, Outcome) or (isinstance(item, Raw) and item.topic.endswith(_HEARTBEAT))


def coalesce(
    inbox: queue.SimpleQueue[object], items: list[object], batch_max: int, until: float | None
) -> None:
    """A batch of only heartbeats and delivery outcomes waits up to COMPANY_WAIT_S (never past
    `until`, the monotonic time a timer is due) for more: they share one batch, one tick and one
    commit instead of waking the writer one by one (400 heartbeats/s on a 2,000-unit site).
    Anything else (an alarm, a command, a status) ends the wait at once."""
    if not items or not all(can_wait(i) for i in items):
        return
    deadline = time.monotonic() + COMPANY_WAIT_S
    if until is not None:
        deadline = min(deadline, until)
    while len(items) < batch_max and (left := deadline - time.monotonic()) > 0:
        try:
            item = inbox.get(timeout=left)
        except queue.Empty:
            return
        items.append(item)
        if not can_wait(item):
            return
