"""Helpers for tests that talk to a real mosquitto: clients, captures, waiting without sleeps."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from stilalarm.broker_config.local import BrokerError, LocalCluster, find_nats_server
from stilalarm.inventory import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id, random_suffix
from stilalarm.wire.link import Link
from stilalarm.wire.messages import IncidentState, Notification, NotifyReason, parse
from stilalarm.wire.topics import Topics

ALARM_REASONS = (NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT)


MAKE_CA = Path(__file__).resolve().parents[1] / "broker_config" / "make-ca.sh"


def make_site_ca(tls: Path, *names: str) -> Path:
    """`broker_config/make-ca.sh`: the site CA and a server certificate for `names` in `tls`."""
    res = subprocess.run(
        ["bash", str(MAKE_CA), str(tls), *names], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, f"make-ca.sh failed: {res.stderr}"
    return tls


def tls_site(site: Site, tls_port: int) -> Site:
    """`site` with the broker's TLS listener on `tls_port` as `localhost` (the certificate's name)."""
    broker = site.broker.model_copy(update={"use_tls": True, "tls_port": tls_port, "host": "localhost"})
    return site.model_copy(update={"broker": broker})


@contextmanager
def started_cluster(site: Site, workdir: Path, tls_dir: Path | None = None) -> Iterator[LocalCluster]:
    """A started 3-node `LocalCluster` in `workdir`, every node killed afterwards however far the
    start got. A missing nats-server fails the test, never skips it."""
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    c = LocalCluster(site, workdir, tls_dir=tls_dir)
    try:
        c.start()
        yield c
    finally:
        c.kill()


def wait_until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `pred` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def mosquitto_pub(
    creds: BrokerCredentials,
    topic: str,
    payload: bytes,
    *,
    qos: int = 1,
    retain: bool = False,
    cid: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Publish with mosquitto_pub (a client nobody here wrote); returns after the PUBACK. An empty
    payload is sent as a null message (`-n`: with `retain`, the clearing of a retained topic).
    `cid`: the client id (default: one of the login's own, `username.pub-...`)."""
    exe = shutil.which("mosquitto_pub")
    assert exe, "mosquitto_pub missing: apt-get install -y mosquitto-clients"
    cmd = [
        exe,
        "-h",
        creds.host,
        "-p",
        str(creds.port),
        "-u",
        creds.username,
        "-P",
        creds.password,
        "-i",
        cid or client_id(creds.username, f"pub-{uuid.uuid4().hex[:8]}"),
        "-t",
        topic,
        "-q",
        str(qos),
        "-s" if payload else "-n",
    ]
    if retain:
        cmd.append("-r")
    return subprocess.run(cmd, input=payload, capture_output=True, timeout=10, check=False)


def connect_result(
    port: int,
    username: str | None,
    password: str | None,
    cid: str | None = None,
    *,
    v5_auth_method: str | None = None,
) -> str:
    """Try one MQTT connect and return the broker's answer ('Success', 'Not authorized', ...).

    The client id is `cid`, by default the username (the one id every login owns).
    `v5_auth_method`: connect with MQTT 5 and this extended-authentication method instead.
    """
    result: list[str] = []
    done = threading.Event()
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=cid if cid is not None else (username or ""),
        protocol=mqtt.MQTTv5 if v5_auth_method else mqtt.MQTTv311,
    )
    props = None
    if v5_auth_method:
        props = Properties(PacketTypes.CONNECT)
        props.AuthenticationMethod = v5_auth_method
    if username is not None:
        c.username_pw_set(username, password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        result.append(str(rc))
        done.set()

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if not done.is_set():
            result.append(str(rc))
            done.set()

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    c.connect("127.0.0.1", port, properties=props)
    c.loop_start()
    done.wait(5)
    c.disconnect()
    c.loop_stop()
    assert result, "no CONNACK within 5 s"
    return result[0]


@dataclass
class Capture:
    """Records every message on chosen topic filters, as (topic, payload, retained)."""

    creds: BrokerCredentials
    filters: tuple[str, ...]
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    persistent: bool = False
    """Keep a session: what is published while it moves to another node is delivered after."""

    def __post_init__(self) -> None:
        cid = client_id(self.creds.username, random_suffix("capture"))
        self.link = Link(self.creds, client_id=cid, clean_session=not self.persistent)
        for f in self.filters:
            self.link.subscribe_raw(f, self._on)

    def _on(self, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def start(self) -> Capture:
        """Connect and return once the subscriptions are confirmed by the broker."""
        self.link.start()
        assert self.link.wait_connected(5), "capture client could not connect and subscribe"
        return self

    def stop(self) -> None:
        self.link.stop()

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _r in self.messages if t == topic]

    def wait_for(self, topic: str, n: int = 1, timeout: float = 5.0) -> list[bytes]:
        wait_until(lambda: len(self.on(topic)) >= n, timeout, f"{n} message(s) on {topic}")
        return self.on(topic)

    def notifications(self, person_id: str) -> list[Notification]:
        """Every notification seen for this person, in arrival order."""
        return [parse(Notification, p) for p in self.on(Topics(self.creds.site_id).person_notify(person_id))]

    def alarm_notifications(self, person_id: str) -> list[Notification]:
        """This person's alarm pages: level notices and repeats, not acks, faults or info."""
        return [n for n in self.notifications(person_id) if n.reason in ALARM_REASONS]

    def incident_state(self, incident_id: str, timeout: float = 10.0) -> IncidentState:
        """The newest state (highest version) seen of this incident; waits for the first one (the
        console publishes a batch's retained state after its pages and receipts: help_first)."""
        topic = Topics(self.creds.site_id).incident(incident_id)

        def states() -> list[IncidentState]:
            return [parse(IncidentState, p) for p in self.on(topic) if p]

        wait_until(lambda: states() != [], timeout, f"the retained state of incident {incident_id}")
        return max(states(), key=lambda s: s.version)


def rss_kib(pid: int) -> int:
    """Resident set size of process `pid` in KiB (VmRSS from /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def half_sent_connect(port: int, announced: int, send: int, chunk: int = 64 * 1024) -> socket.socket | None:
    """Start an MQTT CONNECT without credentials whose length header announces `announced`
    bytes, stream up to `send` bytes of it, and never finish it.

    Returns None when the broker closed the connection (reset or broken pipe) on the way,
    else the still-open socket (the caller closes it: a half-sent packet must stay half-sent
    while the broker's memory is measured).
    """
    header = bytearray([0x10])  # CONNECT
    n = announced
    while True:
        byte, n = n % 128, n // 128
        header.append(byte | (0x80 if n else 0))
        if not n:
            break
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    block = os.urandom(chunk)
    try:
        s.sendall(bytes(header))
        sent = 0
        while sent < send:
            s.sendall(block)
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError):
        s.close()
        return None
    return s


def fill(path: Path) -> None:
    """Write `path` until the filesystem has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
