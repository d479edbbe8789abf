"""Many MQTT clients in one thread: paho's external-loop API on one asyncio event loop.

`stilalarm.wire.link.Link` uses `loop_start()`, a thread per client: fine for one unit on a
Pi, not for 2,000 simulated units in one process. Here every paho client's socket
is registered with the event loop (`on_socket_open/close`,
`on_socket_register_write/unregister_write`), reads and writes are driven by
`loop_read()` / `loop_write()`, and one periodic timer calls `loop_misc()` (keepalive
pings) for all clients. Reconnects are timers too, with per-client jitter.

`MuxLink` offers the same semantics as `Link`: persistent session, last will set
before connecting, subscriptions (re)made on every connect and `on_up` only after
the broker confirmed them, callbacks that log exceptions instead of propagating, and the
address list: after a failed connect or a lost connection the next attempt goes to the next
broker address (`AddressRing`, round robin), with the same backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import SUB_RETRY_MAX_S, SUB_RETRY_MIN_S, AddressRing, guarded

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


class Mux:
    """Owns the periodic `loop_misc` timer for every MuxLink on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, misc_interval_s: float = 1.0) -> None:
        self.loop = loop
        self.links: set[MuxLink] = set()
        self._interval = misc_interval_s
        self._misc: asyncio.TimerHandle | None = loop.call_later(misc_interval_s, self._misc_tick)

    def _misc_tick(self) -> None:
        for lk in list(self.links):
            lk.misc()
        self._misc = self.loop.call_later(self._interval, self._misc_tick)

    def link(
        self,
        creds: BrokerCredentials,
        *,
        subscriptions: list[str],
        on_message: MessageHandler,
        on_up: Callable[[], None],
        on_down: Callable[[str], None],
        will: tuple[str, bytes] | None = None,
        keepalive: int = 30,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        max_inflight: int = 100,
        connack_timeout_s: float = 5.0,
    ) -> MuxLink:
        """A new (not yet started) client on this loop (`max_inflight` 0: no window; paho 2.2 walks
        every outstanding publish on each PUBACK when there is one, see docs/PERFORMANCE.md)."""
        lk = MuxLink(
            self,
            creds,
            subscriptions=subscriptions,
            on_message=on_message,
            on_up=on_up,
            on_down=on_down,
            will=will,
            keepalive=keepalive,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
            max_inflight=max_inflight,
            connack_timeout_s=connack_timeout_s,
        )
        self.links.add(lk)
        return lk

    async def shutdown(self, last_words: dict[MuxLink, tuple[str, bytes]], timeout: float = 3.0) -> None:
        """Publish each link's last words (retained, QoS1), wait for the PUBACKs, disconnect all."""
        infos = [lk.publish_last(w) for lk, w in last_words.items()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(i is None or i.is_published() for i in infos):
            await asyncio.sleep(0.01)
        links = list(self.links)
        for lk in links:
            lk.disconnect()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(lk.has_socket() for lk in links):
            await asyncio.sleep(0.01)
        self.close()

    def close(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None


class MuxLink:
    """One multiplexed MQTT client (see the module docstring)."""

    def __init__(
        self,
        mux: Mux,
        creds: BrokerCredentials,
        *,
        subscriptions: list[str],
        on_message: MessageHandler,
        on_up: Callable[[], None],
        on_down: Callable[[str], None],
        will: tuple[str, bytes] | None,
        keepalive: int,
        reconnect_min_s: float,
        reconnect_max_s: float,
        max_inflight: int = 100,
        connack_timeout_s: float = 5.0,
    ) -> None:
        self.mux = mux
        self.loop = mux.loop
        self.creds = creds
        self.connected = False
        self._subs = subscriptions
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._keepalive = keepalive
        self._min = reconnect_min_s
        self._max = reconnect_max_s
        self._delay = reconnect_min_s
        self._sub_mid: int | None = None
        self._retry_mids: dict[int, tuple[list[str], float]] = {}
        self._stopping = False
        self._dead = False
        self._retry: asyncio.TimerHandle | None = None
        self._sock: socket.socket | None = None
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=creds.session_client_id(),
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.ring = AddressRing(creds, connack_timeout_s)
        c.on_pre_connect = guarded("on_pre_connect", lambda client, _u: self.ring.aim(client))
        c.username_pw_set(creds.username, creds.password)
        if creds.tls:
            c.tls_set(ca_certs=creds.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=True)
        c.max_inflight_messages_set(max_inflight)
        c.max_queued_messages_set(0)  # unbounded: paho never drops our own publishes
        c.on_connect = guarded("on_connect", self._handle_connect)
        c.on_disconnect = guarded("on_disconnect", self._handle_disconnect)
        c.on_subscribe = guarded("on_subscribe", self._handle_suback)
        c.on_message = guarded("on_message", self._handle_message)
        c.on_socket_open = guarded("on_socket_open", self._sock_open)
        c.on_socket_close = guarded("on_socket_close", self._sock_close)
        c.on_socket_register_write = guarded("on_socket_register_write", self._want_write)
        c.on_socket_unregister_write = guarded("on_socket_unregister_write", self._no_write)
        c.connect_async(creds.host, creds.port, keepalive=keepalive)
        self.client = c

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Try to connect now; on failure keep retrying with backoff and jitter."""
        self._connect()

    def _connect(self) -> None:
        self._retry = None
        if self._stopping or self._dead:
            return
        try:
            self.client.reconnect()
        except (OSError, ssl.SSLError) as exc:
            log.debug("%s: connect to %s failed: %s", self.creds.username, self.ring.current, exc)
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if self._stopping or self._dead or self._retry is not None:
            return
        delay = self._delay * random.uniform(1.0, 1.5)
        if not (len(self.ring.addresses) > 1 and self.ring.first_round()):
            self._delay = min(self._delay * 2, self._max)
        self._retry = self.loop.call_later(delay, self._connect)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue a publish (sent now, or with the session after reconnecting)."""
        if not self._dead:
            self.client.publish(topic, payload, qos=qos, retain=retain)

    def publish_last(self, words: tuple[str, bytes]) -> mqtt.MQTTMessageInfo | None:
        """Stop reconnecting; publish the last words if connected (caller waits, then disconnects)."""
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not self.connected or self._dead:
            return None
        return self.client.publish(words[0], words[1], qos=1, retain=True)

    def disconnect(self) -> None:
        """Clean DISCONNECT (no last will)."""
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not self._dead:
            self.client.disconnect()
        self.mux.links.discard(self)

    def kill(self) -> None:
        """Die like a unit losing power: close the socket without DISCONNECT (the broker sends the will)."""
        self._dead = True
        self.connected = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        sock = self._sock
        if sock is not None:
            self._forget(sock)
            sock.close()
        self.mux.links.discard(self)

    def has_socket(self) -> bool:
        return self._sock is not None

    def misc(self) -> None:
        """Keepalive pings, ping timeouts and an overdue CONNACK (called about once a second by the Mux)."""
        if self._sock is not None and not self._dead:
            if self.ring.overdue(self.client):
                self.ring.give_up(self.client)  # on_disconnect schedules the next address
                return
            try:
                self.client.loop_misc()
            except Exception:
                log.exception("%s: loop_misc failed", self.creds.username)

    # -- socket callbacks (event-loop registration) --------------------------------
    def _sock_open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._sock = sock
        self.loop.add_reader(sock, self._read)

    def _sock_close(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._forget(sock)

    def _forget(self, sock: Any) -> None:
        try:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
        except (ValueError, OSError):  # already closed
            pass
        if sock is self._sock:
            self._sock = None

    def _want_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if not self._dead and self._sock is not None and sock is self._sock:
            self.loop.add_writer(self._sock, self._write)

    def _no_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        try:
            self.loop.remove_writer(sock)
        except (ValueError, OSError):
            pass

    def _read(self) -> None:
        if self._dead:
            return
        try:
            self.client.loop_read()
        except Exception:
            log.exception("%s: loop_read failed", self.creds.username)

    def _write(self) -> None:
        if self._dead:
            return
        try:
            self.client.loop_write()
        except Exception:
            log.exception("%s: loop_write failed", self.creds.username)

    # -- paho callbacks ---------------------------------------------------------------
    def _handle_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused connection as %s: %s", self.creds.username, reason)
            return
        self._delay = self._min
        self.ring.reached()
        first = self.ring.current == self.ring.addresses[0]
        log.log(
            logging.DEBUG if first else logging.INFO,
            "%s: connected to %s",
            self.creds.username,
            self.ring.current,
        )
        self._retry_mids.clear()
        _rc, self._sub_mid = client.subscribe([(t, 1) for t in self._subs])

    def _handle_suback(self, _c: mqtt.Client, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        if mid == self._sub_mid:
            refused = [t for t, r in zip(self._subs, reasons, strict=False) if r.is_failure]
            delay = SUB_RETRY_MIN_S / 2  # doubled below: the first retry after SUB_RETRY_MIN_S
            self.connected = True
            self._on_up()
        elif mid in self._retry_mids:
            batch, delay = self._retry_mids.pop(mid)
            refused = [t for t, r in zip(batch, reasons, strict=False) if r.is_failure]
            if len(refused) < len(batch):
                log.warning("%s: subscriptions granted on a retry", self.creds.username)
        else:
            return
        if refused and not self._dead:
            delay = min(2 * delay, SUB_RETRY_MAX_S)
            log.error(
                "broker refused subscriptions of %s: %s; asking again in %.0f s (nothing arrives on them)",
                self.creds.username,
                refused,
                delay,
            )
            self.loop.call_later(delay, self._resubscribe, refused, delay)

    def _resubscribe(self, topics: list[str], delay: float) -> None:
        """Ask again for subscriptions the broker refused (a cluster refuses some while it creates
        hundreds of consumers at once); a reconnect makes them all again anyway."""
        if not self.connected or self._dead:
            return
        _rc, mid = self.client.subscribe([(t, 1) for t in topics])
        if mid is not None:
            self._retry_mids[mid] = (topics, delay)

    def _handle_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was = self.connected
        self.connected = False
        if was and not self._stopping:
            log.warning("%s: lost broker connection: %s", self.creds.username, reason)
        if was:
            self._on_down(str(reason))
        self._schedule_reconnect()

    def _handle_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_message(msg.topic, bytes(msg.payload))
