"""The dispatcher: routes each notification to the person's channels and delivers it on each.

`submit()` only appends to in-memory queues under a short lock and returns: it never
waits for a channel, so the writer cannot be delayed by a hanging SMTP server or chat
gateway. Each channel has its own worker (`stilalarm.console.delivery.worker`): the same queue,
retry, give-up and outcome bookkeeping for the console, the pager, e-mail and Apprise.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from datetime import datetime

from stilalarm.console.delivery.apprise_channel import AppriseChannel
from stilalarm.console.delivery.channel import (
    UNTIL_DELIVERED,
    Channel,
    Clock,
    Delivery,
    OutcomeStatus,
    Retry,
    SystemClock,
)
from stilalarm.console.delivery.mail import MailChannel
from stilalarm.console.delivery.mqtt import MqttChannel, PagerChannel, has_pagers
from stilalarm.console.delivery.secrets import install_log_redaction
from stilalarm.console.delivery.worker import (
    ChannelWorker,
    FaultHandler,
    Job,
    OutcomeHandler,
    RecoveredHandler,
    Reporter,
)
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind, DeliveryPolicy, Person
from stilalarm.wire.link import Link
from stilalarm.wire.messages import Notification, encode
from stilalarm.wire.topics import Topics

log = logging.getLogger(__name__)

_seq = itertools.count()


class Dispatcher:
    """Delivers each message on its channel; routes notifications by the person's channels for the level.

    A durable channel (the console) gets `UNTIL_DELIVERED`; every other channel the site's
    `[delivery]` policy (or `policy`).
    """

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
        self.site = site  # also the people and their routes (the setter)
        self.clock = clock or SystemClock()
        self.policy = policy or site.delivery
        self._report = Reporter(on_outcome, on_channel_fault, on_channel_recovered, self.clock)
        self.workers: dict[str, ChannelWorker] = {}
        for ch in channels:
            if ch.kind is ChannelKind.CONSOLE and not ch.durable:
                raise ValueError(
                    f"the console channel {ch.name} must be durable: every notification reaches the "
                    "console, retried until confirmed and re-sent after a restart"
                )
            if ch.name in self.workers:
                raise ValueError(f"two channels named {ch.name}")
            retry = UNTIL_DELIVERED if ch.durable else Retry.of(self.policy)
            self.workers[ch.name] = ChannelWorker(ch, retry, self.clock, self._report)
        self._closed = False
        install_log_redaction("stilalarm.console.delivery")
        if start:
            self.start()

    @property
    def site(self) -> Site:
        return self._site

    @site.setter
    def site(self, site: Site) -> None:
        """A new inventory (the service's reload): its people and their channels from now on. The
        channels themselves (SMTP, Apprise, the console's MQTT) stay as they were started."""
        self._site = site
        self._people = {p.id: p for p in site.people}
        self._routes: dict[tuple[str, int], tuple[ChannelWorker, ...]] = {}

    def start(self) -> None:
        """Start one worker thread per channel."""
        for w in self.workers.values():
            w.start()

    def durable(self, channel: str) -> bool:
        """Whether the channel's deliveries belong in the outbox."""
        w = self.workers.get(channel)
        return w is not None and w.channel.durable

    def _route(self, person: Person, level: int) -> tuple[ChannelWorker, ...]:
        key = (person.id, level)
        route = self._routes.get(key)
        if route is None:
            kinds = person.channels_at(level)
            ordered = sorted(self.workers.values(), key=lambda w: (w.channel.kind, w.name))
            route = tuple(w for w in ordered if w.channel.kind in kinds)
            self._routes[key] = route
        return route

    def route(
        self, notification: Notification, payload: bytes | None = None, *, durable: bool | None = None
    ) -> list[Delivery]:
        """The deliveries of one notification: one per channel that reaches the person at its level
        (`durable`: only the durable, or only the other channels). `payload`: the encoded notification."""
        person = self._people.get(notification.person_id)
        if person is None:
            log.warning("delivery: unknown person %s, nothing sent", notification.person_id)
            return []
        data = encode(notification) if payload is None else payload
        out: list[Delivery] = []
        for w in self._route(person, notification.level):
            ch = w.channel
            if (durable is None or ch.durable == durable) and ch.applies(notification, person):
                out.append(
                    Delivery(
                        notification.notification_id,
                        ch.name,
                        person.id,
                        ch.address(person),
                        data,
                        notification.incident_id,
                    )
                )
        return out

    def submit(self, item: Delivery, *, attempts_made: int = 0, not_counted: int = 0) -> None:
        """Queue one delivery on its channel; never blocks, never raises.

        A channel whose queue is full reports a `gave_up` outcome ("queue full") at once.
        `attempts_made`: attempts an earlier fan-out process made (the next is number
        `attempts_made + 1`), `not_counted` of them interrupted (not counted against the policy).
        """
        try:
            w = self.workers.get(item.channel)
            if w is None:
                log.error("delivery %s for unknown channel %s dropped", item.notification_id, item.channel)
                return
            job = Job(self.clock.monotonic(), next(_seq), item, attempts_made, not_counted)
            if not w.offer(job):
                why = "dispatcher stopped" if self._closed else "queue full"
                self._report.outcome(w.name, job, OutcomeStatus.GAVE_UP, why)
        except Exception:
            log.exception("delivery submit failed for %s", item.notification_id)

    def deliver(self, notification: Notification) -> None:
        """Route `notification` and queue it on each of the person's channels; never blocks, never raises."""
        try:
            items = self.route(notification)
        except Exception:
            log.exception("routing notification %s failed", notification.notification_id)
            return
        for item in items:
            self.submit(item)

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

        Whatever is still held then gets a `gave_up` outcome ("dispatcher stopped ..."); what a
        durable channel held stays undelivered in the outbox and is re-sent after the restart.
        """
        self._closed = True
        deadline = SystemClock().monotonic() + drain_s
        for w in self.workers.values():
            w.wait_idle(deadline)
        for w in self.workers.values():
            w.request_stop()
        for w in self.workers.values():
            w.join(2.0)


def other_channels(site: Site) -> list[Channel]:
    """The channels besides the console and the pager that the inventory asks for: e-mail with
    [smtp] and someone reached by e-mail, Apprise with someone who has a target."""
    chans: list[Channel] = []
    mailed = any(ChannelKind.EMAIL in {r.kind for r in p.channel_rules()} for p in site.people)
    if site.smtp is not None and mailed:
        chans.append(MailChannel(site))
    if any(p.apprise for p in site.people):
        chans.append(AppriseChannel(site))
    return chans


def build_dispatcher(
    site: Site,
    link: Link,
    *,
    on_outcome: OutcomeHandler,
    on_channel_fault: FaultHandler | None = None,
    on_channel_recovered: RecoveredHandler | None = None,
    start: bool = True,
    others: bool = True,
) -> tuple[Dispatcher, MqttChannel, PagerChannel | None]:
    """The dispatcher with every channel the site uses (the console; the pager when the inventory
    has a lead pager unit; e-mail; Apprise) over `link`, and its console and pager channels (the
    writer publishes through those at once after the commit: `send_now`). Without `others`: only
    the console and the pager (the service runs e-mail and Apprise in the fan-out process)."""
    topics = Topics(site.site.id)
    console = MqttChannel(link, topics)
    pager = PagerChannel(site, link, topics) if has_pagers(site) else None
    d = Dispatcher(
        site,
        [console, *([pager] if pager is not None else []), *(other_channels(site) if others else [])],
        on_outcome=on_outcome,
        on_channel_fault=on_channel_fault,
        on_channel_recovered=on_channel_recovered,
        start=start,
    )
    return d, console, pager
