"""Durability of the generated broker config, proven with SIGKILL on a real mosquitto.

mosquitto's defaults drop QoS1 messages above 1000 queued per offline client and lose
everything since the last (1800 s) autosave on SIGKILL. Ours must do neither.
"""

from __future__ import annotations

from tests.harness import wait_until
from wire.link import Link

N = 1500  # above mosquitto's default per-client queue limit of 1000


def test_queued_qos1_survive_sigkill_and_are_not_capped(broker, link, topics) -> None:
    evt = topics.unit_event("balie-1")
    # The console's persistent session subscribes, then goes away.
    first = Link(broker.creds("console"))
    first.subscribe(evt, lambda t, p: None)
    first.start()
    assert first.wait_connected(5)
    first.stop()

    unit = link("unit-balie-1")
    infos = [unit.publish(evt, f"{i}".encode(), qos=1) for i in range(N)]
    for info in infos:
        info.wait_for_publish(30)  # every one PUBACKed by the broker
    assert all(i.is_published() for i in infos)
    unit.stop()

    broker.kill()  # SIGKILL: no clean save
    broker.start()

    got: list[int] = []
    again = Link(broker.creds("console"))
    again.subscribe(evt, lambda t, p: got.append(int(p)))
    again.start()
    try:
        wait_until(lambda: len(got) >= N, timeout=30, what=f"{N} queued messages after SIGKILL")
        assert sorted(got) == list(range(N))
    finally:
        again.stop()


def test_retained_state_survives_sigkill(broker, capture, topics) -> None:
    c = Link(broker.creds("console"))
    c.start()
    assert c.wait_connected(5)
    c.publish(topics.incident("i-1"), b"state-1", qos=1, retain=True).wait_for_publish(5)
    c.stop()
    broker.kill()
    broker.start()
    cap = capture(topics.all_incidents())
    assert cap.wait_for(topics.incident("i-1")) == [b"state-1"]
    assert cap.messages[0][2] is True  # delivered as retained
