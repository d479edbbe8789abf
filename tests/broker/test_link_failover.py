"""Address-list failover on real brokers: two mosquittos with the same logins, a client given both.

`Link` (thread per client) and `MuxLink` (many clients on one asyncio loop): the first broker is
down at start, or SIGKILLed while the client is connected; the client moves to the second, makes
its subscriptions there and gets messages. (The persistent session moving with it is the
cluster's part: tests/e2e/test_cluster_failover.py.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import BrokerError, LocalBroker, find_mosquitto, free_port
from stilalarm.firmware.mux import Mux, MuxLink
from stilalarm.inventory import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.harness import make_site_ca, tls_site, wait_until

UNIT = "balie-1"


@pytest.fixture
def pair(tmp_path: Path, site: Site) -> Iterator[tuple[LocalBroker, LocalBroker]]:
    """Two mosquittos rendered from one site with the same passwords (a renders, b reuses its
    secrets.json); neither started."""
    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))
    a = LocalBroker(site, tmp_path / "a")
    (tmp_path / "b").mkdir()
    shutil.copy(a.dir / "secrets.json", tmp_path / "b" / "secrets.json")
    b = LocalBroker(site, tmp_path / "b")
    assert a.creds("console").password == b.creds("console").password
    yield a, b
    a.kill()
    b.kill()


def both(a: LocalBroker, b: LocalBroker, user: str) -> BrokerCredentials:
    """`user`'s credentials listing a first, then b."""
    c = a.creds(user)
    return c.at((c.host, a.port), (c.host, b.port))


def receipt_from_console(broker: LocalBroker, topics: Topics, body: bytes) -> None:
    """The console (alone on `broker`) publishes `body` on the unit's receipt topic."""
    console = Link(broker.creds("console"), client_id="console", clean_session=True)
    console.start()
    try:
        assert console.wait_connected(10), "the console could not connect"
        console.publish(topics.unit_receipt(UNIT), body, qos=1).wait_for_publish(10)
    finally:
        console.stop()


