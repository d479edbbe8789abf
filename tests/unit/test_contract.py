"""The wire contract: round trips, precise rejections, and no byte string crashes the parser."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stilalarm.wire import messages as m
from stilalarm.wire.messages import (
    ID_PATTERN,
    ContractCode,
    ContractError,
    encode,
    parse,
    parse_person_command,
    parse_unit_command,
)
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel


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


def _event_json(**changes: object) -> bytes:
    d = json.loads(encode(_event()))
    d.update(changes)
    return json.dumps(d).encode()


REFUSALS = [
    (b"{" + b" " * m.MAX_PAYLOAD_BYTES + b"}", ContractCode.OVERSIZED),
    ("x" * (m.MAX_PAYLOAD_BYTES + 1), ContractCode.OVERSIZED),
    (b"", ContractCode.INVALID_JSON),
    (b"{", ContractCode.INVALID_JSON),
    (b"\xff\xfe{}", ContractCode.INVALID_JSON),
    (b"[" * 10_000, ContractCode.INVALID_JSON),
    (b'{"v": 1} trailing', ContractCode.INVALID_JSON),
    (b'{"unit_id": "\\ud800"}', ContractCode.INVALID_JSON),
    (b"null", ContractCode.INVALID_SCHEMA),
    (b"{}", ContractCode.INVALID_SCHEMA),
    (b'{"v": 1}', ContractCode.INVALID_SCHEMA),
    (_event_json(v=2), ContractCode.INVALID_SCHEMA),
    (_event_json(extra_field=1), ContractCode.INVALID_SCHEMA),
    (_event_json(kind="alarm", button_id=None), ContractCode.INVALID_SCHEMA),
]


@pytest.mark.parametrize(("payload", "code"), REFUSALS)
@pytest.mark.parametrize("which", ["UnitEvent", "unit command", "person command"])
def test_every_refusal_carries_a_machine_readable_code(
    payload: bytes | str, code: ContractCode, which: str
) -> None:
    p: Callable[[bytes | str], object] = {
        "UnitEvent": lambda b: parse(m.UnitEvent, b),
        "unit command": parse_unit_command,
        "person command": parse_person_command,
    }[which]
    with pytest.raises(ContractError) as err:
        p(payload)
    assert err.value.code is code, str(err.value)


def test_the_codes_are_the_console_reject_keys() -> None:
    """The values are counter keys the soak checker and the tests read: renaming one breaks them."""
    assert {c.value for c in ContractCode} == {"oversized", "invalid_json", "invalid_schema"}


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


def _sorted_by_text(exc: ContractError, raw: bytes) -> ContractCode:
    """How the console sorted refusals before the code existed: by pydantic's message text."""
    if len(raw) > m.MAX_PAYLOAD_BYTES:
        return ContractCode.OVERSIZED
    text = str(exc)
    return (
        ContractCode.INVALID_JSON
        if "Invalid JSON" in text or "EOF while parsing" in text
        else ContractCode.INVALID_SCHEMA
    )


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=256) | st.text(max_size=64).map(lambda t: json.dumps({"unit_id": t, "v": 1}).encode())
)
def test_the_code_sorts_refusals_as_the_message_text_did(raw: bytes) -> None:
    for p in PARSERS:
        try:
            p(raw)
        except ContractError as exc:
            assert exc.code is _sorted_by_text(exc, raw), str(exc)


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
    assert t.all_people(PersonChannel.NOTIFY) == "stilalarm/v1/hz/person/+/notify"
    assert t.all_person_cmds() == t.all_people(PersonChannel.CMD) == "stilalarm/v1/hz/person/+/cmd"
    assert t.everything() == "stilalarm/v1/hz/#"


# --------------------------------------------------------------------------- extreme datetimes and numbers
# Every message type, every timestamp and number field: an extreme value either parses into a
# message that survives its own round trip, or comes back as a ContractError naming the field.

_NOW = "2026-11-28T10:00:00Z"
_U = "0b0e6c55-8d5c-4c3a-9a57-2f4c1c1b7a10"
_HEAD_UNIT = {"v": 1, "cmd_id": _U, "unit_id": "balie-1", "issued_at": _NOW}
_HEAD_PERSON = {"v": 1, "cmd_id": _U, "person_id": "an", "issued_at": _NOW}
_REG = {"aggression_types": ["verbaal"], "severity": "boosheid"}

