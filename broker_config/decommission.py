"""Taking a site out of a region with its data (`alarm-broker region --remove`, docs/HA.md Region).

nats-server 2.9 keeps a removed account's JetStream: its streams stay in every node's store and,
on a node that only reloaded, running; a node started again warns about them. So a site leaves
in two renders:

1. `--remove X` while X is still in the region: X's accounts keep only a `decommission` login
   each (native NATS, every JetStream API subject of its own account, nothing else), written to
   `sites/X/decommission.json`; every other login of X is gone at the nodes' next reload.
2. `--remove X` again, after every node reloaded: that login deletes every stream of both of
   X's accounts (the facts log, snapshots, lease, MQTT sessions, queued and retained messages,
   enrolment's), then X's accounts leave the region and its directory moves to `removed/`.
"""

from __future__ import annotations

import time
from pathlib import Path

from nats.js import JetStreamContext
from pydantic import BaseModel, ConfigDict, Field

from stilalarm.broker_config.cluster import Permissions, _user_block
from stilalarm.broker_config.render import RenderError, _write
from stilalarm.wire.jetstream import NatsLogin, NoAnswer, run_job

DECOMMISSION_FILE = "decommission.json"
"""In a site directory being removed: the logins that delete its data (mode 0600). Its presence
also stops enrolment from writing the site's logins back (`new_unit_password`)."""
DECOMMISSION_USER = "decommission"
DECOMMISSION_ENROLL_USER = "decommission-enroll"


class Decommission(BaseModel):
    """How to reach a site's two accounts to delete their streams (`decommission.json`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: tuple[str, ...] = Field(
        min_length=1, description="Every node's NATS client address (as in the site's console-log.json)."
    )
    logins: tuple[tuple[str, str], ...] = Field(
        min_length=1,
        description="(user, password) of the decommission login of each of the site's accounts.",
    )
    ca_file: str | None = Field(default=None, description="The site CA: TLS to the nodes when set.")

    def save(self, path: Path) -> None:
        _write(path, self.model_dump_json(indent=2) + "\n", 0o600)

    @staticmethod
    def load(path: Path) -> Decommission:
        return Decommission.model_validate_json(path.read_text(encoding="utf-8"))


def decommission_block(user: str, password: str) -> list[str]:
    """An account's only login while its site is removed: JetStream's API of its own account."""
    return _user_block(Permissions(user, ("$JS.API.>",), ("_INBOX.>",)), password, "STANDARD")


def delete_streams(d: Decommission, wait_s: float = 30.0, timeout_s: float = 5.0) -> list[str]:
    """Delete every stream of each login's account; the names deleted (`<login>: <stream>`). Tried
    again until `wait_s` (a node may not have reloaded yet); RenderError with what to do when not."""
    deleted: list[str] = []
    deadline = time.monotonic() + wait_s
    for user, password in d.logins:

        async def wipe(js: JetStreamContext, user: str = user) -> None:
            for info in await js.streams_info():
                name = info.config.name
                assert name is not None
                await js.delete_stream(name)
                deleted.append(f"{user}: {name}")
            left = await js.streams_info()
            if left:
                raise RuntimeError(f"streams still there: {[i.config.name for i in left]}")

        login = NatsLogin(d.servers, user, password, d.ca_file, f"stilalarm-{user}")
        try:
            run_job(login, wipe, wait_s=deadline - time.monotonic(), timeout_s=timeout_s, pause_s=1.0)
        except NoAnswer as exc:
            raise RenderError(
                f"could not delete the removed site's data ({user}: {exc.last}). Reload every node "
                "(SIGHUP) after the first --remove, make sure this host reaches their NATS client ports, "
                "and run the same command again"
            ) from None
    return deleted
