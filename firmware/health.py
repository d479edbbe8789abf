"""Health readings for the heartbeat: CPU temperature and Wi-Fi signal, where available; the OS,
kernel and Python the unit runs on."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
WIRELESS = Path("/proc/net/wireless")
OS_RELEASE = Path("/etc/os-release")


def parse_cpu_temp(text: str) -> float | None:
    """Millidegrees Celsius (sysfs) -> degrees, or None if implausible."""
    try:
        c = int(text.strip()) / 1000
    except ValueError:
        return None
    return round(c, 1) if -50 <= c <= 150 else None


def parse_wifi_dbm(text: str) -> int | None:
    """The signal level (dBm) of the first interface in /proc/net/wireless, or None."""
    for line in text.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 4 and parts[0].endswith(":"):
            try:
                dbm = int(float(parts[3].rstrip(".")))
            except ValueError:
                return None
            return dbm if -150 <= dbm <= 0 else None
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def probe(thermal: Path = THERMAL, wireless: Path = WIRELESS) -> tuple[float | None, int | None]:
    """(CPU temperature in °C, Wi-Fi dBm); None for what this machine does not have."""
    t = _read(thermal)
    w = _read(wireless)
    return (parse_cpu_temp(t) if t else None, parse_wifi_dbm(w) if w else None)


def parse_os_release(text: str) -> str:
    """PRETTY_NAME of an os-release file ('' when it has none)."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip("\"'")[:200]
    return ""


@functools.cache
def os_info(os_release: Path = OS_RELEASE) -> tuple[str, str, str]:
    """(OS pretty name, kernel release, Python version) for the heartbeat; read once."""
    text = _read(os_release) or ""
    return parse_os_release(text), platform.release()[:200], platform.python_version()
