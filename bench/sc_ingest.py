"""Scenario `sustained`: alarm events at increasing offered rates into the real service until the
latency degrades, then a flood as fast as the C clients publish.

Load: one `mosquitto_pub -l` per unit (4 units), fed by this process at a paced rate (chunks every
10 ms). Every event is an alarm with a new event id; the service stores each one (fsync'd group
commit) and receipts it. A `mosquitto_sub -F '%U %p'` stamps every receipt with its receive time;
latency = receipt received - event handed to mosquitto_pub (same host clock). Events from a unit
with an open incident join it (`press_repeated`): each is still validated, deduplicated, logged
and receipted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.ctx import Ctx, desk_units
from bench.fw_proc import cpu_s
from bench.modes import QUIET, Mode, compete, start_system, throttle_note
from bench.report import Row
from bench.stats import Stats
from bench.system import Capture
from stilalarm.broker_config.local import high_publish_limit
from stilalarm.devkit.localsystem import LocalSystem
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.messages import EventKind, UnitEvent, encode, utcnow
from stilalarm.wire.topics import UnitChannel

P99_LIMIT_MS = 100.0


def _eid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


@dataclass
class Step:
    offered: float
    sent: int
    received: int
    achieved: float
    lat: Stats
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Held: every event receipted, p99 within the limit, and the bench really offered the
        rate (its own pacing kept up, >= 98 %: it runs beside the competitor in the busy mode)."""
        return (
            self.received == self.sent
            and self.lat.p99 <= P99_LIMIT_MS
            and self.sent >= 0.98 * self.offered * self.seconds
        )


class Load:
    def __init__(self, ls: LocalSystem, units: list[str], buttons: dict[str, str], out: Path) -> None:
        pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
        if not (pub and sub):
            raise RuntimeError("apt-get install -y mosquitto-clients")
        self.units = units
        self.written: list[float] = []
        t = ls.topics
        obs = ls.broker.creds("observer")
        self.out = out
        self._fh = out.open("wb")
        self.sub = subprocess.Popen(
            [
                *(sub, "-h", obs.host, "-p", str(obs.port), "-u", obs.username, "-P", obs.password),
                *("-i", cid_for(obs.username, "bench-receipts"), "-q", "1"),
                *("-t", t.all_units(UnitChannel.RECEIPT), "-F", "%U %p"),
            ],
            stdout=self._fh,
        )
        self.pubs: dict[str, subprocess.Popen[bytes]] = {}
        self.tpl: dict[str, bytes] = {}
        now = utcnow()
        for u in units:
            c = ls.broker.creds(f"unit-{u}")
            self.pubs[u] = subprocess.Popen(
                [
                    *(pub, "-h", c.host, "-p", str(c.port), "-u", c.username, "-P", c.password),
                    *("-i", cid_for(c.username, "bench-load"), "-q", "1", "-t", t.unit_event(u), "-l"),
                ],
                stdin=subprocess.PIPE,
            )
            ev = UnitEvent(
                event_id=uuid.UUID(_eid(999_999_999_999)),
                unit_id=u,
                kind=EventKind.ALARM,
                button_id=buttons[u],
                seq=1,
                boot_id=uuid.uuid4(),
                occurred_at=now,
                sent_at=now,
            )
            self.tpl[u] = encode(ev).replace(b'"seq":1,', b'"seq":SEQ,')
        self._offset = 0
        time.sleep(0.5)  # clients connected, receipt subscription made

    def _line(self, i: int) -> tuple[str, bytes]:
        u = self.units[i % len(self.units)]
        b = self.tpl[u].replace(_eid(999_999_999_999).encode(), _eid(i).encode())
        return u, b.replace(b"SEQ", str(i + 1).encode()) + b"\n"

    def send(self, n: int) -> None:
        """Hand the next n events to the publishers now."""
        chunks: dict[str, list[bytes]] = {u: [] for u in self.units}
        start = len(self.written)
        for i in range(start, start + n):
            u, line = self._line(i)
            chunks[u].append(line)
        now = time.time()
        self.written.extend([now] * n)
        for u, lines in chunks.items():
            if lines:
                stdin = self.pubs[u].stdin
                assert stdin is not None
                stdin.write(b"".join(lines))
                stdin.flush()

    def receipts(self) -> list[tuple[int, float]]:
        """New (event index, receive time) since the last call."""
        self._fh.flush()
        with self.out.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self._offset += cut
        got = []
        for raw in data[:cut].splitlines():
            ts, _, payload = raw.partition(b" ")
            try:
                eid = json.loads(payload)["event_id"]
                got.append((int(eid[-12:]), float(ts)))
            except (ValueError, KeyError):
                continue
        return got

    def close(self) -> None:
        for p in self.pubs.values():
            if p.stdin is not None:
                p.stdin.close()
        for p in [*self.pubs.values(), self.sub]:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self._fh.close()


