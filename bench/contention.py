"""Contention for the benchmark: a CPU-bound competitor ("busy") and a CPU quota ("Pi 4 estimate").

`CpuHog`: one busy process per core minus one (at least one), at normal priority (not niced: a
competitor for the CPU is the point), started and always stopped by the bench itself.

`CpuQuota`: a cgroup with a CFS quota (cgroup v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, or
cgroup v2 `cpu.max`); processes are moved in by pid and the group is always removed again.

`pi4_ratio`: how many times faster one core of this machine runs Python than one Raspberry Pi 4
core, from a published figure and the same program timed here:

    Source: Chaitanya Mehta, "Performance Analysis of Languages on Raspberry Pi",
    https://chaitanyamehta.github.io/projects/performance-analysis-of-programming-languages
    Raspberry Pi 4 Model B (4 GB, Cortex-A72, governor "performance", 1.5 GHz fixed, not
    throttled): the n-body benchmark (the Computer Language Benchmarks Game's algorithm, five
    bodies), five million steps, in Python: 158.263 s.

The bench runs the same algorithm (`_nbody`, the Benchmarks Game's Python program) for a fraction
of the steps on this machine, scales to five million steps and divides. The source does not name
its Python version (2020: Raspberry Pi OS had 3.7); this machine runs the bench's interpreter, and
newer CPythons are faster on this loop, so the ratio leans pessimistic (a slower Pi). A Pi 4 sold
today runs at 1.8 GHz, 1.2x the source's clock: also on the pessimistic side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.fw_proc import cpu_s

PI4_SOURCE_URL = "https://chaitanyamehta.github.io/projects/performance-analysis-of-programming-languages"
PI4_NBODY_STEPS = 5_000_000
PI4_NBODY_S = 158.263  # Raspberry Pi 4 @ 1.5 GHz, performance governor, Python (the source's table)

# sha256 over a small buffer in a loop: pure CPU, no I/O, no memory growth
_SPIN = "import hashlib\nh = hashlib.sha256()\nb = b'x' * 4096\nwhile True:\n    h.update(b)\n"


def hog_count() -> int:
    """Busy processes for the competitor: one per core minus one, at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


