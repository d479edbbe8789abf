"""Send one person command to the console service over MQTT and wait for its reply.

Used by `alarm-console ack/resolve/presence/test/visit`: the command goes out with the
person's own credentials (`DIR/people/<id>.json`), so the broker ACL vouches for
the identity, exactly as from that person's console. `unit_states` reads the
console's retained unit health (what `test start --all` lists as due).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stilalarm.inventory.derived import PersonConfig
from stilalarm.wire.credentials import ConfigError, load_json_model
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.identity import random_suffix
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    AftercareDoneCmd,
    CommandReply,
    ContractError,
    DeclineCmd,
    OnSiteCmd,
    PresenceCmd,
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
    ResolveCmd,
    RiskAnnounceCmd,
    RiskCancelCmd,
    RiskConfirmCmd,
    TestStartCmd,
    TestStopCmd,
    UnitHealth,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
    encode,
    parse,
)
from stilalarm.wire.topics import Topics

PersonCmd = (
    AckCmd
    | DeclineCmd
    | OnSiteCmd
    | ResolveCmd
    | PresenceCmd
    | TestStartCmd
    | TestStopCmd
    | AftercareDoneCmd
    | VisitStartCmd
    | VisitEndCmd
    | VisitAnswerCmd
    | RegistrationFileCmd
    | RegistrationCompleteCmd
    | RegistrationCorrectCmd
    | RiskAnnounceCmd
    | RiskConfirmCmd
    | RiskCancelCmd
)


def load_person(broker_dir: Path, person_id: str) -> PersonConfig:
    """The person's rendered config; ConfigError says what to do when it is missing or invalid."""
    path = broker_dir / "people" / f"{person_id}.json"
    if not path.exists():
        raise ConfigError(
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

    cid = cid_for(cfg.broker.username, random_suffix("cli"))
    link = Link(cfg.broker, client_id=cid, clean_session=True)
    link.subscribe(topics.person_reply(cfg.person_id), on_reply, qos=0)  # clean session (tui/bus.py QOS)
    link.start()
    try:
        if not link.wait_connected(timeout):
            return None
        link.publish(topics.person_cmd(cfg.person_id), encode(cmd), qos=1)
        done.wait(timeout)
    finally:
        link.stop()
    return got[0] if got else None


def unit_states(cfg: PersonConfig, timeout: float = 5.0, quiet: float = 0.5) -> list[UnitHealth] | None:
    """The console's retained health of every unit (as every console sees it), or None when the
    broker cannot be reached within `timeout`. Retained messages come right after subscribing;
    collecting stops once none arrived for `quiet` seconds."""
    topics = Topics(cfg.site_id)
    got: dict[str, UnitHealth] = {}
    last = [time.monotonic()]
    lock = threading.Lock()

    def on_health(_topic: str, payload: bytes) -> None:
        try:
            h = parse(UnitHealth, payload)
        except ContractError:
            return
        with lock:
            got[h.unit_id] = h
            last[0] = time.monotonic()

    cid = cid_for(cfg.broker.username, random_suffix("cli"))
    link = Link(cfg.broker, client_id=cid, clean_session=True)
    link.subscribe(topics.all_unitstates(), on_health, qos=0)  # clean session (tui/bus.py QOS)
    link.start()
    try:
        if not link.wait_connected(timeout):
            return None
        with lock:
            last[0] = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if time.monotonic() - last[0] >= quiet:
                    break
            time.sleep(0.05)
    finally:
        link.stop()
    return sorted(got.values(), key=lambda h: h.unit_id)
