"""The generated config on a real mosquitto: nobody gets in without a password, and nobody
can act as someone else.

Denials are proven by ordering, not by sleeping: the forbidden message is published
(with mosquitto_pub, which returns after the broker's PUBACK, i.e. after the broker
handled it) before an allowed control message, so once the control message arrives,
the forbidden one would have arrived too. Measured: mosquitto 2.0.11 PUBACKs a denied
QoS1 publish and then drops the offender's connection.

Identity: every client id belongs to one login (wire/identity.py, enforced by the
plugin built from broker_config/clientid_plugin.c), so no login can take over another's
session. Memory: an unauthenticated peer cannot make the broker buffer more than
max_packet_size per connection.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import (
    BrokerError,
    LocalBroker,
    LocalCluster,
    find_mosquitto,
)
from stilalarm.broker_config.plugin import PLUGIN_NAME
from stilalarm.broker_config.render import MAX_PACKET_BYTES, MESSAGE_SIZE_LIMIT, PACKET_HEADROOM
from stilalarm.console import remote
from stilalarm.console.tui.bus import Bus, BusEvent, Cleared, Down, Got, Up
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER, new_key
from stilalarm.wire.identity import CLIENT_ID_SEPARATOR, client_id, owns
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    ID_PATTERN,
    MAX_PAYLOAD_BYTES,
    CommandReply,
    PresenceCmd,
    RiskState,
    encode,
    new_id,
    utcnow,
)
from stilalarm.wire.topics import Topics, UnitChannel
from tests.harness import Capture, connect_result, half_sent_connect, mosquitto_pub, rss_kib, wait_until

# -- both broker profiles ---------------------------------------------------------------------
# Every test that takes `broker` runs against mosquitto (the default profile) and against the
# cluster profile (3 NATS nodes, JetStream, MQTT; docs/HA.md), unless it is marked
# `mosquitto_only` with the reason: those test what only mosquitto's plugin or config does.
# The cluster (tests/conftest.py) is started once for the module (a start takes ~8 s while
# JetStream elects its leaders); the tests use distinct topics or tolerate each other's
# retained messages.

mosquitto_only = pytest.mark.mosquitto_only


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "broker" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("mosquitto_only")
        metafunc.parametrize("profile", ["mosquitto"] if only else ["mosquitto", "cluster"])


@pytest.fixture
def broker(request: pytest.FixtureRequest, profile: str, tmp_path: Path, site) -> Iterator[object]:
    if profile == "cluster":
        yield request.getfixturevalue("cluster")
        return
    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))
    b = LocalBroker(site, tmp_path / "broker")
    b.start()
    yield b
    b.kill()


def test_anonymous_and_wrong_password_refused(broker) -> None:
    assert "Not authorized" in connect_result(broker.port, None, None)
    assert "Not authorized" in connect_result(broker.port, "unit-balie-1", "wrong-password-123")
    assert "Not authorized" in connect_result(broker.port, "nobody", "whatever-password")
    good = broker.creds("unit-balie-1")
    assert connect_result(broker.port, good.username, good.password) == "Success"


def test_unit_cannot_publish_on_another_units_topics(broker, link, topics) -> None:
    got: list[tuple[str, bytes]] = []
    console = link("console", connect=False)
    console.subscribe(topics.all_units(UnitChannel.EVENT), lambda t, p: got.append((t, p)))
    console.start()
    assert console.wait_connected(5)
    a = broker.creds("unit-balie-1")
    assert mosquitto_pub(a, topics.unit_event("balie-2"), b"spoofed-as-balie-2").returncode == 0
    assert mosquitto_pub(a, topics.unit_event("balie-1"), b"control").returncode == 0
    wait_until(lambda: any(p == b"control" for _t, p in got), what="control message")
    assert got == [(topics.unit_event("balie-1"), b"control")]


def test_unit_cannot_read_another_units_commands(broker, link, topics) -> None:
    seen_a: list[bytes] = []
    seen_b: list[bytes] = []
    a = link("unit-balie-1", connect=False)
    a.subscribe(topics.unit_cmd("balie-2"), lambda t, p: seen_a.append(p))
    a.subscribe(topics.unit_cmd("balie-1"), lambda t, p: seen_a.append(p))
    a.start()
    assert a.wait_connected(5)
    b = link("unit-balie-2", connect=False)
    b.subscribe(topics.unit_cmd("balie-2"), lambda t, p: seen_b.append(p))
    b.start()
    assert b.wait_connected(5)
    console = link("console")
    console.publish(topics.unit_cmd("balie-2"), b"for-b", qos=1).wait_for_publish(5)
    console.publish(topics.unit_cmd("balie-1"), b"for-a", qos=1).wait_for_publish(5)
    wait_until(lambda: seen_a == [b"for-a"] and seen_b == [b"for-b"], what="commands delivered")
    assert seen_a == [b"for-a"]


def test_lead_cannot_publish_as_another_lead(broker, link, topics) -> None:
    got: list[tuple[str, bytes]] = []
    console = link("console", connect=False)
    console.subscribe(topics.all_person_cmds(), lambda t, p: got.append((t, p)))
    console.start()
    assert console.wait_connected(5)
    an = broker.creds("person-an")
    mosquitto_pub(an, topics.person_cmd("bart"), b"ack-as-bart")
    mosquitto_pub(an, topics.unit_receipt("balie-1"), b"fake-receipt")
    mosquitto_pub(an, topics.incident("i-1"), b"fake-state", retain=True)
    assert mosquitto_pub(an, topics.person_cmd("an"), b"control").returncode == 0
    wait_until(lambda: any(p == b"control" for _t, p in got), what="control message")
    assert got == [(topics.person_cmd("an"), b"control")]


def test_unit_cannot_forge_receipts_or_incident_state(broker, capture, topics) -> None:
    cap = capture(f"{topics.base}/#")
    u = broker.creds("unit-balie-1")
    mosquitto_pub(u, topics.unit_receipt("balie-1"), b"self-receipt")
    mosquitto_pub(u, topics.incident("i-1"), b"forged", retain=True)
    mosquitto_pub(u, topics.person_notify("an"), b"forged")
    assert mosquitto_pub(u, topics.unit_heartbeat("balie-1"), b"control").returncode == 0
    cap.wait_for(topics.unit_heartbeat("balie-1"))
    assert [t for t, _p, _r in cap.messages] == [topics.unit_heartbeat("balie-1")]
    # A forged retained state would be replayed to a new subscriber before anything
    # published after its subscription.
    late = capture(topics.all_incidents(), topics.console_status())
    mosquitto_pub(broker.creds("console"), topics.console_status(), b"control2")
    late.wait_for(topics.console_status())
    assert [t for t, _p, _r in late.messages] == [topics.console_status()]


def _risk(risk_id: str, standby: str = "bart") -> bytes:
    """A valid RiskState (a forgery must not be caught by its shape only)."""
    now = utcnow()
    st = RiskState(
        risk_id=risk_id,
        room_id="spreekkamer-1",
        person_id="an",
        standby=standby,
        starts_at=now,
        ends_at=now.replace(year=now.year + 1),
    )
    return encode(st)


def test_nobody_but_the_console_can_forge_or_clear_a_risky_conversations_state(
    broker, capture, topics
) -> None:
    """The attack: a person's or a unit's login publishes a fake retained risky conversation (a
    colleague's console would list a stand-by nobody asked for), or clears a real one (a console
    started later would miss it). Refused: only the console writes risk/P/R."""
    console = broker.creds("console")
    real, control = _risk("r-real"), _risk("r-control")
    assert mosquitto_pub(console, topics.risk("an", "r-real"), real, retain=True).returncode == 0
    cap = capture(topics.all_risks())
    cap.wait_for(topics.risk("an", "r-real"))  # the retained copy, on subscribing
    an, bart, unit = broker.creds("person-an"), broker.creds("person-bart"), broker.creds("unit-balie-1")
    for _round in range(2):  # repeated, as an attacker would
        mosquitto_pub(an, topics.risk("an", "r-fake"), _risk("r-fake"), retain=True)  # even one's own
        mosquitto_pub(an, topics.risk("bart", "r-fake"), _risk("r-fake"), retain=True)
        mosquitto_pub(bart, topics.risk("an", "r-real"), b"", retain=True)  # clear someone else's
        mosquitto_pub(bart, topics.risk("bart", "r-real"), b"", retain=True)
        mosquitto_pub(unit, topics.risk("an", "r-fake"), _risk("r-fake"), retain=True)
        mosquitto_pub(unit, topics.risk("an", "r-real"), b"", retain=True)
    assert mosquitto_pub(console, topics.risk("an", "r-control"), control, retain=True).returncode == 0
    cap.wait_for(topics.risk("an", "r-control"))
    assert [(t, p) for t, p, _r in cap.messages] == [
        (topics.risk("an", "r-real"), real),
        (topics.risk("an", "r-control"), control),
    ]
    # a console starting now gets the real ones, intact, and nothing forged
    late = capture(topics.all_risks())
    wait_until(lambda: len(late.messages) >= 2, what="the retained copies")
    mosquitto_pub(console, topics.risk("an", "r-end"), b"", retain=True)  # a last control
    late.wait_for(topics.risk("an", "r-end"))
    assert {t: p for t, p, _r in late.messages if p} == {
        topics.risk("an", "r-real"): real,
        topics.risk("an", "r-control"): control,
    }


def test_a_persons_console_reads_only_the_risky_conversations_they_were_told_of(
    broker, link, topics, profile
) -> None:
    """Per person, like the notices: Bart's console (the TUI's own bus) gets his copies only and sees
    a cleared one go; asking for everyone's (a wildcard, An's) with his login gets nothing more.
    mosquitto grants the wider SUBSCRIBE and delivers only what the ACL lets him read; NATS refuses
    such a SUBSCRIBE outright (SUBACK failure), so the cluster's spy gets nothing at all."""
    filtered = profile == "mosquitto"
    console = broker.creds("console")
    mosquitto_pub(console, topics.risk("an", "r-an"), _risk("r-an", "an"), retain=True)
    mosquitto_pub(console, topics.risk("bart", "r-bart"), _risk("r-bart"), retain=True)
    sink = _Sink()
    bus = Bus(broker.creds("person-bart"), "bart", sink, console_id="pc-bart")
    spied: list[str] = []
    spy = link("person-bart", connect=False, client_id=client_id("person-bart", "spy"), clean_session=True)
    spy.subscribe(topics.all_risks(), lambda t, _p: spied.append(t))
    spy.subscribe(topics.risks_of("an"), lambda t, _p: spied.append(t))
    spy.start()
    bus.start()
    try:
        assert spy.wait_connected(5)
        wait_until(lambda: _risks(sink) == ["r-bart"], 10, "Bart's own copy")
        if filtered:
            wait_until(lambda: spied == [topics.risk("bart", "r-bart")], 10, "the spy's only copy")
        mosquitto_pub(console, topics.risk("an", "r-an-2"), _risk("r-an-2", "an"), retain=True)
        mosquitto_pub(console, topics.risk("bart", "r-bart"), b"", retain=True)  # cancelled: cleared
        wait_until(lambda: sink.of(Cleared), 10, "the clearing of Bart's copy")
        if filtered:
            wait_until(lambda: len(spied) == 2, 10, "the clearing at the spy")
        assert [(c.kind, c.ident) for c in sink.of(Cleared)] == [("risk", "r-bart")]  # type: ignore[attr-defined]
        assert _risks(sink) == ["r-bart"]
        assert spied == ([topics.risk("bart", "r-bart")] * 2 if filtered else [])  # never An's
    finally:
        bus.stop()


