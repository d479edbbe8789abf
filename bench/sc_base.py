"""Scenarios `baseline` (bare broker, bare paho, bare fsync) and `footprint` (one alarm-unit process)."""

from __future__ import annotations

import time
from pathlib import Path

from bench import baseline as b
from bench.contention import CpuHog
from bench.ctx import Ctx, desk_units
from bench.report import Row
from bench.stats import Stats
from bench.system import PY, Capture, Sink, sample
from stilalarm.broker_config.local import LocalBroker, high_publish_limit
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.topics import Topics

SC = "baseline"


def run_baseline(ctx: Ctx) -> None:
    site = ctx.site
    d = ctx.dir("baseline")
    topics = Topics(site.site.id)
    units = desk_units(site)
    lead = site.people[0].id
    # thousands of messages from one unit login: the broker's per-login publish limit (which
    # the flood scenario measures) is raised out of the way of these raw broker figures
    broker = LocalBroker(high_publish_limit(site), d / "broker")
    broker.start()
    res = ctx.res
    try:
        n = ctx.n(1000, 200)
        flood_units = units[:4]
        per = ctx.n(5000, 1000)

        def measure(tag: str) -> tuple[Stats, Stats, Stats, float]:
            hop = b.qos1_hop(broker, topics.unit_event(units[0]), n)
            ins = b.qos1_insert_hop(
                broker, topics.unit_event(units[0]), topics.person_notify(lead), d / f"ins{tag}.db", n
            )
            burst = b.qos1_insert_burst(
                broker,
                topics.unit_event(units[1]),
                topics.person_notify(lead),
                d / f"burst{tag}.db",
                ctx.n(500, 100),
            )
            rate = b.subscriber_rate_c(broker, flood_units, per, d / f"sink{tag}.log")
            return hop, ins, burst, rate

        hop, ins, burst, rate = measure("")
        ctx.base_stats.update(hop=hop, insert=ins, burst=burst)
        ctx.base.update(
            hop_p50=hop.p50, hop_p99=hop.p99, ins_p50=ins.p50, ins_p99=ins.p99, burst_p99=burst.p99
        )
        res.add(Row(SC, "QoS1 publish → subscriber, p50", hop.p50, "ms"))
        res.add(Row(SC, "QoS1 publish → subscriber, p99", hop.p99, "ms"))
        res.add(Row(SC, "… + one fsync'd SQLite insert → publish on, p50", ins.p50, "ms"))
        res.add(Row(SC, "… + one fsync'd SQLite insert → publish on, p99", ins.p99, "ms"))
        res.add(Row(SC, f"{burst.n} back to back through that relay (fsync each), p99", burst.p99, "ms"))
        ctx.base["sub_rate"] = rate
        res.add(Row(SC, f"bare paho subscriber process, C QoS1 flood of {per * 4:,}", rate, "msg/s"))
        raw, commit = b.fsync_latency(d, ctx.n(200, 50))
        ctx.base.update(fsync_p50=raw.p50, commit_p50=commit.p50)
        res.add(Row(SC, "4 KiB write + fsync on this disk, p50", raw.p50, "ms"))
        res.add(Row(SC, "4 KiB write + fsync on this disk, p99", raw.p99, "ms"))
        res.add(Row(SC, "one SQLite WAL commit (synchronous=FULL), p50", commit.p50, "ms"))
        will = will_latency(broker, units[2], ctx.n(5, 2))
        ctx.base["will_ms"] = will
        res.add(Row(SC, "paho client SIGKILLed → its will at a subscriber (median)", will, "ms"))
        start = process_start(broker, ctx.n(3, 1))
        ctx.base["start_ms"] = start
        res.add(Row(SC, "python + paho process start → connected + subscribed (median)", start, "ms"))
        if ctx.busy:
            with CpuHog() as hog:
                bhop, bins, bburst, brate = measure("-busy")
            ctx.base_stats.update(hop_busy=bhop, insert_busy=bins, burst_busy=bburst)
            ctx.base["sub_rate_busy"] = brate
            busy = f"{SC} busy"
            res.add(Row(busy, "QoS1 publish → subscriber, p50", bhop.p50, "ms", quiet=hop.p50))
            res.add(Row(busy, "QoS1 publish → subscriber, p99", bhop.p99, "ms", quiet=hop.p99))
            res.add(
                Row(busy, "… + one fsync'd SQLite insert → publish on, p50", bins.p50, "ms", quiet=ins.p50)
            )
            res.add(
                Row(busy, "… + one fsync'd SQLite insert → publish on, p99", bins.p99, "ms", quiet=ins.p99)
            )
            res.add(
                Row(
                    busy,
                    f"{bburst.n} back to back through that relay (fsync each), p99",
                    bburst.p99,
                    "ms",
                    quiet=burst.p99,
                )
            )
            res.add(
                Row(
                    busy,
                    f"bare paho subscriber process, C QoS1 flood of {per * 4:,}",
                    brate,
                    "msg/s",
                    quiet=rate,
                )
            )
            res.note(
                busy,
                f"The same measurements with a CPU-bound competitor ({hog.n} busy process(es), one per "
                f"core minus one, normal priority) that used {hog.cpu_pct():.0f} % of a core meanwhile: "
                f"QoS1 hop {bhop.fmt()}; with insert {bins.fmt()}.",
            )
        res.note(
            SC,
            f"QoS1 hop {hop.fmt()}; with insert {ins.fmt()}. The relay commits (fsync) every message "
            "on its own; the console batches (group commit).",
        )
    finally:
        broker.stop()


