"""The console's MQTT glue: several consoles of one person at once, retained state, clears, bad payloads."""

from __future__ import annotations

import threading
from datetime import timedelta

from console.tui.bus import Bad, Bus, BusEvent, Cleared, Got, Up
from tests.harness import wait_until
from wire.messages import IncidentState, parse_person_command, utcnow


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
        (payload,) = cap.wait_for(topics.person_cmd("an"))
        assert parse_person_command(payload).cmd_id == cmd_id
    finally:
        for b in buses:
            b.stop()
