"""The soak run: start the real processes, play the plan, keep every capture, stop cleanly.

Files in the output directory (besides the captures of soak.record): `site.toml`, `broker/`
(rendered config, `mosquitto.log`), `console.db`, `console.log`, `plan.json` (the plan drawn
from the seed), `faults.jsonl` (each fault as applied: real start and end times), `presses.jsonl`
(each press command sent to a shard, or skipped because its shard was down), `leads.jsonl`,
`hostile.jsonl`, `run.json` (summary).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.netns import Netns, soak_netns
from soak.faults import apply
from soak.hostile import Hostile
from soak.leads import Leads
from soak.record import JsonlWriter, Recorder, Shard, SoloUnit
from soak.schedule import Fault, Plan, make_plan, shard_of
from soak.site import SOLO_UNIT, soak_site_toml, unit_ids
from stilalarm.broker_config.local import LocalBroker, free_port
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.inventory.load import parse_site

DRAIN_S = 90.0  # after the last press: time for every stored press to get its receipt
DBFS_SIZE = "1g"  # the tmpfs that holds the console's database (disk_full fills it)
SETTLE_S = 2.0  # after the leads' last command, before the units stop: its LED command arrives


class Soak:
    def __init__(
        self,
        seed: int,
        duration_s: float,
        units: int,
        out: Path,
        shards: int = 4,
        fault_every_s: float = 12.0,
    ) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        ids = unit_ids(units)
        n_shards = max(1, min(shards, units))
        self.plan: Plan = make_plan(seed, duration_s, [*ids, SOLO_UNIT], n_shards, SOLO_UNIT, fault_every_s)
        self.site_file = out / "site.toml"
        self.site_file.write_text(soak_site_toml(units), encoding="utf-8")
        self.site = parse_site(self.site_file.read_text(encoding="utf-8"))
        self.broker = LocalBroker(self.site, out / "broker")
        self.dbfs = out / "dbfs"  # a small tmpfs of its own: disk_full fills it
        self.dbfs.mkdir(exist_ok=True)
        self.console = ServiceProcess(
            self.site_file, self.dbfs / "console.db", self.broker.dir, out / "console.log"
        )
        self.netns: Netns = soak_netns()
        self._mounted = False
        self._extra: dict[int, dict[str, object]] = {}  # fault -> extra fields of its record
        groups: list[list[str]] = [[] for _ in range(self.plan.shards)]
        for i, uid in enumerate(ids):
            groups[shard_of(i, self.plan.shards)].append(uid)
        self.shards = [Shard(i, g, self.site_file, self.broker.dir, out) for i, g in enumerate(groups)]
        self.shards.append(SoloUnit(n_shards, [SOLO_UNIT], self.site_file, self.broker.dir, out))
        self.shard_of_unit = {u: s for s in self.shards for u in s.units}
        self.faults_log = JsonlWriter(out / "faults.jsonl")
        self.presses_log = JsonlWriter(out / "presses.jsonl")
        self.recorder: Recorder | None = None
        self.leads: Leads | None = None
        self.hostile: Hostile | None = None
        self.locks = {
            name: threading.Lock()
            for name in (
                "broker",
                "console",
                "console-disk",
                "hostile",
                *(f.target for f in self.plan.faults),
            )
        }
        for s in self.shards:
            self.locks[f"shard-{s.index}"] = threading.Lock()
        self.t0 = 0.0
        self.errors: list[str] = []
        self._stopped: set[str] = set()  # "broker" / "console" while SIGSTOPped
        self.phases: dict[str, float] = {}  # start / press_end / drain_end, Unix time

    def say(self, text: str) -> None:
        print(f"[soak {time.monotonic() - self.t0:7.1f}] {text}" if self.t0 else f"[soak] {text}", flush=True)

    # -- start and stop ------------------------------------------------------------------------
    def start(self) -> None:
        (self.out / "plan.json").write_text(json.dumps(self.plan.to_json(), indent=1), encoding="utf-8")
        print(self.plan.describe(), flush=True)
        # the console's database on its own small filesystem (root: this is a fault harness)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DBFS_SIZE},mode=0700", "tmpfs", str(self.dbfs)], check=True
        )
        self._mounted = True
        # the solo unit in its own network namespace, through a second listener of the broker
        self.netns.open()
        ns_port = free_port()
        conf = self.broker.dir / "mosquitto.conf"
        conf.write_text(conf.read_text() + f"\nlistener {ns_port} {self.netns.host_addr}\n")
        solo = self.shards[-1]
        assert isinstance(solo, SoloUnit)
        solo.prefix = tuple(self.netns.prefix())
        solo.broker_addr = (self.netns.host_addr, ns_port)
        self.broker.start()
        self.recorder = Recorder(self.broker.creds("observer"), self.out).start()
        self.console.start()
        self.console.wait_ready(60)
        for s in self.shards:
            s.start()
        for s in self.shards:
            s.wait_ready(120)
        self.leads = Leads(self.broker, self.plan.seed, self.out).start()
        self.recorder.listeners.append(self.leads.on_message)
        self.hostile = Hostile(self.broker, self.out, list(self.plan.units))
        self.say(
            f"up: broker :{self.broker.port}, console, {len(self.shards)} shard(s), leads; output {self.out}"
        )

    def shutdown(self) -> None:
        """Leave nothing running: continue stopped processes, stop everything in order."""
        for name in list(self._stopped):
            self._signal(name, signal.SIGCONT)
        steps: list[tuple[str, Callable[[], object]]] = [
            # the leads first: an acknowledgement while the units shut down would never reach a LED
            ("leads", self.leads.stop if self.leads else lambda: None),
            ("settle", lambda: time.sleep(SETTLE_S)),
            *[(f"shard {s.index}", s.stop) for s in self.shards],
            ("hostile", self.hostile.close if self.hostile else lambda: None),
            ("console", self.console.terminate),
            ("recorder", self.recorder.stop if self.recorder else lambda: None),
            ("broker", self.broker.stop),
            ("database", self._keep_database),
            ("netns", self.netns.close),
        ]
        for what, fn in steps:
            try:
                fn()
            except Exception as exc:
                self.errors.append(f"stopping {what}: {exc!r}")
        self.faults_log.close()
        self.presses_log.close()

    def _keep_database(self) -> None:
        """Copy the console's database off its tmpfs (kept for the checker), then unmount."""
        if not self._mounted:
            return
        (self.dbfs / "filler").unlink(missing_ok=True)
        for f in self.dbfs.glob("console.db*"):
            shutil.copy2(f, self.out / f.name)
        subprocess.run(["umount", str(self.dbfs)], check=False)
        self._mounted = False

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> dict[str, object]:
        started = time.time()
        try:
            self.start()
            self.t0 = time.monotonic()
            threads = [threading.Thread(target=self._fault, args=(f,), daemon=True) for f in self.plan.faults]
            for t in threads:
                t.start()
            flusher = threading.Thread(target=self._flush_loop, daemon=True)
            flusher.start()
            self.phases["start"] = time.time()
            self._presses()
            for t in threads:
                t.join(120)
            self.phases["press_end"] = time.time()
            self.say("press phase over; draining (every stored press needs its receipt)")
            drained = self._drain()
            self.phases["drain_end"] = time.time()
            self.say(f"drained: {drained}")
        except KeyboardInterrupt:
            self.errors.append("interrupted (Ctrl-C): the run is incomplete")
            print("\n[soak] interrupted: stopping every process; the captures so far are checked", flush=True)
        except Exception:
            self.errors.append(traceback.format_exc())
            print(self.errors[-1], flush=True)
        finally:
            self._done = True
            self.shutdown()
        summary: dict[str, object] = {
            "seed": self.plan.seed,
            "duration_s": self.plan.duration_s,
            "units": len(self.plan.units),
            "shards": self.plan.shards,
            "started": started,
            "wall_s": round(time.time() - started, 1),
            "phases": self.phases,
            "errors": self.errors,
            "observer_messages": self.recorder.count if self.recorder else 0,
        }
        (self.out / "run.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        return summary

    _done = False

    def _flush_loop(self) -> None:
        while not self._done:
            for s in self.shards:
                s.flush()
            time.sleep(0.5)

    def _sleep_until(self, at: float) -> None:
        delay = self.t0 + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _presses(self) -> None:
        timeline: list[tuple[float, int, str, str, str]] = []  # at, action, kind, unit, verb
        for i, p in enumerate(self.plan.presses):
            if p.kind in ("repeat", "test"):
                t = p.at
                if p.kind == "test":
                    timeline.append((t, i, p.kind, p.units[0], "window"))
                    t += p.gaps[0]
                timeline.append((t, i, p.kind, p.units[0], "press"))
                for g in p.gaps[1 if p.kind == "test" else 0 :]:
                    t += g
                    timeline.append((t, i, p.kind, p.units[0], "press"))
            else:
                timeline += [(p.at, i, p.kind, u, "press") for u in p.units]
        timeline.sort()
        scopes = {i: p.scope for i, p in enumerate(self.plan.presses)}
        for at, i, kind, unit, verb in timeline:
            self._sleep_until(at)
            if verb == "window":
                assert self.leads is not None
                self.leads.open_test_window(unit, scopes[i])
                continue
            ok = self.shard_of_unit[unit].send(f"press {unit}")
            rec = {"t": round(time.time(), 6), "action": i, "kind": kind, "unit": unit, "sent": ok}
            self.presses_log.write(rec)
        self._sleep_until(self.plan.duration_s)

    def _drain(self) -> str:
        deadline = time.monotonic() + DRAIN_S
        missing: set[str] = set()
        while time.monotonic() < deadline:
            for s in self.shards:
                s.flush()
            missing = set().union(*(s.stored - s.receipted for s in self.shards))
            # a receipt line can die with its unit (unit_kill): its outbox says whether it is held
            lines_lost: set[str] = set()
            for s in self.shards:
                held = s.held() if s.stored - s.receipted else None
                lines_lost |= (s.stored - s.receipted - held) if held is not None else set()
            if not missing - lines_lost:
                lost = f" ({len(lines_lost)} by the unit's outbox only)" if lines_lost else ""
                return f"every stored press receipted{lost} after {time.monotonic() - self.t0:.1f} s"
            time.sleep(0.5)
        return f"{len(missing)} stored press(es) without a receipt after {DRAIN_S:.0f} s of drain"

    # -- faults ----------------------------------------------------------------------------------
    def _signal(self, name: str, sig: signal.Signals) -> None:
        pid = self.broker.pid if name == "broker" else (self.console.proc.pid if self.console.proc else None)
        if pid is None:
            return
        try:
            if name == "console":
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGSTOP:
            self._stopped.add(name)
        elif sig == signal.SIGCONT:
            self._stopped.discard(name)

    def _fault(self, f: Fault) -> None:
        self._sleep_until(f.at)
        lock = self.locks[f.target]
        with lock:  # one fault at a time per target; different targets overlap freely
            start = time.time()
            note = ""
            try:
                note = apply(self, f)
            except Exception as exc:
                note = f"failed: {exc!r}"
                self.errors.append(f"fault {f.describe()}: {exc!r}")
            end = time.time()
        rec = {"kind": f.kind, "target": f.target, "planned_at": f.at, "down_s": f.down_s,
               "start": round(start, 6), "end": round(end, 6), "note": note}  # fmt: skip
        rec.update(self._extra.pop(id(f), {}))
        self.faults_log.write(rec)
        self.say(f"fault {f.kind} {f.target}: {end - start:.1f} s {note}")
