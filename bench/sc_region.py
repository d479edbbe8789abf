"""Scenario `region` (issue 18, docs/HA.md "Region"): how far one 3-node NATS 2.9 cluster (JetStream
and its MQTT listener, `LocalRegion` on loopback) goes with many sites, one NATS account per site.

Steps of growing size, each on a fresh region: `sites` sites (`r01`, `r02`, ..., each the bench's
site plus `units` generated desk units, `many_units_toml`), one `alarm-console serve --ha a` per
site, one `alarm-sim` per site for its generated units, all on this machine next to the three
nodes. Per step, measured as the `ha` scenario's profiles measure one site (`_refused`,
`sc_site.collect`):

- the seconds until the nodes' CPU settles after the units' connect storm: under 15 % of a core
  (the ha scenario's `settle`) or, since a region's nodes have an idle floor that grows with the
  sites, steady (`flat`) with no unit or console subscription still refused;
- the units whose QoS1 subscriptions the broker refused at connect, and those (and consoles)
  still refused then;
- with everything connected and no press: the nodes' CPU and RSS, the consoles' RSS; the most
  files a node had open during the step (every QoS1 subscription is a replicated consumer with
  files of its own on each node);
- a few presses per site, interleaved over the sites: press -> first notification, press -> receipt.

A step fails when the nodes run out of open files, the consoles / units do not come up within
UP_S, an active console pauses, units stay refused, a press gets no receipt, or the nodes do not
settle within the bound; the region then stops growing and the note names that step and what broke
(with the nodes' own log lines counted, `trouble`). Every figure of a bigger step is paired with
the same run's 1-site step. Opt-in (`--only region`): the full plan takes about 15 minutes.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.ctx import Ctx
from bench.report import Row, fmt
from bench.sc_ha import _refused, _wait_log
from bench.sc_site import Presses, collect
from bench.stats import Stats
from bench.system import Capture, Msg, sample
from stilalarm.broker_config.local import BrokerError, LocalRegion, find_nats_server
from stilalarm.devkit.localsystem import SimProcess, script
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.devkit.sitegen import many_units_toml
from stilalarm.inventory import load_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel

SC = "region"
TTL = "3"  # --ha-ttl, as the ha scenario
QUICK_STEPS = ((1, 10), (3, 10))  # (sites, generated units per site)
FULL_STEPS = ((1, 25), (5, 25), (10, 25), (20, 25), (20, 50), (20, 75), (20, 100))
SETTLE_PCT = 15.0  # quiet: the nodes together under this % of a core over a window (ha's settle)
WINDOW_S = 2.0  # settle's window
UP_S = 150.0  # bound for every console to be active and every alarm-sim ready, from their start
PRESS_EVERY_S = 0.1  # presses interleaved over the sites at 10/s
SLOW_MS = 500.0  # a press slower than this (to its first notification) is named in the note

_REFUSED = re.compile(r"broker refused subscriptions of (\S+):")
_GRANTED = re.compile(
    r"(\S+): subscriptions granted on a retry|broker granted the subscriptions of (\S+) on a retry"
)
# what the nodes log when they run short: (label, text), counted per step over the 3 nodes' logs
OUT_OF_FILES = "too many open files"
TROUBLE = (
    (OUT_OF_FILES, OUT_OF_FILES),
    ("QoS1 subscriptions refused (consumer not created)", "Unable to add JetStream consumer"),
    ("consumers without quorum", "has NO quorum"),
    ("MQTT connects refused", "unable to connect:"),
    ("client read loops stalled > 2 s", "Readloop processing time"),
)


def site_ids(n: int) -> list[str]:
    """The region's site ids: r01, r02, ..."""
    return [f"r{i:02d}" for i in range(1, n + 1)]


def region_site_text(base: str, site_id: str) -> str:
    """`base` (a site.toml) with the id under [site] set to `site_id`."""
    out, n = re.subn(
        r'(?m)^(\[site\]\n(?:(?!\[)[^\n]*\n)*?id\s*=\s*)"[^"]*"', rf'\1"{site_id}"', base, count=1
    )
    if n != 1:
        raise ValueError("no id under [site] in the base site.toml")
    return out


