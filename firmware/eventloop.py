"""The event loop the runtime runs on (asyncio), adapted to the runtime's Scheduler port."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable

from stilalarm.wire.link import guarded

log = logging.getLogger(__name__)


class LoopScheduler:
    """`call_later` on an asyncio loop; a failing callback is logged and the loop goes on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self.loop.call_later(delay_s, guarded("timer", callback))


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit (the simulator needs a socket per unit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d: %s", soft, exc)
    return soft
