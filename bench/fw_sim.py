"""Benchmark: `alarm-sim` with many units (default 2,000) in one process, and one `alarm-unit`.

    .venv/bin/python -m bench.fw_sim --units 2000 [--idle 20]
    .venv/bin/python -m bench.fw_sim --single [--idle 30]

Reports connect time (start -> `ready`), RSS, threads, CPU while idle (heartbeats every
5 s), and a burst of one press per unit (all receipted by a console played here).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.fw_proc import cpu_s, rss_mb, threads
from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory import load_site
from stilalarm.wire import messages as m
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics, UnitChannel

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def console_for(broker: LocalBroker, topics: Topics) -> Link:
    lk = Link(broker.creds("console"))

    def on_event(_t: str, payload: bytes) -> None:
        ev = m.parse(m.UnitEvent, payload)
        r = m.Receipt(event_id=ev.event_id, unit_id=ev.unit_id, incident_id="i-1", stored_at=m.utcnow())
        lk.publish(topics.unit_receipt(ev.unit_id), m.encode(r))

    lk.subscribe(topics.all_units(UnitChannel.EVENT), on_event)
    lk.start()
    assert lk.wait_connected(10)
    return lk


def idle_cpu(pid: int, seconds: float) -> float:
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_s(pid) - c0) / (time.monotonic() - t0)


def bench_sim(n: int, idle: float, tmp: Path, every_change: bool = False) -> None:
    site_path = tmp / "site.toml"
    ids = write_many_units(ROOT / "examples" / "site.toml", n, site_path)
    site = load_site(site_path)
    if every_change:  # comparison: the strict small-site save policy (save after every change)
        site = site.model_copy(
            update={"broker": site.broker.model_copy(update={"autosave_every_change": True})}
        )
        print("broker: autosave_every_change (comparison run)")
    broker = LocalBroker(site, tmp / "b")
    broker.start()
    console = console_for(broker, Topics(site.site.id))
    argv = [str(BIN / "alarm-sim"), "--site", str(site_path), "--broker-dir", str(broker.dir)]
    argv += ["--units", ",".join(ids), "--state-dir", str(tmp / "sim")]
    t0 = time.monotonic()
    sim = JsonLineProcess(argv, tmp / "sim.log")
    try:
        [ready] = sim.wait_for("ready", timeout=300)
        wall = time.monotonic() - t0
        pid = sim.proc.pid
        print(f"units: {n}")
        print(
            f"connect: {ready['connect_s']:.2f} s after the units were built; {wall:.2f} s from process start"
        )
        print(f"RSS after connect: {rss_mb(pid):.0f} MiB; threads: {threads(pid)}")
        print(f"idle CPU ({idle:.0f} s, heartbeats every 5 s): {idle_cpu(pid, idle):.1f} % of one core")
        c0 = cpu_s(pid)
        t1 = time.monotonic()
        for uid in ids:
            sim.send(f"press {uid}")
        try:
            rec = sim.wait_for("receipt", n=n, timeout=120)
        except AssertionError:
            print(
                "stored",
                len(sim.find("alarm_stored")),
                "receipts",
                len(sim.find("receipt")),
                "down",
                len(sim.find("link", state="down")),
                "errors",
                sim.find("error")[:3],
            )
            raise
        dt = time.monotonic() - t1
        lat = sorted(r["latency_ms"] for r in rec)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print(f"burst: {n} presses -> {n} receipts in {dt:.2f} s (CPU {cpu_s(pid) - c0:.2f} s)")
        print(f"  detection -> receipt latency ms: p50 {p(0.5)}  p99 {p(0.99)}  max {lat[-1]}")
        print(f"  (mean {statistics.mean(lat):.0f} ms; includes the shared outbox fsync per alarm)")
        print(f"RSS after burst: {rss_mb(pid):.0f} MiB")
        sim.send("quit")
        sim.wait_for("bye", timeout=60)
    finally:
        sim.close()
        console.stop()
        broker.kill()


def bench_single(idle: float, tmp: Path) -> None:
    site = load_site(ROOT / "examples" / "site.toml")
    broker = LocalBroker(site, tmp / "b")
    broker.start()
    argv = [str(BIN / "alarm-unit"), "run", "--config", str(broker.dir / "units" / "balie-1.json")]
    argv += ["--state-dir", str(tmp / "u"), "--sim", "--control-stdin"]
    u = JsonLineProcess(argv, tmp / "unit.log")
    try:
        u.wait_for("link", state="up", timeout=20)
        time.sleep(2)
        pid = u.proc.pid
        print(f"alarm-unit (one unit, --sim pins, 5 s heartbeat): RSS {rss_mb(pid):.0f} MiB")
        print(f"threads: {threads(pid)} (event loop + paho's network thread)")
        print(f"idle CPU over {idle:.0f} s: {idle_cpu(pid, idle):.2f} % of one core")
    finally:
        u.stop()
        broker.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--single", action="store_true", help="measure one alarm-unit process instead")
    ap.add_argument(
        "--broker-every-change",
        action="store_true",
        help="comparison: the broker saves after every change (the strict small-site policy)",
    )
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if a.single:
            bench_single(a.idle, Path(d))
        else:
            bench_sim(a.units, a.idle, Path(d), every_change=a.broker_every_change)


if __name__ == "__main__":
    main()
