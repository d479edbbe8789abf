"""The MQTT channels: the person's notify topic (their console) and the lead pager unit.

Both publish with QoS 1 and call a delivery done on the broker's PUBACK. The writer
publishes at once after the commit, before the batch's receipts and retained state (`send_now`:
paho's publish does not block; see `help_first` in stilalarm.console.shell.outgoing); the
channel's worker then only waits for the PUBACK.
paho keeps an unconfirmed publish and sends it again after a reconnect, so a retry waits
for the first publish instead of publishing a second copy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime

import paho.mqtt.client as mqtt

from stilalarm.console.delivery.channel import Delivery, TransientError
from stilalarm.inventory.kinds import UnitRole
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind, Person
from stilalarm.wire.link import Link
from stilalarm.wire.messages import Notification, PageCmd, encode, new_id
from stilalarm.wire.topics import Topics

_PENDING_MEMORY = 20000
"""How many unconfirmed publishes a channel remembers (a given-up one is forgotten oldest first)."""


class MqttChannel:
    """`person/<id>/notify`, QoS 1, confirmed by the broker's PUBACK: the console, always on.

    Durable: its deliveries are the outbox rows, retried until confirmed and re-sent after a restart.
    """

    kind = ChannelKind.CONSOLE
    name = "mqtt"  # the outbox's channel name since the first release
    durable = True
    self_bounded = True  # `send` waits at most `ack_timeout_s`

    def __init__(self, link: Link, topics: Topics, *, ack_timeout_s: float = 5.0) -> None:
        self._link = link
        self._topics = topics
        self.ack_timeout_s = ack_timeout_s
        self._pending: OrderedDict[uuid.UUID, mqtt.MQTTMessageInfo] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def attempt_timeout_s(self) -> float:
        return self.ack_timeout_s + 5.0

    def applies(self, notification: Notification, person: Person) -> bool:
        return True

    def address(self, person: Person) -> str:
        return self._topics.person_notify(person.id)

    def send_now(self, item: Delivery) -> mqtt.MQTTMessageInfo:
        """Publish at once (the writer, right after the commit); `send` then waits for the PUBACK."""
        return self._publish(item)

    def _publish(self, item: Delivery) -> mqtt.MQTTMessageInfo:
        with self._lock:
            info = self._pending.get(item.notification_id)
            if info is None:
                info = self._link.publish(item.address, item.payload, qos=1)
                self._pending[item.notification_id] = info
                while len(self._pending) > _PENDING_MEMORY:
                    self._pending.popitem(last=False)
            return info

    def send(self, item: Delivery) -> None:
        info = self._publish(item)
        deadline = time.monotonic() + self.ack_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if _published(info):
                with self._lock:
                    self._pending.pop(item.notification_id, None)
                return
            try:
                info.wait_for_publish(min(left, 0.5))  # paho's condition: no busy polling
            except (RuntimeError, ValueError):  # not connected: paho resends after reconnecting
                time.sleep(min(left, 0.05))
        raise TransientError(f"the broker did not confirm {item.address} within {self.ack_timeout_s:g} s")


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except RuntimeError:  # published while disconnected: paho still sends it after reconnecting
        return bool(getattr(info, "_published", False))


class PagerChannel(MqttChannel):
    """The lead pager unit: `PageCmd(unit, incident, level)` on `unit/<pager>/cmd`, PUBACK-confirmed.

    A lead pager unit is a unit with `role = "lead"` and `person = <the lead>` in the inventory.
    What to page, and when to silence (level 0), is the engine's decision (`Page` effects: on
    each alarm level, and on acknowledgement and resolution for every pager that was signalled);
    the shell turns each into a delivery with `page` and hands it to the dispatcher. The pager
    follows the site's `[delivery]` policy (attempts, back-off, give-up, channel fault).
    """

    kind = ChannelKind.PAGER
    name = ChannelKind.PAGER.value
    durable = False

    def __init__(self, site: Site, link: Link, topics: Topics, *, ack_timeout_s: float = 5.0) -> None:
        super().__init__(link, topics, ack_timeout_s=ack_timeout_s)
        self.owners = {u.id: u.person for u in site.units if u.role is UnitRole.LEAD and u.person}

    def applies(self, notification: Notification, person: Person) -> bool:
        return False  # pages come from the engine's Page effects, not from notifications

    def address(self, person: Person) -> str:
        return ""

    def page(self, unit_id: str, incident_id: str, level: int, now: datetime) -> Delivery:
        """The delivery of one page: signal `level` (0: silence) for an incident on a pager unit."""
        cmd = PageCmd(
            cmd_id=new_id(), unit_id=unit_id, issued_at=now, incident_id=incident_id, level=min(level, 20)
        )
        owner = self.owners.get(unit_id, unit_id)
        topic = self._topics.unit_cmd(unit_id)
        return Delivery(cmd.cmd_id, self.name, owner, topic, encode(cmd), incident_id)


def has_pagers(site: Site) -> bool:
    """Whether the inventory has a lead pager unit (then the pager channel is live)."""
    return any(u.role is UnitRole.LEAD for u in site.units)