def step(load: Load, rate: float, seconds: float, drain_s: float) -> Step:
    first = len(load.written)
    t0 = time.monotonic()
    sent = 0
    while (el := time.monotonic() - t0) < seconds:
        due = int(rate * el) - sent
        if due > 0:
            load.send(due)
            sent += due
        time.sleep(0.01)
    last = first + sent
    got: dict[int, float] = {}
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        for i, ts in load.receipts():
            if first <= i < last and i not in got:
                got[i] = ts
        if len(got) >= sent:
            break
        time.sleep(0.1)
    lat = Stats.of([(ts - load.written[i]) * 1000 for i, ts in got.items()])
    span = (max(got.values()) - load.written[first]) if got else float("inf")
    return Step(rate, sent, len(got), len(got) / span if span > 0 else 0.0, lat, seconds)


def burst(load: Load, n: int, timeout: float) -> Step:
    """Hand n events to the publishers at once; events/s from that moment to the last receipt."""
    first = len(load.written)
    load.send(n)
    got: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < n:
        for i, ts in load.receipts():
            if i >= first:
                got[i] = ts
        time.sleep(0.1)
    span = (max(got.values()) - load.written[first]) if got else float("inf")
    lat = Stats.of([(ts - load.written[i]) * 1000 for i, ts in got.items()])
    return Step(float("inf"), n, len(got), len(got) / span, lat)


LADDER = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 14000, 16000]
LADDER_PI = [100, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000]


