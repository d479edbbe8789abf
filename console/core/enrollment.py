"""The console's record of enrolment requests: a pure state machine (time is passed in).

Each request is keyed by its key's fingerprint. It is `pending` from when the console first saw
it; facilities approve it (once, for one inventory unit) or reject it; a pending request older
than the code lifetime is `expired`; a unit revoked later marks its request `revoked`. Only a
pending, unexpired request can be decided, and a code is matched only when exactly one pending
request has it (two requests with one code are refused: a rogue Pi may have made keys until its
code matched). Nothing leaves a decided state: a code works once.

A request the console cannot take is not in the ledger but in the reject records (`Rejects`),
like the service's `rejects` table for other bad input: one record per reason, topic and key,
with when it was first and last seen (a retained request is seen again by every command).
Reasons: its key's fingerprint is not the one its topic names (someone posting under another
Pi's fingerprint: on the cluster profile any enrolling Pi may write any request topic), an
older stilalarm speaking enrolment protocol 1, or a message that is not a request at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_CODE_MINUTES = 10.0
MAX_PENDING = 20
"""More pending requests than this and the console decides none: someone is flooding enrolment."""


class ReqState(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"  # approved: credentials sealed to its key were published
    REJECTED = "rejected"
    EXPIRED = "expired"
    REVOKED = "revoked"  # issued, then its unit was revoked


@dataclass(frozen=True)
class Request:
    """One enrolment request as the console knows it."""

    fingerprint: str
    code: str
    client_id: str
    public_key: str  # base64
    hostname: str
    first_seen: datetime
    state: ReqState = ReqState.PENDING
    unit: str | None = None
    decided_at: datetime | None = None


Ledger = dict[str, Request]
"""Requests by fingerprint. Functions below never mutate the ledger they are given."""


class RejectReason(StrEnum):
    KEY_MISMATCH = "key_mismatch"  # the key's fingerprint is not the one the topic names
    OLD_PROTOCOL = "old_protocol"  # enrolment protocol 1 (an older stilalarm on the Pi)
    MALFORMED = "malformed"  # not an enrolment request (or a key that is not one)


@dataclass(frozen=True)
class Rejected:
    """A request the console did not take, and why."""

    reason: RejectReason
    topic_id: str  # the level after `enroll/` in its topic
    key_fingerprint: str  # the fingerprint of the key it carries; "" when it has none
    hostname: str
    detail: str
    first_seen: datetime
    last_seen: datetime

    @property
    def key(self) -> str:
        return reject_key(self.reason, self.topic_id, self.key_fingerprint)


Rejects = dict[str, Rejected]
"""Reject records by `reject_key`. Functions below never mutate the records they are given."""


def reject_key(reason: RejectReason, topic_id: str, key_fingerprint: str) -> str:
    return f"{reason.value}/{topic_id}/{key_fingerprint}"


def record_reject(
    rejects: Rejects,
    *,
    reason: RejectReason,
    topic_id: str,
    key_fingerprint: str,
    hostname: str,
    detail: str,
    now: datetime,
) -> tuple[Rejects, bool]:
    """The records with this reject seen now, and whether it is new (first seen now)."""
    k = reject_key(reason, topic_id, key_fingerprint)
    old = rejects.get(k)
    if old is not None:
        return {**rejects, k: replace(old, last_seen=max(old.last_seen, now))}, False
    new = Rejected(reason, topic_id, key_fingerprint, hostname, detail, first_seen=now, last_seen=now)
    return {**rejects, k: new}, True


def recent_rejects(rejects: Rejects, now: datetime, lifetime: timedelta) -> list[Rejected]:
    """The rejects seen within `lifetime`, oldest first (what `enroll list` warns about)."""
    return sorted((r for r in rejects.values() if now - r.last_seen < lifetime), key=lambda r: r.first_seen)


class Outcome(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"  # no request with this code
    AMBIGUOUS = "ambiguous"  # more than one pending request with this code
    EXPIRED = "expired"
    USED = "used"  # already approved, rejected or revoked
    FLOODED = "flooded"  # more than MAX_PENDING pending requests
    UNIT_TAKEN = "unit_taken"  # the unit already has a live enrolment: revoke it first


def observe(
    ledger: Ledger,
    *,
    fingerprint: str,
    code: str,
    client_id: str,
    public_key: str,
    hostname: str,
    now: datetime,
) -> Ledger:
    """The ledger with a request seen now; one it already knows is left as it is (first seen stays)."""
    if fingerprint in ledger:
        return ledger
    new = dict(ledger)
    new[fingerprint] = Request(fingerprint, code, client_id, public_key, hostname, first_seen=now)
    return new


def expire(ledger: Ledger, now: datetime, lifetime: timedelta) -> Ledger:
    """Pending requests first seen `lifetime` ago or longer become expired."""
    changed = {
        fp: replace(r, state=ReqState.EXPIRED, decided_at=r.first_seen + lifetime)
        for fp, r in ledger.items()
        if r.state is ReqState.PENDING and now - r.first_seen >= lifetime
    }
    return {**ledger, **changed} if changed else ledger


def pending(ledger: Ledger, now: datetime, lifetime: timedelta) -> list[Request]:
    """The requests that can still be decided, oldest first."""
    live = expire(ledger, now, lifetime)
    return sorted((r for r in live.values() if r.state is ReqState.PENDING), key=lambda r: r.first_seen)


def _find(
    ledger: Ledger, code: str, now: datetime, lifetime: timedelta
) -> tuple[Ledger, Outcome, Request | None]:
    live = expire(ledger, now, lifetime)
    waiting = [r for r in live.values() if r.state is ReqState.PENDING]
    if len(waiting) > MAX_PENDING:
        return live, Outcome.FLOODED, None
    matches = [r for r in live.values() if r.code == code]
    open_ = [r for r in matches if r.state is ReqState.PENDING]
    if len(open_) > 1:
        return live, Outcome.AMBIGUOUS, None
    if len(open_) == 1:
        return live, Outcome.OK, open_[0]
    if not matches:
        return live, Outcome.UNKNOWN, None
    newest = max(matches, key=lambda r: r.first_seen)
    return live, (Outcome.EXPIRED if newest.state is ReqState.EXPIRED else Outcome.USED), newest


def approve(
    ledger: Ledger, code: str, unit: str, now: datetime, lifetime: timedelta
) -> tuple[Ledger, Outcome, Request | None]:
    """Approve the one pending request with `code` for `unit`.

    Returns (ledger, OK, the issued request) or (ledger, why not, the request if any)."""
    live, outcome, req = _find(ledger, code, now, lifetime)
    if outcome is not Outcome.OK or req is None:
        return live, outcome, req
    if any(r.unit == unit and r.state is ReqState.ISSUED for r in live.values()):
        return live, Outcome.UNIT_TAKEN, req
    done = replace(req, state=ReqState.ISSUED, unit=unit, decided_at=now)
    return {**live, req.fingerprint: done}, Outcome.OK, done


def reject(
    ledger: Ledger, code: str, now: datetime, lifetime: timedelta
) -> tuple[Ledger, Outcome, Request | None]:
    """Reject the one pending request with `code`."""
    live, outcome, req = _find(ledger, code, now, lifetime)
    if outcome is Outcome.FLOODED:  # rejecting is always safe: find it among the flood
        matches = [r for r in live.values() if r.code == code and r.state is ReqState.PENDING]
        if len(matches) == 1:
            outcome, req = Outcome.OK, matches[0]
        else:
            outcome, req = (Outcome.AMBIGUOUS if matches else Outcome.UNKNOWN), None
    if outcome is not Outcome.OK or req is None:
        return live, outcome, req
    done = replace(req, state=ReqState.REJECTED, decided_at=now)
    return {**live, req.fingerprint: done}, Outcome.OK, done


def revoke(ledger: Ledger, unit: str, now: datetime) -> tuple[Ledger, list[Request]]:
    """Mark the issued enrolment(s) of `unit` revoked; returns them (empty: it had none)."""
    hit = {
        fp: replace(r, state=ReqState.REVOKED, decided_at=now)
        for fp, r in ledger.items()
        if r.unit == unit and r.state is ReqState.ISSUED
    }
    return ({**ledger, **hit} if hit else ledger), list(hit.values())
