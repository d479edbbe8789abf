"""A hostile client with one unit's credentials that floods the console (tests and `make bench`).

It logs in as the unit itself (its own username and client id), publishes alarm events with
fresh event ids (QoS1, like the firmware) and heartbeats (QoS0) as fast as paho sends them,
and counts the receipts the console sends back.
"""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.messages import EventKind, Heartbeat, Receipt, UnitEvent, encode, parse, utcnow
from stilalarm.wire.topics import Topics


class Flooder:
    """Connect with `start()`, flood with `alarms()` / `heartbeats()`, `stop()` at the end."""

    def __init__(self, creds: BrokerCredentials, unit_id: str, button: str = "knop") -> None:
        self.unit_id = unit_id
        self.button = button
        self.topics = Topics(creds.site_id)
        self.boot_id = uuid.uuid4()
        self.seq = 0
        self.sent: list[uuid.UUID] = []
        self._payloads: dict[uuid.UUID, bytes] = {}
        self.receipted: set[uuid.UUID] = set()
        self.incidents: set[str | None] = set()
        self._acked = 0
        self._lock = threading.Lock()
        self._up = threading.Event()
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=creds.session_client_id(),
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        c.username_pw_set(creds.username, creds.password)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = lambda cl, _u, _f, _rc, _p: cl.subscribe(self.topics.unit_receipt(unit_id), qos=1)
        c.on_subscribe = lambda *_a: self._up.set()
        c.on_message = self._on_receipt
        c.on_publish = self._on_puback
        self.client = c
        self._host, self._port = creds.host, creds.port

    def start(self, timeout: float = 10.0) -> Flooder:
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        if not self._up.wait(timeout):
            raise TimeoutError(f"flooder for {self.unit_id} could not connect and subscribe")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_receipt(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        r = parse(Receipt, bytes(msg.payload))
        with self._lock:
            self.receipted.add(r.event_id)
            self.incidents.add(r.incident_id)

    def _on_puback(self, *_a: object) -> None:
        with self._lock:
            self._acked += 1

    def acked(self) -> int:
        """Publishes done: QoS1 ones PUBACKed by the broker (dropped ones too), QoS0 ones written."""
        with self._lock:
            return self._acked

    def receipts(self) -> int:
        with self._lock:
            return len(self.receipted)

    def alarm(self) -> uuid.UUID:
        """Publish one alarm event with a fresh id (QoS1)."""
        self.seq += 1
        now = utcnow()
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=self.unit_id,
            kind=EventKind.ALARM,
            button_id=self.button,
            seq=self.seq,
            boot_id=self.boot_id,
            occurred_at=now,
            sent_at=now,
            detail="x" * 200,
        )
        self.sent.append(ev.event_id)
        self._payloads[ev.event_id] = encode(ev)
        self.client.publish(self.topics.unit_event(self.unit_id), self._payloads[ev.event_id], qos=1)
        return ev.event_id

    def resend(self) -> int:
        """Publish every alarm that has no receipt yet again, same event id, as a unit's outbox
        retransmits; returns how many."""
        with self._lock:
            todo = [e for e in self.sent if e not in self.receipted]
        for e in todo:
            self.client.publish(self.topics.unit_event(self.unit_id), self._payloads[e], qos=1)
        return len(todo)

    def alarms(self, n: int) -> None:
        for _ in range(n):
            self.alarm()

    def heartbeats(self, n: int) -> None:
        """Publish `n` heartbeats (QoS0) back to back, each claiming a tiny interval."""
        for i in range(n):
            hb = Heartbeat(
                unit_id=self.unit_id,
                boot_id=self.boot_id,
                seq=i,
                sent_at=utcnow(),
                interval_s=0.001,
                uptime_s=1.0,
                outbox_depth=0,
                firmware_version="flood",
                test_mode=False,
            )
            self.client.publish(self.topics.unit_heartbeat(self.unit_id), encode(hb), qos=0)


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.flood --broker-dir D --unit U --n N`: the flood in a process of its own
    (so it does not share an interpreter with whoever measures). JSON lines on stdout: `ready`
    (after the unit's first alarm was receipted), then on `go` (stdin) `sent`, then `receipted`
    once every flooded event has its receipt, or no new receipt came for `--quiet` seconds (the
    broker's publish limit drops most of a flood: those are never receipted; this flooder, unlike
    a unit, does not resend), or after `--wait` seconds."""
    import argparse
    import json
    import sys
    import time
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m tests.flood")
    ap.add_argument("--broker-dir", required=True)
    ap.add_argument("--unit", required=True)
    ap.add_argument("--n", type=int, default=20_000, help="alarm events and heartbeats, each")
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--wait", type=float, default=300)
    ap.add_argument("--quiet", type=float, default=10)
    args = ap.parse_args(argv)
    unit_cfg = json.loads((Path(args.broker_dir) / "units" / f"{args.unit}.json").read_text())
    f = Flooder(BrokerCredentials.model_validate(unit_cfg["broker"]), args.unit).start()

    def say(event: str, **kw: object) -> None:
        print(json.dumps({"event": event, "ts": time.time(), **kw}), flush=True)

    first = f.alarm()
    deadline = time.monotonic() + 30
    while first not in f.receipted and time.monotonic() < deadline:
        time.sleep(0.01)
    say("ready", receipted=first in f.receipted)
    for line in sys.stdin:
        if line.strip() == "go":
            break
    sent = 0
    while sent < args.n:
        f.alarms(min(args.chunk, args.n - sent))
        f.heartbeats(min(args.chunk, args.n - sent))
        sent += min(args.chunk, args.n - sent)
    say("sent", n=sent)
    deadline = time.monotonic() + args.wait
    last, last_at = f.receipts(), time.monotonic()
    while f.receipts() < sent + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        if f.receipts() != last:
            last, last_at = f.receipts(), time.monotonic()
        elif time.monotonic() - last_at >= args.quiet and f.acked() >= 2 * sent + 1:
            break  # every publish is done and nothing is coming back any more
    say("receipted", n=f.receipts() - 1)
    f.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
