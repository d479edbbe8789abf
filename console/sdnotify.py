"""systemd notify protocol (READY=1, WATCHDOG=1, STOPPING=1) over $NOTIFY_SOCKET; no dependency."""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    """Send state to systemd when run as a Type=notify service; a no-op otherwise."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s: float | None = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        self._last_ping = 0.0

    def send(self, state: str) -> bool:
        """Send one state line (e.g. 'READY=1'); False when not under systemd or it failed."""
        if not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace socket
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                s.sendall(state.encode())
            return True
        except OSError:
            return False

    def ready(self) -> None:
        self.send("READY=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def ping_interval(self) -> float | None:
        """How often the watchdog must be pinged (half the systemd timeout), if enabled."""
        return None if self.watchdog_s is None else self.watchdog_s / 2

    def watchdog(self) -> None:
        """Ping the watchdog if enabled and half its timeout has passed since the last ping."""
        interval = self.ping_interval()
        if interval is None or not self.address:
            return
        now = time.monotonic()
        if now - self._last_ping >= interval:
            self._last_ping = now
            self.send("WATCHDOG=1")
