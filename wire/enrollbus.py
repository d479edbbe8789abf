"""A short-lived MQTT 5 connection for enrolment (the Pi's `alarm-unit enroll`, the console's
`alarm-console enroll`).

MQTT 5 because an enrolment request and its answer are retained with a message expiry: the broker
forgets them by itself when the code's time is up. Clean start: nothing is kept after the command.
A broker that refuses MQTT 5 (the cluster profile: NATS 2.9 speaks MQTT 3.1.1 only) gets MQTT
3.1.1 with a clean session and no expiry: the Pi clears its request itself when it is done, and
`alarm-console enroll` clears requests it will never take (docs/ENROLLMENT.md).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from stilalarm.wire.credentials import BrokerCredentials

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes, bool], None]
"""(topic, payload, retained)"""


class EnrollBusError(RuntimeError):
    """The broker could not be reached or refused the login; the message says which."""


class EnrollBus:
    """One MQTT 5 connection: connect (blocking), subscribe, publish retained with an expiry."""

    def __init__(self, creds: BrokerCredentials, client_id: str) -> None:
        self.creds = creds
        self.client_id = client_id
        self._connected = threading.Event()
        self._answered = threading.Event()  # a CONNACK came (success or refusal)
        self._refused: str | None = None
        self._handlers: list[tuple[str, Handler]] = []
        self._marks: dict[str, threading.Event] = {}
        self.mqtt5 = True
        """False once the broker refused MQTT 5 and this bus speaks 3.1.1 (no message expiry)."""
        self._c = self._client()

    def _client(self) -> mqtt.Client:
        if self.mqtt5:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        else:
            c = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=True,
            )
        c.username_pw_set(self.creds.username, self.creds.password)
        if self.creds.tls:
            c.tls_set(ca_certs=self.creds.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._answered.set()
        else:
            for topic, _h in self._handlers:
                self._c.subscribe(topic, qos=1)
            self._connected.set()
            self._answered.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        mark = self._marks.get(msg.topic)
        if mark is not None and payload == b"" and not msg.retain:
            mark.set()
            return
        for topic, handler in self._handlers:
            if mqtt.topic_matches_sub(topic, msg.topic):
                try:
                    handler(msg.topic, payload, bool(msg.retain))
                except Exception:
                    log.exception("error handling a message on %s (ignored)", msg.topic)

    def connect(self, timeout: float) -> None:
        """Connect and wait for the broker's answer, or EnrollBusError. MQTT 5 first; a broker
        that refuses that protocol version is asked again with MQTT 3.1.1."""
        self._start()
        deadline = time.monotonic() + timeout
        while not self._connected.is_set() and time.monotonic() < deadline:
            self._answered.wait(max(0.0, deadline - time.monotonic()))
            if self._refused_version() or self._connected.wait(0.2):
                break
        if not self._connected.is_set() and self.mqtt5 and self._refused_version():
            log.info(
                "the broker at %s:%s refused MQTT 5; enrolling over MQTT 3.1.1 (no message expiry)",
                self.creds.host,
                self.creds.port,
            )
            self.close()
            self.mqtt5, self._refused = False, None
            self._c = self._client()
            self._start()
            self._connected.wait(timeout)
        if not self._connected.is_set():
            self.close()
            why = f"it refused the login ({self._refused})" if self._refused else "no answer"
            raise EnrollBusError(
                f"could not connect to the broker at {self.creds.host}:{self.creds.port} as "
                f"{self.creds.username} within {timeout:g} s: {why}"
            )

    @property
    def login_refused(self) -> bool:
        """Whether the broker's last answer refused the login (not the protocol version)."""
        return self._refused is not None and not self._refused_version()

    def login_as(self, username: str) -> None:
        """Connect with another user name from now on (same password, same protocol version)."""
        self.close()
        self.creds = self.creds.model_copy(update={"username": username})
        self._refused = None
        self._c = self._client()

    def _start(self) -> None:
        try:
            if self.mqtt5:
                self._c.connect_async(self.creds.host, self.creds.port, keepalive=30, clean_start=True)
            else:
                self._c.connect_async(self.creds.host, self.creds.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise EnrollBusError(
                f"cannot reach the broker at {self.creds.host}:{self.creds.port}: {exc}"
            ) from None
        self._c.loop_start()

    def _refused_version(self) -> bool:
        return self._refused is not None and "protocol version" in self._refused.lower()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Route messages on `topic_filter` to `handler`; call before `connect` (kept over reconnects)."""
        self._handlers.append((topic_filter, handler))
        if self._connected.is_set():
            self._c.subscribe(topic_filter, qos=1)

    def sync(self, topic: str, timeout: float) -> bool:
        """Publish an empty non-retained mark on `topic` (one we are subscribed to) and wait for it:
        every retained message sent on our subscriptions before it has then arrived."""
        ev = threading.Event()
        self._marks[topic] = ev
        self._c.publish(topic, b"", qos=1, retain=False)
        return ev.wait(timeout)

    def publish(
        self, topic: str, payload: bytes, *, retain: bool, expiry_s: int | None, timeout: float
    ) -> bool:
        """Publish at QoS1 and wait for the broker's PUBACK; True when it came."""
        props = None
        if expiry_s is not None and self.mqtt5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.MessageExpiryInterval = max(1, expiry_s)
        info = self._c.publish(topic, payload, qos=1, retain=retain, properties=props)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


def unique_suffix() -> str:
    """A client id suffix for a one-shot command."""
    return uuid.uuid4().hex[:12]
