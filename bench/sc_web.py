"""Scenario `web`: alarm-web beside the console, measured next to desk units in the same run.

One system: broker, console, alarm-sim for 200 wired desk units, alarm-web for 200 desk phones in
the same rooms. Interleaved, one every 250 ms: a desk unit's press (alarm-sim, the real firmware;
counted from the control line + the button's min hold, the earliest moment the firmware may take
it) and a phone's press (an HTTP GET as a phone sends it, counted from the request), each to the
first notification at the observer; the second half of the rooms with a CPU-bound competitor
running. Then a burst of 1,000 requests from 100 phones at once: every answer, its latency, and
whether the console stored every press (0 lost). alarm-web's peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from bench import webload
from bench.contention import CpuHog
from bench.ctx import Ctx
from bench.report import Row
from bench.stats import Stats
from bench.system import Capture
from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.store import Store
from stilalarm.devkit.localsystem import SimProcess, script
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.devkit.webrun import WebProcess, tokens
from stilalarm.inventory.load import parse_site
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.topics import PersonChannel, Topics

SC = "web"
MIN_HOLD_S = 0.05  # the generated desk units' button: the default min_hold_ms


def web_site_toml(base: str, k: int) -> str:
    """`base` (with a [web] section) plus k rooms, each with a wired desk unit and a desk phone."""
    blocks = [base.rstrip(), ""]
    for i in range(k):
        room = f"bw-{i:03d}"
        blocks += [
            "[[rooms]]",
            f'id = "{room}"',
            f'label = "Balie W{i}"',
            'kind = "balie"',
            'team = "burgerzaken"',
            "",
            "[[units]]",
            f'id = "dw-{i:03d}"',
            f'room = "{room}"',
            'buttons = [{ id = "knop", contact = "no", pin = 5 }]',
            "",
            "[[units]]",
            f'id = "pw-{i:03d}"',
            f'room = "{room}"',
            'via = "phone"',
            "",
            "[[web.tokens]]",
            f'id = "tw-{i:03d}"',
            f'unit = "pw-{i:03d}"',
            "",
        ]
    return "\n".join(blocks)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _first_notice(cap: Capture, mark: int) -> dict[str, float]:
    """Unit id -> when the first alarm notification about it arrived."""
    first: dict[str, float] = {}
    for m in cap.since(mark):
        try:
            n = m.json()
        except ValueError:
            continue
        uid = n.get("unit_id")
        if n.get("reason") == "alarm" and uid and uid not in first:
            first[uid] = m.at
    return first


def _interleaved(
    sim: SimProcess, web: WebProcess, cap: Capture, secret: dict[str, str], rooms: range
) -> tuple[Stats, Stats, Stats, int]:
    """A desk unit's press, then a phone's, every 250 ms, one pair per room: each to its first
    notification; the HTTP answers; how many presses got no notification."""
    mark = cap.mark()
    sent: dict[str, float] = {}
    answered: list[float] = []
    # like a phone: a new TCP connection per press (the client itself is made once: building
    # httpx's TLS defaults costs ~30 ms of the bench's own CPU per client)
    phone = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30)
    nxt = time.monotonic()
    for i in rooms:
        sim.send(f"press dw-{i:03d}")
        sent[f"dw-{i:03d}"] = time.time() + MIN_HOLD_S
        nxt += 0.25
        time.sleep(max(0.0, nxt - time.monotonic()))
        t0 = time.time()
        r = phone.get(f"{web.url}/phone/press", params={"token": secret[f"tw-{i:03d}"]})
        answered.append((time.time() - t0) * 1000)
        if r.status_code == 200:
            sent[f"pw-{i:03d}"] = t0
        nxt += 0.25
        time.sleep(max(0.0, nxt - time.monotonic()))
    phone.close()
    cap.wait_count(lambda m: b'"alarm"' in m.payload, 2 * len(rooms), 60, mark)
    first = _first_notice(cap, mark)
    desk = Stats.of([(first[u] - t) * 1000 for u, t in sent.items() if u.startswith("dw-") and u in first])
    http = Stats.of([(first[u] - t) * 1000 for u, t in sent.items() if u.startswith("pw-") and u in first])
    return desk, http, Stats.of(answered), 2 * len(rooms) - sum(1 for u in sent if u in first)


def _presses_stored(db: Path, units: set[str]) -> int:
    """Presses of these units the console stored (an alarm, or counted into a repeat)."""
    n = 0
    for (data,) in Store(db, readonly=True).db.execute("SELECT data FROM events"):
        f = json.loads(data)
        if f.get("unit_id") in units and f.get("kind") == "alarm_received":
            n += 1
        elif f.get("unit_id") in units and f.get("kind") == "press_repeated":
            n += int(f.get("count", 1))
    return n


def run_web(ctx: Ctx) -> None:
    d = ctx.dir("web")
    k = ctx.n(200, 40)  # rooms: the first half pressed quiet, the second busy
    burst_phones = ctx.n(100, 20)
    per = 10  # the default rate_burst of a token: all answered at once
    site_file = d / "site.toml"
    site_file.write_text(web_site_toml(ctx.site_path.read_text(encoding="utf-8"), k), encoding="utf-8")
    site = parse_site(site_file.read_text(encoding="utf-8"))
    topics = Topics(site.site.id)
    broker = LocalBroker(site, d / "broker")
    broker.start()
    console = ServiceProcess(site_file, d / "console.db", broker.dir, d / "console.log")
    web = WebProcess(broker.dir, d / "web-state", d / "web.log")
    desks = [f"dw-{i:03d}" for i in range(k)]
    phones = [f"pw-{i:03d}" for i in range(k)]
    cap = Capture().start(
        broker, [topics.all_people(PersonChannel.NOTIFY)], client_id=cid_for("observer", "bench-web")
    )
    sim: SimProcess | None = None
    res = ctx.res
    try:
        console.start()
        console.wait_ready(60)
        web.start().wait_ready(60)
        sim = SimProcess(
            [
                script("alarm-sim"),
                *("--site", str(site_file), "--broker-dir", str(broker.dir)),
                *("--units", ",".join(desks), "--state-dir", str(d / "sim")),
            ],
            d / "sim.log",
        )
        sim.wait(lambda ln: ln.get("event") == "ready", 120, "alarm-sim ready")
        secret = tokens(broker.dir)
        half = k // 2 if ctx.busy else k
        desk, http, answered, missing = _interleaved(sim, web, cap, secret, range(half))
        ok99 = http.p99 <= 2 * desk.p99
        res.add(Row(SC, "desk-unit press → first notification, p50", desk.p50, "ms"))
        res.add(Row(SC, "desk-unit press → first notification, p99", desk.p99, "ms"))
        res.add(
            Row(
                SC,
                "HTTP press → first notification, p50",
                http.p50,
                "ms",
                desk.p50,
                "desk-unit press, same run",
            )
        )
        res.add(
            Row(
                SC,
                "HTTP press → first notification, p99",
                http.p99,
                "ms",
                desk.p99,
                "desk-unit press, same run",
                "≤ 2× desk unit",
                ok99,
            )
        )
        res.add(Row(SC, "HTTP press → answer (on disk), p50", answered.p50, "ms"))
        res.add(Row(SC, "HTTP press → answer (on disk), p99", answered.p99, "ms"))
        if ctx.busy:
            with CpuHog() as hog:
                bdesk, bhttp, banswered, bmissing = _interleaved(sim, web, cap, secret, range(half, k))
            busy = f"{SC} busy"
            res.add(Row(busy, "desk-unit press → first notification, p99", bdesk.p99, "ms", quiet=desk.p99))
            res.add(
                Row(
                    busy,
                    "HTTP press → first notification, p99",
                    bhttp.p99,
                    "ms",
                    bdesk.p99,
                    "desk-unit press, same run, busy",
                    "≤ 2× desk unit",
                    bhttp.p99 <= 2 * bdesk.p99,
                    quiet=http.p99,
                )
            )
            res.add(Row(busy, "HTTP press → answer (on disk), p99", banswered.p99, "ms", quiet=answered.p99))
            res.note(
                busy,
                f"The second half of the rooms with a CPU-bound competitor ({hog.n} busy process(es)) that "
                f"used {hog.cpu_pct():.0f} % of a core: desk {bdesk.fmt()}; HTTP {bhttp.fmt()}; presses "
                f"without a notification: {bmissing}.",
            )
        # -- the burst: per requests from each of 100 phones (rate_burst 10 per token), at once,
        # once every token's bucket is full again (the latency press took one; rate_per_s = 1)
        time.sleep(2.0)
        before = _presses_stored(console.db, set(phones))
        secrets = [secret[f"tw-{i:03d}"] for i in range(burst_phones)]
        n_burst = len(secrets) * per
        paths = [f"/phone/press?token={tok}" for tok in secrets for _ in range(per)]
        lat, codes, ids = asyncio.run(webload.burst(web.url, paths))
        b = Stats.of(lat)
        want = before + len(ids)

        def stored() -> int:
            return _presses_stored(console.db, set(phones))

        deadline = time.monotonic() + 120
        while stored() < want and time.monotonic() < deadline:
            time.sleep(0.5)
        lost = n_burst - codes.get(200, 0) + (want - stored())
        res.add(
            Row(
                SC,
                f"burst of {n_burst:,} requests ({burst_phones} phones × {per}): lost",
                float(lost),
                "",
                target="0",
                met=lost == 0,
            )
        )
        res.add(
            Row(SC, f"burst of {n_burst:,}: answer p99", b.p99, "ms", target="≤ 2,000 ms", met=b.p99 <= 2000)
        )
        assert web.proc is not None
        rss = _peak_rss_mb(web.proc.pid)
        res.add(Row(SC, "alarm-web peak RSS", rss, "MiB", target="≤ 80 MiB", met=rss <= 80))
        res.note(
            SC,
            f"{half} desk units (alarm-sim) and {half} desk phones in the same rooms, pressed interleaved "
            f"every 250 ms: desk {desk.fmt()}; HTTP {http.fmt()}; presses without a notification: {missing}. "
            f"Burst: {n_burst} GETs at once, one connection each (bench/webload.py, raw asyncio in the bench "
            f"process), answers "
            f"{dict(sorted(codes.items()))}, {b.fmt()}; the console stored {stored()} of {want} presses.",
        )
    finally:
        if sim is not None:
            sim.stop()
        web.terminate()
        console.terminate()
        cap.stop()
        broker.stop()
