#!/usr/bin/env python3
"""Can the packages' venvs be built on a Raspberry Pi without a compiler?

dh-virtualenv builds each package's venv with pip at package build time, on the machine that
builds the package: for a Pi, a Pi (arm64, or armhf for 32-bit Raspberry Pi OS). pip then needs
every dependency as a pure-Python wheel or as a wheel for that platform; an sdist would need a
compiler (pydantic-core: a Rust toolchain). This asks PyPI, with
`pip download --only-binary=:all: --platform ...`, for every dependency of the desk unit (and, for
information, of the central server) on CPython 3.11 (Raspberry Pi OS bookworm), and prints which
ones have no usable wheel. docs/PACKAGES.md gives the result.

Exit status: 1 when the desk unit's dependencies lack a wheel on a required platform (arm64 by
default; --require armhf adds 32-bit), 0 otherwise. Needs PyPI (CI runs it; it installs nothing).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# pip's --platform tags a Raspberry Pi OS bookworm (glibc 2.36) accepts, newest first
PLATFORMS: dict[str, list[str]] = {
    "arm64": ["manylinux_2_36_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64",
              "linux_aarch64"],
    "armhf": ["manylinux_2_36_armv7l", "manylinux_2_31_armv7l", "manylinux_2_28_armv7l",
              "manylinux2014_armv7l", "linux_armv7l"],
}


def requirements() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return {
        "stilalarm-unit": list(project["dependencies"]),
        "stilalarm-console": [*project["dependencies"], *extras["console"], *extras["web"]],
    }


def check(arch: str, reqs: list[str]) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as dest:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--abi", "cp311", "--abi", "abi3", "--abi", "none", "--dest", dest]
        for tag in PLATFORMS[arch]:
            cmd += ["--platform", tag]
        proc = subprocess.run([*cmd, *reqs], capture_output=True, text=True, check=False)
        wheels = sorted(p.name for p in Path(dest).glob("*.whl"))
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln] or proc.stderr.splitlines()[-3:]
        return False, "\n      ".join(lines)
    binary = [w for w in wheels if not w.endswith("-none-any.whl")]
    return True, f"{len(wheels)} wheels, {len(binary)} platform-specific: {', '.join(binary) or '-'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--require", action="append", choices=sorted(PLATFORMS), default=None,
                    help="platforms the desk unit must build on without a compiler (default: arm64)")
    args = ap.parse_args()
    required = set(args.require or ["arm64"])
    failed = False
    for package, reqs in requirements().items():
        for arch in PLATFORMS:
            ok, detail = check(arch, reqs)
            must = package == "stilalarm-unit" and arch in required
            verdict = "ok" if ok else ("MISSING (required)" if must else "missing (information)")
            print(f"{package} on {arch}: {verdict}\n      {detail}")
            failed |= must and not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
