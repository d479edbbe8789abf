"""Scenario `flood`: one unit's credentials flood the console; how long does another unit's press take?

A hostile client logs in as one desk unit (its own username and password) and publishes
alarm events with fresh ids (QoS1) and heartbeats (QoS0) back to back, about 1 KB per
event as in finding 5, up to `FLOOD` of each. While it does, other units press one after
the other (each a new incident); the figure is press → the lead's notification (capture
receive time minus publish time, one clock). Baseline: the same presses in the same run
just before the flood starts. Target: p99 under the flood within 2x the quiet p99.

Two layers stop the flood: the broker's per-login publish limit ([broker] publish_burst,
publish_rate_per_s; broker_config/clientid_plugin.c) drops most of it before the console has to
read it, and the console's per-unit intake limit (console/intake.py) counts what gets through.

Also reported: how many flooded messages the broker dropped (from its log), how many rows the
flood added to the log (`events` + `received`) against the flooded events, and how many flood
notices facilities got (one expected).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from bench.contention import CpuHog
from bench.ctx import Ctx, facilities
from bench.report import Row
from bench.stats import Stats
from bench.system import PY, Capture, Msg
from stilalarm.devkit.localsystem import LocalSystem
from stilalarm.devkit.servicerun import ScriptedUnit
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory import load_site
from stilalarm.wire.topics import PersonChannel

SC = "flood"
FLOOD = 20_000


def _rows(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "received"))
    finally:
        con.close()


def _broker_dropped(log: Path, user: str) -> int:
    """The running total in the broker's last limiting line for `user` (0: never limited)."""
    totals = re.findall(
        rf"login '{re.escape(user)}' is over its publish limit .*?(\d+) in total",
        log.read_text(errors="replace") if log.exists() else "",
    )
    return int(totals[-1]) if totals else 0


def _press_latencies(ls: LocalSystem, cap: Capture, units: list[str], leads: set[str]) -> list[float]:
    """Press each unit once (a new incident each); ms from publish to the first lead notification."""
    out: list[float] = []
    for uid in units:
        u = ScriptedUnit(ls.broker.creds(f"unit-{uid}"), uid).start()
        try:
            mark = cap.mark()
            t0 = time.time()
            u.press()

            def alarm_for(m: Msg, uid: str = uid) -> bool:
                if not m.topic.endswith("/notify") or m.topic.split("/")[-2] not in leads:
                    return False
                o = m.json()
                return bool(o.get("reason") == "alarm" and o.get("unit_id") == uid)

            note = cap.wait(alarm_for, 120, f"the lead's notification for {uid}", mark)
            out.append((note.at - t0) * 1000)
        finally:
            u.stop()
        time.sleep(0.05)
    return out


