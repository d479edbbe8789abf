"""Send one person command to the console service over MQTT and wait for its reply.

Used by `alarm-console ack/resolve/presence/test`: the command goes out with the
person's own credentials (`DIR/people/<id>.json`), so the broker ACL vouches for
the identity, exactly as from that person's console.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from broker_config.identity import client_id as cid_for
from inventory.derived import PersonConfig
from wire.link import Link, load_json_model
from wire.messages import (
    AckCmd,
    AftercareDoneCmd,
    CommandReply,
    ContractError,
    PresenceCmd,
    ResolveCmd,
    TestStartCmd,
    TestStopCmd,
    encode,
    parse,
)
from wire.topics import Topics

PersonCmd = AckCmd | ResolveCmd | PresenceCmd | TestStartCmd | TestStopCmd | AftercareDoneCmd


def load_person(broker_dir: Path, person_id: str) -> PersonConfig:
    """The person's rendered config; exits with what to do when it is missing."""
    path = broker_dir / "people" / f"{person_id}.json"
    if not path.exists():
        raise SystemExit(
            f"{path}: no config for person {person_id!r}; check --as, or give --broker-dir "
            "(the output of `alarm-broker render`)"
        )
    return load_json_model(PersonConfig, path)


def send(cfg: PersonConfig, cmd: PersonCmd, timeout: float = 5.0) -> CommandReply | None:
    """Publish `cmd` and return the console's reply to it, or None after `timeout` seconds."""
    topics = Topics(cfg.site_id)
    got: list[CommandReply] = []
    done = threading.Event()

    def on_reply(_topic: str, payload: bytes) -> None:
        try:
            reply = parse(CommandReply, payload)
        except ContractError:
            return
        if reply.cmd_id == cmd.cmd_id:
            got.append(reply)
            done.set()

    cid = cid_for(cfg.broker.username, f"cli-{uuid.uuid4().hex[:8]}")
    link = Link(cfg.broker, client_id=cid, clean_session=True)
    link.subscribe(topics.person_reply(cfg.person_id), on_reply)
    link.start()
    try:
        if not link.wait_connected(timeout):
            return None
        link.publish(topics.person_cmd(cfg.person_id), encode(cmd), qos=1)
        done.wait(timeout)
    finally:
        link.stop()
    return got[0] if got else None
