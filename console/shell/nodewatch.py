"""The shell around console/core/nodes.py: each of the warmer's answers (wire/warm.py) is one step,
on the console's monotonic clock; an effect goes to `tell` (the service's inbox)."""

from __future__ import annotations

import time
from collections.abc import Callable

from stilalarm.console.core import nodes
from stilalarm.wire.credentials import BrokerAddress
from stilalarm.wire.warm import ACCEPTED


class NodeWatch:
    """Called from the warmer's thread only (one caller: no lock)."""

    def __init__(self, policy: nodes.Policy, tell: Callable[[nodes.Effect], None]) -> None:
        self.policy = policy
        self.tell = tell
        self.state = nodes.Nodes()

    def answer(self, address: BrokerAddress, answer: str) -> None:
        ev = nodes.Answer(f"{address.host}:{address.port}", answer == ACCEPTED, answer, time.monotonic())
        self.state, effects = nodes.step(self.state, ev, self.policy)
        for e in effects:
            self.tell(e)
