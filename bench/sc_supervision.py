"""Scenario `supervision`: a unit killed (alarm-sim `kill` -> last will) and a unit whose network is cut.

Killed: time from alarm-sim's `killed` line to the facilities notification (`person/<f>/notify`,
reason fault, this unit). Baseline: a bare paho client with a will, SIGKILLed, same broker.

Network cut: one `alarm-unit run --sim` inside a private network namespace (veth pair, a /30
inside this machine; mosquitto also listens on the host-side address). `ip link set <veth> down`
cuts it: no FIN, no will until the broker's keepalive expires, no heartbeats. Time from the cut
to the facilities notification. Baseline in the same namespace and the same cut: a bare paho
client with a will and a 5 s keepalive (the broker's own detection, 1.5 x keepalive). Without
network namespaces, the unit is SIGSTOPped instead (socket open, silent), and the report says so.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from bench.ctx import Ctx, desk_units, facilities
from bench.netns import HOST_ADDR, Netns
from bench.report import Row
from bench.sc_base import will_latency
from bench.system import PY, Capture, Msg, Sink
from stilalarm.broker_config.local import free_port
from stilalarm.devkit.localsystem import LocalSystem
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory import load_site
from stilalarm.wire.topics import PersonChannel, UnitChannel

SC = "supervision"


def _fault_for(fac: set[str], unit: str) -> object:
    def pred(m: Msg) -> bool:
        if not m.topic.endswith("/notify") or m.topic.split("/")[-2] not in fac:
            return False
        o = m.json()
        return bool(o.get("reason") == "fault" and o.get("unit_id") == unit)

    return pred


def run_supervision(ctx: Ctx) -> None:
    res = ctx.res
    d = ctx.dir("supervision")
    base_site = ctx.site
    cut_unit = next(u for u in desk_units(base_site) if base_site.unit(u).heartbeat_s == 5)
    site_file = d / "site.toml"
    ids = write_many_units(ctx.site_path, 12, site_file)
    sim_units, will_unit, ns_will_unit = ids[:10], ids[11], ids[10]
    site = load_site(site_file)
    fac = facilities(site)
    ls = LocalSystem(site, site_file, d / "run")
    t = ls.topics
    ns: Netns | None = Netns()
    why_not = ""
    try:
        ns.open()
    except RuntimeError as exc:
        why_not = str(exc)
        ns = None
    ns_port = free_port()
    if ns is not None:  # a second listener on the host side of the veth pair (same auth and ACL)
        conf = ls.broker.dir / "mosquitto.conf"
        conf.write_text(
            conf.read_text() + f"\n# bench: network-cut scenario\nlistener {ns_port} {HOST_ADDR}\n"
        )
    cap: Capture | None = None
    unit: JsonLineProcess | None = None
    sink: Sink | None = None
    try:
        ls.start_broker()
        cap = Capture().start(
            ls.broker,
            [t.all_people(PersonChannel.NOTIFY), t.all_units(UnitChannel.STATUS), t.console_status()],
        )
        ls.start_console()
        cap.wait(lambda m: m.topic == t.console_status() and b'"online"' in m.payload, 30, "console online")
        sim = ls.start_sim(units=",".join(sim_units))
        sim.wait(lambda ln: ln.get("event") == "ready", 60, "alarm-sim ready")
        # the unit to cut off, with its broker address moved to the namespace listener
        cfg = json.loads((ls.broker.dir / "units" / f"{cut_unit}.json").read_text())
        if ns is not None:
            cfg["broker"]["host"], cfg["broker"]["port"] = HOST_ADDR, ns_port
        cfg_path = d / f"{cut_unit}.json"
        cfg_path.write_text(json.dumps(cfg))
        os.chmod(cfg_path, 0o600)
        prefix = ns.prefix() if ns is not None else []
        alarm_unit = str(Path(PY).parent / "alarm-unit")
        argv = [*prefix, alarm_unit, "run", "--config", str(cfg_path), "--state-dir", str(d / "unit")]
        unit = JsonLineProcess([*argv, "--sim", "--control-stdin"], d / "unit.log")
        extra = ["--will", t.unit_status(ns_will_unit), "--keepalive", "5"]
        if ns is not None:
            extra += ["--host", HOST_ADDR, "--port", str(ns_port)]
        sink = Sink(
            ls.broker.dir, [], user=f"unit-{ns_will_unit}", extra=extra, prefix=prefix, log=d / "sink.log"
        )
        sink.line(30)
        unit.wait_for("link", state="up", timeout=30)
        time.sleep(7)  # the console has had heartbeats from it

        # 1. killed units: the broker publishes the will at once
        kill_ms: list[float] = []
        for u in sim_units[: ctx.n(5, 2)]:
            m = cap.mark()
            sim.send(f"kill {u}")
            killed = sim.wait(
                lambda ln, u=u: ln.get("event") == "killed" and ln.get("unit") == u, 10, "killed"
            )
            note = cap.wait(_fault_for(fac, u), 10, f"facilities notice for {u}", m)  # type: ignore[arg-type]
            kill_ms.append((note.at - float(killed["ts"])) * 1000)
            time.sleep(0.5)
        kill_ms.sort()
        will = will_latency(ls.broker, will_unit, ctx.n(3, 1))
        worst = kill_ms[-1]
        res.add(
            Row(
                SC,
                f"unit killed → facilities notified (worst of {len(kill_ms)})",
                worst,
                "ms",
                will,
                "bare paho will",
                "≤ 2,000 ms",
                worst <= 2000,
            )
        )
        res.note(SC, f"killed → facilities notice: {', '.join(f'{x:.0f}' for x in kill_ms)} ms.")

        # 2. network cut (or SIGSTOP)
        m = cap.mark()
        t_cut = time.time()
        if ns is not None:
            ns.cut()
        else:
            os.kill(unit.proc.pid, signal.SIGSTOP)
            os.kill(sink.pid, signal.SIGSTOP)
        note = cap.wait(_fault_for(fac, cut_unit), 60, f"facilities notice for {cut_unit}", m)  # type: ignore[arg-type]
        cut_s = note.at - t_cut
        try:
            bw = cap.wait(lambda x: x.payload == b"bench-will", 30, "baseline will", m)
            base_s: float | None = bw.at - t_cut
        except TimeoutError:
            base_s = None
        how = "network cut (netns veth down)" if ns is not None else "SIGSTOP (no netns: " + why_not + ")"
        res.add(
            Row(
                SC,
                f"unit {how} → facilities notified",
                cut_s,
                "s",
                base_s,
                "bare paho, keepalive 5 s",
                "≤ 20 s",
                cut_s <= 20,
            )
        )
        body = note.json()
        res.note(
            SC,
            f"{how}: facilities told after {cut_s:.1f} s ('{body.get('title', '')}'); the unit beats every "
            f"{base_site.unit(cut_unit).heartbeat_s:.0f} s and is offline after 3 missed beats; its MQTT "
            f"keepalive is 10 s (broker gives up after 15 s). Baseline client's will after "
            f"{'n/a' if base_s is None else f'{base_s:.1f}'} s.",
        )
    finally:
        for p in (unit.proc if unit else None, sink.proc if sink else None):
            if p is not None and p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.kill()
                p.wait(10)
        if sink is not None:
            sink.stop()
        if cap is not None:
            cap.stop()
        ls.stop()
        if ns is not None:
            ns.close()