def _risks(sink: _Sink) -> list[str]:
    return [e.msg.risk_id for e in sink.of(Got) if isinstance(e.msg, RiskState)]  # type: ignore[attr-defined]


# -- identity: a client id belongs to its login ---------------------------------------------


def test_the_separator_cannot_occur_in_a_username() -> None:
    assert re.fullmatch(ID_PATTERN, f"a{CLIENT_ID_SEPARATOR}b") is None
    assert owns("person-an", "person-an") and owns("person-an", client_id("person-an", "tui-1"))
    # a dash suffix would be ambiguous: `person-an-bart` could be person "an-bart"'s own id
    assert not owns("person-an", "person-an-bart") and not owns("person-an", "person-a")
    assert not owns("person-an", "console") and not owns("unit-balie-1", "unit-balie-2")


@mosquitto_only  # NATS accepts any id: the cluster's answer is the next test (docs/HA.md)
def test_no_login_can_take_over_another_identitys_client_id(broker, link, topics) -> None:
    """The attack of finding 1, with real clients: a unit's password with client id `console`
    or another unit's id, a person's password with the console's or another person's id.
    mosquitto used to accept these and drop the real holder of the id; now it refuses the
    attacker and the console and the attacked unit never see a disconnect."""
    downs: dict[str, list[str]] = {"console": [], "unit-balie-2": [], "bart-tui": []}
    alarms: list[bytes] = []
    cmds: list[bytes] = []
    console = link("console", connect=False, on_down=downs["console"].append)
    console.subscribe(topics.all_units(UnitChannel.EVENT), lambda _t, p: alarms.append(p))
    console.start()
    unit = link("unit-balie-2", connect=False, on_down=downs["unit-balie-2"].append)
    unit.subscribe(topics.unit_cmd("balie-2"), lambda _t, p: cmds.append(p))
    unit.start()
    bart_tui = client_id("person-bart", "tui-0badc0de")
    bart = link("person-bart", client_id=bart_tui, clean_session=True, on_down=downs["bart-tui"].append)
    assert console.wait_connected(5) and unit.wait_connected(5) and bart.wait_connected(5)

    u1, an = broker.creds("unit-balie-1"), broker.creds("person-an")
    attacks = [
        (u1, "console"),
        (u1, "unit-balie-2"),
        (an, "console"),
        (an, "person-bart"),
        (an, bart_tui),
        (an, "unit-balie-2"),
        (an, "person-an-tui-1234"),  # the old dash form: ambiguous, refused
    ]
    answers = []
    for _round in range(3):  # the attack was repeated; so is the test
        for creds, cid in attacks:
            answer = connect_result(broker.port, creds.username, creds.password, cid)
            answers.append((creds.username, cid, answer))
    assert downs == {"console": [], "unit-balie-2": [], "bart-tui": []}, "a real client was kicked"
    # meanwhile the attacked unit presses, and the console commands it
    unit.publish(topics.unit_event("balie-2"), b"alarm-during-attack", qos=1).wait_for_publish(5)
    console.publish(topics.unit_cmd("balie-2"), b"cmd-during-attack", qos=1).wait_for_publish(5)
    wait_until(lambda: alarms == [b"alarm-during-attack"], 10, "the alarm at the console")
    wait_until(lambda: cmds == [b"cmd-during-attack"], 10, "the command at the unit")

    assert downs == {"console": [], "unit-balie-2": [], "bart-tui": []}, "a real client was kicked"
    assert [a for a in answers if a[2] != "Not authorized"] == []
    # MQTT 5 extended authentication skips the password check; with no such method
    # configured the broker refuses it, whatever the client id
    v5 = connect_result(broker.port, u1.username, u1.password, "console", v5_auth_method="SCRAM-SHA-1")
    assert v5 == "Bad authentication method"
    # the attacker's own identity still works: the rule refuses ids, not logins
    assert connect_result(broker.port, u1.username, u1.password, "unit-balie-1") == "Success"
    assert connect_result(broker.port, an.username, an.password, client_id("person-an", "x")) == "Success"
    log = broker.log_path.read_text(errors="replace")
    assert "stilalarm-clientid: refused user 'unit-balie-1' with client id 'console'" in log
    assert downs == {"console": [], "unit-balie-2": [], "bart-tui": []}


