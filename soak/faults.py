"""Applying one planned fault to the running soak (kill, hang, cut, fill, step, crash, absence,
hostile input); `soak.runner` calls `apply` from the fault's own thread and records the result."""

from __future__ import annotations

import errno
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from soak.schedule import Fault
from soak.site import SOLO_UNIT

if TYPE_CHECKING:
    from soak.runner import Soak

CRASH_WAIT_S = 60.0  # unit_crash_*: the press and (for a receipt) the console may take this long


def apply(soak: Soak, f: Fault) -> str:
    assert soak.hostile is not None and soak.leads is not None
    solo = soak.shards[-1]
    if f.kind == "net_cut":
        soak.netns.cut()
        time.sleep(f.down_s)
        soak.netns.restore()
        return ""
    if f.kind == "net_flap":
        rng = random.Random(f"flap:{soak.plan.seed}:{f.at}")
        downs: list[list[float]] = []
        end = time.monotonic() + f.down_s
        while time.monotonic() < end:
            soak.netns.cut()
            down_t = time.time()
            time.sleep(min(rng.uniform(0.2, 3.0), max(0.0, end - time.monotonic())))
            soak.netns.restore()
            downs.append([round(down_t, 6), round(time.time(), 6)])
            time.sleep(min(rng.uniform(0.2, 3.0), max(0.0, end - time.monotonic())))
        soak._extra[id(f)] = {"downs": downs}
        return f"{len(downs)} cut(s)"
    if f.kind == "disk_full":
        freed = fill_disk(soak.dbfs)
        time.sleep(f.down_s)
        (soak.dbfs / "filler").unlink(missing_ok=True)
        return f"{freed / 1e6:.1f} MB filled"
    if f.kind == "clock_step":
        soak._extra[id(f)] = {"offset_s": f.offset_s}
        if not solo.send(f"clock {SOLO_UNIT} {f.offset_s}"):
            return "not applied: the unit was down"
        time.sleep(f.down_s)
        if not solo.send(f"clock {SOLO_UNIT} 0"):
            return "the unit went down during the step (it restarts with a right clock)"
        return ""
    if f.kind in ("unit_crash_store", "unit_crash_receipt"):
        point = f.kind.rsplit("_", 1)[1]
        if not solo.send(f"crash {SOLO_UNIT} {point}"):
            return "not applied: the unit was down"
        if not solo.send(f"press {SOLO_UNIT}"):
            return "not pressed: the unit went down"
        assert solo.proc is not None
        note = ""
        try:
            solo.proc.proc.wait(CRASH_WAIT_S)
        except subprocess.TimeoutExpired:
            note = f"no crash within {CRASH_WAIT_S:.0f} s (no {point} yet): killed"
        solo.kill()
        crash = [x for x in solo.last_lines if x.get("event") == "crashing"]
        if crash:
            note = f"event {crash[-1]['event_id']}"
            soak._extra[id(f)] = {"event_id": crash[-1]["event_id"]}
        time.sleep(f.down_s)
        solo.start()
        solo.wait_ready(120)
        return note
    if f.kind == "lead_absent":
        person = f.target.split("-", 1)[1]
        soak._extra[id(f)] = {"person": person}
        extra: dict[str, object] = {"person": person}
        soak._extra[id(f)] = extra
        if not soak.leads.set_present(person, False, 60):
            return "absence not confirmed within 60 s"
        extra["absent_at"] = round(time.time(), 6)  # the console's presence said so
        time.sleep(f.down_s)
        if not soak.leads.set_present(person, True, 120):
            return "presence not confirmed within 120 s"
        extra["present_at"] = round(time.time(), 6)
        return ""
    if f.kind == "broker_kill":
        soak.broker.kill()
        time.sleep(f.down_s)
        soak.broker.start()
        return ""
    if f.kind in ("broker_stop", "console_stop"):
        soak._signal(f.target, signal.SIGSTOP)
        time.sleep(f.down_s)
        soak._signal(f.target, signal.SIGCONT)
        return ""
    if f.kind == "console_kill":
        soak.console.kill()
        time.sleep(f.down_s)
        soak.console.start()
        try:
            soak.console.wait_ready(60)
        except TimeoutError:
            return "console not ready within 60 s of its restart"
        return ""
    if f.kind == "unit_kill":
        shard = solo
        if not shard.send(f"press {SOLO_UNIT}"):
            return "not pressed: the unit was down"
        before = {x.get("event_id") for x in shard.lines() if x.get("event") == "alarm_stored"}
        time.sleep(f.kill_after_ms / 1000)
        shard.kill()
        lines = shard.last_lines
        new = [
            x["event_id"] for x in lines if x.get("event") == "alarm_stored" and x["event_id"] not in before
        ]
        got = {x.get("event_id") for x in lines if x.get("event") == "receipt"}
        moment = (
            "before the stored line"
            if not new
            else ("after the receipt" if new[0] in got else "between the stored line and the receipt")
        )
        time.sleep(f.down_s)
        shard.start()
        shard.wait_ready(120)
        return f"killed {moment}"
    if f.kind == "sim_kill":
        shard = soak.shards[int(f.target.split("-")[1])]
        shard.kill()
        time.sleep(f.down_s)
        shard.start()
        shard.wait_ready(120)
        return ""
    victim = soak.plan.units[int(f.at * 1000) % len(soak.plan.units)]
    if f.kind == "hostile_malformed":
        soak.hostile.malformed(victim)
    elif f.kind == "hostile_spoof":
        soak.hostile.spoof(victim, soak.leads.open_incidents())
    elif f.kind == "hostile_flood":
        soak.hostile.flood()
    return f"victim {victim}" if f.kind != "hostile_flood" else ""


def fill_disk(dbfs: Path) -> int:
    """A filler file takes every free byte of the database's tmpfs; returns its size."""
    written = 0
    with (dbfs / "filler").open("wb", buffering=0) as fh:
        for chunk in (4 << 20, 4096, 512, 1):
            block = bytes(chunk)
            while True:
                try:
                    n = fh.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n or 0
                if not n:
                    break
    return written
