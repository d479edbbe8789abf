"""Build the broker's plugin (broker_config/clientid_plugin.c) from the repository.

The plugin binds client ids to logins and limits each unit / person login's publish rate
(the file keeps its first name, `clientid`).

`alarm-broker render` calls `install_plugin(out)`: it compiles the C source with the system's
gcc against Debian's mosquitto-dev headers (no network) and puts the shared object beside the
rendered mosquitto.conf, which loads it. A build is cached per source hash under
~/.cache/stilalarm (or $STILALARM_CACHE), so rendering for every test does not recompile.
Anything missing is a PluginError that says what to install: the broker never runs without
the check (and mosquitto itself refuses to start when the plugin file is missing).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("clientid_plugin.c")
PLUGIN_NAME = "stilalarm_clientid.so"
CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror")
INSTALL_HINT = (
    "run scripts/ensure-mosquitto.sh (or `make mosquitto`), or as root: "
    "apt-get install -y gcc libc6-dev mosquitto-dev libmosquitto-dev"
)


class PluginError(RuntimeError):
    """The client-id plugin could not be built; the message says what to install."""


def _digest() -> str:
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    for header in ("mosquitto.h", "mosquitto_broker.h", "mosquitto_plugin.h"):
        p = Path("/usr/include") / header
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_dir() -> Path | None:
    env = os.environ.get("STILALARM_CACHE")
    if env:
        return Path(env)
    try:
        return Path.home() / ".cache" / "stilalarm"
    except (RuntimeError, KeyError):  # no home directory (a bare service environment)
        return None


def _compile(dest: Path) -> None:
    """Compile SOURCE into dest (atomically), or raise PluginError."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise PluginError(f"cannot build the broker's client-id plugin: gcc is missing; {INSTALL_HINT}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=dest.parent)
    os.close(fd)
    try:
        res = subprocess.run(
            [gcc, *CFLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120, check=False
        )
        if res.returncode != 0:
            raise PluginError(
                f"cannot build the broker's client-id plugin from {SOURCE}:\n{res.stderr.strip()}\n"
                f"If a mosquitto header is missing: {INSTALL_HINT}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def install_plugin(out: Path) -> Path:
    """Build (or take from the cache) the plugin and place it at out/PLUGIN_NAME; return that path."""
    dest = out / PLUGIN_NAME
    cache = _cache_dir()
    try:
        if cache is None:
            raise PermissionError("no cache directory")
        src = cache / f"clientid-{_digest()}.so"
        if not src.exists():
            _compile(src)
    except OSError:
        src = dest  # no writable cache (e.g. a read-only home): build straight into out
        _compile(dest)
    if src != dest:
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    return dest
