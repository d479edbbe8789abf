"""The wire contract: round trips, precise rejections, and no byte string crashes the parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import messages as m
from wire.messages import ContractError, encode, parse, parse_person_command, parse_unit_command
from wire.topics import Topics, UnitChannel


def _event(**kw: object) -> m.UnitEvent:
    base: dict[str, object] = dict(
        event_id=m.new_id(),
        unit_id="balie-1",
        kind="alarm",
        button_id="knop",
        seq=7,
        boot_id=m.new_id(),
        occurred_at=m.utcnow(),
        sent_at=m.utcnow(),
    )
    base.update(kw)
    return m.UnitEvent.model_validate(base)


def test_unit_event_round_trip_is_utc_and_versioned() -> None:
    e = _event()
    raw = encode(e)
    back = parse(m.UnitEvent, raw)
    assert back == e
    d = json.loads(raw)
    assert d["v"] == 1 and d["occurred_at"].endswith("Z")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(v=2), "v: Input should be 1"),
        (lambda d: d.pop("v"), "missing schema version"),
        (lambda d: d.update(seq="seven"), "seq"),
        (lambda d: d.update(extra_field=1), "extra_field: Extra inputs are not permitted"),
        (lambda d: d.update(detail="x" * 201), "detail: String should have at most 200"),
        (lambda d: d.update(occurred_at="2026-01-01T10:00:00"), "timezone"),
        (lambda d: d.update(event_id="not-a-uuid"), "event_id"),
        (lambda d: d.update(kind="alarm", button_id=None), "need 'button_id'"),
        (lambda d: d.update(unit_id="../etc"), "unit_id: String should match pattern"),
    ],
)
def test_rejections_say_what_is_wrong(mutate, reason) -> None:
    d = json.loads(encode(_event()))
    mutate(d)
    with pytest.raises(ContractError) as err:
        parse(m.UnitEvent, json.dumps(d))
    assert reason in str(err.value)


def test_oversized_payload_rejected_before_parsing() -> None:
    with pytest.raises(ContractError, match="exceeds"):
        parse(m.UnitEvent, b"{" + b" " * m.MAX_PAYLOAD_BYTES + b"}")


def test_timestamps_normalised_to_utc() -> None:
    d = json.loads(encode(_event()))
    d["occurred_at"] = "2026-11-28T14:00:00+01:00"
    assert parse(m.UnitEvent, json.dumps(d)).occurred_at.isoformat() == "2026-11-28T13:00:00+00:00"


def test_commands_are_discriminated_by_kind() -> None:
    now = m.utcnow()
    cmds = [
        m.TestModeCmd(cmd_id=m.new_id(), unit_id="u", issued_at=now, on=True, until=now),
        m.FeedbackCmd(cmd_id=m.new_id(), unit_id="u", issued_at=now, feedback=m.Feedback.ACKNOWLEDGED),
        m.IdentifyCmd(cmd_id=m.new_id(), unit_id="u", issued_at=now),
        m.PageCmd(cmd_id=m.new_id(), unit_id="u", issued_at=now, incident_id="i-1", level=2),
    ]
    for c in cmds:
        assert parse_unit_command(encode(c)) == c
    reg = m.Registration(aggression_types=(m.AggressionType.VERBAAL,), severity=m.Severity.BOOSHEID)
    pcs = [
        m.AckCmd(cmd_id=m.new_id(), person_id="an", issued_at=now, incident_id="i-1"),
        m.ResolveCmd(cmd_id=m.new_id(), person_id="an", issued_at=now, incident_id="i-1", registration=reg),
        m.PresenceCmd(cmd_id=m.new_id(), person_id="an", issued_at=now, present=False),
        m.TestStartCmd(cmd_id=m.new_id(), person_id="fien", issued_at=now, scope=m.TestScope.SITE),
        m.TestStopCmd(cmd_id=m.new_id(), person_id="fien", issued_at=now),
        m.ConsoleLinkCmd(cmd_id=m.new_id(), person_id="an", issued_at=now, console_id="pc-1", online=False),
        m.AftercareDoneCmd(cmd_id=m.new_id(), person_id="an", issued_at=now, incident_id="i-1", note="ok"),
    ]
    for pc in pcs:
        assert parse_person_command(encode(pc)) == pc
    with pytest.raises(ContractError, match="test_mode on needs 'until'"):
        parse_unit_command(json.dumps({**json.loads(encode(cmds[0])), "until": None}))


def test_registration_requires_type_and_severity_unless_false_alarm() -> None:
    with pytest.raises(ValueError, match="type of aggression"):
        m.Registration()
    assert m.Registration(false_alarm=True).false_alarm
    with pytest.raises(ValueError, match="implies police_called"):
        m.Registration(aggression_types=("fysiek",), severity="geweld", pv_number="PV-1")


PARSERS = [
    lambda b: parse(m.UnitEvent, b),
    lambda b: parse(m.Heartbeat, b),
    lambda b: parse(m.IncidentState, b),
    parse_unit_command,
    parse_person_command,
]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_no_byte_string_crashes_the_parser(raw: bytes) -> None:
    for p in PARSERS:
        try:
            p(raw)
        except ContractError:
            pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "v",
                "kind",
                "event_id",
                "unit_id",
                "seq",
                "cmd_id",
                "person_id",
                "incident_id",
                "registration",
                "on",
            ]
        ),
        json_values,
        max_size=8,
    )
)
def test_no_json_object_crashes_the_parser(obj: dict) -> None:
    raw = json.dumps(obj).encode()
    for p in PARSERS:
        try:
            p(raw)
        except ContractError:
            pass


def test_topics_built_and_parsed_in_one_place() -> None:
    t = Topics("hz")
    assert t.unit_event("balie-1") == "stilalarm/v1/hz/unit/balie-1/event"
    assert t.parse_unit("stilalarm/v1/hz/unit/balie-1/event") == ("balie-1", UnitChannel.EVENT)
    assert t.parse_unit("stilalarm/v1/other/unit/balie-1/event") is None
    assert t.parse_unit("stilalarm/v1/hz/unit/balie-1/bogus") is None
    assert t.person_cmd("an") == "stilalarm/v1/hz/person/an/cmd"
    assert t.parse_person(t.person_cmd("an")) is not None
    assert t.parse_tail(t.incident("i-1"), "incident") == "i-1"
    assert t.parse_tail(t.incident("i-1") + "/x", "incident") is None
