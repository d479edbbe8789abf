"""Fixtures: the example site, a real mosquitto per test (and a NATS cluster per module, for the
cluster profile), MQTT clients and captures.

A missing mosquitto binary FAILS the broker and e2e tiers (never skips), and under
CI any skipped test fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import (
    BrokerError,
    LocalBroker,
    LocalCluster,
    find_mosquitto,
)
from stilalarm.inventory import Site, load_site
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.harness import Capture, started_cluster

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = ROOT / "examples" / "site.toml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier from its folder: tests/unit, tests/broker, tests/e2e."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in ("unit", "broker", "e2e"):
            item.add_marker(getattr(pytest.mark, tier))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: nothing may pass by not running."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        print(f"\nCI: {skipped} test(s) skipped; in CI every test must run")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(EXAMPLE_SITE)


@pytest.fixture(scope="session")
def topics(site: Site) -> Topics:
    return Topics(site.site.id)


@pytest.fixture
def broker(tmp_path: Path, site: Site) -> Iterator[LocalBroker]:
    """A real mosquitto with the project's generated config on a free loopback port."""
    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))
    b = LocalBroker(site, tmp_path / "broker")
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[LocalCluster]:
    """The cluster profile: 3 real nats-server nodes (JetStream, MQTT) on loopback on free ports,
    one per test module (a start takes ~3.5 s while JetStream elects its leaders). A missing
    nats-server fails, never skips. `cluster.creds(user, node=i)` points a login at node i."""
    with started_cluster(site, tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest.fixture
def link(broker: LocalBroker) -> Iterator[Callable[..., Link]]:
    """Factory: a connected `Link` as a rendered user (stopped after the test)."""
    made: list[Link] = []

    def make(user: str, *, connect: bool = True, **kw: object) -> Link:
        lk = Link(broker.creds(user), **kw)  # type: ignore[arg-type]
        made.append(lk)
        if connect:
            lk.start()
            assert lk.wait_connected(5), f"{user} could not connect"
        return lk

    yield make
    for lk in made:
        lk.stop()


@pytest.fixture
def capture(broker: LocalBroker) -> Iterator[Callable[..., Capture]]:
    """Factory: record messages on topic filters as the read-only observer."""
    made: list[Capture] = []

    def make(*filters: str) -> Capture:
        c = Capture(broker.creds("observer"), tuple(filters)).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
