"""`make demo PROFILE=cluster` end to end: `python -m stilalarm.devkit.demo --profile cluster` with
the example site, as a subprocess starting real processes (3 nats-server nodes, two `alarm-console
serve --ha`, `alarm-sim`). Every step of the failover scenario is printed, the demo exits 0, and no
process of the run is left behind. Times are printed by the demo, never asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stilalarm.broker_config.local import BrokerError, find_nats_server

ROOT = Path(__file__).resolve().parents[2]

STEPS = [
    "console a: ACTIVE",
    "console b: standby",
    "alarmcentrale bevestigt: opgeslagen als incident",
    "niveau 1 → An Peeters, door console a",
    "console a valt uit (kill -9",
    "console b neemt over: actief",
    "niveau 2 → Dirk Maes (vervanger), door console b",
    "Dirk Maes drukt 'Ik kom' (console b antwoordt): ok",
    "LED aan de balie: 'hulp is onderweg'",
    "console a herstart als standby",
    "niveau 1 → Bart Janssens, door console b",
    "knooppunt n3 valt uit (kill -9)",
    "ontvangstbevestiging",
    # b, or a when b could not renew the lease while the cluster elected new leaders (printed)
    "niveau 1 → Chris Claes, door console ",
    "demo OK",
]


DEMO = [sys.executable, "-m", "stilalarm.devkit.demo", "--profile", "cluster"]


def demo(tmp_path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def processes_under(path: Path) -> list[str]:
    """Command lines of running processes that name `path` (the run's nodes, consoles, sim)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.mark.timeout(420)
def test_the_cluster_demo_shows_a_failover_and_exits_0(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    work = tmp_path / "demo"
    out = demo(tmp_path, "--dir", str(work), "--site", "examples/site.toml", timeout=400)
    print(out.stdout)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    at = 0
    for step in STEPS:  # each step, in this order
        i = out.stdout.find(step, at)
        assert i >= 0, f"missing after position {at}: {step!r}\n{out.stdout}"
        at = i + len(step)
    assert processes_under(work) == []


def test_units_that_do_not_fit_the_scenario_exit_2_and_say_which(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    out = demo(tmp_path, "--dir", str(work), "--unit2", "spreekkamer-2", timeout=60)
    assert out.returncode == 2
    assert "must be in different rooms" in out.stderr and "--unit2" in out.stderr
    out = demo(tmp_path, "--dir", str(work), "--unit3", "pager-an", timeout=60)
    assert out.returncode == 2
    assert "'pager-an' is not a desk unit" in out.stderr
    assert not work.exists()


def test_sigterm_mid_run_stops_every_process_of_the_demo(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = subprocess.Popen(
        [*DEMO, "--dir", str(work)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("simulated desk units:"):
                up.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert up.wait(180), "".join(lines)
        assert processes_under(work) != []  # the nodes, consoles and sim are running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert proc.stderr is not None and "demo stopped (SIGTERM)" in proc.stderr.read()
    assert processes_under(work) == []
