"""Keep every cluster node ready for a failover: one short MQTT connect to each node, again and again.

A nats-server 2.9 node sets up an account's MQTT sessions at its first MQTT client of that account:
it (re)creates its own consumer on the `$MQTT_rmsgs` stream, a Raft group of its own. Every client
prefers the first node (`broker_config/cluster.py`), so the others are cold; when the first node
dies, every unit's reconnect goes to a cold node, whose first CONNECT also waits for that
consumer, and for the stream's election if the dead node led it (docs/HA.md "Cold nodes":
measured 0.3-20.7 s more than a warm node, once more than 60 s in CI). A `NodeWarmer` connects a
clean session without subscriptions (nothing is stored, nothing to delete at its close) to every
address in turn, so each node has served the account before it is needed, also after a restart.
A node that does not answer is logged once, with what to do, and once more when it answers again.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from stilalarm.wire.credentials import BrokerAddress, BrokerCredentials

log = logging.getLogger(__name__)

ROLE = "warm"
"""The client id's role suffix (`BrokerCredentials.session_client_id`): one more client of the login."""
ACCEPTED = "Success"
"""A node's answer when it accepted the connect (paho's reason code text)."""


def connect_once(creds: BrokerCredentials, address: BrokerAddress, timeout_s: float) -> str:
    """One clean MQTT connect of `creds` to `address`, then a disconnect. The broker's answer
    ("Success", "Not authorized", ...), or why there was none."""
    answer: list[str] = []
    done = threading.Event()
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=creds.session_client_id(ROLE),
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    c.username_pw_set(creds.username, creds.password)
    if creds.tls:
        c.tls_set(ca_certs=creds.ca_file, cert_reqs=ssl.CERT_REQUIRED)

    def connected(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        answer.append(str(rc))
        done.set()

    c.on_connect = connected
    try:
        c.connect(address.host, address.port, keepalive=max(5, int(timeout_s * 2)))
    except (OSError, ValueError) as exc:
        return f"no connection ({exc})"
    c.loop_start()
    try:
        if not done.wait(timeout_s):
            return f"no CONNACK within {timeout_s:g} s"
        return answer[0]
    finally:
        if c.disconnect() is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.debug("warm connect to %s:%d: already closed", address.host, address.port)
        c.loop_stop()


class NodeWarmer:
    """Connects `creds` to each of its addresses every `every_s` seconds in a thread of its own
    (`start`, `stop`). `answers` holds each node's last answer (for tests and diagnostics);
    `on_answer(address, answer)` is called with each, in the warmer's thread."""

    def __init__(
        self,
        creds: BrokerCredentials,
        every_s: float = 30.0,
        timeout_s: float = 5.0,
        on_answer: Callable[[BrokerAddress, str], None] | None = None,
    ) -> None:
        self.creds = creds
        self.on_answer = on_answer
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.answers: dict[BrokerAddress, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-warmer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout_s + 5)

    def warm_all(self) -> None:
        """One round: every address once."""
        for address in self.creds.addresses:
            if self._stop.is_set():
                return
            self.note(address, connect_once(self.creds, address, self.timeout_s))

    def note(self, address: BrokerAddress, answer: str) -> None:
        """Record a node's answer; warn when it stops answering, once (a dying node's answers go
        from "no CONNACK" to "no connection"), and tell when it answers again."""
        before = self.answers.get(address)
        self.answers[address] = answer
        if self.on_answer is not None:
            self.on_answer(address, answer)
        ok, was_ok = answer == ACCEPTED, before == ACCEPTED
        where = f"{address.host}:{address.port}"
        if not ok and (before is None or was_ok):
            log.warning(
                "broker node %s did not accept a connect of %s (%s): clients fail over past it, "
                "but the cluster has one node less; check nats-server there (systemctl status, its log)",
                where,
                self.creds.username,
                answer,
            )
        elif not ok and before != answer:
            log.info("broker node %s still does not accept a connect: %s", where, answer)
        elif ok and before is not None and not was_ok:
            log.info("broker node %s accepts connects again", where)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.warm_all()
            except Exception:  # the warmer must never take the console down
                log.exception("warming the broker nodes failed; trying again in %g s", self.every_s)
            self._stop.wait(self.every_s)