@mosquitto_only  # NATS 2.9 binds no client id to a login (docs/HA.md, open item 1)
def test_only_the_enroll_login_may_use_a_fingerprint_as_client_id_and_only_its_own_topics(
    broker, topics
) -> None:
    """Enrolment protocol 2 on mosquitto: a Pi being enrolled uses its key's fingerprint as client
    id; the plugin allows that form for the `enroll` login only, and the acl's `%c` patterns give
    it the request topic of its own fingerprint only (a request on another's is dropped)."""
    fp, other = new_key().fingerprint, new_key().fingerprint
    assert connect_result(broker.port, ENROLL_USER, ENROLL_PASSWORD, fp) == "Success"
    for bad in (fp.upper(), fp[:-1], f"enroll-{fp}", "console", "unit-balie-1"):
        assert connect_result(broker.port, ENROLL_USER, ENROLL_PASSWORD, bad) == "Not authorized", bad
    u1, console = broker.creds("unit-balie-1"), broker.creds("console")
    for creds in (u1, console):  # no other login may use a fingerprint (or take a Pi's id)
        assert connect_result(broker.port, creds.username, creds.password, fp) == "Not authorized"
    log = broker.log_path.read_text(errors="replace")
    assert f"stilalarm-clientid: refused user 'unit-balie-1' with client id '{fp}'" in log
    # its own request topic only: a post on another fingerprint's never reaches the console
    creds = u1.model_copy(update={"username": ENROLL_USER, "password": ENROLL_PASSWORD})
    cap = Capture(console, (topics.all_enroll_requests(),)).start()
    try:
        assert mosquitto_pub(creds, topics.enroll_request(other), b"forged", cid=fp).returncode == 0
        assert mosquitto_pub(creds, topics.enroll_request(fp), b"control", cid=fp).returncode == 0
        wait_until(lambda: any(p == b"control" for _t, p, _r in cap.messages), 10, "the control request")
        got = [(t, p) for t, p, _r in cap.messages if p]
        assert got == [(topics.enroll_request(fp), b"control")]
    finally:
        cap.stop()


