"""Whether the active console has its standbys (docs/HA.md, Standbys). Pure:
`step(state, event, policy) -> (state, effects)`; times are the active's monotonic seconds.

A standby that died, lost the cluster or runs an older version leaves the site with one console:
the next failure of the active is then a failure of the site, and nobody would know. So every
`serve --ha` console says it is there every few seconds (name and version, core NATS), and the
active counts the ones it heard within `silent_after_s` by its own clock (the hosts' clocks may
differ). Fewer than `want` heard: facilities are told once; enough again: told once more. A
standby older than the active is told once per name and version: after a newer console wrote
the log, an older one may refuse it and not take over (docs/HA.md, item 8).

The first `silent_after_s` after this console became active are a grace period: its standbys
have not had the time to be heard yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Policy:
    """What the active expects (the site's [cluster] `consoles` and `standby_silent_after_s`)."""

    me: str
    """This console's name (`--ha NAME`): its own announcements are not a standby's."""
    version: str
    """This console's stilalarm version."""
    want: int
    """Standbys the site should have (`consoles` - 1); 0: no notices."""
    silent_after_s: float


@dataclass(frozen=True)
class Heard:
    """A console said it is there."""

    name: str
    version: str
    at: float


@dataclass(frozen=True)
class Check:
    """Time passed: count the standbys heard lately."""

    at: float


Event = Heard | Check


@dataclass(frozen=True)
class TooFew:
    """Fewer standbys than the site should have: tell facilities."""

    heard: tuple[str, ...]
    """The standbys heard lately."""
    silent: tuple[tuple[str, float], ...]
    """Standbys heard before but not lately, with the seconds since."""
    want: int


@dataclass(frozen=True)
class EnoughAgain:
    """As many standbys as the site should have, after TooFew."""

    heard: tuple[str, ...]


@dataclass(frozen=True)
class OlderStandby:
    """A standby runs an older stilalarm than this console."""

    name: str
    version: str
    mine: str


Effect = TooFew | EnoughAgain | OlderStandby


@dataclass(frozen=True)
class Standbys:
    """The active's view of its standbys."""

    since: float
    """When this console started watching (became active)."""
    last: Mapping[str, Heard] = field(default_factory=dict)
    short: bool = False
    """Facilities were told of too few standbys, and not yet that they are back."""
    older_told: frozenset[tuple[str, str]] = frozenset()


def start(at: float) -> Standbys:
    """The view of a console that has just become active."""
    return Standbys(since=at)


def older(version: str, than: str) -> bool:
    """Whether `version` is older than `than` (PEP 440); different unparsable ones count as older."""
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return version != than


def step(s: Standbys, ev: Event, p: Policy) -> tuple[Standbys, list[Effect]]:
    """One event: an announcement is remembered (and an older version told); a check compares
    the standbys heard within `silent_after_s` with `want`."""
    if isinstance(ev, Heard):
        if ev.name == p.me:
            return s, []
        s = replace(s, last={**s.last, ev.name: ev})
        key = (ev.name, ev.version)
        if key in s.older_told or not older(ev.version, p.version):
            return s, []
        return replace(s, older_told=s.older_told | {key}), [OlderStandby(ev.name, ev.version, p.version)]
    heard = tuple(sorted(n for n, h in s.last.items() if ev.at - h.at <= p.silent_after_s))
    if len(heard) >= p.want:
        if s.short:
            return replace(s, short=False), [EnoughAgain(heard)]
        return s, []
    if s.short or ev.at - s.since < p.silent_after_s:
        return s, []
    silent = tuple(sorted((n, ev.at - h.at) for n, h in s.last.items() if n not in heard))
    return replace(s, short=True), [TooFew(heard, silent, p.want)]
