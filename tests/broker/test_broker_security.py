"""The generated config on a real mosquitto: nobody gets in without a password, and nobody
can act as someone else.

Denials are proven by ordering, not by sleeping: the forbidden message is published
(with mosquitto_pub, which returns after the broker's PUBACK, i.e. after the broker
handled it) before an allowed control message, so once the control message arrives,
the forbidden one would have arrived too. Measured: mosquitto 2.0.11 PUBACKs a denied
QoS1 publish and then drops the offender's connection.
"""

from __future__ import annotations

from tests.harness import connect_result, mosquitto_pub, wait_until
from wire.topics import UnitChannel


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
