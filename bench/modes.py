"""How a service scenario runs: quiet, busy (a CPU-bound competitor) or as the Pi 4 estimate
(broker and console each under a CPU quota of one Pi 4 core). bench/contention.py does the work."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from bench.contention import CpuHog, CpuQuota
from stilalarm.devkit.localsystem import LocalSystem

PI4 = "Pi 4 estimate"


@dataclass(frozen=True)
class Mode:
    name: str  # "quiet", "busy" or "pi4"
    pi_cores: float = 0.0  # pi4: the quota of the console and of the broker, in cores of this machine

    @property
    def busy(self) -> bool:
        return self.name == "busy"

    @property
    def pi4(self) -> bool:
        return self.name == "pi4"

    def scenario(self, sc: str) -> str:
        """The table's scenario cell."""
        return {"quiet": sc, "busy": f"{sc} busy", "pi4": PI4}[self.name]

    def what(self, sc: str, text: str) -> str:
        """The table's figure cell (the Pi rows say which scenario they repeat)."""
        return f"{sc}: {text}" if self.pi4 else text

    def tag(self, sc: str) -> str:
        """Start of a note: the Pi rows share one scenario cell, so their notes say which part."""
        return f"{sc}: " if self.pi4 else ""

    def key(self, name: str) -> str:
        """Where a figure of this mode is kept in `ctx.quiet` (quiet: the name itself)."""
        return name if self.name == "quiet" else f"{name}@{self.name}"


QUIET = Mode("quiet")
BUSY = Mode("busy")


def start_system(
    ls: LocalSystem, mode: Mode, stack: ExitStack, between: Callable[[], object] | None = None
) -> list[CpuQuota]:
    """Start the broker, then the console. For the Pi estimate each is moved into its own quota
    group right after it started (before it forks anything); the groups are removed when `stack`
    closes, which the caller does after stopping the system."""
    quotas: list[CpuQuota] = []
    ls.start_broker()
    if mode.pi4:
        q = stack.enter_context(CpuQuota("broker", mode.pi_cores))
        assert ls.broker.pid is not None
        q.add(ls.broker.pid)
        quotas.append(q)
    if between is not None:
        between()
    ls.start_console()
    if mode.pi4:
        q = stack.enter_context(CpuQuota("console", mode.pi_cores))
        assert ls.console is not None
        q.add(ls.console.pid)
        quotas.append(q)
    return quotas


def compete(mode: Mode, stack: ExitStack) -> CpuHog | None:
    """From now on, for the busy mode: the CPU-bound competitor (stopped when `stack` closes)."""
    return stack.enter_context(CpuHog()) if mode.busy else None


def throttle_note(quotas: list[CpuQuota]) -> str:
    """How often the quota groups were throttled (evidence the quota bit)."""
    parts = []
    for q, who in zip(quotas, ("broker", "console"), strict=False):
        n, secs = q.throttled()
        parts.append(f"{who} throttled in {n:,} periods ({secs:.1f} s in total)")
    return "; ".join(parts)
