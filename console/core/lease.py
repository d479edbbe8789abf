"""Which console of a cluster is active: a lease on one replicated KV entry (pure).

`step(lease, event, now) -> (lease, effects)`; `now` is the caller's monotonic clock in seconds.
The shell (`stilalarm.console.ha.keeper`) turns the effects into reads and compare-and-set
writes of the entry (JetStream KV, linearizable: a write names the revision it replaces and is
refused when another write came first).

- A **standby** reads the entry every `read_every_s`. It acquires the lease when the entry is
  missing, or when the entry's revision has not changed for `ttl_s` on its own clock since it
  first saw that revision (the holder stopped renewing), or at once when the entry names no
  holder (released by an active that stopped cleanly). The acquiring write names that revision.
- The **active** rewrites the entry every `renew_every_s`. It may act until
  `valid_until` = the time it *sent* its last successful write + `ttl_s` - `margin_s`.
- Safety: a standby first sees a revision after that write was sent, and waits `ttl_s` from
  then; the active stopped `margin_s` before. Both clocks are monotonic clocks that run at
  the same rate (no wall clock is involved), so a clock jump moves nothing.
- The lease's **term** is the revision of the acquiring write: it only grows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Role(Enum):
    """What a console is doing."""

    STANDBY = "standby"
    ACTIVE = "active"


@dataclass(frozen=True)
class LeaseTimes:
    """The lease's timing, in seconds."""

    ttl_s: float = 3.0
    renew_every_s: float = 0.75
    read_every_s: float = 0.25
    margin_s: float = 0.5
    retry_s: float = 0.2


@dataclass(frozen=True)
class Lease:
    """One console's view of the lease."""

    me: str
    times: LeaseTimes = LeaseTimes()
    role: Role = Role.STANDBY
    seen: int | None = None
    """The entry's revision last read (standby); 0: the entry is missing; None: not read yet."""
    seen_since: float = 0.0
    """When this console first read `seen`."""
    holder: str = ""
    """Who the entry names (as last read or written)."""
    term: int = 0
    """The term while active (the acquiring write's revision)."""
    revision: int = 0
    """The active's last written revision."""
    valid_until: float = 0.0
    """The active acts only before this time."""
    next_at: float = 0.0
    """When the next read (standby) or renewal (active) is due."""
    pending: str = ""
    """The request in flight ("read", "acquire", "renew"), "" when none."""
    sent_at: float = 0.0
    """When the pending write was sent."""


@dataclass(frozen=True)
class Read:
    """Effect: read the entry; answer with `Observed` or `Failed`."""


@dataclass(frozen=True)
class Write:
    """Effect: write the entry naming `holder`, replacing `expected` (0: create it); answer with
    `Wrote`, `Refused` or `Failed`."""

    holder: str
    expected: int
    term: int
    """The term the value carries (0 for the acquiring write: its revision becomes the term)."""


@dataclass(frozen=True)
class Activate:
    """Effect: this console is active from now on, in `term`."""

    term: int


@dataclass(frozen=True)
class Deactivate:
    """Effect: this console must stop acting at once (before anyone else can start)."""

    term: int
    reason: str


Effect = Read | Write | Activate | Deactivate


@dataclass(frozen=True)
class Observed:
    """The entry was read: its revision (0: missing) and the holder it names."""

    revision: int
    holder: str


@dataclass(frozen=True)
class Wrote:
    """The pending write was stored with this revision."""

    revision: int


@dataclass(frozen=True)
class Refused:
    """The pending write named a revision that is no longer the entry's (another console wrote)."""


@dataclass(frozen=True)
class Failed:
    """The pending request got no answer (no quorum, timeout, not connected)."""

    why: str


@dataclass(frozen=True)
class Tick:
    """Time passed."""


Event = Observed | Wrote | Refused | Failed | Tick


def acting(lease: Lease, now: float) -> bool:
    """May this console act (page, receipt, publish) at `now`?"""
    return lease.role is Role.ACTIVE and now < lease.valid_until


def next_due(lease: Lease) -> float:
    """When `step` next has something to do, if nothing else happens."""
    if lease.role is Role.ACTIVE:
        return min(lease.next_at, lease.valid_until)
    return lease.next_at


def step(lease: Lease, event: Event, now: float) -> tuple[Lease, list[Effect]]:
    """One event; see the module docstring."""
    t = lease.times
    out: list[Effect] = []
    if isinstance(event, Observed) and lease.pending == "read":
        lease = replace(lease, pending="", holder=event.holder, next_at=now + t.read_every_s)
        if lease.role is Role.STANDBY:
            if event.revision != lease.seen:
                lease = replace(lease, seen=event.revision, seen_since=now)
            released = event.revision > 0 and event.holder == ""
            if lease.seen == 0 or released or now - lease.seen_since >= t.ttl_s:
                expected = lease.seen or 0
                lease = replace(lease, pending="acquire", sent_at=now)
                out.append(Write(lease.me, expected, 0))
    elif isinstance(event, Wrote) and lease.pending in ("acquire", "renew"):
        valid = lease.sent_at + t.ttl_s - t.margin_s
        if lease.pending == "acquire":
            lease = replace(
                lease,
                role=Role.ACTIVE,
                term=event.revision,
                holder=lease.me,
                seen=None,
            )
            out.append(Activate(event.revision))
        lease = replace(
            lease,
            pending="",
            revision=event.revision,
            valid_until=valid,
            next_at=lease.sent_at + t.renew_every_s,
        )
    elif isinstance(event, Refused) and lease.pending:
        was = lease.pending
        lease = replace(lease, pending="", next_at=now)
        if was == "renew":
            return _standby(lease, now, "another console took the lease"), [
                Deactivate(lease.term, "another console took the lease")
            ]
        lease = replace(lease, seen=None)  # acquire lost a race: read again and wait a full ttl
    elif isinstance(event, Failed) and lease.pending:
        lease = replace(lease, pending="", next_at=now + t.retry_s)
    if lease.role is Role.ACTIVE and now >= lease.valid_until:
        why = "the lease ran out before it could be renewed (no quorum, or this console was stopped)"
        return _standby(lease, now, why), [*out, Deactivate(lease.term, why)]
    if not lease.pending and now >= lease.next_at:
        if lease.role is Role.ACTIVE:
            lease = replace(lease, pending="renew", sent_at=now)
            out.append(Write(lease.me, lease.revision, lease.term))
        else:
            lease = replace(lease, pending="read")
            out.append(Read())
    return lease, out


def _standby(lease: Lease, now: float, _why: str) -> Lease:
    return replace(
        lease,
        role=Role.STANDBY,
        term=0,
        revision=0,
        valid_until=0.0,
        seen=None,
        pending="",
        next_at=now,
    )