def test_a_link_whose_first_broker_is_down_connects_to_the_second(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    a, b = pair
    b.start()
    got: list[bytes] = []
    lk = Link(both(a, b, f"unit-{UNIT}"), client_id=f"unit-{UNIT}", clean_session=True)
    lk.subscribe(topics.unit_receipt(UNIT), lambda _t, p: got.append(p))
    lk.start()
    try:
        assert lk.wait_connected(30), "the link did not reach the second broker"
        assert lk.ring.current.port == b.port
        receipt_from_console(b, topics, b"r1")
        wait_until(lambda: got == [b"r1"], 10, "the message through the second broker")
        assert (
            f"could not connect to broker 127.0.0.1:{a.port}; trying 127.0.0.1:{b.port} next" in caplog.text
        )
        assert f"connected to 127.0.0.1:{b.port}" in caplog.text
    finally:
        lk.stop()


def test_a_link_whose_broker_is_killed_moves_to_the_next_and_sends_what_it_queued(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    a.start()
    b.start()
    got: list[bytes] = []
    lk = Link(both(a, b, f"unit-{UNIT}"), client_id=f"unit-{UNIT}", clean_session=True)
    lk.subscribe(topics.unit_receipt(UNIT), lambda _t, p: got.append(p))
    lk.start()
    seen: list[bytes] = []
    watch = Link(b.creds("observer"), client_id="observer.watch", clean_session=True)
    watch.subscribe(topics.unit_heartbeat(UNIT), lambda _t, p: seen.append(p))
    watch.start()
    try:
        assert lk.wait_connected(10) and watch.wait_connected(10)
        assert lk.ring.current.port == a.port
        a.kill()
        wait_until(lambda: not lk.connected.is_set(), 30, "the link noticing the kill")
        lk.publish(topics.unit_heartbeat(UNIT), b"queued while away", qos=1, retain=False)
        assert lk.wait_connected(30), "the link did not move to the second broker"
        assert lk.ring.current.port == b.port
        wait_until(lambda: seen == [b"queued while away"], 10, "the queued publish through the second broker")
        receipt_from_console(b, topics, b"r2")
        wait_until(lambda: got == [b"r2"], 10, "a message on its subscription at the second broker")
        assert (
            f"lost the connection to broker 127.0.0.1:{a.port}; trying 127.0.0.1:{b.port} next" in caplog.text
        )
    finally:
        lk.stop()
        watch.stop()


def test_a_link_gives_up_a_broker_that_accepts_but_never_answers(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    """a is SIGSTOPped: the kernel still accepts the TCP connection, no CONNACK ever comes (as a
    NATS node waiting on its session store). After `connack_timeout_s` the link tries b."""
    a, b = pair
    a.start()
    b.start()
    assert a.pid is not None
    os.kill(a.pid, signal.SIGSTOP)
    got: list[bytes] = []
    lk = Link(both(a, b, f"unit-{UNIT}"), client_id=f"unit-{UNIT}", clean_session=True, connack_timeout_s=2)
    lk.subscribe(topics.unit_receipt(UNIT), lambda _t, p: got.append(p))
    lk.start()
    try:
        assert lk.wait_connected(30), "the link did not give up the silent broker"
        assert lk.ring.current.port == b.port
        assert f"no answer (CONNACK) from broker 127.0.0.1:{a.port} within 2 s" in caplog.text
        receipt_from_console(b, topics, b"r3")
        wait_until(lambda: got == [b"r3"], 10, "the message through the second broker")
    finally:
        lk.stop()
        os.kill(a.pid, signal.SIGCONT)


async def _mux_run(
    a: LocalBroker, b: LocalBroker, topics: Topics, kill_first: bool, connack_timeout_s: float = 5.0
) -> MuxLink:
    """A MuxLink listing a then b; with `kill_first` it connects to a, a is killed; either way it
    must end up on b with its subscription working."""
    loop = asyncio.get_running_loop()
    mux = Mux(loop)
    got: list[bytes] = []
    ups: list[int] = []
    lk = mux.link(
        both(a, b, f"unit-{UNIT}"),
        subscriptions=[topics.unit_receipt(UNIT)],
        on_message=lambda _t, p: got.append(p),
        on_up=lambda: ups.append(1),
        on_down=lambda _r: None,
        connack_timeout_s=connack_timeout_s,
    )
    lk.start()

    async def until(pred: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = loop.time() + timeout
        while not pred():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    try:
        await until(lambda: lk.connected, 30, "the first connect")
        if kill_first:
            assert lk.ring.current.port == a.port
            a.kill()
            await until(lambda: not lk.connected, 30, "the link noticing the kill")
            await until(lambda: lk.connected, 30, "the move to the second broker")
        assert lk.ring.current.port == b.port
        await loop.run_in_executor(None, receipt_from_console, b, topics, b"mux")
        await until(lambda: got == [b"mux"], 10, "the message through the second broker")
        return lk
    finally:
        await mux.shutdown({})


def test_a_mux_link_whose_first_broker_is_down_connects_to_the_second(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics
) -> None:
    a, b = pair
    b.start()
    asyncio.run(_mux_run(a, b, topics, kill_first=False))


def test_a_mux_link_whose_broker_is_killed_moves_to_the_next(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    a, b = pair
    a.start()
    b.start()
    asyncio.run(_mux_run(a, b, topics, kill_first=True))
    assert f"lost the connection to broker 127.0.0.1:{a.port}; trying 127.0.0.1:{b.port} next" in caplog.text
    assert f"connected to 127.0.0.1:{b.port}" in caplog.text


def test_a_mux_link_gives_up_a_broker_that_accepts_but_never_answers(
    pair: tuple[LocalBroker, LocalBroker], topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    a.start()
    b.start()
    assert a.pid is not None
    os.kill(a.pid, signal.SIGSTOP)
    try:
        asyncio.run(_mux_run(a, b, topics, kill_first=False, connack_timeout_s=2))
    finally:
        os.kill(a.pid, signal.SIGCONT)
    assert f"no answer (CONNACK) from broker 127.0.0.1:{a.port} within 2 s" in caplog.text


def test_tls_checks_the_certificate_against_the_host_of_each_address(
    tmp_path: Path, site: Site, topics: Topics
) -> None:
    """The certificate names `localhost` only. Listed first as 127.0.0.1 the broker fails the
    check (paho verifies against the host it connects to); the next address, `localhost`, passes."""
    tls = make_site_ca(tmp_path / "tls", "localhost")
    tls_port = free_port()
    broker = LocalBroker(tls_site(site, tls_port), tmp_path / "b", tls_dir=tls)
    broker.start()
    lk: Link | None = None
    try:
        creds = broker.creds(f"unit-{UNIT}")
        assert (creds.tls, creds.host, creds.port) == (True, "localhost", tls_port)
        lk = Link(creds.at(("127.0.0.1", tls_port), ("localhost", tls_port)), client_id=f"unit-{UNIT}")
        got: list[bytes] = []
        lk.subscribe(topics.unit_receipt(UNIT), lambda _t, p: got.append(p))
        lk.start()
        assert lk.wait_connected(30), "the link did not connect to the second address"
        assert lk.ring.current.host == "localhost"
        receipt_from_console(broker, topics, b"tls")
        wait_until(lambda: got == [b"tls"], 10, "the message over TLS")
    finally:
        if lk is not None:
            lk.stop()
        broker.kill()
