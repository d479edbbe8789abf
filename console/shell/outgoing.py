"""A batch's notifications on their way to the channels.

Every notification is routed when its batch is built: the durable channels' copies and the
e-mail and Apprise ones go into the batch's outbox (stored with the fact that created them),
the others (none today: pages are the publisher's) wait in `fresh`. All are handed over only
after the commit (`send`): the console's to the dispatcher, e-mail and Apprise to the fan-out
process (`stilalarm.console.shell.fanout`). A batch that is held in
memory (degraded mode) says "niet opgeslagen" / "not stored" in every notification.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from stilalarm.console import i18n
from stilalarm.console.delivery.channel import Delivery
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.mqtt import MqttChannel
from stilalarm.console.shell.fanout import Fanout
from stilalarm.console.store import Batch, OutboxRow
from stilalarm.console.texts import clip
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Notification, encode, parse


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

    def send(self, outbox: list[OutboxRow]) -> None:
        """After the commit: the outbox rows (the console's copies out at once), then the fresh ones."""
        for row in outbox:
            out = self._delivery(row)
            if out.channel == self.mqtt.name:
                self.mqtt.send_now(out)  # out now; the channel's worker waits for the PUBACK
            self._submit(out)
        fresh, self.fresh = self.fresh, []
        for d in fresh:
            self.delivery.submit(d)

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
