"""`help_first` (console/shell/outgoing.py): after a commit the console's writer waits until the
broker took the batch's notifications and pages, then publishes its receipts and retained state.
It waits for the PUBACKs, never longer than its bound, and not at all while the link is down.
Against a real mosquitto, frozen with SIGSTOP or killed. (Why it waits: docs/HA.md, item 9.)"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from paho.mqtt.enums import MQTTErrorCode

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.shell.outgoing import help_first
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.harness import wait_until

LIVENESS_S = 30.0  # a hang fails the test after this; the bounds below are far longer


def _returns(fn: Callable[[], None]) -> bool:
    """Whether `fn` returned within LIVENESS_S (run in a thread)."""
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    t.join(LIVENESS_S)
    return not t.is_alive()


def test_it_returns_once_the_broker_confirmed_them(link: Callable[..., Link], topics: Topics) -> None:
    lk = link("console")
    infos = [lk.publish(topics.person_notify("an"), b"{}", qos=1) for _ in range(5)]
    assert _returns(lambda: help_first(infos, timeout_s=3600))
    assert all(i.is_published() for i in infos)


def test_a_frozen_broker_holds_the_writer_only_for_the_bound(
    broker: LocalBroker, link: Callable[..., Link], topics: Topics
) -> None:
    lk = link("console")
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        infos = [lk.publish(topics.person_notify("an"), b"{}", qos=1) for _ in range(3)]
        assert _returns(lambda: help_first(infos, timeout_s=0.3))
        assert not any(i.is_published() for i in infos)  # it gave up: the broker never answered
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    wait_until(lambda: all(i.is_published() for i in infos), 10, "the PUBACKs after SIGCONT")


def test_it_does_not_wait_while_the_link_is_down(
    broker: LocalBroker, link: Callable[..., Link], topics: Topics
) -> None:
    lk = link("console")
    broker.kill()
    wait_until(lambda: not lk.connected.is_set(), 10, "the link to notice the broker is gone")
    infos = [lk.publish(topics.person_notify("an"), b"{}", qos=1)]
    assert _returns(lambda: help_first(infos, timeout_s=3600))  # paho sends it after reconnecting
    assert infos[0].rc != MQTTErrorCode.MQTT_ERR_SUCCESS  # paho did not send it: nothing to wait for
