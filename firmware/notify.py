"""systemd `Type=notify` support without a dependency: READY=1, WATCHDOG=1, STOPPING=1.

Messages go as datagrams to `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
namespace). Without that variable (not under systemd) everything is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(path: str) -> str:
    """The AF_UNIX address for a NOTIFY_SOCKET value ('@x' is the abstract name '\\0x')."""
    return "\0" + path[1:] if path.startswith("@") else path


def watchdog_interval_s(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often to send WATCHDOG=1 (half of WatchdogSec), or None if no watchdog is set for us."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    wpid = env.get("WATCHDOG_PID")
    if wpid and int(wpid) != (os.getpid() if pid is None else pid):
        return None
    try:
        return max(0.05, int(usec) / 2_000_000)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; not sending watchdog pings", usec)
        return None


class Notifier:
    """Sends sd_notify messages to systemd (or nothing, when not started by systemd)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = os.environ.get("NOTIFY_SOCKET") if path is None else path
        self._sock: socket.socket | None = None
        if self.path:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, message: str) -> bool:
        """Send one notification ('READY=1', 'WATCHDOG=1', 'STATUS=...'); False if not sent."""
        if self._sock is None or not self.path:
            return False
        try:
            self._sock.sendto(message.encode(), socket_address(self.path))
            return True
        except OSError as exc:
            log.warning("could not notify systemd (%s): %s", message.split("=")[0], exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
