"""Health readings for the heartbeat: CPU temperature and Wi-Fi signal, where available."""

from __future__ import annotations

from pathlib import Path

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
WIRELESS = Path("/proc/net/wireless")


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
