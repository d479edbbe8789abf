"""Fixtures of the real-process tier: a small real filesystem that fills up, a network namespace
whose link can be cut."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.netns import Netns, numbered_netns


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.fail(
            "the disk-full test mounts a 4 MiB tmpfs (a real filesystem that fills up) and needs root: "
            "run it as root (CI does); it is never skipped"
        )
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A private network namespace with a veth pair to this host (`bench.netns`), removed
    afterwards: a process run in it (`netns.prefix()`) loses its network on `netns.cut()`. Each
    pytest-xdist worker has its own (`make test` runs two at once)."""
    ns = numbered_netns(int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")))
    try:
        ns.open()
    except RuntimeError as exc:
        pytest.fail(f"a network namespace is needed to cut a process's network: {exc} (run as root)")
    try:
        yield ns
    finally:
        ns.close()
