"""Broker address lists: `BrokerCredentials.addresses` and `AddressRing` (the paho seam it uses)."""

from __future__ import annotations

import inspect
import socket

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from stilalarm.wire.credentials import BrokerAddress, BrokerCredentials
from stilalarm.wire.link import AddressRing

BASE = {"site_id": "s", "username": "unit-balie-1", "password": "0123456789abcdef"}


def test_host_and_port_alone_are_a_one_address_list_and_are_written_as_before() -> None:
    c = BrokerCredentials.model_validate({**BASE, "host": "a", "port": 1883})
    assert c.addresses == (BrokerAddress(host="a", port=1883),)
    assert "addresses" not in c.model_dump()
    assert BrokerCredentials.model_validate_json(c.model_dump_json()) == c


def test_addresses_alone_give_host_and_port_and_round_trip() -> None:
    c = BrokerCredentials.model_validate(
        {**BASE, "addresses": [{"host": "a", "port": 1}, {"host": "b", "port": 2}]}
    )
    assert (c.host, c.port) == ("a", 1)
    assert BrokerCredentials.model_validate_json(c.model_dump_json()) == c


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"host": "b", "port": 1, "addresses": [{"host": "a", "port": 1}]}, "must be the first of addresses"),
        ({"addresses": [{"host": "a", "port": 1}, {"host": "a", "port": 1}]}, "twice"),
        ({"addresses": [{"host": "a", "port": 0}]}, "greater than or equal to 1"),
        ({"addresses": []}, "Field required"),
    ],
)
def test_inconsistent_addresses_are_refused(extra: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        BrokerCredentials.model_validate({**BASE, **extra})


def test_at_keeps_host_port_and_addresses_consistent() -> None:
    c = BrokerCredentials.model_validate(
        {**BASE, "addresses": [{"host": "a", "port": 1}, {"host": "b", "port": 2}]}
    )
    one = c.at(("b", 2))
    assert (one.host, one.port, one.addresses) == ("b", 2, (BrokerAddress(host="b", port=2),))
    assert one.password == c.password


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_ring_aims_each_reconnect_at_the_next_address(caplog: pytest.LogCaptureFixture) -> None:
    """Pins the paho 2.2 seam: `reconnect()` calls `on_pre_connect` before it opens the socket, and
    connects to `_host`/`_port` as they are then."""
    ports = [_closed_port(), _closed_port(), _closed_port()]
    creds = BrokerCredentials.model_validate(
        {**BASE, "addresses": [{"host": "127.0.0.1", "port": p} for p in ports]}
    )
    ring = AddressRing(creds)
    tried: list[int] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t")
    orig = c._create_socket_connection

    def spy() -> socket.socket:
        tried.append(c.port)
        return orig()

    c._create_socket_connection = spy  # type: ignore[method-assign]
    c.on_pre_connect = lambda client, _u: ring.aim(client)
    c.connect_async("127.0.0.1", ports[0])
    for _ in range(4):
        with pytest.raises(ConnectionRefusedError):
            c.reconnect()
    assert tried == [ports[0], ports[1], ports[2], ports[0]]
    assert (
        f"could not connect to broker 127.0.0.1:{ports[0]}; trying 127.0.0.1:{ports[1]} next" in caplog.text
    )


def test_one_address_never_moves() -> None:
    creds = BrokerCredentials.model_validate({**BASE, "host": "127.0.0.1", "port": 1})
    ring = AddressRing(creds)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t")
    for _ in range(3):
        ring.aim(c)
        assert (c.host, c.port) == ("127.0.0.1", 1)


def test_the_paho_internals_give_up_uses_are_there() -> None:
    """`AddressRing.give_up` repeats paho 2.2's keepalive branch: `_sock_close()`, then
    `_do_on_disconnect(packet_from_broker=..., v1_rc=...)`; `aim` sets `_host`/`_port`."""
    params = inspect.signature(mqtt.Client._do_on_disconnect).parameters
    assert {"packet_from_broker", "v1_rc"} <= set(params)
    assert callable(mqtt.Client._sock_close)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t")
    c.connect_async("127.0.0.1", 1)
    assert (c._host, c._port) == ("127.0.0.1", 1)


def test_the_backoff_stays_at_its_minimum_until_every_address_failed_once() -> None:
    creds = BrokerCredentials.model_validate(
        {**BASE, "addresses": [{"host": "127.0.0.1", "port": p} for p in (1, 2, 3)]}
    )
    ring = AddressRing(creds)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t")
    seen = []
    for _ in range(5):
        c._reconnect_delay = 4  # as paho leaves it after a few failed waits
        ring.aim(c)
        seen.append((c.port, c._reconnect_delay, ring.first_round()))
    # attempts 1-3: paho's next wait is its minimum (None); once every address has failed (the
    # 3rd attempt too) the waits grow as paho has them
    assert seen == [(1, None, True), (2, None, True), (3, None, True), (1, 4, False), (2, 4, False)]
    ring.reached()
    ring.aim(c)
    assert (c.port, c._reconnect_delay) == (3, None)