SAMPLES: list[tuple[str, Callable[[bytes], object], dict[str, object]]] = [
    (
        "EnrollRequest",
        lambda b: parse(m.EnrollRequest, b),
        {"v": 2, "public_key": "A" * 43 + "=", "hostname": "raspberrypi", "firmware": "0.1.0"},
    ),
    (
        "EnrollReply",
        lambda b: parse(m.EnrollReply, b),
        {"v": 2, "status": "refused", "sealed": None, "reason": "rejected by facilities"},
    ),
    (
        "UnitEvent",
        lambda b: parse(m.UnitEvent, b),
        {
            "v": 1,
            "event_id": _U,
            "unit_id": "balie-1",
            "kind": "alarm",
            "button_id": "knop",
            "seq": 7,
            "boot_id": _U,
            "occurred_at": _NOW,
            "sent_at": _NOW,
            "attempt": 1,
        },
    ),
    (
        "UnitStatus",
        lambda b: parse(m.UnitStatus, b),
        {"v": 1, "unit_id": "balie-1", "state": "online", "boot_id": _U, "reason": "connected", "at": _NOW},
    ),
    (
        "Heartbeat",
        lambda b: parse(m.Heartbeat, b),
        {
            "v": 1,
            "unit_id": "balie-1",
            "boot_id": _U,
            "seq": 3,
            "sent_at": _NOW,
            "interval_s": 5.0,
            "uptime_s": 12.5,
            "outbox_depth": 0,
            "firmware_version": "1",
            "test_mode": True,
            "test_until": _NOW,
            "cpu_temp_c": 40.0,
            "wifi_dbm": -60,
            "config_version": "1764694000000-0123456789ab",
            "os_name": "Debian GNU/Linux 12 (bookworm)",
            "kernel": "6.1.0-rpi7-rpi-v8",
            "python": "3.11.2",
        },
    ),
    (
        "UnitConfigPush",
        lambda b: parse(m.UnitConfigPush, b),
        {
            "v": 1,
            "unit_id": "balie-1",
            "serial": 1764694000000,
            "digest": "0" * 64,
            "issued_at": _NOW,
            "content": {"site_id": "hz", "timezone": "Europe/Brussels", "unit": {"id": "balie-1"}},
        },
    ),
    (
        "Receipt",
        lambda b: parse(m.Receipt, b),
        {"v": 1, "event_id": _U, "unit_id": "balie-1", "stored_at": _NOW},
    ),
    (
        "TestModeCmd",
        parse_unit_command,
        {**_HEAD_UNIT, "kind": "test_mode", "on": True, "until": _NOW},
    ),
    ("FeedbackCmd", parse_unit_command, {**_HEAD_UNIT, "kind": "feedback", "feedback": "stored"}),
    ("IdentifyCmd", parse_unit_command, {**_HEAD_UNIT, "kind": "identify", "seconds": 10}),
    ("PageCmd", parse_unit_command, {**_HEAD_UNIT, "kind": "page", "incident_id": "i-1", "level": 2}),
    ("AckCmd", parse_person_command, {**_HEAD_PERSON, "kind": "ack", "incident_id": "i-1"}),
    ("DeclineCmd", parse_person_command, {**_HEAD_PERSON, "kind": "decline", "incident_id": "i-1"}),
    ("OnSiteCmd", parse_person_command, {**_HEAD_PERSON, "kind": "on_site", "incident_id": "i-1"}),
    (
        "ResolveCmd",
        parse_person_command,
        {**_HEAD_PERSON, "kind": "resolve", "incident_id": "i-1", "registration": _REG},
    ),
    ("PresenceCmd", parse_person_command, {**_HEAD_PERSON, "kind": "presence", "present": True}),
    (
        "TestStartCmd",
        parse_person_command,
        {**_HEAD_PERSON, "kind": "test_start", "scope": "unit", "target": "balie-1", "minutes": 5},
    ),
    ("TestStopCmd", parse_person_command, {**_HEAD_PERSON, "kind": "test_stop"}),
    (
        "AftercareDoneCmd",
        parse_person_command,
        {**_HEAD_PERSON, "kind": "aftercare_done", "incident_id": "i-1"},
    ),
    (
        "ConsoleLinkCmd",
        parse_person_command,
        {**_HEAD_PERSON, "kind": "console_link", "console_id": "pc-1", "online": True},
    ),
    (
        "VisitStartCmd",
        parse_person_command,
        {
            **_HEAD_PERSON,
            "kind": "visit_start",
            "visit_id": "v-1",
            "client_name": "Jan Klant",
            "address": "Kerkstraat 12, Heusden",
            "planned_end": _NOW,
            "colleague": "dirk",
            "mobile": "+32 470 12 34 56",
        },
    ),
    ("VisitEndCmd", parse_person_command, {**_HEAD_PERSON, "kind": "visit_end", "visit_id": "v-1"}),
    (
        "VisitAnswerCmd",
        parse_person_command,
        {**_HEAD_PERSON, "kind": "visit_answer", "visit_id": "v-1", "reached": False},
    ),
    (
        "RegistrationFileCmd",
        parse_person_command,
        {
            **_HEAD_PERSON,
            "kind": "registration_file",
            "registration_id": "reg-1",
            "place_kind": "telefoon",
            "occurred_at": _NOW,
            "what_happened": "Dreigde aan de telefoon.",
            "aggression_types": ["verbaal", "psychisch"],
            "telephone_stalking": True,
        },
    ),
    (
        "RegistrationCompleteCmd",
        parse_person_command,
        {
            **_HEAD_PERSON,
            "kind": "registration_complete",
            "registration_id": "reg-1",
            "severity": "agressie",
            "police_called": True,
            "pv_number": "PV 1",
        },
    ),
    (
        "RegistrationTodo",
        lambda b: parse(m.RegistrationTodo, b),
        {
            "v": 1,
            "person_id": "an",
            "at": _NOW,
            "items": [
                {
                    "registration_id": "reg-1",
                    "team_id": "sociale-dienst",
                    "victim": "hanne",
                    "filed_at": _NOW,
                    "occurred_at": _NOW,
                    "place_kind": "balie",
                    "room_id": "balie-1",
                    "what_happened": "Schold de medewerker uit.",
                    "aggression_types": ["verbaal"],
                    "weapon": True,
                    "reminders_sent": 1,
                }
            ],
            "more": 2,
        },
    ),
    (
        "RegistrationCorrectCmd",
        parse_person_command,
        {
            **_HEAD_PERSON,
            "kind": "registration_correct",
            "registration_id": "reg-1",
            "victim": {"what_happened": "Dreigde en duwde.", "aggression_types": ["verbaal", "fysiek"]},
        },
    ),
    (
        "RiskAnnounceCmd",
        parse_person_command,
        {
            **_HEAD_PERSON,
            "kind": "risk_announce",
            "risk_id": "r-1",
            "room": "spreekkamer-1",
            "starts_at": _NOW,
            "ends_at": _NOW,
            "standby": "ilse",
        },
    ),
    ("RiskConfirmCmd", parse_person_command, {**_HEAD_PERSON, "kind": "risk_confirm", "risk_id": "r-1"}),
    ("RiskCancelCmd", parse_person_command, {**_HEAD_PERSON, "kind": "risk_cancel", "risk_id": "r-1"}),
    ("CommandReply", lambda b: parse(m.CommandReply, b), {"v": 1, "cmd_id": _U, "ok": True, "code": "ok"}),
    (
        "Notification",
        lambda b: parse(m.Notification, b),
        {
            "v": 1,
            "notification_id": _U,
            "person_id": "an",
            "reason": "alarm",
            "level": 1,
            "title": "t",
            "body": "b",
            "at": _NOW,
        },
    ),
    (
        "IncidentState",
        lambda b: parse(m.IncidentState, b),
        {
            "v": 1,
            "incident_id": "i-1",
            "unit_id": "balie-1",
            "room_id": "balie",
            "team_id": "onthaal",
            "status": "acknowledged",
            "level": 1,
            "pressed_at": _NOW,
            "stored_at": _NOW,
            "presses": 1,
            "acknowledged_by": "an",
            "acknowledged_at": _NOW,
            "resolved_at": _NOW,
            "version": 3,
        },
    ),
    (
        "IncidentTimeline",
        lambda b: parse(m.IncidentTimeline, b),
        {
            "v": 1,
            "incident_id": "i-1",
            "entries": [{"at": _NOW, "kind": "pressed", "level": 1}],
            "version": 1,
        },
    ),
    (
        "UnitHealth",
        lambda b: parse(m.UnitHealth, b),
        {
            "v": 1,
            "unit_id": "balie-1",
            "online": True,
            "since": _NOW,
            "last_heartbeat": _NOW,
            "test_until": _NOW,
            "outbox_depth": 1,
            "last_test_ok": _NOW,
        },
    ),
    (
        "PresenceState",
        lambda b: parse(m.PresenceState, b),
        {"v": 1, "person_id": "an", "present": True, "at": _NOW},
    ),
    ("ConsoleStatus", lambda b: parse(m.ConsoleStatus, b), {"v": 1, "state": "online", "at": _NOW}),
    (
        "RiskState",
        lambda b: parse(m.RiskState, b),
        {
            "v": 1,
            "risk_id": "r-1",
            "room_id": "spreekkamer-1",
            "person_id": "hanne",
            "standby": "ilse",
            "starts_at": _NOW,
            "ends_at": _NOW,
            "confirmed": True,
        },
    ),
]