def run_sustained(ctx: Ctx, mode: Mode = QUIET) -> None:
    site = ctx.site
    d = ctx.dir(f"sustained-{mode.name}")
    # hundreds of events per second per unit login: this measures the console, so the broker's
    # per-login publish limit (which the flood scenario measures) is raised out of the way
    ls = LocalSystem(high_publish_limit(site), ctx.site_path, d / "run")
    t = ls.topics
    cap = Capture()
    load: Load | None = None
    res = ctx.res
    sc = mode.scenario("sustained")
    with ExitStack() as stack:  # closes after the finally below: quota groups go once all stopped
        try:
            quotas = start_system(
                ls,
                mode,
                stack,
                lambda: cap.start(
                    ls.broker, [t.console_status()], client_id=cid_for("observer", "bench-ingest-cap")
                ),
            )
            cap.wait(lambda m: b'"online"' in m.payload, 60, "console online")
            units = desk_units(site)[:4]
            buttons = {u: site.unit(u).buttons[0].id for u in units}
            load = Load(ls, units, buttons, d / "receipts.txt")
            step(load, 200, 1.0, 10)  # warm-up: open the incidents
            hog = compete(mode, stack)
            if ctx.quick:
                rates = [100, 250] if mode.pi4 else [1000, 3000]
            else:
                rates = LADDER_PI if mode.pi4 else LADDER
            secs = ctx.n(5, 2)
            steps: list[Step] = []
            for r in rates:
                s = step(load, r, secs, max(10.0, 3 * secs))
                steps.append(s)
                if not s.ok:
                    break
            good = [s for s in steps if s.ok]
            best = max((s.offered for s in good), default=0.0)
            n = ctx.n(10000, 2000) if mode.pi4 else ctx.n(30000, 5000)  # the Pi: a third, in time
            assert ls.console is not None and ls.broker.pid is not None
            c0, m0, w0 = cpu_s(ls.console.pid), cpu_s(ls.broker.pid), time.monotonic()
            flood = burst(load, n, 300)
            wall = time.monotonic() - w0
            ccpu = 100 * (cpu_s(ls.console.pid) - c0) / wall
            mcpu = 100 * (cpu_s(ls.broker.pid) - m0) / wall
            if quotas:
                res.note(sc, "sustained: " + throttle_note(quotas) + ".")
            hog_pct = hog.cpu_pct() if hog is not None else None
        finally:
            if load is not None:
                load.close()
            cap.stop()
            ls.stop()
    _rows(ctx, mode, sc, best, flood, rates[-1])
    table = "; ".join(
        f"{s.offered:,.0f}/s → {s.achieved:,.0f}/s, p50 {s.lat.p50:.1f} ms, p99 {s.lat.p99:.1f} ms"
        f"{'' if s.received == s.sent else f', {s.sent - s.received} not receipted in time'}"
        f"{'' if s.ok else ' (degraded)'}"
        for s in steps
    )
    res.note(
        sc,
        mode.tag("sustained")
        + f"Offered {secs:.0f} s per step, 4 units, `mosquitto_pub -l` (C) publishers: {table}. "
        f"Flood: {flood.received:,}/{flood.sent:,} receipted, {flood.achieved:,.0f} ev/s, latency "
        f"p50 {flood.lat.p50:.0f} ms, p99 {flood.lat.p99:.0f} ms; CPU during the flood: console "
        f"{ccpu:.0f} % of a core, mosquitto {mcpu:.0f} %."
        + (f" The competitor used {hog_pct:.0f} % of a core." if hog_pct is not None else ""),
    )


def _rows(ctx: Ctx, mode: Mode, sc: str, best: float, flood: Step, top: float) -> None:
    res, q = ctx.res, ctx.quiet
    q[mode.key("paced")], q[mode.key("flood")] = best, flood.achieved
    paced = f"highest paced rate held (all receipted, p99 ≤ {P99_LIMIT_MS:.0f} ms; ladder to {top:,.0f}/s)"
    flooded = f"flood of {flood.sent:,} events: stored + receipted"
    got = f"{flood.received}/{flood.sent}"
    base, base_busy = ctx.base.get("sub_rate"), ctx.base.get("sub_rate_busy")
    if mode.name == "quiet":
        res.add(Row(sc, paced, best, "ev/s", base, "bare paho subscriber", "≥ 10,000 ev/s", best >= 10000))
        ratio = flood.achieved / base if base else float("nan")
        res.add(
            Row(
                sc,
                flooded,
                flood.achieved,
                "ev/s",
                base,
                "bare paho subscriber",
                "≥ 0.4× bare subscriber",
                ratio >= 0.4,
                note=got,
            )
        )
    elif mode.busy:
        bare = base_busy / base if base and base_busy else None
        res.add(
            Row(
                sc,
                paced,
                best,
                "ev/s",
                base_busy,
                "bare paho subscriber, busy",
                quiet=q.get("paced"),
                bare_ratio=bare,
            )
        )
        ratio = flood.achieved / base_busy if base_busy else float("nan")
        res.add(
            Row(
                sc,
                flooded,
                flood.achieved,
                "ev/s",
                base_busy,
                "bare paho subscriber, busy",
                "≥ 0.3× bare subscriber (busy)",
                ratio >= 0.3,
                note=got,
                quiet=q.get("flood"),
                bare_ratio=bare,
            )
        )
    else:
        res.add(
            Row(
                sc,
                mode.what("sustained", paced),
                best,
                "ev/s",
                q.get("paced"),
                "full speed, same run",
                "≥ 10,000 ev/s",
                best >= 10000,
            )
        )
        res.add(
            Row(
                sc,
                mode.what("sustained", flooded),
                flood.achieved,
                "ev/s",
                q.get("flood"),
                "full speed, same run",
            )
        )
