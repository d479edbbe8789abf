"""A region (docs/HA.md "Region"): two sites on one 3-node NATS cluster, an account each
(`alarm-broker region`, broker_config/region.py, `LocalRegion`). Both sites are the example site
under two ids, so they have the same unit and person ids: only the `@<site id>` on every login
tells them apart. Denials are proven by ordering (a control message after the forbidden one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.cluster import ClusterOptions
from stilalarm.broker_config.local import BrokerError, LocalRegion, find_nats_server
from stilalarm.broker_config.region import render_region
from stilalarm.broker_config.render import new_unit_password
from stilalarm.console.ha.jetstream import ClusterLog, LogUnavailable
from stilalarm.inventory import Site
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from stilalarm.wire.streams import MQTT_MSGS_STREAM, stream_name
from stilalarm.wire.topics import Topics, UnitChannel
from tests.conftest import EXAMPLE_SITE
from tests.harness import Capture, connect_result, make_site_ca, wait_until

A_ID = "hz-gemeentehuis"
B_ID = "hz-sociaal-huis"


def site_b() -> Site:
    text = EXAMPLE_SITE.read_text()
    assert f'id = "{A_ID}"' in text
    return parse_site(text.replace(f'id = "{A_ID}"', f'id = "{B_ID}"', 1))


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[LocalRegion]:
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    r = LocalRegion([site, site_b()], tmp_path_factory.mktemp("region"))
    try:
        r.start()
        yield r
    finally:
        r.kill()


def test_each_sites_logins_carry_its_id_and_work_only_as_its_own(region: LocalRegion) -> None:
    a, b = region.creds("unit-balie-1", 0, A_ID), region.creds("unit-balie-1", 0, B_ID)
    assert (a.username, b.username) == (f"unit-balie-1@{A_ID}", f"unit-balie-1@{B_ID}")
    assert a.client_id is not None and a.client_id.startswith(f"unit-balie-1@{A_ID}.")
    assert connect_result(region.port, a.username, a.password, a.client_id) == "Success"
    assert connect_result(region.port, b.username, b.password, b.client_id) == "Success"
    # a password is its own site's only; the bare mosquitto-style login does not exist here
    assert connect_result(region.port, b.username, a.password, b.client_id) == "Not authorized"
    assert connect_result(region.port, "unit-balie-1", a.password, a.client_id) == "Not authorized"


def test_a_unit_cannot_raise_an_alarm_at_another_site(region: LocalRegion) -> None:
    ta, tb = Topics(A_ID), Topics(B_ID)
    seen_b = Capture(region.creds("observer", 0, B_ID), (f"{tb.base}/#",)).start()
    attacker = Link(region.creds("unit-balie-1", 1, A_ID))
    own_b = Link(region.creds("unit-balie-1", 2, B_ID))
    try:
        for lk in (attacker, own_b):
            lk.start()
            assert lk.wait_connected(20)
        # site A's unit, on every topic of site B's it could name (its own unit id there too)
        for topic in (tb.unit_event("balie-1"), tb.unit_event("balie-2"), tb.incident("x")):
            attacker.publish(topic, b"forged", qos=0)
        attacker.publish(ta.unit_event("balie-1"), b"own", qos=1).wait_for_publish(10)
        own_b.publish(tb.unit_event("balie-1"), b"control", qos=1).wait_for_publish(10)
        wait_until(lambda: seen_b.on(tb.unit_event("balie-1")) != [], 20, "site B's control message")
        assert [p for t, p, _r in seen_b.messages if not _r] == [b"control"], "nothing of site A at B"
    finally:
        for lk in (attacker, own_b):
            lk.stop()
        seen_b.stop()


def test_a_leaked_client_id_of_one_site_takes_over_nothing_at_another(region: LocalRegion) -> None:
    """NATS 2.9 binds no client id to its login (docs/HA.md, open item 1), but MQTT sessions are
    per account: site B's logins cannot touch a session of site A, even with its secret id. The
    control (the same attack with a login of site A) shows the measurement sees a takeover."""
    downs: list[str] = []
    console = Link(region.creds("console", 0, A_ID), on_down=downs.append)
    got: list[bytes] = []
    console.subscribe(Topics(A_ID).all_units(UnitChannel.EVENT), lambda _t, p: got.append(p))
    try:
        console.start()
        assert console.wait_connected(20)
        secret = console.creds.session_client_id()
        b = region.creds("unit-balie-2", 1, B_ID)
        # on every node (NATS sometimes refuses a quick reuse of an id across nodes, "unable to
        # delete session record": the attacker's problem; it gets in)
        tried = [connect_result(node.mqtt_port, b.username, b.password, secret) for node in region.nodes]
        assert "Success" in tried, tried
        unit = Link(region.creds("unit-balie-2", 2, A_ID))
        unit.start()
        assert unit.wait_connected(20)
        unit.publish(Topics(A_ID).unit_event("balie-2"), b"after", qos=1).wait_for_publish(10)
        unit.stop()
        wait_until(lambda: got == [b"after"], 20, "site A's console still gets its site's alarm")
        assert downs == [], "site A's console was dropped by a login of site B"
        a = region.creds("unit-balie-2", 1, A_ID)
        assert connect_result(region.port, a.username, a.password, secret) == "Success"
        wait_until(lambda: downs != [], 20, "control: a login of site A with the id drops the console")
        assert console.wait_connected(20)
    finally:
        console.stop()


def answer(port: int, c: BrokerCredentials) -> str:
    """The broker's answer to one connect of `c` ("no CONNACK" after 5 s: a busy node)."""
    try:
        return connect_result(port, c.username, c.password, c.client_id)
    except AssertionError:
        return "no CONNACK"