def test_on_the_cluster_a_units_login_can_no_longer_take_over_the_consoles_or_a_units_session(
    cluster, topics
) -> None:
    """The attack measured on the cluster (docs/HA.md "What is open" 1): NATS 2.9 lets any login
    connect with any client id and drops whoever held it. A unit's password with client id
    `console` dropped the console; the two then kept kicking each other off. Now every session's
    id has a secret suffix (`alarm-broker render --profile cluster`), so the ids an attacker can
    guess hold nobody's session. Repeated here with the real links for a few seconds, while the
    attacked unit presses and the console commands it: nobody is kicked, nothing is lost. The
    control at the end shows that the same measurement sees a takeover: with the console's
    secret id (leaked) the attack still works with a login of the site, because NATS checks no
    client id against its login (the limit docs/HA.md states); not with the public `enroll` login
    any more, which lives in the enrolment account (item 11)."""
    downs: dict[str, list[str]] = {"console": [], "unit-balie-2": []}
    alarms: list[bytes] = []
    cmds: list[bytes] = []
    console = Link(cluster.creds("console", node=0), on_down=downs["console"].append)
    console.subscribe(topics.all_units(UnitChannel.EVENT), lambda _t, p: alarms.append(p))
    unit = Link(cluster.creds("unit-balie-2", node=1), on_down=downs["unit-balie-2"].append)
    unit.subscribe(topics.unit_cmd("balie-2"), lambda _t, p: cmds.append(p))
    u1 = cluster.creds("unit-balie-1", node=2)
    # the attacker keeps coming back: a reconnecting client on each guessable id, as measured
    attackers = [Link(u1, client_id=cid) for cid in ("console", "unit-balie-2")]
    links = [console, unit, *attackers]
    try:
        console.start()
        unit.start()
        assert console.wait_connected(20) and unit.wait_connected(20)
        real_ids = {console.creds.session_client_id(), unit.creds.session_client_id()}
        assert not real_ids & {"console", "unit-balie-2"}, "the sessions' ids are not the guessable ones"
        for a in attackers:
            a.start()
        assert all(a.wait_connected(20) for a in attackers), "the attack connects: NATS takes any id"
        sent_alarms, sent_cmds = [], []
        one_shots = [
            (u1.username, u1.password, cid) for cid in ("web", "observer", "person-bart", "unit-balie-3")
        ]
        one_shots.append((ENROLL_USER, ENROLL_PASSWORD, "web"))  # the public login: no stolen password
        accepted: set[tuple[str, str]] = set()
        for i in range(15):  # ~3 s of attack while the unit presses and the console commands it
            for node in cluster.nodes:  # and one-shot connects with the other guessable ids, every node
                for user, password, cid in one_shots:
                    # NATS sometimes refuses a quick reuse of an id across nodes ("unable to delete
                    # session ... record"): the attacker's problem; each id gets in many times
                    if connect_result(node.mqtt_port, user, password, cid) == "Success":
                        accepted.add((user, cid))
            alarm, cmd = f"alarm-{i}".encode(), f"cmd-{i}".encode()
            unit.publish(topics.unit_event("balie-2"), alarm, qos=1).wait_for_publish(10)
            console.publish(topics.unit_cmd("balie-2"), cmd, qos=1).wait_for_publish(10)
            sent_alarms.append(alarm)
            sent_cmds.append(cmd)
        wait_until(lambda: alarms == sent_alarms, 20, "every alarm at the console")
        wait_until(lambda: cmds == sent_cmds, 20, "every command at the unit")
        assert accepted == {(user, cid) for user, _p, cid in one_shots}, "NATS takes any id from any login"
        assert downs == {"console": [], "unit-balie-2": []}, "a real client was kicked"
        assert console.connected.is_set() and unit.connected.is_set()
    finally:
        for a in attackers:
            a.stop()

    try:
        # the public enrolment login lives in an account of its own (docs/HA.md, item 11): even
        # with the console's secret id it reaches no session of the site's
        secret = console.creds.session_client_id()
        assert connect_result(cluster.port, ENROLL_USER, ENROLL_PASSWORD, secret) == "Success"
        unit.publish(topics.unit_event("balie-2"), b"after enroll", qos=1).wait_for_publish(10)
        wait_until(lambda: alarms[-1:] == [b"after enroll"], 20, "an alarm after the enroll login's try")
        assert downs["console"] == [], "the public enrolment login dropped the console"
        # control: the leaked id with a login of the site's own account still drops the console
        assert connect_result(cluster.port, u1.username, u1.password, secret) == "Success"
        wait_until(lambda: downs["console"] != [], 20, "the console dropped by a login using its id")
        assert console.wait_connected(20), "the console came back"
    finally:
        for lk in links[:2]:
            lk.stop()


