"""Durability of the generated broker config, proven with SIGKILL on a real mosquitto.

mosquitto's defaults drop QoS1 messages above 1000 queued per offline client and lose
everything since the last (1800 s) autosave on SIGKILL. Ours does neither: it saves
every second (a crash loses at most that much broker state; alarms themselves are
end-to-end, see the firmware and console tests), or after every changing loop pass
with `autosave_every_change` (a window of milliseconds: mosquitto PUBACKs before it
saves, so even then the last PUBACKed message can be lost to an immediate SIGKILL).
Both modes are checked with a SIGKILL once the broker has saved.
"""

from __future__ import annotations

import time

from stilalarm.broker_config.local import LocalBroker, high_publish_limit
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from tests.harness import wait_until

N = 1500  # above mosquitto's default per-client queue limit of 1000


def _saved_after(broker: LocalBroker, t_ns: int, timeout: float = 5.0) -> None:
    """Wait until mosquitto has saved its database after time t_ns.

    A persistent client connecting is a change in both save modes, so a save follows
    it; every message the broker handled before then is in that save.
    """
    poke = Link(broker.creds("person-an"), client_id=cid_for("person-an", "durability-poke"))
    poke.start()
    assert poke.wait_connected(5)
    poke.stop()
    db = broker.dir / "data" / "stilalarm.db"
    wait_until(lambda: db.exists() and db.stat().st_mtime_ns > t_ns, timeout, "the broker's save")


def test_queued_qos1_survive_sigkill_and_are_not_capped(tmp_path, site, topics) -> None:
    _with_broker(LocalBroker(high_publish_limit(site), tmp_path / "b"), topics)


def test_strict_mode_persists_queue_across_sigkill(tmp_path, site, topics) -> None:
    strict = site.model_copy(
        update={"broker": site.broker.model_copy(update={"autosave_every_change": True})}
    )
    _with_broker(LocalBroker(high_publish_limit(strict), tmp_path / "s"), topics)


def _with_broker(b: LocalBroker, topics) -> None:
    """N messages from one unit login at once: the broker's per-login publish limit is raised
    out of the way (it is tested in test_broker_ratelimit.py), this is about the queue."""
    b.start()
    made: list[Link] = []

    def link(user: str) -> Link:
        lk = Link(b.creds(user))
        made.append(lk)
        lk.start()
        assert lk.wait_connected(5)
        return lk

    try:
        _queue_kill_restart_and_check(b, link, topics, wait_for_save=True)
    finally:
        for lk in made:
            lk.stop()
        b.kill()


def _queue_kill_restart_and_check(broker, link, topics, *, wait_for_save: bool) -> None:
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
    acked_ns = time.time_ns()
    unit.stop()
    if wait_for_save:
        _saved_after(broker, acked_ns)

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
    acked_ns = time.time_ns()
    c.stop()
    _saved_after(broker, acked_ns)
    broker.kill()
    broker.start()
    cap = capture(topics.all_incidents())
    assert cap.wait_for(topics.incident("i-1")) == [b"state-1"]
    assert cap.messages[0][2] is True  # delivered as retained
