"""Whether the cluster's broker nodes answer (docs/HA.md "Cold nodes"). Pure:
`step(state, event, policy) -> (state, effects)`; times are the console's monotonic seconds.

The console connects to every node regularly (wire/warm.py). A node that has not accepted a
connect for `silent_after_s` leaves the cluster one node short: it still works, but the next
node lost stops it (no quorum: no alarm is stored, receipted or paged), and nobody would know.
Facilities are told once per node, and once more when it answers again. A node that fails
and answers again within the bound (a restart, an upgrade) is not told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Policy:
    """When a silent node is told."""

    silent_after_s: float
    """A node that has not answered for this long (since its first failed connect) is told."""


@dataclass(frozen=True)
class Answer:
    """One connect to a node: whether it was accepted, the broker's answer or why there was none."""

    node: str
    ok: bool
    why: str
    at: float


@dataclass(frozen=True)
class NodeSilent:
    """A node has not accepted a connect for `silent_s`: tell facilities."""

    node: str
    silent_s: float
    why: str
    answering: tuple[str, ...]
    """The nodes that answered at their last connect."""


@dataclass(frozen=True)
class NodeBack:
    """A node told as silent accepts connects again."""

    node: str


Effect = NodeSilent | NodeBack


@dataclass(frozen=True)
class Nodes:
    """The console's view of the nodes."""

    failing_since: Mapping[str, float] = field(default_factory=dict)
    """Nodes whose last connect failed, with the time of the first failure in a row."""
    answering: frozenset[str] = frozenset()
    told: frozenset[str] = frozenset()
    """Nodes facilities were told of, and not yet that they answer again."""


def step(s: Nodes, ev: Answer, p: Policy) -> tuple[Nodes, list[Effect]]:
    """One connect's outcome."""
    if ev.ok:
        failing = {n: t for n, t in s.failing_since.items() if n != ev.node}
        s = replace(s, failing_since=failing, answering=s.answering | {ev.node})
        if ev.node in s.told:
            return replace(s, told=s.told - {ev.node}), [NodeBack(ev.node)]
        return s, []
    since = s.failing_since.get(ev.node, ev.at)
    s = replace(s, failing_since={**s.failing_since, ev.node: since}, answering=s.answering - {ev.node})
    if ev.node in s.told or ev.at - since < p.silent_after_s:
        return s, []
    effect = NodeSilent(ev.node, ev.at - since, ev.why, tuple(sorted(s.answering)))
    return replace(s, told=s.told | {ev.node}), [effect]