class _Sink:
    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self.lock = threading.Lock()

    def __call__(self, ev: BusEvent) -> None:
        with self.lock:
            self.events.append(ev)

    def of(self, kind: type) -> list[BusEvent]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


def test_a_persons_two_consoles_and_a_cli_command_coexist(broker, link, topics) -> None:
    """The rule leaves a person several connections of their own: TUIs on two PCs (each with its
    own last will, which auto-absent relies on) and a one-shot CLI command, all at once."""
    cmd = PresenceCmd(cmd_id=new_id(), person_id="an", issued_at=utcnow(), present=True)
    console = link("console", connect=False)

    def answer(_t: str, payload: bytes) -> None:
        if str(cmd.cmd_id).encode() in payload:
            reply = CommandReply(cmd_id=cmd.cmd_id, ok=True, code="ok")
            console.publish(topics.person_reply("an"), encode(reply), qos=1)

    console.subscribe(topics.person_cmd("an"), answer)
    console.start()
    assert console.wait_connected(5)
    sinks = [_Sink(), _Sink()]
    buses = [Bus(broker.creds("person-an"), "an", s, console_id=f"pc-{i}") for i, s in enumerate(sinks)]
    for b in buses:
        b.start()
    try:
        wait_until(lambda: all(b.connected for b in buses), 10, "both consoles of An connected")
        reply = remote.send(remote.load_person(broker.dir, "an"), cmd, timeout=10)
        assert reply is not None and reply.ok, "the CLI command got no answer"
        assert all(b.connected for b in buses)
        assert [(s.of(Down), len(s.of(Up))) for s in sinks] == [([], 1), ([], 1)]  # nobody kicked
    finally:
        for b in buses:
            b.stop()


