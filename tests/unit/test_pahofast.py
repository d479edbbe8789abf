"""FastClient's three changes to paho, on real sockets: large reads, merged writes, fewer wake-ups."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.wire.pahofast import CHUNK, Drain, FastClient, ReadBuffer, Waker


class Counting:
    """A real socket that counts its recv and send calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recvs = 0
        self.sends: list[bytes] = []

    def recv(self, n: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(n)

    def send(self, data: bytes) -> int:
        self.sends.append(bytes(data))
        return self.sock.send(data)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Closed by the fixture that made the socket."""


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_small_reads_come_from_one_large_read(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    frames = [bytes([0x30, 5]) + b"hello", bytes([0x40, 2]) + b"\x00\x01", bytes([0x30, 3]) + b"abc"]
    b.sendall(b"".join(frames))
    inner = Counting(a)
    rb = ReadBuffer(inner)
    got = b""
    for f in frames:  # paho's pattern: 1 byte command, 1 byte length, then the rest
        got += rb.recv(1) + rb.recv(1) + rb.recv(len(f) - 2)
    assert got == b"".join(frames)
    assert inner.recvs == 1
    assert rb.pending() == 0
    with pytest.raises(BlockingIOError):
        rb.recv(1)  # nothing buffered and nothing sent: the socket's own answer
    assert inner.recvs == 2


def test_pending_counts_what_is_buffered_and_eof_reads_empty(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    b.sendall(b"x" * 10)
    rb = ReadBuffer(a)
    assert rb.recv(4) == b"xxxx"
    assert rb.pending() == 6  # paho's loop then skips select() and reads on
    assert rb.recv(100) == b"x" * 6
    b.close()
    assert rb.recv(1) == b""  # end of stream, as socket.recv says it


def test_a_read_never_asks_less_than_chunk(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    big = bytes(range(256)) * ((CHUNK * 2) // 256)
    t = threading.Thread(target=b.sendall, args=(big,))
    t.start()
    rb = ReadBuffer(a)
    got = bytearray()
    while len(got) < len(big):
        try:
            got += rb.recv(7)
        except BlockingIOError:
            continue
    t.join()
    assert bytes(got) == big


def _client() -> FastClient:
    return FastClient(callback_api_version=CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv311)


def test_wake_ups_are_skipped_on_the_network_thread_and_while_one_is_unread() -> None:
    c = _client()
    r, w = socket.socketpair()
    r.setblocking(False)
    c._sockpairR, c._sockpairW = r, w
    assert isinstance(c._sockpairW, Waker) and isinstance(c._sockpairR, Drain)
    c._thread = threading.current_thread()  # as if this were paho's network thread
    assert c._sockpairW.send(b"0") == 1
    with pytest.raises(BlockingIOError):
        r.recv(10)  # the network thread woke nobody
    c._thread = None
    done = threading.Thread(target=lambda: [c._sockpairW.send(b"0") for _ in range(5)])
    done.start()
    done.join()
    assert c._sockpairR.recv(10) == b"0"  # five publishes, one wake-up
    c._sockpairW.send(b"0")  # read, so disarmed: the next one wakes again
    assert c._sockpairR.recv(10) == b"0"
    r.close()
    w.close()


def test_queued_plain_packets_go_out_in_one_send(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    c = _client()
    counting = Counting(a)
    c._sock = counting  # type: ignore[assignment]
    info = mqtt.MQTTMessageInfo(9)
    packets: list[dict[str, Any]] = [
        {
            "command": 0x40,
            "mid": 1,
            "qos": 0,
            "pos": 0,
            "to_process": 4,
            "packet": b"\x40\x02\x00\x01",
            "info": None,
        },
        {
            "command": 0x32,
            "mid": 2,
            "qos": 1,
            "pos": 0,
            "to_process": 5,
            "packet": b"\x32\x03abc",
            "info": None,
        },
        {
            "command": 0x40,
            "mid": 3,
            "qos": 0,
            "pos": 0,
            "to_process": 4,
            "packet": b"\x40\x02\x00\x03",
            "info": None,
        },
        {
            "command": 0x30,
            "mid": 9,
            "qos": 0,
            "pos": 0,
            "to_process": 4,
            "packet": b"\x30\x02hi",
            "info": info,
        },
        {
            "command": 0x40,
            "mid": 4,
            "qos": 0,
            "pos": 0,
            "to_process": 4,
            "packet": b"\x40\x02\x00\x04",
            "info": None,
        },
    ]
    c._out_packet.extend(packets)  # type: ignore[arg-type]
    assert c._packet_write() == mqtt.MQTT_ERR_SUCCESS
    sent = b"".join(p["packet"] for p in packets)
    assert b.recv(1000) == sent  # every byte, in order
    # the three plain packets in one send; the QoS 0 publish alone (paho confirms it after
    # writing), then the last one
    assert counting.sends == [sent[:13], sent[13:17], sent[17:]]
    assert info.is_published()


def test_the_paho_internals_we_rely_on_are_there() -> None:
    """A paho upgrade that moves them fails here, not in the field."""
    for name in ("_create_socket", "_packet_write", "_sock_recv", "_packet_queue", "_reset_sockets"):
        assert callable(getattr(mqtt.Client, name, None)), name
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="x")
    for attr in ("_sockpairR", "_sockpairW", "_out_packet", "_thread", "_transport"):
        assert hasattr(c, attr), attr