def test_enrolment_rewrites_its_own_sites_account_only(region: LocalRegion, site: Site) -> None:
    """`alarm-console enroll approve/revoke` in a region: a unit's new password is written to its
    site's accounts.conf; after every node's reload the old one is refused and the new one works,
    and the other site's same-named unit is untouched."""
    old = region.creds("unit-balie-3", 0, A_ID)
    other = region.creds("unit-balie-3", 0, B_ID)
    b_file = region.site_dir(B_ID) / "accounts.conf"
    b_before = b_file.read_text()
    cfg = new_unit_password(site, region.site_dir(A_ID), "balie-3")
    assert b_file.read_text() == b_before
    assert cfg.broker.username == old.username and cfg.broker.password != old.password
    assert cfg.broker.client_id is not None and cfg.broker.client_id.startswith(f"unit-balie-3@{A_ID}.")
    for i in range(len(region.nodes)):
        pid = region.pid(i)
        assert pid is not None
        os.kill(pid, signal.SIGHUP)
    answers: list[str] = []  # what the broker said, for a failure's message

    def says(c: BrokerCredentials, expected: str) -> bool:
        answers.append(answer(region.port, c))
        return answers[-1] == expected

    def waits_for(c: BrokerCredentials, expected: str, timeout: float, what: str) -> None:
        answers.clear()
        try:
            wait_until(lambda: says(c, expected), timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the broker's answers, in order: {answers}") from None

    waits_for(old, "Not authorized", 20, "the old password refused after the reload")
    # a node busy storing sessions may answer a CONNECT with a transient error: a unit retries
    for c in (cfg.broker, other):
        waits_for(c, "Success", 30, f"{c.username} accepted after the reload")


def test_the_region_files(region: LocalRegion) -> None:
    text = (region.dir / "accounts.conf").read_text()
    assert f'include "sites/{A_ID}/accounts.conf"' in text and f'include "sites/{B_ID}/accounts.conf"' in text
    for sid in (A_ID, B_ID):
        own = (region.site_dir(sid) / "accounts.conf").read_text()
        assert f"SITE_{sid} {{" in own and "jetstream: { max_file: " in own
        assert f'"console-log@{sid}"' in own and '"system"' not in own
        assert oct((region.site_dir(sid) / "accounts.conf").stat().st_mode & 0o777) == "0o600"
        assert region.log_creds(sid).username == f"console-log@{sid}"
    assert not Path(region.dir / "sites" / A_ID / "nodes").exists(), "one set of node configs"


def test_a_site_joins_a_running_region_on_a_reload(tmp_path: Path, site: Site) -> None:
    """Adding a site: render the region again with it, every node reloads (no restart); the new
    site's console and units work at once and the sites already there keep their logins."""
    r = LocalRegion([site], tmp_path / "region")
    try:
        r.start()
        r.add_site(site_b())
        tb = Topics(B_ID)
        got: list[bytes] = []
        console = Link(r.creds("console", 0, B_ID))
        console.subscribe(tb.all_units(UnitChannel.EVENT), lambda _t, p: got.append(p))
        unit = Link(r.creds("unit-balie-1", 1, B_ID))
        try:
            console.start()
            unit.start()
            assert console.wait_connected(30) and unit.wait_connected(30)
            # A unit sends again until its alarm is receipted: the console's subscription may be
            # granted a moment after its connect (a refused one is asked for again, wire/link.py).
            deadline = time.monotonic() + 30
            while not got and time.monotonic() < deadline:
                unit.publish(tb.unit_event("balie-1"), b"first alarm", qos=1).wait_for_publish(20)
                resend = time.monotonic() + 2
                while not got and time.monotonic() < resend:
                    time.sleep(0.01)
            assert got and set(got) == {b"first alarm"}, "the new site's alarm at its console"
        finally:
            unit.stop()
            console.stop()
        a = r.creds("unit-balie-1", 2, A_ID)
        assert connect_result(r.nodes[2].mqtt_port, a.username, a.password, a.client_id) == "Success"
    finally:
        r.kill()


def append(clog: ClusterLog, record: bytes, after: int, record_id: str) -> int:
    """An append as the active console makes it: one that got no answer (a node restarting, a
    stream's leader moving) is tried again under the same record id, so it is stored once."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return clog.append(record, after, record_id)
        except LogUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_site_leaves_a_running_region_and_its_data_with_it(tmp_path: Path, site: Site) -> None:
    """Taking a site out (`alarm-broker region --remove`, every node reloads, the same render
    again, every node reloads): after the first step its connected unit is dropped and no node
    takes its logins; after the second its streams (log, lease, MQTT sessions) are gone from every
    node's store, also from a node started again. The site that stays keeps its unit publishing,
    its logins on every node (a new connection may wait a few seconds right after the deletion:
    printed) and its consoles' log."""
    r = LocalRegion([site, site_b()], tmp_path / "region")
    try:
        r.start()
        b_creds = r.creds("unit-balie-1", 1, B_ID)
        b_unit = Link(b_creds)
        a_unit = Link(r.creds("unit-balie-1", 1, A_ID))
        a_log = ClusterLog(r.log_creds(A_ID), timeout_s=2.0)
        b_log = ClusterLog(r.log_creds(B_ID), timeout_s=2.0)
        b_store = [
            r.dir / "nodes" / n.name / "jetstream" / "jetstream" / f"SITE_{B_ID}" / "streams" for n in r.nodes
        ]
        try:
            b_unit.start()
            a_unit.start()
            assert b_unit.wait_connected(30) and a_unit.wait_connected(30)
            a_log.start(wait_s=60)
            b_log.start(wait_s=60)  # B has a log, a lease and MQTT streams on the nodes
            a_seq = a_log.append(b"a before", a_log.last_seq(), "a-1")
            b_log.append(b"b before", b_log.last_seq(), "b-1")
            b_log.close()
            assert all(len(list(d.iterdir())) >= 4 for d in b_store), "B's streams on every node"

            def logins_refused() -> None:  # between the two steps, as the operator's reload is
                wait_until(lambda: not b_unit.connected.is_set(), 30, "the removed site's unit dropped")
                for i, node in enumerate(r.nodes):
                    wait_until(
                        lambda node=node: (
                            connect_result(
                                node.mqtt_port, b_creds.username, b_creds.password, b_creds.client_id
                            )
                            == "Not authorized"
                        ),
                        30,
                        f"node {i + 1} refusing the removed site's login",
                    )

            deleted = r.remove_site(B_ID, then=logins_refused)
            names = {d.partition(": ")[2] for d in deleted}  # as `alarm-broker region` prints them
            assert {stream_name(B_ID), MQTT_MSGS_STREAM, "$MQTT_sess"} <= names, deleted

            wait_until(
                lambda: not any(d.exists() and any(d.iterdir()) for d in b_store), 30, "B's streams deleted"
            )
            assert (r.dir / "removed").is_dir() and not (r.dir / "sites" / B_ID).exists()
            for i, node in enumerate(r.nodes):
                a = r.creds("unit-balie-1", i, A_ID)
                t0 = time.monotonic()
                wait_until(
                    lambda node=node, a=a: (
                        connect_result(node.mqtt_port, a.username, a.password, a.client_id + ".probe")
                        == "Success"
                    ),
                    60,
                    f"the staying site's login on node {i + 1}",
                )
                print(
                    f"\nnode {i + 1}: the staying site's login accepted after {time.monotonic() - t0:.1f} s"
                )
            info = a_unit.publish(Topics(A_ID).unit_event("balie-1"), b"after", qos=1)
            info.wait_for_publish(20)
            assert info.is_published(), "the staying site's unit publishes at QoS1"
            assert append(a_log, b"a after", a_seq, "a-2") == a_seq + 1, (
                "the staying site's log takes appends"
            )
            # a node started again afterwards serves the site that stays, and knows nothing of B
            size = r.log_path(0).stat().st_size
            r.restart_node(0)
            r.wait_ready(60, node=0, site_id=A_ID)
            a0 = r.creds("unit-balie-1", 0, A_ID)
            assert (
                connect_result(r.nodes[0].mqtt_port, a0.username, a0.password, a0.client_id + ".probe")
                == "Success"
            )
            assert append(a_log, b"a later", a_seq + 1, "a-3") == a_seq + 2
            # (it replays the cluster's history: "account missing" warnings for B's streams, whose
            # deletion follows in the same history; nothing of B is created again)
            with r.log_path(0).open("rb") as f:
                f.seek(size)
                after = f.read().decode(errors="replace")
            assert "Server is ready" in after
            assert not (b_store[0].exists() and any(b_store[0].iterdir())), "B's streams not restored"
        finally:
            b_unit.stop()
            a_unit.stop()
            a_log.close()
            b_log.close()
    finally:
        r.kill()


def test_every_node_config_of_a_tls_region_is_valid_for_nats_server(tmp_path: Path, site: Site) -> None:
    """`nats-server -t` on every node of a region with the site CA (the sites' includes resolved)."""
    exe = find_nats_server()
    tls = make_site_ca(tmp_path / "tls", "alarm-1.example")
    sites = [
        s.model_copy(update={"broker": s.broker.model_copy(update={"use_tls": True})})
        for s in (site, site_b())
    ]
    render_region(sites, ClusterOptions(out=tmp_path / "region", tls_dir=tls))
    for node in site.cluster.nodes:
        conf = tmp_path / "region" / "nodes" / node.name / "nats.conf"
        done = subprocess.run([exe, "-t", "-c", str(conf)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "tls {" in conf.read_text()
