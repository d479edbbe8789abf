"""The pure cores (console/core/) stay pure, small, and build every notice one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "console" / "core"

IO_MODULES = {"logging", "os", "random", "socket", "sqlite3", "subprocess", "threading", "time", "paho"}
"""Standard or third-party modules a core must not import (I/O, clocks, randomness, logging)."""

PURE_PROJECT = (
    "stilalarm.console.core",
    "stilalarm.console.config",
    "stilalarm.console.facts",
    "stilalarm.console.visitfacts",
    "stilalarm.console.regfacts",
    "stilalarm.console.responsefacts",
    "stilalarm.console.riskfacts",
    "stilalarm.console.reporting.buttontests",
)
"""The project modules a core may import besides `stilalarm.wire.messages` and the inventory's model."""
INVENTORY_MODEL = (
    "stilalarm.inventory.model",
    "stilalarm.inventory.kinds",
    "stilalarm.inventory.places",
    "stilalarm.inventory.people",
    "stilalarm.inventory.policies",
    "stilalarm.inventory.visits",
)
"""The inventory's model (pure data), not its loader or the derived configs."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_core_modules_import_no_io_and_no_shell() -> None:
    core_files = sorted(CORE.rglob("*.py"))
    assert len(core_files) >= 10  # the engine and supervision packages, effects, notice, world
    bad: dict[str, set[str]] = {}
    for path in core_files:
        for name in _imports(path):
            top = name.split(".")[0]
            product = name.split(".")[1] if top == "stilalarm" and "." in name else ""
            io = top in IO_MODULES
            shell = product == "console" and not name.startswith(PURE_PROJECT)
            transport = product == "wire" and name != "stilalarm.wire.messages"
            config = product == "inventory" and name not in INVENTORY_MODEL
            if io or shell or transport or config:
                bad.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert not bad, bad


def test_no_core_reads_the_clock() -> None:
    readers = [
        str(p.relative_to(ROOT))
        for p in CORE.rglob("*.py")
        if any(s in p.read_text(encoding="utf-8") for s in ("utcnow(", ".now(", "monotonic(", "time.time("))
    ]
    assert readers == []


def test_a_notified_fact_is_built_only_by_the_notice_helper() -> None:
    builders = set()
    for pkg in ("console", "soak", "bench"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "Notified"
                ):
                    builders.add(str(path.relative_to(ROOT)))
    assert builders == {"console/core/notice.py"}


def test_core_modules_stay_under_400_lines() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in CORE.rglob("*.py")
    }
    assert max(sizes.values()) > 0
    assert {k: v for k, v in sizes.items() if v > 400} == {}