def test_the_broker_refuses_to_start_without_the_plugin(tmp_path: Path, site) -> None:
    b = LocalBroker(site, tmp_path / "b")
    (b.dir / PLUGIN_NAME).unlink()
    with pytest.raises(BrokerError, match=PLUGIN_NAME.replace(".", r"\.")):
        b.start()
    assert b.proc is None or b.proc.poll() is not None


def test_render_fails_loudly_when_the_plugin_cannot_be_built(tmp_path: Path) -> None:
    """No compiler, no cached build: `alarm-broker render` stops and says what to install,
    instead of writing a config that runs without the check."""
    root = Path(__file__).resolve().parents[2]
    site_toml, out = root / "examples" / "site.toml", tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "stilalarm.broker_config.cli",
            "render",
            "--site",
            str(site_toml),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
        env={**os.environ, "PATH": str(tmp_path / "empty"), "STILALARM_CACHE": str(tmp_path / "cache")},
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "gcc is missing" in res.stderr and "mosquitto-dev" in res.stderr
    assert not (tmp_path / "out" / "mosquitto.conf").exists()


# -- memory: an unauthenticated peer cannot grow the broker ---------------------------------


def test_half_sent_huge_connects_cannot_grow_the_brokers_memory(
    broker, profile: str, request: pytest.FixtureRequest
) -> None:
    """The attack of finding 2, modest: 4 connections without credentials each announce a
    200 MiB CONNECT and stream 12 MiB of it. With max_packet_size the broker closes each one
    after the 5-byte length header, having buffered nothing; without it, it kept every byte.

    Bound: each connection may make the broker hold at most one packet of max_packet_size
    (66,560 bytes), plus slack for the allocator (4 MiB): 4 x 65 KiB + 4 MiB = ~4.3 MiB, well
    under the 48 MiB the attack sends.

    On the cluster this FAILS, and is marked so (strict: it turns red the day it passes):
    nats-server 2.9 buffers a half-sent MQTT packet whole and has no setting that bounds it
    (measured: one node grew by ~180 MiB; docs/HA.md, "Differences", and What is open)."""
    if profile == "cluster":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="nats-server 2.9 buffers a half-sent MQTT CONNECT whole (docs/HA.md, open item 10)",
            )
        )
    n, announced, each = 4, 200 * 1024 * 1024, 12 * 1024 * 1024
    good = broker.creds("observer")
    assert connect_result(broker.port, good.username, good.password) == "Success"  # warm up
    pid = broker.pid(0) if isinstance(broker, LocalCluster) else broker.pid  # the node we attack
    assert pid is not None
    before = rss_kib(pid)
    left_open = [half_sent_connect(broker.port, announced, each) for _ in range(n)]
    try:
        after = rss_kib(pid)
        bound_kib = (n * MAX_PACKET_BYTES) // 1024 + 4 * 1024
        print(f"broker RSS {before} KiB -> {after} KiB (+{after - before} KiB; bound {bound_kib} KiB)")
        assert after - before < bound_kib, f"broker grew by {after - before} KiB"
        assert left_open == [None] * n, "the broker kept half-sent oversized CONNECTs open"
    finally:
        for s in left_open:
            if s is not None:
                s.close()
    assert connect_result(broker.port, good.username, good.password) == "Success"