def run_flood(ctx: Ctx, busy: bool = False) -> None:
    """busy: the same with a CPU-bound competitor running from the first measured press on."""
    res = ctx.res
    sc = f"{SC} busy" if busy else SC
    d = ctx.dir(sc.replace(" ", "-"))
    n = ctx.n(60, 10)
    flood_n = ctx.n(FLOOD, 4000)
    site_file = d / "site.toml"
    ids = write_many_units(ctx.site_path, 2 * n + 1, site_file)
    hostile_id, quiet, loud = ids[0], ids[1 : n + 1], ids[n + 1 :]
    site = load_site(site_file)
    # the production limits; only the broker's limiting lines come every second (not minute),
    # so the count of dropped messages in its log is complete when we read it
    site = site.model_copy(update={"broker": site.broker.model_copy(update={"publish_limit_log_s": 1})})
    room_team = site.room(site.unit(quiet[0]).room).team
    leads = set(next(t for t in site.teams if t.id == room_team).leads)
    fac = facilities(site)
    ls = LocalSystem(site, site_file, d / "run")
    t = ls.topics
    cap: Capture | None = None
    hostile: JsonLineProcess | None = None
    hog: CpuHog | None = None
    try:
        ls.start_broker()
        cap = Capture().start(ls.broker, [t.all_people(PersonChannel.NOTIFY), t.console_status()])
        ls.start_console()
        cap.wait(lambda m: m.topic == t.console_status() and b'"online"' in m.payload, 30, "console online")
        # the generated units never beat: let their "silent" notices pass before measuring
        time.sleep(3 * 5 + 5)
        if busy:
            hog = CpuHog().__enter__()
        quiet_ms = _press_latencies(ls, cap, quiet, leads)

        hostile = JsonLineProcess(
            [
                PY,
                "-m",
                "tests.flood",
                "--broker-dir",
                str(ls.broker.dir),
                "--unit",
                hostile_id,
                "--n",
                str(flood_n),
            ],
            d / "flood.log",
        )
        hostile.wait_for("ready", timeout=60)  # its first alarm opened an incident, as always
        rows_before = _rows(ls.db)
        t_flood = time.monotonic()
        hostile.send("go")
        time.sleep(0.2)  # the flood is on its way
        loud_ms = _press_latencies(ls, cap, loud, leads)
        flooding_s = time.monotonic() - t_flood
        overlapped = not hostile.find("sent")
        [sent_line] = hostile.wait_for("sent", timeout=300)
        sent = [int(sent_line["n"])]
        [done] = hostile.wait_for("receipted", timeout=400)
        receipted = int(done["n"])
        time.sleep(2)  # the broker logs a limited login's last drops within its log interval
        rows_added = _rows(ls.db) - rows_before
        dropped = _broker_dropped(ls.broker.log_path, f"unit-{hostile_id}")

        def flood_note(m: Msg) -> bool:
            if not m.topic.endswith("/notify") or m.topic.split("/")[-2] not in fac:
                return False
            o = m.json()
            body = str(o.get("body", ""))
            flood_words = "too many messages" in body or "te veel berichten" in body
            return bool(o.get("reason") == "fault" and o.get("unit_id") == hostile_id and flood_words)

        notices = [m for m in cap.since(0) if flood_note(m)]
        per_person = len(notices) / max(1, len(fac))
        hog_pct = hog.cpu_pct() if hog is not None else None
    finally:
        if hog is not None:
            hog.__exit__(None, None, None)
        if hostile is not None:
            hostile.close()
        if cap is not None:
            cap.stop()
        ls.stop()

    q, f = Stats.of(quiet_ms), Stats.of(loud_ms)
    res.add(
        Row(
            sc,
            f"another unit's press → lead notified, p99 under a one-unit flood (n={f.n})",
            f.p99,
            "ms",
            q.p99,
            f"same presses without the flood (n={q.n})",
            "≤ 2× baseline",
            f.p99 <= 2 * q.p99,
            quiet=ctx.quiet.get("flood_p99") if busy else None,
        )
    )
    if not busy:
        ctx.quiet["flood_p99"] = f.p99
    res.add(Row(sc, "press → lead notified, p50 under the flood", f.p50, "ms", q.p50, "without the flood"))
    res.add(
        Row(
            sc,
            f"log rows added by {sent[0]:,} flooded alarm events",
            float(rows_added),
            "rows",
            float(sent[0]),
            "one row per event (before the limit)",
            "≪ 1 per event",
            rows_added < sent[0] / 10,
        )
    )
    res.add(
        Row(
            sc,
            f"flooded messages dropped at the broker (of {2 * sent[0]:,} events + heartbeats)",
            float(dropped),
            "msgs",
            target="most of them",
            met=dropped > sent[0],
        )
    )
    res.add(Row(sc, "flood notices per facilities person", per_person, "", target="= 1", met=per_person == 1))
    res.note(
        sc,
        f"Flood: {sent[0]:,} alarm events + {sent[0]:,} heartbeats from one unit's login "
        f"({'still flooding when the last measured press was notified' if overlapped else 'flood finished'} "
        f"after {flooding_s:.1f} s); "
        f"{dropped:,} flooded messages dropped at the broker (per-login publish limit), "
        f"{receipted:,} alarm events reached the console and were receipted (counted). Quiet: {q.fmt()}; "
        f"flood: {f.fmt()}."
        + (
            f" A CPU-bound competitor ran from the first measured press on ({hog_pct:.0f} % of a core)."
            if hog_pct is not None
            else ""
        ),
    )
