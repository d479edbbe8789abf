"""The console's MQTT glue: several consoles of one person at once, retained state, clears, bad payloads."""

from __future__ import annotations

import threading
from datetime import timedelta

from stilalarm.console.tui.bus import Bad, Bus, BusEvent, Cleared, Got, Up
from stilalarm.wire.messages import IncidentState, parse_person_command, utcnow
from tests.harness import wait_until


class Sink:
    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self.lock = threading.Lock()

    def __call__(self, ev: BusEvent) -> None:
        with self.lock:
            self.events.append(ev)

    def of(self, kind: type) -> list[BusEvent]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


def test_two_consoles_of_one_person_show_the_same_truth(broker, link, capture, topics) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("an"))
    sinks = [Sink(), Sink()]
    buses = [Bus(broker.creds("person-an"), "an", s) for s in sinks]
    for b in buses:
        b.start()
    try:
        wait_until(lambda: all(b.connected for b in buses), what="both consoles connected")
        at = utcnow() - timedelta(seconds=3)
        st = IncidentState(
            incident_id="i-1",
            unit_id="balie-1",
            room_id="balie-1",
            team_id="burgerzaken",
            status="open",
            level=1,
            pressed_at=at,
            stored_at=at,
            presses=1,
            version=1,
        )
        console.publish(topics.incident("i-1"), st.model_dump_json().encode(), retain=True).wait_for_publish(
            5
        )
        console.publish(topics.incident("bad"), b"[]", retain=True).wait_for_publish(5)
        for s in sinks:
            wait_until(
                lambda s=s: any(isinstance(e, Got) and e.msg == st for e in s.events), what="the state"
            )
            wait_until(lambda s=s: bool(s.of(Bad)), what="the contract error reported")
        console.publish(topics.incident("i-1"), b"", retain=True).wait_for_publish(5)
        for s in sinks:
            wait_until(lambda s=s: Cleared("incident", "i-1") in s.events, what="the clear")
        assert all(b.connected for b in buses)  # neither kicked the other off (own client ids)
        assert all(len(s.of(Up)) == 1 for s in sinks)
        cmd_id = buses[1].ack("i-1")

        def cmds(kind: str) -> list:
            return [c for c in map(parse_person_command, cap.on(topics.person_cmd("an"))) if c.kind == kind]

        wait_until(lambda: bool(cmds("ack")), what="the ack")
        assert [c.cmd_id for c in cmds("ack")] == [cmd_id]
        links = cmds("console_link")  # each console announced itself on connect
        assert len(links) == 2 and all(c.online for c in links)
    finally:
        for b in buses:
            b.stop()


def test_a_console_that_dies_leaves_a_will_and_a_clean_exit_says_goodbye(broker, capture, topics) -> None:
    import socket as _socket

    cap = capture(topics.person_cmd("an"))

    def links(console_id: str) -> list[bool]:
        cmds = map(parse_person_command, cap.on(topics.person_cmd("an")))
        return [c.online for c in cmds if c.kind == "console_link" and c.console_id == console_id]

    dying = Bus(broker.creds("person-an"), "an", Sink(), console_id="pc-dying")
    dying.start()
    wait_until(lambda: links("pc-dying") == [True], what="online announcement")
    sock = dying.link._client.socket()
    assert sock is not None
    sock.shutdown(_socket.SHUT_RDWR)  # the PC loses its network: no DISCONNECT, the broker sends the will
    wait_until(lambda: links("pc-dying")[:2] == [True, False], what="the will (offline)")
    dying.link.stop()
    clean = Bus(broker.creds("person-an"), "an", Sink(), console_id="pc-clean")
    clean.start()
    wait_until(lambda: links("pc-clean") == [True], what="second console online")
    clean.stop()
    wait_until(lambda: links("pc-clean") == [True, False], what="goodbye on a clean exit")