def will_latency(broker: LocalBroker, unit: str, reps: int) -> float:
    """Median ms from SIGKILL of a bare paho client holding a will to the will at a subscriber."""
    topic = Topics(broker.site.site.id).unit_status(unit)
    cap = Capture().start(broker, [topic], client_id=cid_for("observer", "bench-will-cap"))
    out: list[float] = []
    try:
        for _ in range(reps):
            s = Sink(broker.dir, [], user=f"unit-{unit}", extra=["--will", topic])
            s.line(30)
            time.sleep(0.3)
            m = cap.mark()
            t0 = time.time()
            s.proc.kill()
            got = cap.wait(lambda x: x.payload == b"bench-will" and not x.retained, 10, "the will", m)
            out.append((got.at - t0) * 1000)
            s.stop()
    finally:
        cap.stop()
    return sorted(out)[len(out) // 2]


def process_start(broker: LocalBroker, reps: int) -> float:
    """Median ms from spawning a bare paho process to it being connected and subscribed."""
    out: list[float] = []
    topic = Topics(broker.site.site.id).console_status()
    for _ in range(reps):
        t0 = time.time()
        s = Sink(broker.dir, [topic])
        ready = s.line(30)
        out.append((float(ready["ready"]) - t0) * 1000)
        s.stop()
    return sorted(out)[len(out) // 2]


def run_footprint(ctx: Ctx) -> None:
    """One `alarm-unit run --sim` (5 s heartbeat) next to an idle bare paho process, same window."""
    site = ctx.site
    d = ctx.dir("footprint")
    unit = next(
        u for u in site.units if u.role.value == "desk" and u.via.value == "gpio" and u.heartbeat_s == 5
    )
    broker = LocalBroker(site, d / "broker")
    broker.start()
    topics = Topics(site.site.id)
    alarm_unit = str(Path(PY).parent / "alarm-unit")
    argv = [alarm_unit, "run", "--config", str(broker.dir / "units" / f"{unit.id}.json")]
    argv += ["--state-dir", str(d / "unit"), "--sim", "--control-stdin"]
    u = JsonLineProcess(argv, d / "unit.log")
    sink = Sink(broker.dir, [topics.unit_cmd(unit.id)])
    try:
        u.wait_for("link", state="up", timeout=20)
        sink.line(30)
        time.sleep(3)
        secs = ctx.n(60, 10)
        use = sample({"unit": u.proc.pid, "sink": sink.pid}, secs)
        un, sk = use["unit"], use["sink"]
        ctx.res.add(
            Row(
                "footprint",
                "alarm-unit --sim RSS (peak)",
                un.rss_mb,
                "MiB",
                sk.rss_mb,
                "idle bare paho process",
                "≤ 45 MiB",
                un.rss_mb <= 45,
            )
        )
        ctx.res.add(
            Row(
                "footprint",
                f"alarm-unit idle CPU over {un.seconds:.0f} s",
                un.cpu_pct,
                "% core",
                sk.cpu_pct,
                "idle bare paho process",
                "≤ 1 %",
                un.cpu_pct <= 1.0,
            )
        )
    finally:
        u.proc.terminate()
        try:
            u.proc.wait(10)
        except Exception:
            u.kill()
        sink.stop()
        broker.stop()