def _paths(
    value: object, prefix: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], object]]:
    """Every leaf of a JSON sample with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))
    else:
        yield prefix, value


def _is_time(v: object) -> bool:
    return isinstance(v, str) and v == _NOW


def _fields(pred: Callable[[object], bool]) -> list[tuple[str, Callable[[bytes], object], dict, tuple]]:
    return [
        (name, p, sample, path)
        for name, p, sample in SAMPLES
        for path, v in _paths(sample)
        if pred(v) and path[-1] != "v"
    ]


TIME_FIELDS = _fields(_is_time)
NUMBER_FIELDS = _fields(lambda v: isinstance(v, int | float) and not isinstance(v, bool))


def test_every_message_type_has_a_valid_sample_with_its_time_and_number_fields() -> None:
    for name, p, sample in SAMPLES:
        msg = p(json.dumps(sample).encode())
        assert type(msg).__name__ == name
    wire_types = (
        {c.__name__ for c in m.Msg.__subclasses__()}
        | {c.__name__ for c in m.UnitCmdBase.__subclasses__()}
        | {c.__name__ for c in m.PersonCmdBase.__subclasses__()}
    )
    wire_types -= {"UnitCmdBase", "PersonCmdBase"}
    assert wire_types <= {name for name, _p, _s in SAMPLES}
    assert len(TIME_FIELDS) >= 25 and len(NUMBER_FIELDS) >= 15


def _set(sample: dict, path: tuple, value: object) -> dict:
    d = json.loads(json.dumps(sample))
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return d


def _time_text(year: int, month: int, day: int, hh: int, mm: int, ss: int, frac: str, zone: str) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}{frac}{zone}"


_zones = st.one_of(
    st.just("Z"),
    st.just(""),  # naive
    st.builds(
        lambda sign, h, mi: f"{sign}{h:02d}:{mi:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
    st.sampled_from(["+23:59", "-23:59", "+24:00", "-99:99", "+00:00", "UTC", "+2359"]),
)
extreme_times = st.one_of(
    st.builds(
        _time_text,
        st.sampled_from([1, 2, 1969, 1970, 2038, 9998, 9999]) | st.integers(1, 9999),
        st.sampled_from([1, 12]),
        st.sampled_from([1, 31]),
        st.sampled_from([0, 23, 24]),
        st.sampled_from([0, 59, 60]),
        st.sampled_from([0, 59, 60, 61]),  # 60: a leap second
        st.sampled_from(["", ".999999", ".9999999999", ".5"]),
        _zones,
    ),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "99999-01-01T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2026-02-30T00:00:00Z",
            "2026-11-28",
            "",
            "now",
        ]
    ),
    st.sampled_from([0, -1, 1e20, -1e20, 10**30, 2**63, 253402300800, 1.5, float("nan"), float("inf")]),
    st.none(),
    st.booleans(),
)

extreme_numbers = st.one_of(
    st.sampled_from(
        [
            2**63 - 1,
            2**63,
            2**64,
            10**30,
            10**400,
            -(2**63) - 1,
            -1,
            0,
            -0.0,
            1e308,
            -1e308,
            5e-324,
            float("nan"),
            float("inf"),
            float("-inf"),
        ]
    ),
    st.integers(),
    st.floats(),
    st.sampled_from(["1", "1e3", "NaN", "", True, None]),
)


def _check(name: str, p: Callable[[bytes], object], sample: dict, path: tuple, value: object) -> None:
    raw = json.dumps(_set(sample, path, value)).encode()  # NaN / Infinity as JSON5-style literals
    try:
        msg = p(raw)
    except ContractError as exc:
        field = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
        assert field in str(exc), f"{name}: {exc} does not name {field}"
        return
    assert isinstance(msg, m.Msg)
    again = p(encode(msg))  # what was accepted is re-sent unchanged
    assert again == msg, name
    for _path, v in _paths(json.loads(encode(msg))):
        assert not (isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))), name


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TIME_FIELDS), extreme_times)
def test_extreme_timestamps_parse_or_name_the_field(case: tuple, value: object) -> None:
    name, p, sample, path = case
    _check(name, p, sample, path, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NUMBER_FIELDS), extreme_numbers)
def test_extreme_numbers_parse_or_name_the_field(case: tuple, value: object) -> None:
    name, p, sample, path = case
    _check(name, p, sample, path, value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0001-01-01T00:00:00+23:59", "outside years 1..9999"),
        ("9999-12-31T23:59:59-23:59", "outside years 1..9999"),
        ("2016-12-31T23:59:60Z", "occurred_at"),
        ("2026-11-28T10:00:00", "timezone"),
        (1764324000, "not a number"),
    ],
)
def test_the_reported_timestamps_are_contract_errors_naming_the_field(value: object, words: str) -> None:
    d = json.loads(encode(_event()))
    d["occurred_at"] = value
    with pytest.raises(ContractError) as err:
        parse(m.UnitEvent, json.dumps(d))
    assert "occurred_at" in str(err.value) and words in str(err.value)


@pytest.mark.parametrize("field", ["seq", "attempt"])
@pytest.mark.parametrize("value", [2**63, 10**30, float("nan"), float("inf"), -1])
def test_numbers_beyond_64_bits_or_not_finite_are_refused(field: str, value: object) -> None:
    d = json.loads(encode(_event()))
    d[field] = value
    with pytest.raises(ContractError, match=field):
        parse(m.UnitEvent, json.dumps(d))


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.sampled_from(list(m.EventKind)),
)
def test_an_accepted_event_at_any_time_never_crashes_the_console_core(
    at: datetime, kind: m.EventKind
) -> None:
    """An alarm whose unit clock says year 1 or 9999 is still an alarm: the cores take it."""
    from stilalarm.console.core import world as core
    from stilalarm.console.ingest import Raw, Rejected, classify
    from stilalarm.devkit.servicerun import FAST_SITE
    from stilalarm.inventory.load import parse_site

    site = parse_site(FAST_SITE)
    topics = Topics(site.site.id)
    now = datetime(2026, 11, 28, 10, tzinfo=UTC)
    fault = {"fault": "cut"} if kind in (m.EventKind.FAULT, m.EventKind.FAULT_CLEARED) else {}
    ev = _event(occurred_at=at, sent_at=at, kind=kind.value, unit_id="balie-1", **fault)
    res = classify(site, topics, Raw(topics.unit_event("balie-1"), encode(ev)))
    assert not isinstance(res, Rejected), res
    w = core.World.initial(site, now)
    w, effects = core.step(w, res, now)  # type: ignore[arg-type]
    w, _ = core.step(w, core.Tick(), now)
    assert effects


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{" + b" " * m.MAX_PAYLOAD_BYTES + b"}", "oversized"),
        (b"{", "invalid_json"),
        (b"\xff", "invalid_json"),
        (b"{}", "invalid_schema"),
        (_event_json(v=2), "invalid_schema"),
        (_event_json(unit_id="spreekkamer-1"), "id_mismatch"),
    ],
)
def test_ingest_counts_refusals_under_the_same_keys(payload: bytes, reason: str) -> None:
    """The console's reject keys come from the error's code, not from pydantic's wording."""
    from stilalarm.console.ingest import Raw, Rejected, classify
    from stilalarm.devkit.servicerun import FAST_SITE
    from stilalarm.inventory.load import parse_site

    site = parse_site(FAST_SITE)
    topics = Topics(site.site.id)
    on = [topics.unit_event("balie-1")] + ([] if reason == "id_mismatch" else [topics.person_cmd("an")])
    for topic in on:
        res = classify(site, topics, Raw(topic, payload))
        assert isinstance(res, Rejected) and res.reason == reason, res


def test_the_id_pattern_is_written_once() -> None:
    """Inventory, wire and console check ids with stilalarm.wire.messages.ID_PATTERN, not with copies."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    literal = ID_PATTERN.strip("^$")
    holders = [
        str(p.relative_to(root))
        for pkg in ("wire", "inventory", "console", "firmware", "broker_config", "soak", "bench")
        for p in sorted((root / pkg).rglob("*.py"))
        if literal in p.read_text(encoding="utf-8")
    ]
    assert holders == ["wire/messages/base.py"]
