"""A paho client with fewer system calls per message: large reads, merged writes, fewer wake-ups.

Every system call releases the GIL, and getting it back waits for whichever thread holds it.
In the console the writer thread is busy under load, so paho's network thread spent most of a
flood waiting for the GIL between tiny system calls (profiled in docs/PERFORMANCE.md). Three
changes, all on paho 2.x internals (`_create_socket`, `_packet_write`, `_sockpairW`; pinned
and checked by tests/unit/test_pahofast.py):

- **Reads.** paho 2.2 reads each packet with three or more `recv` calls (1 byte of command, 1 byte at a
time of length, then the rest). Every `recv` releases the GIL, and getting it back waits for
whichever thread holds it; in the console, where the writer thread is busy, a flood of small
packets then spends most of its time waiting for the GIL instead of reading (profiled in
docs/PERFORMANCE.md). `FastClient` wraps the socket so that one `recv` takes everything
the kernel holds (up to `CHUNK` bytes) and paho's small reads are served from memory.
`pending()` tells paho's loop that buffered bytes are waiting, so it does not sleep in
`select()` while a whole packet is already read (paho asks the same of a TLS socket).
- **Writes.** paho sends each queued packet with its own `send`; `_packet_write` first merges
  the queued packets that need nothing after they are written (PUBACKs, QoS 1 publishes,
  subscribes, pings) into one buffer, up to `CHUNK` bytes, and sends that.
- **Wake-ups.** Each queued packet writes a byte to paho's self-pipe to wake the network
  thread's `select()`. The network thread itself (a PUBACK from a message callback) needs no
  wake-up, and a second wake-up while one is still unread adds nothing: both are skipped.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_PUBLISH = 0x30
_DISCONNECT = 0xE0
_PUBACK = 0x40

CHUNK = 65536
"""Bytes asked of the kernel per `recv`."""


class ReadBuffer:
    """A socket whose `recv` is served from one large read; everything else is the socket's own."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._off = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to `bufsize` bytes: from the buffer, else from one `recv(CHUNK)` of the socket.

        Raises what the socket raises (`BlockingIOError`, `ssl.SSLWantReadError`, `OSError`) only
        when nothing is buffered; returns b"" at end of stream like `socket.recv`."""
        if self._off < len(self._data):
            end = self._off + bufsize
            out = self._data[self._off : end]
            self._off = min(end, len(self._data))
            return out
        data: bytes = self._sock.recv(max(bufsize, CHUNK))
        if len(data) <= bufsize:
            return data
        self._data, self._off = data, bufsize
        return data[:bufsize]

    def pending(self) -> int:
        """Bytes readable without waiting: ours, plus what a TLS socket has decrypted."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._data) - self._off + int(inner)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Waker:
    """paho's self-pipe write end: wakes the network thread only when that can matter."""

    def __init__(self, sock: Any, client: FastClient) -> None:
        self._sock = sock
        self._client = client
        self.armed = False
        """A wake-up byte is written and not yet read."""

    def send(self, data: bytes) -> int:
        """Write the wake-up byte unless the caller is the network thread or one is already unread."""
        t = self._client._thread
        if (t is not None and threading.get_ident() == t.ident) or self.armed:
            return len(data)
        self.armed = True
        return int(self._sock.send(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Drain:
    """paho's self-pipe read end: reading it disarms the `Waker` first, so no wake-up is lost."""

    def __init__(self, sock: Any, client: FastClient) -> None:
        self._sock = sock
        self._client = client

    def recv(self, bufsize: int) -> bytes:
        w = self._client._sockpairW
        if isinstance(w, Waker):
            w.armed = False  # before reading: a packet queued from now on writes a fresh byte
        return bytes(self._sock.recv(bufsize))

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _plain(packet: dict[str, Any]) -> bool:
    """A queued packet that paho does nothing with once it is written (not QoS 0 PUBLISH, not DISCONNECT)."""
    cmd = packet["command"] & 0xF0
    return not ((cmd == _PUBLISH and packet["qos"] == 0) or cmd == _DISCONNECT)


class FastClient(mqtt.Client):
    """`paho.mqtt.client.Client` with buffered reads, merged writes, fewer wake-ups, Nagle off."""

    _pair_r: Any = None
    _pair_w: Any = None

    @property
    def _sockpairR(self) -> Any:
        return self._pair_r

    @_sockpairR.setter
    def _sockpairR(self, sock: Any) -> None:
        self._pair_r = None if sock is None else Drain(sock, self)

    @property
    def _sockpairW(self) -> Any:
        return self._pair_w

    @_sockpairW.setter
    def _sockpairW(self, sock: Any) -> None:
        self._pair_w = None if sock is None else Waker(sock, self)

    def _packet_write(self) -> MQTTErrorCode:
        q: deque[dict[str, Any]] = self._out_packet  # type: ignore[assignment]
        if len(q) > 1 and _plain(q[0]) and _plain(q[1]):
            parts: list[bytes] = []
            size = 0
            while q and size < CHUNK and _plain(q[0]):
                p = q.popleft()
                part = bytes(p["packet"][p["pos"] :])
                parts.append(part)
                size += len(part)
            data = b"".join(parts)
            merged = {
                "command": _PUBACK,
                "mid": 0,
                "qos": 1,
                "pos": 0,
                "to_process": size,
                "packet": data,
                "info": None,
            }
            q.appendleft(merged)
        return super()._packet_write()

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if getattr(self, "_transport", "tcp") == "websockets":
            return sock  # frames, not a byte stream: leave paho's own wrapper alone
        raw = getattr(sock, "_socket", sock)  # a websocket wrapper keeps the TCP socket here
        if isinstance(raw, socket.socket) and raw.family in (socket.AF_INET, socket.AF_INET6):
            # Nagle + delayed ACK holds small packets ~40 ms; paho does not turn it off
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ReadBuffer(sock)
