"""Notifications: rendering (pure) and delivery through channels (a port).

A `Notified` fact is rendered into one `Notification` per person, in the person's
language, and stored in the outbox in the same transaction as the fact. After the
commit the `Dispatcher` hands each to its channels; each channel runs in its own
thread with its own queue, so a slow or broken channel never blocks the writer
(nor another channel). A channel confirms delivery; the confirmation is recorded
(`outbox.delivered_at`), and anything unconfirmed is re-sent after a restart with
the same `notification_id` (receivers drop duplicates by that id).

Built-in channel: MQTT `person/<id>/notify` (QoS1, confirmed by the broker's PUBACK).
Another channel (e-mail, Apprise, pager) implements `Channel` and is passed to the
`Dispatcher`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import paho.mqtt.client as mqtt

from console.directory import Directory
from console.engine import Incident
from console.facts import Notified
from console.texts import clip, local_time, notice_text, person_name, room_label, text
from inventory.model import Language
from wire.link import Link
from wire.messages import Notification, NotifyReason
from wire.topics import Topics

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- rendering (pure)


def render(
    d: Directory, fact: Notified, person_id: str, nid: uuid.UUID, incident: Incident | None
) -> Notification:
    """The notification for one recipient of a `Notified` fact, in their language."""
    lang = d.site.language_of(person_id) if person_id in d.people else d.site.site.language
    own = notice_text(d.site, fact.text_key, fact.detail, lang)
    if own is not None:  # after-care, daily button check: the text comes from the fact alone
        title, body = own
        room_id = fact.detail.get("room") if fact.detail.get("room") in d.rooms else None
    elif fact.incident_id is not None:
        title, body = _incident_text(d, fact, lang, incident)
        room_id = incident.room_id if incident else None
    else:
        title, body = _unit_text(d, fact, lang)
        room_id = d.units[fact.unit_id].room if fact.unit_id in d.units else None
    evacuate = room_label(d.site, fact.evacuate, lang) if fact.evacuate else None
    return Notification(
        notification_id=nid,
        person_id=person_id,
        reason=fact.reason,
        incident_id=fact.incident_id,
        unit_id=fact.unit_id,
        room_id=room_id,
        level=min(fact.level, 20),
        call_101=fact.call_101,
        evacuate=clip(evacuate, 200) if evacuate else None,
        title=clip(title, 200),
        body=clip(body, 2000),
        at=fact.at,
    )


def _incident_text(d: Directory, f: Notified, lang: Language, inc: Incident | None) -> tuple[str, str]:
    if inc is None:
        return f"{f.incident_id}", f"{f.reason.value} {f.incident_id}"
    site = d.site
    room = room_label(site, inc.room_id, lang)
    team = d.teams[inc.team_id].name
    floor = d.rooms[inc.room_id].floor
    v = {
        "room": room,
        "team": team,
        "floor": f" ({floor})" if floor else "",
        "time": local_time(site, inc.stored_at),
        "level": f.level,
        "incident": inc.id,
        "presses": f.detail.get("presses", str(inc.presses)),
        "name": person_name(site, f.detail.get("person", "")),
    }
    if f.text_key == "alarm":
        parts = [text("alarm_body", lang, **v)]
        if f.reason is NotifyReason.ESCALATION:
            parts.append(text("escalated", lang))
        elif f.reason is NotifyReason.REPEAT:
            parts.insert(0, text("repeat", lang))
        if f.call_101:
            parts.append(text("call_101", lang))
        if f.evacuate:
            parts.append(text("evacuate", lang, room=room_label(site, f.evacuate, lang)))
        return text("alarm_title", lang, **v), " ".join(parts)
    v["time"] = local_time(site, f.at)
    if f.text_key == "remind":
        v["time"] = local_time(site, inc.stored_at)
    key = {"ack": "ack", "again": "again", "remind": "remind", "resolved": "resolved"}.get(f.text_key, "ack")
    return text(f"{key}_title", lang, **v), text(f"{key}_body", lang, **v)


def _unit_text(d: Directory, f: Notified, lang: Language) -> tuple[str, str]:
    site = d.site
    if f.text_key in ("channel_fault", "channel_recovered"):
        return _channel_text(d, f, lang)
    uid = f.unit_id or ""
    room_id = d.units[uid].room if uid in d.units else f.detail.get("room", "")
    room = room_label(site, room_id, lang) if room_id in d.rooms else room_id
    v: dict[str, object] = {"unit": uid, "room": room, **f.detail}
    if f.text_key == "unprotected":
        v["room"] = room_label(site, f.detail.get("room", room_id), lang)
    if f.text_key == "offline_silent":
        last = f.detail.get("last")
        v["time"] = local_time(site, datetime.fromisoformat(last)) if last else "?"
    if f.text_key == "flapping":
        v["now"] = text(f"state_{f.detail.get('state', 'offline')}", lang)
    good = f.text_key in ("online", "fault_cleared", "flood_cleared", "clock_ok")
    title = text("recovered_title" if good else "fault_title", lang, **v)
    try:
        body = text(f.text_key, lang, **v)
    except KeyError:
        body = f"{f.text_key}: {uid}"
    return title, body


def _channel_text(d: Directory, f: Notified, lang: Language) -> tuple[str, str]:
    """A fan-out channel that keeps failing (or works again), for facilities."""
    from console.fanout.texts import channel_fault_text, channel_recovered_text

    channel = f.detail.get("channel", "?")
    since = datetime.fromisoformat(f.detail["since"]) if "since" in f.detail else f.at
    if f.text_key == "channel_fault":
        body = channel_fault_text(d.site, channel, since, f.detail.get("reason", ""), lang)
        return text("fault_title", lang, unit=channel, room=""), body
    body = channel_recovered_text(d.site, channel, since, lang)
    return text("recovered_title", lang, unit=channel, room=""), body


# --------------------------------------------------------------------------- delivery (port)


@dataclass(frozen=True)
class Outgoing:
    """One notification for one channel (what the outbox stores)."""

    notification_id: uuid.UUID
    channel: str
    person_id: str
    address: str
    payload: bytes


class Channel(Protocol):
    """A way to reach people. `deliver` may block (it runs in the channel's own thread)."""

    name: str

    def wants(self, person_id: str) -> bool:
        """Whether this channel reaches this person."""
        ...

    def address(self, person_id: str) -> str:
        """Where this person is reached (topic, e-mail address, ...)."""
        ...

    def deliver(self, item: Outgoing, timeout: float) -> bool:
        """Deliver (idempotent per notification id); True once the channel confirmed it."""
        ...


class MqttChannel:
    """`person/<id>/notify`, QoS1; confirmed by the broker's PUBACK.

    paho keeps an unconfirmed publish and sends it again after a reconnect, so a
    retry waits for the first publish instead of publishing a second copy.
    """

    name = "mqtt"

    def __init__(self, link: Link, topics: Topics) -> None:
        self._link = link
        self._topics = topics
        self._pending: dict[uuid.UUID, mqtt.MQTTMessageInfo] = {}
        self._lock = threading.Lock()

    def send_now(self, item: Outgoing) -> None:
        """Publish at once (the writer calls this right after the commit: paho's publish does
        not block); `deliver`, in the channel's worker, then only waits for the PUBACK."""
        with self._lock:
            if item.notification_id not in self._pending:
                self._pending[item.notification_id] = self._link.publish(item.address, item.payload, qos=1)

    def wants(self, person_id: str) -> bool:
        return True

    def address(self, person_id: str) -> str:
        return self._topics.person_notify(person_id)

    def deliver(self, item: Outgoing, timeout: float) -> bool:
        with self._lock:
            info = self._pending.get(item.notification_id)
            if info is None:
                info = self._link.publish(item.address, item.payload, qos=1)
                self._pending[item.notification_id] = info
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if _published(info):
                with self._lock:
                    self._pending.pop(item.notification_id, None)
                return True
            try:
                info.wait_for_publish(min(left, 0.5))  # paho's condition: no busy polling
            except (RuntimeError, ValueError):  # not connected: paho resends after reconnecting
                time.sleep(min(left, 0.05))
        return False


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except RuntimeError:  # published while disconnected: paho still sends it after reconnecting
        return bool(getattr(info, "_published", False))


class Dispatcher:
    """One worker thread and queue per channel; retries with backoff; reports confirmations."""

    def __init__(
        self,
        channels: Sequence[Channel],
        on_delivered: Callable[[Outgoing], None],
        *,
        timeout_s: float = 5.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.channels = {c.name: c for c in channels}
        self._on_delivered = on_delivered
        self._timeout = timeout_s
        self._max_backoff = max_backoff_s
        self._queues: dict[str, queue.SimpleQueue[Outgoing | None]] = {
            c.name: queue.SimpleQueue() for c in channels
        }
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def outgoing(self, nid: uuid.UUID, person_id: str, payload: bytes) -> list[Outgoing]:
        """The outbox rows of one notification: one per channel that reaches the person."""
        return [
            Outgoing(nid, c.name, person_id, c.address(person_id), payload)
            for c in self.channels.values()
            if c.wants(person_id)
        ]

    def start(self) -> None:
        for name in self.channels:
            t = threading.Thread(target=self._work, args=(name,), name=f"notify-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, item: Outgoing) -> None:
        """Queue for delivery; never blocks."""
        q = self._queues.get(item.channel)
        if q is None:
            log.error("notification %s for unknown channel %s dropped", item.notification_id, item.channel)
            return
        q.put(item)

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        for q in self._queues.values():
            q.put(None)
        for t in self._threads:
            t.join(timeout)

    def _work(self, name: str) -> None:
        ch = self.channels[name]
        q = self._queues[name]
        while True:
            item = q.get()
            if item is None:
                return
            backoff = 0.2
            while True:
                try:
                    ok = ch.deliver(item, self._timeout)
                except Exception:
                    log.exception("channel %s failed on notification %s", name, item.notification_id)
                    ok = False
                if ok:
                    try:
                        self._on_delivered(item)
                    except Exception:
                        log.exception("recording delivery of %s failed", item.notification_id)
                    break
                if self._stopping.is_set():
                    return  # undelivered: re-sent from the outbox at the next start
                log.warning(
                    "channel %s has not confirmed notification %s to %s; retrying",
                    name,
                    item.notification_id,
                    item.person_id,
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
