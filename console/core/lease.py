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
- When `valid_until` passes unrenewed the active **pauses** (acts no more) and keeps trying to
  renew. A renewal names the revision it replaces, so it is stored only if nobody wrote the
  entry since, that is if no other console acquired it, so none acted: the active resumes.
  When a renewal is refused the active reads the entry: another holder ends its role
  (`Deactivate`); its own name means its previous renewal was stored after timing out.
- A standby whose read or write gets no answer starts counting its `ttl_s` again: a cluster
  electing a leader is not an active that stopped (the active resumes right after the election).
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
    paused: bool = False
    """Active, but its validity ran out before a renewal: it does nothing until it renews."""
    verify: bool = False
    """A renewal was refused: read the entry to see whether another console wrote it."""


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
class Pause:
    """Effect: stop acting for now (the lease ran out unrenewed); renewal goes on."""

    term: int
    reason: str


@dataclass(frozen=True)
class Resume:
    """Effect: a renewal after a pause was stored: nobody else wrote the lease in between, so
    nobody else acted; act again."""

    term: int


@dataclass(frozen=True)
class Deactivate:
    """Effect: this console must stop acting at once (before anyone else can start)."""

    term: int
    reason: str


Effect = Read | Write | Activate | Pause | Resume | Deactivate


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
        if lease.role is Role.ACTIVE and lease.verify:
            if event.holder != lease.me:
                why = "another console took the lease"
                return _standby(lease, now), [Deactivate(lease.term, why)]
            # our own renewal, stored after it timed out: carry on from its revision
            lease = replace(lease, verify=False, revision=event.revision, next_at=now)
        elif lease.role is Role.STANDBY:
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
            lease = replace(lease, role=Role.ACTIVE, term=event.revision, holder=lease.me, seen=None)
            out.append(Activate(event.revision))
        elif lease.paused and now < valid:
            lease = replace(lease, paused=False)
            out.append(Resume(lease.term))
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
        if was == "renew":  # another console, or our own earlier renewal stored late: read to see
            lease = replace(lease, verify=True)
        else:
            lease = replace(lease, seen=None)  # acquire lost a race: read again and wait a full ttl
    elif isinstance(event, Failed) and lease.pending:
        lease = replace(lease, pending="", next_at=now + t.retry_s)
        if lease.role is Role.STANDBY:  # the cluster did not answer: count a whole ttl again
            lease = replace(lease, seen=None)
    if lease.role is Role.ACTIVE and now >= lease.valid_until and not lease.paused:
        lease = replace(lease, paused=True)
        out.append(
            Pause(
                lease.term,
                "the lease could not be renewed in time (no quorum, a leader election, or this "
                "console was stopped)",
            )
        )
    if not lease.pending and now >= lease.next_at:
        if lease.role is Role.ACTIVE and not lease.verify:
            lease = replace(lease, pending="renew", sent_at=now)
            out.append(Write(lease.me, lease.revision, lease.term))
        else:
            lease = replace(lease, pending="read")
            out.append(Read())
    return lease, out


def _standby(lease: Lease, now: float) -> Lease:
    return replace(
        lease,
        role=Role.STANDBY,
        paused=False,
        verify=False,
        term=0,
        revision=0,
        valid_until=0.0,
        seen=None,
        pending="",
        next_at=now,
    )
