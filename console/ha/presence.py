"""Which of a site's consoles are there (docs/HA.md, Standbys): the shell around
`stilalarm.console.core.standbys`.

A standby says it is there (`Presence`, core NATS on `presence_subject`, not stored) every
`announce_every_s`; the active's `StandbyWatch` hears every console's announcements, runs them
and a check every second through the pure core, and hands its effects to `tell` (the service's
inbox: facilities get a notice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stilalarm.console.core import standbys
from stilalarm.console.ha.jetstream import ClusterLog, LogUnavailable
from stilalarm.wire.version import VERSION

log = logging.getLogger("console")

ANNOUNCE_AT_MOST_EVERY_S = 5.0


class Presence(BaseModel):
    """One console's announcement."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer console may say more

    v: int = Field(default=1, description="Version of this message.")
    name: str = Field(min_length=1, max_length=100, description="The console's name (`--ha NAME`).")
    version: str = Field(min_length=1, max_length=100, description="Its stilalarm version.")
    applied: int = Field(ge=0, description="The log record its database has applied up to.")


def announce_every_s(silent_after_s: float) -> float:
    """How often a standby says it is there: four times within the active's silence bound."""
    return min(ANNOUNCE_AT_MOST_EVERY_S, silent_after_s / 4)


class Announcer:
    """A standby's side: `maybe(applied)` in its loop says it is there when it is time."""

    def __init__(
        self, clog: ClusterLog, name: str, every_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clog, self.name, self.every_s, self.clock = clog, name, every_s, clock
        self._next = 0.0

    def maybe(self, applied: int) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every_s
        data = Presence(name=self.name, version=VERSION, applied=applied).model_dump_json().encode()
        try:
            self.clog.announce(data)
        except LogUnavailable as exc:  # the active counts this standby as silent: that is the truth
            log.debug("standby %s: could not say it is there (%s)", self.name, exc)


class StandbyWatch:
    """The active's side: hear every console, check once a second, tell the effects. `policy` is
    read at each step (from the service's current site: a reload changes it)."""

    def __init__(
        self,
        clog: ClusterLog,
        policy: Callable[[], standbys.Policy],
        tell: Callable[[standbys.Effect], None],
        *,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clog, self.policy, self.tell, self.clock = clog, policy, tell, clock
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._state = standbys.start(clock())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="standby-watch", daemon=True)

    def start(self) -> None:
        self.clog.on_presence(self._heard)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _step(self, ev: standbys.Event) -> None:
        with self._lock:
            self._state, effects = standbys.step(self._state, ev, self.policy())
        for e in effects:
            self.tell(e)

    def _heard(self, data: bytes) -> None:  # on the connection's thread: short
        try:
            p = Presence.model_validate_json(data)
        except ValidationError as exc:
            log.warning("a console's announcement could not be read, ignored: %s", exc.errors()[:1])
            return
        self._step(standbys.Heard(p.name, p.version, self.clock()))

    def _run(self) -> None:
        while not self._stop.wait(self.check_every_s):
            self._step(standbys.Check(self.clock()))
