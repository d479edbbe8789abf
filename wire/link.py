"""A thin paho-mqtt 2.x wrapper shared by units, the console service and consoles.

- VERSION2 callbacks only; every callback body is wrapped so that an exception is
  logged and never kills paho's network thread.
- Persistent session (MQTT 3.1.1, clean_session=False): the broker keeps our
  subscriptions and queues QoS1 messages while we are away.
- `connect_async` + `loop_start`: a broker that is down at start is retried.
  Reconnect delays get per-client jitter so 2,000 units do not reconnect in step
  after a broker restart.
- Subscriptions are (re)made in on_connect.
- Several broker addresses (`BrokerCredentials.addresses`, the cluster profile's nodes): the
  first connect goes to the first; after a failed connect or a lost connection the next attempt
  goes to the next address, round robin (`AddressRing`), with the same backoff. The session is
  persistent, so it resumes on the other node (NATS replicates it). paho itself reconnects to
  the same host only, so `AddressRing.aim` re-aims it in paho's `on_pre_connect`, which paho
  calls in `reconnect()` just before it opens the socket; the TLS certificate is checked
  against the host actually connected to (paho passes its current host as `server_hostname`).
  A node that accepts the TCP connection but sends no CONNACK within `connack_timeout_s` (a NATS
  node waiting on its session store after another node died) is given up like a failed connect.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from stilalarm.wire.credentials import BrokerAddress, BrokerCredentials
from stilalarm.wire.pahofast import FastClient

log = logging.getLogger(__name__)

SUB_RETRY_MIN_S = 1.0
"""A refused subscription is asked for again after this long, then twice as long each time..."""
SUB_RETRY_MAX_S = 5.0
"""...up to this. Short: a message published on a topic while its subscription is refused is not
queued for the client (a pager's page, a unit's "ik kom"), and a SUBSCRIBE costs the broker little;
the broker's log says why it refuses (a misconfigured grant should be fixed)."""

MessageHandler = Callable[[str, bytes], None]
RawHandler = Callable[[mqtt.MQTTMessage], None]
P = ParamSpec("P")


def guarded(name: str, fn: Callable[P, None]) -> Callable[P, None]:
    """Wrap a callback: exceptions are logged with a traceback, never propagated."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("error in %s callback (ignored, link stays up)", name)

    return run


class AddressRing:
    """The broker addresses one client goes round (round robin), and where its next connect goes.

    paho keeps one host and port (`connect_async`) and reconnects there. `aim` runs before every
    connect attempt (paho's `on_pre_connect`, from `reconnect()`, after the old socket is closed
    and before the new one is opened): the first attempt keeps the first address, every later
    one moves to the next. It sets paho's `_host`/`_port` directly because the public setters
    refuse while paho is in its connecting state (paho 2.2 internals, pinned by
    tests/unit/test_link_addresses.py).
    """

    def __init__(self, creds: BrokerCredentials, connack_timeout_s: float = 5.0) -> None:
        self.addresses: tuple[BrokerAddress, ...] = creds.addresses
        self.name = creds.username
        self.connack_timeout_s = connack_timeout_s
        self._i = 0
        self._attempts = 0
        self._reached = False
        self._deadline: float | None = None
        self._failed = 0  # connect attempts that failed (or connections lost) since the last CONNACK

    @property
    def current(self) -> BrokerAddress:
        """The address of the current (or last) connect attempt."""
        return self.addresses[self._i]

    def reached(self) -> None:
        """The broker at `current` accepted the connect (CONNACK success)."""
        self._reached = True
        self._deadline = None
        self._failed = 0

    def overdue(self, client: mqtt.Client) -> bool:
        """With more than one address: the connection is open but the CONNACK is later than
        `connack_timeout_s` (a cluster node that accepts TCP but waits on its session store)."""
        return (
            self._deadline is not None
            and time.monotonic() > self._deadline
            and client.socket() is not None
            and not client.is_connected()
        )

    def give_up(self, client: mqtt.Client) -> None:
        """Close the unanswered connection as paho does when keepalive passes without an answer
        (`_check_keepalive`): on_disconnect runs and the next attempt goes to the next address.
        Called in the client's network thread (Link) or event loop (MuxLink) only."""
        log.warning(
            "%s: no answer (CONNACK) from broker %s within %g s",
            self.name,
            self.current,
            self.connack_timeout_s,
        )
        self._deadline = None
        client._sock_close()
        client._do_on_disconnect(packet_from_broker=False, v1_rc=MQTTErrorCode.MQTT_ERR_KEEPALIVE)

    def first_round(self) -> bool:
        """Whether some address has not been tried since the last success: the backoff stays at
        its minimum until every address has failed once, then grows as before."""
        return self._failed < len(self.addresses)

    def aim(self, client: mqtt.Client) -> None:
        """Before a connect attempt: move on to the next address unless it is the first attempt."""
        if self._attempts:
            self._failed += 1
        if self._attempts and len(self.addresses) > 1:
            prev = self.current
            self._i = (self._i + 1) % len(self.addresses)
            why = "lost the connection to" if self._reached else "could not connect to"
            log.warning("%s: %s broker %s; trying %s next", self.name, why, prev, self.current)
        self._attempts += 1
        self._reached = False
        if len(self.addresses) > 1:
            self._deadline = time.monotonic() + self.connack_timeout_s
        client._host = self.current.host
        client._port = self.current.port
        if len(self.addresses) > 1 and self.first_round():
            with client._reconnect_delay_mutex:  # paho's next wait: its minimum again
                client._reconnect_delay = None