@mosquitto_only  # see the reason in docs/HA.md (cluster profile: differences)
def test_the_largest_legitimate_message_still_passes(broker, link, capture) -> None:
    """max_packet_size leaves room for the largest message we send (MAX_PAYLOAD_BYTES), and for
    the broker's payload limit itself, on the longest topic an inventory can make."""
    lt, ident, inc = Topics("s" * 48), "x" * 48, "i" * 100  # ids are <= 48 chars; incident ids short
    longest = max(
        len(topic.encode())
        for topic in (
            lt.unit_heartbeat(ident),
            lt.person_notify(ident),
            lt.person_reply(ident),
            lt.unitstate(ident),
            lt.presence(ident),
            lt.incident(inc),
            lt.timeline(inc),
            lt.console_status(),
        )
    )
    assert longest + 2 + 2 + 5 <= PACKET_HEADROOM  # topic length, packet id, fixed header
    assert MAX_PAYLOAD_BYTES <= MESSAGE_SIZE_LIMIT
    t = Topics(broker.site.site.id)
    topic = t.person_notify("p" * 48)  # console may write any person's notify topic
    cap = capture(topic)
    console = link("console")
    for size in (MAX_PAYLOAD_BYTES, MESSAGE_SIZE_LIMIT):
        payload = uuid.uuid4().bytes * (size // 16)
        console.publish(topic, payload, qos=1).wait_for_publish(10)
        cap.wait_for(topic, n=1 if size == MAX_PAYLOAD_BYTES else 2, timeout=10)
    assert [len(p) for p in cap.on(topic)] == [MAX_PAYLOAD_BYTES, MESSAGE_SIZE_LIMIT]
    assert console.connected.is_set()
