"""One short JetStream job on the cluster, tried again until a deadline.

Used where a command or a console does one thing on the cluster and leaves: the active console
setting the queue limits (console/ha/jetstream.py) and `alarm-broker region --remove` deleting a
removed site's streams (broker_config/decommission.py). Each try connects with its own login,
runs the job, closes; a failure (nodes starting, no quorum, a node not reloaded yet) is tried
again after a pause, and the last reason is kept to say what to do when time runs out.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

T = TypeVar("T")


@dataclass(frozen=True)
class NatsLogin:
    """A native NATS login on the cluster's nodes."""

    servers: tuple[str, ...]
    """Every node's NATS client address (`nats://host:port`, `tls://` with TLS)."""
    user: str
    password: str
    ca_file: str | None = None
    """The site CA: TLS to the nodes when set."""
    name: str = "stilalarm"
    """The connection's name in the nodes' logs and monitoring."""


class NoAnswer(Exception):
    """No try succeeded before the deadline; `last` says why the last one failed."""

    def __init__(self, last: str) -> None:
        super().__init__(last)
        self.last = last


def describe(exc: BaseException, timeout_s: float) -> str:
    """Why a call failed, in words an operator can act on."""
    if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
        return "no responders: JetStream does not answer on the connected node (no quorum, or starting)"
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return "JetStream is unavailable on the connected node (no quorum, or starting)"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"no answer within {timeout_s} s (no quorum, or the node is unreachable)"
    if isinstance(exc, nats.errors.ConnectionClosedError):
        return "the connection is closed (close() was called)"
    if isinstance(exc, nats.errors.ConnectionReconnectingError | nats.errors.StaleConnectionError):
        return "not connected: reconnecting to another node"
    if isinstance(exc, nats.js.errors.APIError):
        return f"JetStream refused: {exc.description} (code {exc.code}, error {exc.err_code})"
    return f"{type(exc).__name__}: {exc}"


async def _once(login: NatsLogin, job: Callable[[JetStreamContext], Awaitable[T]], timeout_s: float) -> T:
    async def quiet(_exc: Exception) -> None:  # nats-py's error callback: the raise says it
        return None

    tls = ssl.create_default_context(cafile=login.ca_file) if login.ca_file else None
    nc = await nats.connect(
        servers=list(login.servers),
        user=login.user,
        password=login.password,
        tls=tls,
        name=login.name,
        connect_timeout=max(1, math.ceil(timeout_s)),
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=quiet,
    )
    try:
        return await job(nc.jetstream(timeout=timeout_s))
    finally:
        await nc.close()


def run_job(
    login: NatsLogin,
    job: Callable[[JetStreamContext], Awaitable[T]],
    *,
    wait_s: float,
    timeout_s: float,
    pause_s: float = 0.5,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """`job` on a connection of its own, again after each failure (`on_retry` gets the reason)
    until `wait_s` has passed; its result, or NoAnswer with the last reason. Blocking: call it
    from a thread without a running event loop."""
    last = ["no answer"]

    async def go() -> T:
        while True:
            try:
                return await _once(login, job, timeout_s)
            except Exception as exc:  # starting, no quorum, unreachable, not reloaded: again
                last[0] = describe(exc, timeout_s)
                if on_retry is not None:
                    on_retry(last[0])
            await asyncio.sleep(pause_s)

    try:
        return asyncio.run(asyncio.wait_for(go(), max(0.0, wait_s)))
    except TimeoutError:
        raise NoAnswer(last[0]) from None