class CpuHog:
    """`with CpuHog() as hog:` runs `hog_count()` busy processes for the block; `hog.cpu_pct()`
    says how much CPU they got (percent of one core, summed), so the table shows they really ran."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else hog_count()
        self.procs: list[subprocess.Popen[bytes]] = []
        self._t0 = 0.0
        self._c0 = 0.0
        self._used = 0.0

    def __enter__(self) -> CpuHog:
        try:
            for _ in range(self.n):
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", _SPIN],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        except BaseException:
            self._stop()
            raise
        time.sleep(0.3)  # the interpreters are up and spinning
        self._t0 = time.monotonic()
        self._c0 = self._cpu()
        return self

    def _cpu(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                total += cpu_s(p.pid)
            except (OSError, ValueError, IndexError):
                pass
        return total

    def cpu_pct(self) -> float:
        """CPU the competitor used since it started spinning (percent of one core, all processes)."""
        if self._used:
            return self._used
        dt = max(1e-6, time.monotonic() - self._t0)
        return 100 * (self._cpu() - self._c0) / dt

    def _stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        self.procs = []

    def __exit__(self, *exc: object) -> None:
        self._used = self.cpu_pct() if self.procs else 0.0
        self._stop()


# -- CPU quota ---------------------------------------------------------------------------------

V1_CPU = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")


def quota_unavailable() -> str | None:
    """Why a CPU quota cannot be set here (None: it can)."""
    if os.geteuid() != 0:
        return "not root: cannot create a cgroup"
    v2 = V2_ROOT / "cgroup.controllers"
    if v2.exists():
        if "cpu" not in v2.read_text().split():
            return "cgroup v2 without the cpu controller"
        return None
    if (V1_CPU / "cpu.cfs_quota_us").exists():
        return None if os.access(V1_CPU, os.W_OK) else f"{V1_CPU} is not writable"
    return "no cgroup cpu controller (neither v1 cpu.cfs_quota_us nor v2 cpu.max)"


class CpuQuota:
    """A cgroup limited to `cores` of CPU (e.g. 0.2 = a fifth of one core) per `period_us`.

    `add(pid)` moves a process (all its threads; children it starts later inherit the group).
    `close()` moves what is left back to the root group and removes the group; it is always called
    by `with`."""

    def __init__(self, name: str, cores: float, period_us: int = 10_000) -> None:
        reason = quota_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.period_us = period_us
        self.quota_us = max(1000, round(cores * period_us))  # the kernel's minimum quota is 1 ms
        self.v2 = (V2_ROOT / "cgroup.controllers").exists()
        root = V2_ROOT if self.v2 else V1_CPU
        self.root = root
        self.path = root / f"stilalarm-bench-{name}-{os.getpid()}"
        if self.path.exists():
            self._remove()
        if self.v2:
            ctl = root / "cgroup.subtree_control"
            if "cpu" not in ctl.read_text().split():
                ctl.write_text("+cpu")
        self.path.mkdir()
        try:
            if self.v2:
                (self.path / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
            else:
                (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
                (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        except OSError:
            self._remove()
            raise

    @property
    def cores(self) -> float:
        return self.quota_us / self.period_us

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> tuple[int, float]:
        """(periods throttled, seconds throttled) so far, from cpu.stat."""
        try:
            stat = dict(
                ln.split()[:2] for ln in (self.path / "cpu.stat").read_text().splitlines() if ln.strip()
            )
        except OSError:
            return 0, 0.0
        if self.v2:
            return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_usec", 0)) / 1e6
        return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_time", 0)) / 1e9

    def _remove(self) -> None:
        procs = self.path / "cgroup.procs"
        for _ in range(50):
            try:
                left = [p for p in procs.read_text().split() if p]
            except OSError:
                left = []
            for pid in left:  # still running: back to the root group, or rmdir fails
                try:
                    (self.root / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"could not remove the cgroup {self.path}: remove it by hand (rmdir)")

    def close(self) -> None:
        self._remove()

    def __enter__(self) -> CpuQuota:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def maybe_quota(name: str, cores: float | None) -> Iterator[CpuQuota | None]:
    """A `CpuQuota` when `cores` is set, else nothing."""
    if cores is None:
        yield None
        return
    with CpuQuota(name, cores) as q:
        yield q


# -- the Pi 4 ratio ----------------------------------------------------------------------------


def _nbody(steps: int) -> float:
    """The Computer Language Benchmarks Game's n-body in plain Python (the source's program);
    returns the seconds `steps` steps took."""
    pi = 3.14159265358979323
    solar_mass = 4 * pi * pi
    dpy = 365.24
    bodies = [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], solar_mass),
        (
            [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
            [1.66007664274403694e-03 * dpy, 7.69901118419740425e-03 * dpy, -6.90460016972063023e-05 * dpy],
            9.54791938424326609e-04 * solar_mass,
        ),
        (
            [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03 * dpy, 4.99852801234917238e-03 * dpy, 2.30417297573763929e-05 * dpy],
            2.85885980666130812e-04 * solar_mass,
        ),
        (
            [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
            [2.96460137564761618e-03 * dpy, 2.37847173959480950e-03 * dpy, -2.96589568540237556e-05 * dpy],
            4.36624404335156298e-05 * solar_mass,
        ),
        (
            [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
            [2.68067772490389322e-03 * dpy, 1.62824170038242295e-03 * dpy, -9.51592254519715870e-05 * dpy],
            5.15138902046611451e-05 * solar_mass,
        ),
    ]
    pairs = [(bodies[i], bodies[j]) for i in range(len(bodies) - 1) for j in range(i + 1, len(bodies))]
    dt = 0.01
    t0 = time.perf_counter()
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx = x1 - x2
            dy = y1 - y2
            dz = z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m = m1 * mag
            b2m = m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for r, [vx, vy, vz], _m in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    return time.perf_counter() - t0


def pi4_ratio(steps: int = 100_000, reps: int = 3) -> tuple[float, float]:
    """(this core / Pi 4 core speed ratio for Python, this machine's n-body seconds for the
    source's five million steps). Best of `reps` short runs: the fastest run is the least
    disturbed on a shared machine."""
    best = min(_nbody(steps) for _ in range(reps))
    here = best * PI4_NBODY_STEPS / steps
    return PI4_NBODY_S / here, here