class LinkClient(FastClient):
    """`FastClient` that gives up a connect whose CONNACK is overdue (`AddressRing.overdue`);
    paho's network thread calls `loop_misc` at least once a second."""

    ring: AddressRing | None = None

    def loop_misc(self) -> MQTTErrorCode:
        ring = self.ring
        if ring is not None and ring.overdue(self):
            ring.give_up(self)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        return super().loop_misc()


class Link:
    """One MQTT connection with a persistent session, safe callbacks and resubscription.

    The client id is `client_id`, by default the login's session id
    (`BrokerCredentials.session_client_id()`: the rendered secret id on the cluster profile,
    else the username)."""

    def __init__(
        self,
        creds: BrokerCredentials,
        *,
        client_id: str | None = None,
        will: tuple[str, bytes] | None = None,
        will_retain: bool = True,
        on_up: Callable[[], None] | None = None,
        on_down: Callable[[str], None] | None = None,
        keepalive: int = 10,
        clean_session: bool = False,
        max_inflight: int = 100,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        connack_timeout_s: float = 5.0,
    ) -> None:
        self.creds = creds
        self._subs: dict[str, int] = {}
        self._on_up = on_up
        self._on_down = on_down
        self._sub_mid: int | None = None
        self._sub_batch: list[str] = []
        self._retry_mids: dict[int, tuple[list[str], float]] = {}
        self._retry_lock = threading.Lock()
        self.connected = threading.Event()
        """Set while connected and the session's subscriptions are confirmed (SUBACK)."""
        self._client = LinkClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or creds.session_client_id(),
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        c = self._client
        self.ring = AddressRing(creds, connack_timeout_s)
        c.ring = self.ring
        c.on_pre_connect = guarded("on_pre_connect", lambda client, _u: self.ring.aim(client))
        c.username_pw_set(creds.username, creds.password)
        if creds.tls:
            c.tls_set(ca_certs=creds.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=will_retain)
        jitter = random.uniform(1.0, 1.5)
        c.reconnect_delay_set(
            min_delay=max(1, round(reconnect_min_s * jitter)),
            max_delay=max(1, round(reconnect_max_s * jitter)),
        )
        c.max_inflight_messages_set(max_inflight)
        c.max_queued_messages_set(0)  # 0 = unbounded: paho never drops our own publishes
        c.on_connect = guarded("on_connect", self._handle_connect)
        c.on_disconnect = guarded("on_disconnect", self._handle_disconnect)
        c.on_message = guarded("on_message", self._handle_unrouted)
        c.on_subscribe = guarded("on_subscribe", self._handle_suback)
        self._keepalive = keepalive

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and keep reconnecting; returns at once."""
        self._client.connect_async(self.creds.host, self.creds.port, keepalive=self._keepalive)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed (True) or the timeout passes (False)."""
        return self.connected.wait(timeout)

    def stop(self, last_words: tuple[str, bytes] | None = None, timeout: float = 2.0) -> None:
        """Publish `last_words` (retained, QoS1) if connected, then disconnect cleanly."""
        if last_words is not None and self.connected.is_set():
            info = self._client.publish(last_words[0], last_words[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish last words before shutdown")
        self.park()

    def park(self) -> None:
        """Disconnect and stay disconnected (no reconnect) until `start()` again; the session stays
        (clean_session False) and what is published meanwhile waits in paho's memory queue."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # -- pub/sub ---------------------------------------------------------------
    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Route messages matching `topic_filter` to `handler(topic, payload)`; kept over reconnects.

        Call before `start()`: subscriptions are made (and confirmed) on every connect.
        """
        self.subscribe_raw(topic_filter, lambda msg: handler(msg.topic, bytes(msg.payload)), qos)

    def subscribe_raw(self, topic_filter: str, handler: RawHandler, qos: int = 1) -> None:
        """Like `subscribe`, but the handler gets paho's message (with `retain`, `qos`)."""
        self._subs[topic_filter] = qos

        def deliver(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            handler(msg)

        self._client.message_callback_add(topic_filter, guarded(f"message {topic_filter}", deliver))
        if self.connected.is_set():
            self._client.subscribe(topic_filter, qos=qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Queue a publish; paho sends it now or after reconnecting (in memory only)."""
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    # -- paho callbacks ----------------------------------------------------------
    def _handle_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused connection as %s: %s", self.creds.username, reason)
            return
        self.ring.reached()
        log.info("connected to %s as %s", self.ring.current, self.creds.username)
        if self._subs:
            self._sub_batch = list(self._subs)
            self._retry_mids.clear()
            _rc, self._sub_mid = client.subscribe(list(self._subs.items()))
        else:
            self._up()

    def _handle_suback(self, _c: mqtt.Client, _u: Any, mid: int, reasons: Any, _props: Any) -> None:
        if mid == self._sub_mid:
            refused = [t for t, r in zip(self._sub_batch, reasons, strict=False) if r.is_failure]
            delay = SUB_RETRY_MIN_S / 2  # doubled below: the first retry after SUB_RETRY_MIN_S
            self._up()
        else:
            with self._retry_lock:  # _resubscribe registers the mid before we may look it up
                retry = self._retry_mids.pop(mid, None)
            if retry is None:
                return
            batch, delay = retry
            refused = [t for t, r in zip(batch, reasons, strict=False) if r.is_failure]
            granted = [t for t in batch if t not in refused]
            if granted:
                log.warning(
                    "broker granted the subscriptions of %s on a retry: %s", self.creds.username, granted
                )
        if refused:
            delay = min(2 * delay, SUB_RETRY_MAX_S)
            log.error(
                "broker refused subscriptions of %s: %s; asking again in %.0f s (nothing arrives on them)",
                self.creds.username,
                refused,
                delay,
            )
            t = threading.Timer(delay, self._resubscribe, (refused, delay))
            t.daemon = True
            t.start()

    def _resubscribe(self, topics: list[str], delay: float) -> None:
        """Ask again for subscriptions the broker refused (a cluster refuses some while it is busy
        creating hundreds of consumers); a reconnect makes them all again anyway."""
        if not self.connected.is_set():
            return
        with self._retry_lock:  # the SUBACK may come back before subscribe() returns
            _rc, mid = self._client.subscribe([(t, self._subs[t]) for t in topics])
            if mid is not None:
                self._retry_mids[mid] = (topics, delay)

    def _up(self) -> None:
        self.connected.set()
        if self._on_up is not None:
            self._on_up()

    def _handle_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was:
            log.warning("lost broker connection to %s: %s", self.ring.current, reason)
        if self._on_down is not None:
            self._on_down(str(reason))

    def _handle_unrouted(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        log.debug("message on %s without a handler", msg.topic)
