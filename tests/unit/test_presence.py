"""The active's ear for its standbys (console/ha/presence.py): what it makes of announcements,
with an injected clock; the cluster side is tested end to end in tests/e2e/test_console_failover.py."""

from __future__ import annotations

import logging

import pytest

from stilalarm.console.core.standbys import Effect, OlderStandby, Policy
from stilalarm.console.ha.presence import Presence, StandbyWatch, announce_every_s

POLICY = Policy(me="a", version="2.0", want=1, silent_after_s=30.0)


def watch(told: list[Effect]) -> StandbyWatch:
    # the cluster log is used only by start(), which these tests do not call
    return StandbyWatch(None, lambda: POLICY, told.append, clock=lambda: 100.0)  # type: ignore[arg-type]


def test_a_malformed_announcement_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    told: list[Effect] = []
    w = watch(told)
    with caplog.at_level(logging.WARNING):
        empty_name = b'{"name": "", "version": "1", "applied": 0}'
        for bad in (b"", b"[]", b"{not json", b'{"name": "b"}', empty_name):
            w._heard(bad)
    assert told == [] and w._state.last == {}
    assert caplog.text.count("announcement could not be read") == 5


def test_an_older_standby_is_told_and_a_newer_message_field_is_ignored() -> None:
    told: list[Effect] = []
    w = watch(told)
    w._heard(b'{"v": 2, "name": "b", "version": "1.9", "applied": 7, "more": "from a newer console"}')
    assert told == [OlderStandby("b", "1.9", "2.0")] and set(w._state.last) == {"b"}


def test_what_a_standby_says_reads_back() -> None:
    p = Presence(name="console-2", version="1.4.0", applied=12)
    assert Presence.model_validate_json(p.model_dump_json()) == p


def test_a_standby_speaks_four_times_within_the_bound_at_most_every_5_s() -> None:
    assert announce_every_s(6.0) == 1.5 and announce_every_s(30.0) == 5.0
