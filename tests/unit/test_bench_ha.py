"""The `ha` bench scenario's pure parts: duplicate pages per failover, the MQTT streams' leaders."""

from __future__ import annotations

from bench.sc_ha import (
    HA_SITE,
    LEVEL2_S,
    Page,
    duplicates_per_failover,
    elections,
    pick_victim,
    stream_leader,
)
from stilalarm.inventory.load import parse_site


def page(at: float, nid: str, inc: str = "i1") -> Page:
    return Page(at, "chris", nid, inc, 1)


def test_a_repeated_notification_counts_against_the_last_kill_before_it() -> None:
    pages = [page(1, "n1"), page(2, "n2", "i2"), page(5, "n1"), page(6, "n3"), page(12, "n2", "i2")]
    assert duplicates_per_failover(pages, [4.0, 10.0]) == {(0, "i1"): 1, (1, "i2"): 1}
    # order of arrival in the list does not matter, the time does
    assert duplicates_per_failover(list(reversed(pages)), [4.0, 10.0]) == {(0, "i1"): 1, (1, "i2"): 1}
    assert duplicates_per_failover([page(1, "n1"), page(2, "n1")], [4.0]) == {(-1, "i1"): 1}
    assert duplicates_per_failover([page(1, "n1"), page(2, "n2")], [1.5]) == {}


LINE = (
    "[{pid}] 2026/12/03 07:19:{s}.343900 [INF] JetStream cluster new stream leader for 'STILALARM > {name}'\n"
)


def test_a_streams_leader_is_the_node_that_claimed_it_last() -> None:
    n1 = LINE.format(pid=1, s="28", name="$MQTT_msgs") + LINE.format(pid=1, s="40", name="$MQTT_sess")
    n2 = LINE.format(pid=2, s="35", name="$MQTT_msgs")
    assert stream_leader([n1, n2, ""], "$MQTT_msgs") == 1
    assert stream_leader([n2, n1, ""], "$MQTT_msgs") == 0
    assert stream_leader(["", LINE.format(pid=3, s="50", name="$MQTT_sess"), ""], "$MQTT_msgs") is None
    assert stream_leader([n1, n2, ""], "$MQTT_sess") == 0
    assert stream_leader([n1, n2 + LINE.format(pid=2, s="41", name="$MQTT_sess"), ""], "$MQTT_sess") == 1


def test_the_failover_site_pages_levels_1_and_2_and_nothing_else_within_a_run() -> None:
    site = parse_site(HA_SITE)
    team = site.team(site.room("balie-1").team)
    esc = team.escalation
    assert [lv.after_s for lv in esc.levels] == [0, LEVEL2_S, 3600]
    assert esc.repeat_every_s >= 3600 and esc.remind_unresolved_after_s >= 3600
    assert tuple(team.leads) == ("chris",) and tuple(team.deputies) == ("bart",)


def test_the_node_kill_runs_alternate_between_the_msgs_leader_and_the_other_node() -> None:
    assert [pick_victim(i, 2) for i in range(4)] == [2, 1, 2, 1]
    assert [pick_victim(i, 1) for i in range(2)] == [1, 2]
    # node 0 (the consoles' MQTT) is never killed: a leader there, or none known, alternates 1 and 2
    assert [pick_victim(i, 0) for i in range(2)] == [1, 2]
    assert [pick_victim(i, None) for i in range(2)] == [1, 2]
    # the session leader kill may kill node 0 when it leads; otherwise it spares it
    assert [pick_victim(i, 0, (1, 2, 0)) for i in range(4)] == [0, 1, 0, 1]
    assert [pick_victim(i, 2, (1, 2, 0)) for i in range(2)] == [2, 1]
    assert [pick_victim(i, None, (1, 2, 0)) for i in range(2)] == [1, 2]


def test_elections_lists_the_groups_that_got_a_new_leader_in_the_window() -> None:
    import datetime as dt

    def line(t: str, kind: str, name: str) -> str:
        return f"[1] 2026/12/03 {t} [INF] JetStream cluster new {kind} leader for 'STILALARM > {name}'\n"

    log = (
        line("07:00:00.000000", "stream", "$MQTT_sess")
        + line("07:00:05.000000", "stream", "$MQTT_msgs")
        + line("07:00:06.000000", "consumer", "$MQTT_msgs > abc")
        + line("07:00:07.000000", "consumer", "$MQTT_msgs > def")
    )
    at = dt.datetime(2026, 12, 3, 7, 0, 4).timestamp()  # nats-server logs local time
    # a stream with the seconds from t0 to its first new leader in the window
    assert elections([log, "", ""], at, at + 10) == "$MQTT_msgs +1.0 s, 2 consumer(s) of $MQTT_msgs"
    assert elections([log], at + 20, at + 30) == "none"
