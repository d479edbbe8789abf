"""The pure parts of enrolment: the code and fingerprint of a key, the LED's blink code, and the
console's state machine of a request (first seen, expiry, once only, ambiguity, flooding, revoke)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stilalarm.console.core import enrollment as core
from stilalarm.console.core.enrollment import Outcome, ReqState
from stilalarm.wire.enroll import (
    EnrollKeyError,
    blink_plan,
    decode_public_key,
    enroll_client_id,
    fingerprint,
    is_fingerprint,
    key_matches_topic,
    new_key,
    normalize_code,
    seal,
    short_code,
    show_code,
)
from stilalarm.wire.identity import owns
from stilalarm.wire.topics import Topics

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def test_code_and_client_id_are_derived_from_the_key() -> None:
    assert short_code(KEY_A) == short_code(bytes(KEY_A))  # deterministic
    assert short_code(KEY_A) != short_code(KEY_B)
    assert len(short_code(KEY_A)) == 6 and short_code(KEY_A).isdigit()
    assert len(fingerprint(KEY_A)) == 32
    cid = enroll_client_id(KEY_A)
    # protocol 2: the client id is the fingerprint alone (no '.', which NATS refuses in a topic)
    assert cid == fingerprint(KEY_A) and "." not in cid and is_fingerprint(cid)
    assert show_code("123456") == "123-456"


def test_only_the_enroll_login_may_use_a_fingerprint_as_client_id() -> None:
    fp = fingerprint(KEY_A)
    assert owns("enroll", fp) and owns("enroll", "enroll.x")
    for user in ("console", "observer", "unit-balie-1", "person-an", "web"):
        assert not owns(user, fp)
    for bad in (fp.upper(), fp[:-1], fp + "0", "g" * 32, f"enroll-{fp}"):
        assert not owns("enroll", bad), bad


def test_the_topics_are_named_by_the_fingerprint_and_the_key_must_match() -> None:
    t = Topics("hz")
    fp = fingerprint(KEY_A)
    assert t.enroll_request(fp) == f"stilalarm/v1/hz/enroll/{fp}/request"
    assert t.enroll_reply(fp) == f"stilalarm/v1/hz/enroll/{fp}/reply"
    assert t.parse_enroll_request(t.enroll_request(fp)) == fp
    assert t.parse_enroll_request(f"stilalarm/v1/hz/enroll/enroll.{fp}/request") == f"enroll.{fp}"
    assert key_matches_topic(KEY_A, fp) and not key_matches_topic(KEY_B, fp)


def test_enrolment_messages_speak_protocol_2_and_refuse_1() -> None:
    import base64

    from stilalarm.wire.messages import ENROLL_VERSION, ContractError, EnrollRequest, encode, parse

    assert ENROLL_VERSION == 2
    wire = encode(EnrollRequest(public_key=base64.b64encode(KEY_A).decode()))
    assert b'"v":2' in wire and parse(EnrollRequest, wire).v == 2
    with pytest.raises(ContractError):
        parse(EnrollRequest, wire.replace(b'"v":2', b'"v":1'))


def test_a_reject_is_recorded_once_per_reason_topic_and_key() -> None:
    fp_a, fp_b = fingerprint(KEY_A), fingerprint(KEY_B)
    rej, new = core.record_reject(
        {},
        reason=core.RejectReason.KEY_MISMATCH,
        topic_id=fp_a,
        key_fingerprint=fp_b,
        hostname="evil",
        detail="d",
        now=T0,
    )
    assert new and len(rej) == 1
    rej2, new2 = core.record_reject(
        rej,
        reason=core.RejectReason.KEY_MISMATCH,
        topic_id=fp_a,
        key_fingerprint=fp_b,
        hostname="evil",
        detail="d",
        now=T0 + timedelta(minutes=3),
    )
    assert not new2 and len(rej2) == 1
    (r,) = rej2.values()
    assert r.first_seen == T0 and r.last_seen == T0 + timedelta(minutes=3)
    assert core.recent_rejects(rej2, T0 + timedelta(minutes=12), TEN) == [r]
    assert core.recent_rejects(rej2, T0 + timedelta(minutes=13), TEN) == []
    assert len(rej) == 1 and next(iter(rej.values())).last_seen == T0  # not mutated


def test_codes_are_spread_over_the_whole_range() -> None:
    codes = {short_code(i.to_bytes(32, "big")) for i in range(2000)}
    assert len(codes) > 1990  # few collisions among 2,000 keys in 10^6 codes
    assert len({c[0] for c in codes}) == 10


@pytest.mark.parametrize("typed", ["123-456", "123 456", "123456", " 123-456 "])
def test_a_code_is_read_as_people_type_it(typed: str) -> None:
    assert normalize_code(typed) == "123456"


@pytest.mark.parametrize("typed", ["12345", "1234567", "12a456", "١٢٣٤٥٦", ""])
def test_a_bad_code_is_refused_with_a_message(typed: str) -> None:
    with pytest.raises(EnrollKeyError, match="not a code"):
        normalize_code(typed)


def test_a_bad_public_key_is_refused() -> None:
    with pytest.raises(EnrollKeyError):
        decode_public_key("not base64!")
    with pytest.raises(EnrollKeyError, match="16 bytes"):
        decode_public_key("A" * 22 + "==")


def test_only_the_key_that_asked_opens_the_answer() -> None:
    pi, thief = new_key(), new_key()
    sealed = seal(pi.public_bytes, b"unit config")
    assert pi.open(sealed) == b"unit config"
    with pytest.raises(EnrollKeyError):
        thief.open(sealed)
    with pytest.raises(EnrollKeyError):
        pi.open("garbage")


def test_blink_plan_starts_long_and_counts_each_digit() -> None:
    plan = blink_plan("203000")
    assert plan[0] == (True, 2.0)
    flashes = [s for on, s in plan if on][1:]
    assert len(flashes) == 2 + 10 + 3 + 10 + 10 + 10 and set(flashes) == {0.3}
    assert plan[-1] == (False, 4.0)  # a pause before it starts again
    assert all(s > 0 for _on, s in plan)


def _seen(ledger: core.Ledger, key: bytes, now: datetime) -> core.Ledger:
    return core.observe(
        ledger,
        fingerprint=fingerprint(key),
        code=short_code(key),
        client_id=enroll_client_id(key),
        public_key="k",
        hostname="pi",
        now=now,
    )


def test_approve_once_for_one_unit() -> None:
    led = _seen({}, KEY_A, T0)
    code = short_code(KEY_A)
    led, out, req = core.approve(led, code, "balie-1", T0 + timedelta(minutes=3), TEN)
    assert out is Outcome.OK and req is not None and req.state is ReqState.ISSUED and req.unit == "balie-1"
    # a code works once: again, for the same or another unit
    for unit in ("balie-1", "wachtzaal"):
        _led, out, _ = core.approve(led, code, unit, T0 + timedelta(minutes=4), TEN)
        assert out is Outcome.USED
    # seen again (a replayed request): still used, first seen unchanged
    led2 = _seen(led, KEY_A, T0 + timedelta(minutes=5))
    assert led2 == led
    assert core.approve(led2, code, "balie-1", T0 + timedelta(minutes=5), TEN)[1] is Outcome.USED


def test_expiry_counts_from_when_the_console_first_saw_it() -> None:
    led = _seen({}, KEY_A, T0)
    led = _seen(led, KEY_A, T0 + timedelta(minutes=9))  # re-posted: does not refresh the code
    code = short_code(KEY_A)
    assert [r.code for r in core.pending(led, T0 + timedelta(minutes=9, seconds=59), TEN)] == [code]
    assert core.pending(led, T0 + TEN, TEN) == []
    led2, out, req = core.approve(led, code, "balie-1", T0 + TEN, TEN)
    assert out is Outcome.EXPIRED and req is not None and req.state is ReqState.EXPIRED
    assert core.reject(led2, code, T0 + TEN, TEN)[1] is Outcome.EXPIRED
    assert led == _seen({}, KEY_A, T0)  # the functions did not change the ledger they were given


def test_unknown_code_and_reject() -> None:
    led = _seen({}, KEY_A, T0)
    assert (
        core.approve(led, "000000" if short_code(KEY_A) != "000000" else "111111", "balie-1", T0, TEN)[1]
        is Outcome.UNKNOWN
    )
    led, out, req = core.reject(led, short_code(KEY_A), T0, TEN)
    assert out is Outcome.OK and req is not None and req.state is ReqState.REJECTED
    assert core.approve(led, short_code(KEY_A), "balie-1", T0, TEN)[1] is Outcome.USED


def test_two_waiting_requests_with_one_code_are_never_approved() -> None:
    a = core.observe({}, fingerprint="fa", code="123456", client_id="fa", public_key="a", hostname="", now=T0)
    both = core.observe(
        a, fingerprint="fb", code="123456", client_id="fb", public_key="b", hostname="", now=T0
    )
    led, out, req = core.approve(both, "123456", "balie-1", T0, TEN)
    assert out is Outcome.AMBIGUOUS and req is None
    assert all(r.state is ReqState.PENDING for r in led.values())


def test_a_flood_of_requests_stops_approvals_but_not_rejections() -> None:
    led: core.Ledger = {}
    for i in range(core.MAX_PENDING + 1):
        led = core.observe(
            led,
            fingerprint=f"f{i}",
            code=f"{i:06d}",
            client_id=f"f{i}",
            public_key="k",
            hostname="",
            now=T0,
        )
    assert core.approve(led, "000003", "balie-1", T0, TEN)[1] is Outcome.FLOODED
    led, out, _ = core.reject(led, "000003", T0, TEN)
    assert out is Outcome.OK
    assert core.approve(led, "000004", "balie-1", T0, TEN)[1] is Outcome.OK  # back under the cap


def test_a_unit_enrolled_on_one_device_is_not_given_to_another_until_revoked() -> None:
    led = _seen(_seen({}, KEY_A, T0), KEY_B, T0)
    led, out, _ = core.approve(led, short_code(KEY_A), "balie-1", T0, TEN)
    assert out is Outcome.OK
    assert core.approve(led, short_code(KEY_B), "balie-1", T0, TEN)[1] is Outcome.UNIT_TAKEN
    led, revoked = core.revoke(led, "balie-1", T0 + timedelta(minutes=1))
    assert [r.fingerprint for r in revoked] == [fingerprint(KEY_A)]
    assert led[fingerprint(KEY_A)].state is ReqState.REVOKED
    assert core.approve(led, short_code(KEY_B), "balie-1", T0 + timedelta(minutes=2), TEN)[1] is Outcome.OK
    assert core.revoke(led, "wachtzaal", T0)[1] == []


def test_the_ledger_file_keeps_the_reject_records_and_reads_the_older_list_form(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from stilalarm.console.cli.enroll import _load_ledger, _save_ledger, _speaks_protocol_1

    led = _seen({}, KEY_A, T0)
    rej, _new = core.record_reject(
        {},
        reason=core.RejectReason.KEY_MISMATCH,
        topic_id=fingerprint(KEY_A),
        key_fingerprint=fingerprint(KEY_B),
        hostname="evil",
        detail="d",
        now=T0,
    )
    path = tmp_path / "enrollments.json"
    _save_ledger(path, led, rej)
    assert path.stat().st_mode & 0o077 == 0
    assert _load_ledger(path) == (led, rej)
    # a file written before the reject records: a plain list of requests
    path.write_text(json.dumps(json.loads(path.read_text())["requests"]))
    assert _load_ledger(path) == (led, {})
    assert _speaks_protocol_1(b'{"v": 1, "public_key": "x"}')
    assert not _speaks_protocol_1(b'{"v": 2}') and not _speaks_protocol_1(b"not json")
