"""Small latency statistics for the benchmark tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Percentiles of a sample of latencies, in milliseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    worst: float

    @staticmethod
    def of(samples: list[float]) -> Stats:
        if not samples:
            return Stats(0, float("nan"), float("nan"), float("nan"), float("nan"))
        s = sorted(samples)

        def pct(p: float) -> float:
            return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]

        return Stats(len(s), statistics.median(s), pct(90), pct(99), s[-1])

    def fmt(self) -> str:
        return f"p50 {self.p50:.2f} ms, p99 {self.p99:.2f} ms (n={self.n}, worst {self.worst:.1f})"
