"""Measure the console service on loopback (not a test): `python -m stilalarm.devkit.consolebench`.

1. Latency, over N sequential alarms: a unit publishes an alarm -> the receipt
   (the incident is stored: sent only after the commit) -> the lead's first
   notification arrives. Each incident is then resolved so the next press opens a new one.
2. Throughput: M alarm events from several units (C clients: `mosquitto_pub -l`) as fast
   as they publish; events/s from the first publish to the last receipt (each one stored).

The real service runs as a subprocess against a real mosquitto (stilalarm.devkit.servicerun).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from stilalarm.broker_config.local import LocalBroker, high_publish_limit
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    EventKind,
    Notification,
    Receipt,
    Registration,
    ResolveCmd,
    UnitEvent,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics, UnitChannel


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


BUTTON = {"pager-an": "ik-kom"}


def _event(unit: str, seq: int, boot: uuid.UUID) -> UnitEvent:
    now = utcnow()
    return UnitEvent(
        event_id=uuid.uuid4(),
        unit_id=unit,
        kind=EventKind.ALARM,
        button_id=BUTTON.get(unit, "knop"),
        seq=seq,
        boot_id=boot,
        occurred_at=now,
        sent_at=now,
    )


def latency(broker: LocalBroker, topics: Topics, n: int) -> tuple[list[float], list[float]]:
    """(press -> stored receipt, press -> first notification) in ms, for n sequential alarms."""
    got: dict[str, float] = {}
    cond = threading.Condition()

    def mark(key: str) -> None:
        with cond:
            got[key] = time.perf_counter()
            cond.notify_all()

    incident_of: dict[uuid.UUID, str] = {}

    def on_receipt(_t: str, p: bytes) -> None:
        r = parse(Receipt, p)
        incident_of[r.event_id] = r.incident_id or ""
        mark(f"r:{r.event_id}")

    unit_user = "unit-spreekkamer-1"
    unit = Link(broker.creds(unit_user), client_id=cid_for(unit_user, "bench"), clean_session=True)
    unit.subscribe(topics.unit_receipt("spreekkamer-1"), on_receipt)
    lead = Link(broker.creds("person-an"), client_id=cid_for("person-an", "bench"), clean_session=True)

    def on_note(_t: str, p: bytes) -> None:
        note = parse(Notification, p)
        if note.reason.value == "alarm" and note.incident_id:
            mark(f"n:{note.incident_id}")

    def on_reply(_t: str, p: bytes) -> None:
        mark(f"c:{parse(CommandReply, p).cmd_id}")

    lead.subscribe(topics.person_notify("an"), on_note)
    lead.subscribe(topics.person_reply("an"), on_reply)
    for lk in (unit, lead):
        lk.start()
        assert lk.wait_connected(10)

    def wait(key: str) -> float:
        with cond:
            if not cond.wait_for(lambda: key in got, 10):
                raise TimeoutError(f"no {key} within 10 s")
            return got[key]

    stored: list[float] = []
    notified: list[float] = []
    boot = uuid.uuid4()
    for i in range(n):
        ev = _event("spreekkamer-1", i + 1, boot)
        t0 = time.perf_counter()
        unit.publish(topics.unit_event("spreekkamer-1"), encode(ev), qos=1)
        t_stored = wait(f"r:{ev.event_id}")
        inc = incident_of[ev.event_id]  # the receipt names the incident; its first page is keyed by it
        t_note = wait(f"n:{inc}")
        stored.append((t_stored - t0) * 1000)
        notified.append((t_note - t0) * 1000)
        ack = AckCmd(cmd_id=uuid.uuid4(), person_id="an", issued_at=utcnow(), incident_id=inc)
        lead.publish(topics.person_cmd("an"), encode(ack), qos=1)  # resolve needs an ack first
        wait(f"c:{ack.cmd_id}")
        cmd = ResolveCmd(
            cmd_id=uuid.uuid4(),
            person_id="an",
            issued_at=utcnow(),
            incident_id=inc,
            registration=Registration(false_alarm=True, note="bench"),
        )
        lead.publish(topics.person_cmd("an"), encode(cmd), qos=1)
        wait(f"c:{cmd.cmd_id}")
    unit.stop()
    lead.stop()
    return stored, notified


def throughput(broker: LocalBroker, topics: Topics, total: int, units: list[str]) -> tuple[float, int]:
    """(events/s from first publish to last receipt, receipts counted).

    The load comes from the C clients (`mosquitto_pub -l`, one process per unit, one event
    per line; `mosquitto_sub -C` counting receipts), so the generator does not eat the CPU
    the service needs.
    """
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    assert pub and sub, "apt-get install -y mosquitto-clients"
    obs = broker.creds("observer")
    per = total // len(units)
    counter = subprocess.Popen(
        [
            *(sub, "-h", obs.host, "-p", str(obs.port), "-u", obs.username, "-P", obs.password),
            *("-i", cid_for(obs.username, "bench-count")),
            *("-q", "1", "-t", topics.all_units(UnitChannel.RECEIPT), "-C", str(per * len(units))),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let the counter subscribe
    lines = {u: b"".join(encode(_event(u, i + 1, uuid.uuid4())) + b"\n" for i in range(per)) for u in units}
    t0 = time.perf_counter()
    procs = []
    for u in units:
        c = broker.creds(f"unit-{u}")
        procs.append(
            subprocess.Popen(
                [
                    *(pub, "-h", c.host, "-p", str(c.port), "-u", c.username, "-P", c.password),
                    *("-i", cid_for(c.username, "bench"), "-q", "1", "-t", topics.unit_event(u), "-l"),
                ],
                stdin=subprocess.PIPE,
            )
        )
    for u, p in zip(units, procs, strict=True):
        assert p.stdin is not None
        p.stdin.write(lines[u])
        p.stdin.close()
    counter.wait(300)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.wait(30)
    return per * len(units) / elapsed, per * len(units)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stilalarm.devkit.consolebench", description=__doc__)
    ap.add_argument("--alarms", type=int, default=1000, help="sequential alarms for the latency run")
    ap.add_argument("--events", type=int, default=20000, help="alarm events for the throughput run")
    ap.add_argument("--dir", type=Path, default=None, help="work dir (default: a temporary one)")
    args = ap.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="stilalarm-bench-"))
    site_file = work / "site.toml"
    site_file.parent.mkdir(parents=True, exist_ok=True)
    site_file.write_text(FAST_SITE)
    site = parse_site(FAST_SITE)
    topics = Topics(site.site.id)
    broker = LocalBroker(high_publish_limit(site), work / "broker")  # events back to back from one login
    broker.start()
    svc = ServiceProcess(site_file, work / "console.db", broker.dir, work / "console.log")
    svc.start()
    svc.wait_ready()
    try:
        stored, notified = latency(broker, topics, args.alarms)
        print(f"latency over {len(stored)} alarms (press -> ...), ms:")
        print(f"  stored (receipt)    p50 {statistics.median(stored):6.2f}  p99 {_pct(stored, 99):6.2f}")
        print(f"  first notification  p50 {statistics.median(notified):6.2f}  p99 {_pct(notified, 99):6.2f}")
        rate, n = throughput(
            broker, topics, args.events, ["balie-1", "wachtzaal", "spreekkamer-1", "pager-an"]
        )
        print(f"throughput: {n} alarm events durably stored and receipted at {rate:,.0f} events/s")
    finally:
        svc.terminate()
        broker.kill()
    facts = Store(work / "console.db", readonly=True).fact_count()
    print(f"event log: {facts} facts in {work / 'console.db'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
