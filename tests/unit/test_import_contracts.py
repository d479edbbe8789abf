"""The layer contracts of `make lint` (import-linter, pyproject.toml) catch a broken layer.

A copy of the packages gets one deliberate violation per contract; `lint-imports` on the copy
must report that contract broken, and the untouched copy must keep them all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("wire", "inventory", "firmware", "console", "broker_config", "devkit", "ingress")
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT)], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    # the installed layout: stilalarm/ holds the product packages (in the repo they are symlinks)
    skip = shutil.ignore_patterns("__pycache__", "*.so")
    shutil.copytree(ROOT / "stilalarm", tmp_path / "stilalarm", symlinks=False, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(
        path.read_text(encoding="utf-8") + f"\n{line}  # deliberate violation\n", encoding="utf-8"
    )


def test_the_untouched_tree_keeps_every_contract(tree: Path) -> None:
    res = lint(tree)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("stilalarm.console.core.engine.alarms", "import time", "the console's cores are pure"),
        ("stilalarm.console.core.supervision.liveness", "import sqlite3", "the console's cores are pure"),
        (
            "stilalarm.console.core.world",
            "import stilalarm.console.store.rows",
            "the console's cores are pure",
        ),
        (
            "stilalarm.console.core.notice",
            "import stilalarm.console.shell.outgoing",
            "the console's cores are pure",
        ),
        (
            "stilalarm.inventory.model",
            "import paho.mqtt.client",
            "the wire contract and the inventory import no transport",
        ),
        (
            "stilalarm.wire.messages.codec",
            "import stilalarm.wire.link",
            "the wire contract and the inventory import no transport",
        ),
        (
            "stilalarm.firmware.runtime",
            "import stilalarm.console.facts",
            "the desk unit and the console share only wire and inventory",
        ),
        (
            "stilalarm.console.shell.service",
            "import stilalarm.broker_config.local",
            "the product never imports the broker's development runner",
        ),
        ("stilalarm.firmware.gpio", "import textual", "the desk unit needs none of the console's stacks"),
        ("stilalarm.console.tui.model.alarms", "import textual", "the TUI's view model is pure"),
        ("stilalarm.console.tui.model.status", "import time", "the TUI's view model is pure"),
        (
            "stilalarm.console.tui.app",
            "import stilalarm.console.cli.parser",
            "the CLI and the TUI are separate",
        ),
        (
            "stilalarm.console.cli.views",
            "import stilalarm.console.tui.texts",
            "the CLI and the TUI are separate",
        ),
        (
            "stilalarm.console.cli.serve",
            "import stilalarm.devkit.servicerun",
            "the product never imports the development harness",
        ),
        (
            "stilalarm.ingress.app",
            "import stilalarm.console.facts",
            "the web ingress and the console share only wire and inventory",
        ),
        ("stilalarm.ingress.tokens", "import time", "the web ingress's tokens and phone watch are pure"),
        ("stilalarm.ingress.liveness", "import asyncio", "the web ingress's tokens and phone watch are pure"),
        ("stilalarm.firmware.outbox", "import starlette", "the desk unit needs none of the console's stacks"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    plant(tree, module, line)
    res = lint(tree)
    assert res.returncode != 0, res.stdout
    # "NAME BROKEN", or "NAME BROKEN (1 ignored import)" for a contract with ignore_imports
    broken = [
        x for x in res.stdout.splitlines() if re.search(r"BROKEN( \(\d+ ignored imports?\))?$", x.rstrip())
    ]
    # the planted contract is broken (others may be too: a core that imports inventory now reaches
    # paho indirectly, which import-linter rightly reports as well)
    assert any(b.startswith(contract) for b in broken), res.stdout


def test_the_version_is_written_once() -> None:
    """pyproject.toml holds it; the firmware and the console report the installed one."""
    import tomllib

    from stilalarm.firmware import FIRMWARE_VERSION
    from stilalarm.wire.version import VERSION

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert VERSION == FIRMWARE_VERSION == declared
    hits = [
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if f'"{declared}"' in p.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_a_desk_unit_installs_only_what_a_pi_needs() -> None:
    """The base install is the Pi's: gpiozero, paho, pydantic, PyNaCl (enrolment); the console's
    stacks are an extra."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {d.split(">")[0].split("<")[0].split("=")[0] for d in project["dependencies"]}
    assert base == {"gpiozero", "paho-mqtt", "pydantic", "pynacl"}
    console = {d.split(">")[0] for d in project["optional-dependencies"]["console"]}
    assert {"textual", "rich", "apprise", "babel"} <= console


def test_the_console_without_its_extra_says_how_to_install_it() -> None:
    code = "import sys; sys.modules['textual'] = None; import stilalarm.console.cli"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode != 0
    assert "pip install 'stilalarm[console]'" in res.stderr and "textual" in res.stderr