def still_refused(log_text: str) -> set[str]:
    """Logins whose last word in a log (alarm-sim's or a console's) was a refused subscription: a
    refusal not followed by a grant on a retry."""
    last: dict[str, bool] = {}
    for line in log_text.splitlines():
        if m := _REFUSED.search(line):
            last[m.group(1)] = True
        elif m := _GRANTED.search(line):
            last[m.group(1) or m.group(2)] = False
    return {who for who, refused in last.items() if refused}


def flat(cpus: list[float], n: int = 4, tol: float = 5.0, rel: float = 0.1) -> bool:
    """Whether the last `n` windows' CPU (% of a core) lie within max(`tol`, `rel` × their median)
    of their median: no longer falling, what is left is the region's idle floor."""
    if len(cpus) < n:
        return False
    last = sorted(cpus[-n:])
    med = last[n // 2]
    return max(last[-1] - med, med - last[0]) <= max(tol, rel * med)


def trouble(log_text: str) -> dict[str, int]:
    """How often a node's log says it ran short (TROUBLE), by label; only those that occur."""
    out = {label: log_text.count(text) for label, text in TROUBLE}
    return {k: v for k, v in out.items() if v}


@dataclass
class Step:
    """What one region size measured (nan: not reached, the step ended before)."""

    sites: int
    units: int  # generated units per site
    start_s: float = math.nan  # region start and the captures subscribed
    up_s: float = math.nan  # consoles and alarm-sims started -> all active and ready
    settle_s: float = math.nan
    settle_cpu: float = math.nan  # the nodes' last settle window, % of a core
    settled: bool = False  # quiet, or steady with nothing still refused, within the bound
    refused: int = 0  # units refused at connect (any time before the presses)
    refused_still: int = 0  # units still refused when the presses began
    console_refused: int = 0  # consoles with a subscription still refused then
    paused: int = 0  # consoles that paused before the teardown (lease not renewed in time)
    nodes_cpu: float = math.nan  # the 3 nodes together, idle window, % of a core
    nodes_rss: float = math.nan  # MiB, the 3 together (peaks)
    node_files: float = math.nan  # open files of the busiest node, peak over the step
    file_limit: int = 0  # a node's limit (RLIMIT_NOFILE)
    consoles_cpu: float = math.nan
    consoles_rss: float = math.nan
    sims_cpu: float = math.nan
    presses: int = 0
    notify: list[float] = field(default_factory=list)
    receipt: list[float] = field(default_factory=list)
    lost: int = 0  # presses without a receipt
    error: str = ""  # what ended the step early
    nodes_said: dict[str, int] = field(default_factory=dict)  # trouble() over the 3 nodes' logs
    wall_s: float = math.nan
    teardown_s: float = math.nan

    @property
    def name(self) -> str:
        return f"{self.sites} site{'s' if self.sites > 1 else ''} × {self.units} units"


def limits(s: Step, settle_max_s: float) -> list[str]:
    """Why a step counts as beyond the cluster's reach (empty: it worked)."""
    why = []
    if s.nodes_said.get(OUT_OF_FILES):
        why.append(
            f"the nodes ran out of open files (limit {s.file_limit} per node; {s.nodes_said[OUT_OF_FILES]} "
            f"× '{OUT_OF_FILES}' in their logs)"
        )
    if s.error:
        why.append(s.error)
    if s.paused:
        why.append(f"{s.paused} of {s.sites} active consoles paused (lease not renewed in time)")
    if s.refused_still:
        why.append(f"{s.refused_still} unit(s) still refused when the presses began")
    if s.console_refused:
        why.append(f"{s.console_refused} console(s) with a subscription still refused")
    if s.lost:
        why.append(f"{s.lost} of {s.presses} presses without a receipt")
    if not s.error and not s.settled:
        why.append(
            f"the nodes' CPU did not settle within {settle_max_s:.0f} s "
            f"({s.settle_cpu:.0f} % of a core at the end)"
        )
    return why


class _SiteBroker:
    """One site of a region as `Capture` wants its broker: `creds(user)` on node 1."""

    def __init__(self, region: LocalRegion, site_id: str) -> None:
        self.region, self.site_id = region, site_id

    def creds(self, user: str) -> BrokerCredentials:
        return self.region.creds(user, 0, self.site_id)


def run_region(ctx: Ctx) -> None:
    find_nats_server()  # a missing nats-server fails the scenario with how to install it
    plan = QUICK_STEPS if ctx.quick else FULL_STEPS
    settle_max_s = ctx.n(90, 45)
    base = ctx.site_path.read_text(encoding="utf-8")
    done: list[Step] = []
    failed: tuple[Step, list[str]] | None = None
    for sites, units in plan:
        print(f"   region: {sites} sites × {units} units ...", flush=True)
        s = _step(ctx, base, sites, units, settle_max_s)
        why = limits(s, settle_max_s)
        print(
            f"   region: {s.name}: {s.wall_s:.0f} s (start {s.start_s:.0f}, up {s.up_s:.0f}, settle "
            f"{s.settle_s:.0f}, teardown {s.teardown_s:.0f}): {'; '.join(why) or 'ok'}",
            flush=True,
        )
        _rows(ctx, s, done[0] if done else None)
        if why:
            failed = (s, why)
            break
        done.append(s)
    _note(ctx, plan, done, failed, settle_max_s)


def _step(ctx: Ctx, base: str, n_sites: int, n_units: int, settle_max_s: float) -> Step:
    """One region of `n_sites` × `n_units`; every process it starts is killed before it returns."""
    t0 = time.monotonic()
    s = Step(n_sites, n_units)
    d = ctx.dir(f"region-{n_sites}x{n_units}")
    ids = site_ids(n_sites)
    text = many_units_toml(base, n_units)
    units = [f"sim-{i:04d}" for i in range(n_units)]
    files = {sid: d / f"{sid}.toml" for sid in ids}
    for sid, f in files.items():
        f.write_text(region_site_text(text, sid), encoding="utf-8")
    sim_logs = [d / f"{sid}-sim.log" for sid in ids]
    region = LocalRegion([load_site(files[sid]) for sid in ids], d / "region")
    consoles = {
        sid: ServiceProcess(files[sid], d / f"{sid}.db", region.site_dir(sid), d / f"{sid}-console.log")
        for sid in ids
    }
    caps: dict[str, Capture] = {}
    sims: dict[str, SimProcess] = {}
    with ExitStack() as stack:  # every callback runs, even when one of them raises
        stack.callback(region.kill)
        for console in consoles.values():
            stack.callback(console.kill)
        stack.callback(_stop_sims, sims)
        stack.callback(_stop_caps, caps)
        files_peak = _FilesPeak(region)
        stack.callback(files_peak.stop)
        try:
            region.start(timeout=120)
            files_peak.start()
            for sid in ids:
                caps[sid] = _capture(region, sid)
            s.start_s = time.monotonic() - t0
            t_up = time.monotonic()
            for console in consoles.values():
                console.start(["--ha", "a", "--ha-ttl", TTL])
            for sid in ids:
                sims[sid] = SimProcess(
                    [
                        script("alarm-sim"),
                        *("--site", str(files[sid]), "--broker-dir", str(region.site_dir(sid))),
                        *("--units", ",".join(units), "--state-dir", str(d / f"{sid}-sim")),
                        *("--log-level", "WARNING"),
                    ],
                    d / f"{sid}-sim.log",
                )
            for sid in ids:
                _wait_log(consoles[sid], "ACTIVE console a ", max(1.0, UP_S - (time.monotonic() - t_up)))
                caps[sid].wait(
                    _online(Topics(sid).console_status()),
                    max(1.0, UP_S - (time.monotonic() - t_up)),
                    f"console of {sid} online",
                )
                sims[sid].wait(
                    lambda ln: ln.get("event") == "ready",
                    max(1.0, UP_S - (time.monotonic() - t_up)),
                    f"alarm-sim of {sid} ready",
                )
            s.up_s = time.monotonic() - t_up
            time.sleep(ctx.n(5, 3))  # births and first heartbeats settle
            nodes = [p for i in range(len(region.nodes)) if (p := region.pid(i))]
            refused_now = partial(_refused_now, s, sim_logs, list(consoles.values()))
            s.settle_s, s.settle_cpu, s.settled = _settle(nodes, refused_now, settle_max_s)
            refused_now()
            _idle(ctx, s, nodes, consoles, sims)
            hold = load_site(files[ids[0]]).unit(units[0]).buttons[0].min_hold_ms
            _presses(ctx, s, ids, units, caps, sims, hold)
        except (TimeoutError, BrokerError, RuntimeError) as exc:  # a bound the step did not make
            s.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            s.refused_still = sum(len(still_refused(_text(f))) for f in sim_logs)
        # what the logs say so far: the teardown (every unit leaving at once) is not measured
        s.node_files, s.file_limit = files_peak.stop()
        s.refused = sum(_refused(f) for f in sim_logs)
        s.paused = sum(1 for c in consoles.values() if "PAUSED" in c.log())
        for i in range(len(region.nodes)):
            for k, v in trouble(_text(region.log_path(i))).items():
                s.nodes_said[k] = s.nodes_said.get(k, 0) + v
        t_down = time.monotonic()
    s.teardown_s = time.monotonic() - t_down
    s.wall_s = time.monotonic() - t0
    return s


def _capture(region: LocalRegion, sid: str) -> Capture:
    """What `sc_site.collect` needs of one site: unit events and receipts, pages, console status."""
    t = Topics(sid)
    return Capture().start(
        _SiteBroker(region, sid),
        [
            t.all_units(UnitChannel.EVENT),
            t.all_units(UnitChannel.RECEIPT),
            t.all_people(PersonChannel.NOTIFY),
            t.console_status(),
        ],
        client_id=cid_for("observer", f"bench-capture-{sid}"),
    )


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _refused_now(s: Step, sim_logs: list[Path], consoles: list[ServiceProcess]) -> int:
    """Units and consoles with a subscription the broker still refuses (their logs); kept in `s`."""
    s.refused_still = sum(len(still_refused(_text(f))) for f in sim_logs)
    s.console_refused = sum(1 for c in consoles if still_refused(c.log()))
    return s.refused_still + s.console_refused


def _online(status_topic: str) -> Callable[[Msg], bool]:
    return lambda m: m.topic == status_topic and b'"online"' in m.payload


def _settle(pids: list[int], refused_now: Callable[[], int], max_s: float) -> tuple[float, float, bool]:
    """Until the nodes together use < SETTLE_PCT % of a core over a window (the ha scenario's
    settle), or their CPU is `flat` and no unit or console is still refused (`refused_now`):
    seconds waited, the last window's CPU (% of a core), and whether it settled within `max_s`."""
    t0 = time.monotonic()
    cpus: list[float] = []
    while time.monotonic() - t0 < max_s:
        cpus.append(sum(u.cpu_pct for u in sample({str(p): p for p in pids}, WINDOW_S).values()))
        if cpus[-1] < SETTLE_PCT or (flat(cpus) and not refused_now()):
            return time.monotonic() - t0, cpus[-1], True
    return time.monotonic() - t0, cpus[-1] if cpus else math.nan, False


def _stop_caps(caps: dict[str, Capture]) -> None:
    for cap in caps.values():
        cap.stop()


def _stop_sims(sims: dict[str, SimProcess], grace_s: float = 10.0) -> None:
    """Ask every alarm-sim to quit at once; SIGKILL those still running after `grace_s`."""
    for sim in sims.values():
        try:
            sim.send("quit")
        except OSError:
            pass
    deadline = time.monotonic() + grace_s
    while any(sim.proc.poll() is None for sim in sims.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for sim in sims.values():
        if sim.proc.poll() is None:
            sim.proc.kill()
        sim.stop()  # reaps it, closes its log


class _FilesPeak:
    """The most files any node of `region` had open, sampled every `every_s` in a thread."""

    def __init__(self, region: LocalRegion, every_s: float = 0.5) -> None:
        self.region, self.every_s = region, every_s
        self.peak, self.limit = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="region-files", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for i in range(len(self.region.nodes)):
                pid = self.region.pid(i)
                try:
                    n = len(os.listdir(f"/proc/{pid}/fd")) if pid else 0
                    if not self.limit and pid:
                        self.limit = nofile_limit(Path(f"/proc/{pid}/limits").read_text())
                except OSError:
                    continue
                self.peak = max(self.peak, n)

    def stop(self) -> tuple[float, int]:
        """Stop sampling; the peak and the limit."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        return float(self.peak) if self.peak else math.nan, self.limit


def nofile_limit(limits_text: str) -> int:
    """The soft 'Max open files' of a /proc/<pid>/limits text (0: not found)."""
    for line in limits_text.splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return 0


def _idle(
    ctx: Ctx, s: Step, nodes: list[int], consoles: dict[str, ServiceProcess], sims: dict[str, SimProcess]
) -> None:
    """CPU (% of a core) and peak RSS (MiB) over a window with everything connected and no press."""
    pids = {f"node{i}": p for i, p in enumerate(nodes)}
    pids |= {f"console {sid}": p.proc.pid for sid, p in consoles.items() if p.proc is not None}
    pids |= {f"sim {sid}": sim.proc.pid for sid, sim in sims.items()}
    use = sample(pids, ctx.n(10, 5))

    def total(prefix: str) -> tuple[float, float]:
        mine = [u for k, u in use.items() if k.startswith(prefix)]
        return sum(u.cpu_pct for u in mine), sum(u.rss_mb for u in mine)

    s.nodes_cpu, s.nodes_rss = total("node")
    s.consoles_cpu, s.consoles_rss = total("console")
    s.sims_cpu = total("sim")[0]


def _interleaved(ids: list[str], units: list[str], per_site: int) -> Iterator[tuple[str, str]]:
    """(site, unit): the first unit of every site, then the second of every site, ..."""
    for u in units[:per_site]:
        for sid in ids:
            yield sid, u


def _presses(
    ctx: Ctx,
    s: Step,
    ids: list[str],
    units: list[str],
    caps: dict[str, Capture],
    sims: dict[str, SimProcess],
    min_hold: int,
) -> None:
    """A few presses per site, interleaved over the sites, each a new incident; then every site's
    receipts and first notifications (`sc_site.collect`) within one shared bound."""
    per_site = min(len(units), ctx.n(5, 3))
    marks = {sid: caps[sid].mark() for sid in ids}
    pressed = {sid: Presses(units[:per_site], time.time()) for sid in ids}
    nxt = time.monotonic()
    for sid, u in _interleaved(ids, units, per_site):
        sims[sid].send(f"press {u}")
        nxt += PRESS_EVERY_S
        time.sleep(max(0.0, nxt - time.monotonic()))
    s.presses = per_site * len(ids)
    deadline = time.monotonic() + ctx.n(60, 30)
    for sid in ids:
        left = max(1.0, deadline - time.monotonic())
        p = collect(Topics(sid), caps[sid], sims[sid], pressed[sid], min_hold, marks[sid], left)
        s.notify += p.press_notify
        s.receipt += p.receipt
        s.lost += p.lost


def _rows(ctx: Ctx, s: Step, base: Step | None) -> None:
    """The step's rows, each paired with the same run's 1-site step (none for that step itself)."""
    sn, rc = Stats.of(s.notify), Stats.of(s.receipt)

    def row(
        what: str, value: float, unit: str, get: str | None, target: str = "", met: bool | None = None
    ) -> None:
        b = getattr(base, get) if base is not None and get is not None else None
        if isinstance(b, list):
            b = Stats.of(b).p99
        label = f"{base.name}, same run" if b is not None and base is not None else ""
        ctx.res.add(Row(SC, f"{s.name}: {what}", value, unit, b, label, target, met))

    row(
        f"seconds until the nodes' CPU settled after the connect storm (< {SETTLE_PCT:.0f} % of a "
        f"core, or steady with nothing refused; then {fmt(s.settle_cpu)} %)",
        s.settle_s,
        "s",
        "settle_s",
        "settled",
        s.settled,
    )
    row(
        f"units refused at connect ({s.refused}) and still refused at the presses",
        float(s.refused_still),
        "units",
        "refused_still",
        "none still refused",
        s.refused_still == 0 and not s.error,
    )
    row("3 nodes' CPU, everything connected, idle", s.nodes_cpu, "% core", "nodes_cpu")
    row("3 nodes' RSS (peaks, together)", s.nodes_rss, "MiB", "nodes_rss")
    row(f"busiest node's open files, peak (limit {s.file_limit})", s.node_files, "files", "node_files")
    whose = "the console's" if s.sites == 1 else f"{s.sites} consoles' (together)"
    row(f"{whose} RSS", s.consoles_rss, "MiB", "consoles_rss")
    row(
        f"press → first notification p99 (p50 {fmt(sn.p50)} ms, n={sn.n}, presses over all sites; "
        f"{_unseen(s)} receipted without a page seen)",
        sn.p99,
        "ms",
        "notify",
    )
    row(
        f"press → receipt p99 ({s.lost} of {s.presses} presses without a receipt)",
        rc.p99,
        "ms",
        "receipt",
        "every press receipted",
        s.presses > 0 and s.lost == 0,
    )


def _unseen(s: Step) -> int:
    """Presses receipted whose first page the site's observer did not see (within `collect`'s 5 s
    after the last receipt)."""
    return s.presses - s.lost - len(s.notify)


def _one(s: Step) -> str:
    """One step's figures in a sentence."""
    said = ", ".join(f"{k} {v}" for k, v in s.nodes_said.items()) or "nothing of the kind"
    common = (
        f"region start and every site's first client (its account's MQTT streams are made then) "
        f"{s.start_s:.0f} s; units refused at connect {s.refused} (still refused {s.refused_still}); "
        f"consoles that paused {s.paused}; busiest node's open files at most {s.node_files:.0f}; the "
        f"nodes logged: {said}"
    )
    if s.error:
        return f"**{s.name}**: ended by {s.error}; {common}"
    sn, rc = Stats.of(s.notify), Stats.of(s.receipt)
    slow = sum(1 for x in s.notify if x > SLOW_MS)
    return (
        f"**{s.name}**: {common}; up {s.up_s:.0f} s after the consoles and sims started, settled "
        f"after {s.settle_s:.0f} s ({s.settle_cpu:.0f} % of a core); idle: nodes {s.nodes_cpu:.0f} % "
        f"of a core / {s.nodes_rss:.0f} MiB, consoles {s.consoles_cpu:.0f} % / {s.consoles_rss:.0f} MiB, "
        f"alarm-sims {s.sims_cpu:.0f} %; press→notification p50 {sn.p50:.0f} / p99 {sn.p99:.0f} ms "
        f"({slow} of {sn.n} over {SLOW_MS:.0f} ms; {_unseen(s)} receipted without a page seen), receipt "
        f"p99 {rc.p99:.0f} ms, {s.lost} of {s.presses} without a receipt"
    )


def _note(
    ctx: Ctx,
    plan: tuple[tuple[int, int], ...],
    done: list[Step],
    failed: tuple[Step, list[str]] | None,
    settle_max_s: float,
) -> None:
    steps = [*done, *([failed[0]] if failed else [])]
    if failed is None:
        reach = f"every step worked, up to {done[-1].name} (the largest step of the plan)"
    elif not done:
        reach = f"even the first step ({failed[0].name}) failed: {'; '.join(failed[1])}"
    else:
        reach = (
            f"it went to {done[-1].name} ({done[-1].sites * done[-1].units} generated units); the next "
            f"step, {failed[0].name}, failed first by: {'; '.join(failed[1])}"
        )
    ctx.res.note(
        SC,
        f"Region on one 3-node NATS 2.9 cluster (`LocalRegion`, one account per site), on this "
        f"machine's {os.cpu_count()} cores shared with every site's console (`serve --ha a`, ttl "
        f"{TTL} s) and alarm-sim; every client on node 1 as rendered. Steps planned (sites × generated "
        f"units per site): {', '.join(f'{a}×{b}' for a, b in plan)}, each on a fresh region; a step "
        f"fails when the nodes run out of open files, units stay refused, an active console pauses, a "
        f"press gets no receipt, the nodes' CPU does not settle within {settle_max_s:.0f} s, or "
        f"consoles/units are not up within {UP_S:.0f} s, and the region stops growing. Every QoS1 "
        f"subscription is a replicated JetStream consumer with files of its own on each node; the "
        f"nodes' open-file limit is the one they inherit from the bench (`ulimit -n`, here "
        f"{next((x.file_limit for x in steps if x.file_limit), 0)}). One cluster here: {reach}. "
        + " ".join(_one(s) + "." for s in steps),
    )
