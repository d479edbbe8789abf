"""The benchmark's result rows, the machine description, the printed table and docs/PERFORMANCE.md."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->"
END = "<!-- bench:end -->"


@dataclass
class Row:
    """One figure: the value, the same-run baseline, their ratio, the target and whether it was met."""

    scenario: str
    what: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    target: str = ""
    met: bool | None = None  # None: no target (measured only)
    note: str = ""
    quiet: float | None = None  # busy rows: the same figure measured quiet in this run
    bare_ratio: float | None = None  # busy rows: the bare baseline's own busy/quiet ratio

    @property
    def busy_ratio(self) -> float | None:
        """Busy / quiet of this figure (busy rows only)."""
        if self.quiet is None or not self.quiet or not math.isfinite(self.quiet):
            return None
        if not math.isfinite(self.value):
            return None
        return self.value / self.quiet

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or not math.isfinite(self.baseline):
            return None
        if not math.isfinite(self.value):
            return None
        return self.value / self.baseline

    def cells(self) -> list[str]:
        mark = {True: "✓", False: "✗", None: "–"}[self.met]
        base = (
            f"{fmt(self.baseline)} {self.unit} ({self.baseline_what})" if self.baseline is not None else "–"
        )
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "–"
        busy = "–"
        if self.busy_ratio is not None:
            busy = f"{fmt(self.quiet)} {self.unit} quiet → {self.busy_ratio:.2f}×"
            if self.bare_ratio is not None and math.isfinite(self.bare_ratio):
                busy += f" (bare {self.bare_ratio:.2f}×)"
        return [
            self.scenario,
            self.what,
            f"{fmt(self.value)} {self.unit}",
            base,
            ratio,
            busy,
            self.target or "measured",
            mark,
        ]


HEADER = [
    "scenario",
    "figure",
    "value",
    "baseline (same run)",
    "ratio",
    "busy ÷ quiet (bare baseline's)",
    "target",
    "met",
]


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


@dataclass
class Failure:
    scenario: str
    error: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)  # 1-min load average as each step began

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, scenario: str, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)


def _run(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    mosq = _run(["mosquitto", "-h"]).splitlines()
    mosq_v = next((m.group(1) for ln in mosq if (m := re.search(r"version (\S+)", ln))), "unknown")
    try:
        import paho.mqtt

        paho_v = paho.mqtt.__version__
    except Exception:
        paho_v = "unknown"
    import sqlite3

    load = os.getloadavg()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "mosquitto": mosq_v,
        "paho-mqtt": paho_v,
        "sqlite": sqlite3.sqlite_version,
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def table(rows: list[Row]) -> list[list[str]]:
    return [HEADER, *(r.cells() for r in rows)]


def text_table(rows: list[Row]) -> str:
    t = table(rows)
    widths = [max(len(r[i]) for r in t) for i in range(len(HEADER))]
    lines = []
    for k, r in enumerate(t):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows: list[Row]) -> str:
    t = table(rows)
    out = ["| " + " | ".join(t[0]) + " |", "|" + "|".join("---" for _ in t[0]) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in t[1:]]
    return "\n".join(out)


def generated(res: Results, info: dict[str, str], argv: list[str], started: str, load_end: str) -> str:
    """The part of PERFORMANCE.md between the markers."""
    met = sum(1 for r in res.rows if r.met is True)
    missed = sum(1 for r in res.rows if r.met is False)
    lines = [
        BEGIN,
        "",
        f"Run: `python -m bench {' '.join(argv)}`, started {started}, "
        f"{sum(res.seconds.values()):.0f} s in total. Targets met: {met}, missed: {missed}.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {info['cpu']}, {info['cores']} cores |",
        f"| RAM | {info['ram']} |",
        f"| kernel | {info['kernel']} |",
        f"| Python | {info['python']} (SQLite {info['sqlite']}) |",
        f"| mosquitto | {info['mosquitto']} |",
        f"| paho-mqtt | {info['paho-mqtt']} |",
        f"| load average (1/5/15 min) | at start {info['load']}; at end {load_end} |",
        "",
        md_table(res.rows),
        "",
    ]
    if res.failures:
        lines += ["**Scenarios that crashed:**", ""]
        lines += [f"- `{f.scenario}`: {f.error}" for f in res.failures]
        lines.append("")
    if res.notes:
        lines += ["Details measured in this run:", ""]
        for sc, notes in res.notes.items():
            lines += [f"- **{sc}**: " + " ".join(notes)]
        lines.append("")
    per = ", ".join(
        f"{k} {v:.0f}" + (f" (load {res.load[k]:.2f})" if k in res.load else "")
        for k, v in res.seconds.items()
    )
    lines += [
        f"Seconds per scenario (1-min load average as it began, this bench's own processes included): {per}.",
        "",
        END,
    ]
    return "\n".join(lines)


SKELETON = """# Performance

`make bench` (`python -m bench --site examples/site.toml`) measures the real processes
over the real broker on loopback and rewrites the part between the markers below.

{generated}
"""


def write_doc(path: Path, gen: str) -> None:
    """Replace the generated part of PERFORMANCE.md, keep everything written by hand around it."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _old, tail = rest.split(END, 1)
            path.write_text(head + gen + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + gen + "\n", encoding="utf-8")  # keep what is there
        return
    path.write_text(SKELETON.format(generated=gen), encoding="utf-8")
