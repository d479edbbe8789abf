"""A batch's notifications on their way to the channels.

Every notification is routed when its batch is built: the durable channels' copies and the
e-mail and Apprise ones go into the batch's outbox (stored with the fact that created them),
the others (none today: pages are the publisher's) wait in `fresh`. All are handed over only
after the commit (`send`): the console's to the dispatcher, e-mail and Apprise to the fan-out
process (`stilalarm.console.shell.fanout`). A batch that is held in
memory (degraded mode) says "niet opgeslagen" / "not stored" in every notification.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime

import paho.mqtt.client as mqtt

from stilalarm.console import i18n
from stilalarm.console.delivery.channel import Delivery
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.mqtt import MqttChannel
from stilalarm.console.shell.fanout import Fanout
from stilalarm.console.store import Batch, OutboxRow
from stilalarm.console.texts import clip
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Notification, encode, parse

HELP_FIRST_S = 0.2
"""How long the writer waits for the broker to confirm a batch's notifications and pages before it
publishes the batch's receipts and retained state (`help_first`)."""


def help_first(published: list[mqtt.MQTTMessageInfo], timeout_s: float = HELP_FIRST_S) -> None:
    """Wait until the broker confirmed `published` (its PUBACKs), at most `timeout_s`, and not at all
    while the link is down (paho sends them after reconnecting).

    Why: nats-server (the cluster profile) reads a client's packets in chunks, stores each QoS 1
    publish before it takes the next, and hands the chunk's messages to the subscribers of core
    NATS (the leads' consoles, QoS 0) only when the whole chunk is done. Written together with the
    receipts and the retained state, a page waited for all of their stores (docs/HA.md, item 9).
    On mosquitto the PUBACK comes at once."""
    deadline = time.monotonic() + timeout_s
    for info in published:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            info.wait_for_publish(left)
        except (RuntimeError, ValueError):  # not connected (or paho's queue full): nothing to wait for
            return


class Outgoing:
    """Routes notifications (outbox rows and fresh deliveries) and hands them over after the commit."""

    def __init__(self, site: Site, delivery: Dispatcher, mqtt: MqttChannel, fanout: Fanout) -> None:
        self.site = site
        self.delivery = delivery
        self.mqtt = mqtt
        self.fanout = fanout
        self.fresh: list[Delivery] = []  # this batch's deliveries on non-durable channels

    def route(self, note: Notification, now: datetime) -> list[OutboxRow]:
        """Route one notification: the durable channels' rows (for the outbox, returned), the others'
        deliveries kept in `fresh` (submitted after the commit)."""
        payload = encode(note)
        rows: list[OutboxRow] = []
        for d in [*self.delivery.route(note, payload), *self.fanout.route(note, payload)]:
            if self.delivery.durable(d.channel) or self.fanout.handles(d.channel):
                rows.append(OutboxRow(d.notification_id, d.channel, d.person_id, d.address, payload, now))
            else:
                self.fresh.append(d)
        return rows

    def send(self, outbox: list[OutboxRow]) -> list[mqtt.MQTTMessageInfo]:
        """After the commit: the outbox rows (the console's copies out at once), then the fresh ones.
        Returns the console copies' publishes."""
        published: list[mqtt.MQTTMessageInfo] = []
        for row in outbox:
            out = self._delivery(row)
            if out.channel == self.mqtt.name:
                published.append(self.mqtt.send_now(out))  # the channel's worker waits for the PUBACK
            self._submit(out)
        fresh, self.fresh = self.fresh, []
        for d in fresh:
            self.delivery.submit(d)
        return published

    def resend(self, outbox: list[OutboxRow]) -> None:
        """At start: the outbox rows not finished before the last stop, to their channels again."""
        for row in outbox:
            self._submit(self._delivery(row))

    def _submit(self, d: Delivery) -> None:
        if self.fanout.handles(d.channel):
            self.fanout.submit(d)
        else:
            self.delivery.submit(d)

    def _delivery(self, row: OutboxRow) -> Delivery:
        incident = None
        if self.fanout.handles(row.channel):  # its attempts belong in the incident's timeline
            incident = parse(Notification, row.payload).incident_id
        return Delivery(row.notification_id, row.channel, row.person_id, row.topic, row.payload, incident)

    def mark_not_stored(self, batch: Batch) -> None:
        """Say "niet opgeslagen" / "not stored" in every notification of a batch that is only in memory."""
        marked: dict[uuid.UUID, bytes] = {}

        def mark(nid: uuid.UUID, payload: bytes) -> bytes:
            if nid not in marked:
                marked[nid] = encode(self._not_stored(parse(Notification, payload)))
            return marked[nid]

        for k, row in enumerate(batch.outbox):
            batch.outbox[k] = replace(row, payload=mark(row.notification_id, row.payload))
        self.fresh = [replace(d, payload=mark(d.notification_id, d.payload)) for d in self.fresh]

    def _not_stored(self, note: Notification) -> Notification:
        lang = self.site.language_of(note.person_id) if note.person_id in self.site.index.people else None
        lang = lang or self.site.site.language
        return note.model_copy(
            update={
                "title": clip(f"{note.title} ({i18n.t('not_stored_tag', lang)})", 200),
                "body": clip(f"{i18n.t('not_stored', lang)} {note.body}", 2000),
            }
        )
