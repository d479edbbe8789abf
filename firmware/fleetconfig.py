"""A config pushed by the console (retained on unit/U/config): judge it, store it, load it back.

`judge` is pure: the unit's current config, the serial it applied and the push in, a verdict out
(apply with the new `UnitConfig`, ignore, or reject with a reason for facilities). The ordering
rule: a push applies only when its `serial` is larger than the applied one; equal or smaller is
ignored (a retained message delivered again on every reconnect, or an older console's push).

The applied push is kept in the state directory (`config-<unit>.json`, the push's own JSON), so
a restart runs the newest applied config; the broker credentials stay in the rendered file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from stilalarm.inventory.derived import UnitConfig
from stilalarm.inventory.kinds import Via
from stilalarm.inventory.places import Unit
from stilalarm.wire.messages import ContractError, UnitConfigPush, config_digest, encode, parse

log = logging.getLogger("stilalarm.firmware.runtime")

Action = Literal["apply", "ignore", "reject"]


@dataclass(frozen=True)
class Verdict:
    """What to do with a push: `cfg` is the new whole config when `action` is apply."""

    action: Action
    reason: str = ""
    cfg: UnitConfig | None = None
    pins_changed: bool = False


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(x) for x in e["loc"])
    msg = str(e["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def pin_layout(unit: Unit) -> tuple[object, ...]:
    """What the pins are wired as: a change here needs the pins re-opened."""
    return (
        tuple((b.id, b.contact, b.pin, b.nc_pin) for b in unit.buttons),
        unit.led_pin,
        unit.buzzer_pin,
        unit.tamper_pin,
        unit.test_key_pin,
    )


def judge(current: UnitConfig, applied_serial: int | None, push: UnitConfigPush) -> Verdict:
    """Apply, ignore or reject `push` for the unit running `current` (pure)."""
    uid = current.unit.id
    if push.unit_id != uid:
        return Verdict("reject", f"config for unit {push.unit_id!r}, this is {uid!r}")
    if applied_serial is not None and push.serial <= applied_serial:
        return Verdict("ignore", f"version {push.serial} is not newer than the applied {applied_serial}")
    if config_digest(push.content) != push.digest:
        return Verdict("reject", "digest does not match the content (damaged or forged)")
    try:
        new = UnitConfig.model_validate({**push.content, "broker": current.broker})
    except ValidationError as exc:
        return Verdict("reject", f"invalid config: {_first_error(exc)}"[:200])
    if new.unit.id != uid:
        return Verdict("reject", f"the config describes unit {new.unit.id!r}, this is {uid!r}")
    if new.site_id != current.site_id:
        return Verdict(
            "reject", f"the config is for site {new.site_id!r}, this unit is in {current.site_id!r}"
        )
    if new.unit.via is not Via.GPIO:
        return Verdict("reject", f"via = {new.unit.via.value!r}: this is a Pi unit with buttons on its pins")
    return Verdict("apply", cfg=new, pins_changed=pin_layout(new.unit) != pin_layout(current.unit))


def path_for(state_dir: Path, unit_id: str) -> Path:
    """Where unit `unit_id` keeps its applied push."""
    return state_dir / f"config-{unit_id}.json"


def store(state_dir: Path, push: UnitConfigPush) -> None:
    """Write the applied push durably (temp file, fsync, rename); OSError when it cannot."""
    path = path_for(state_dir, push.unit_id)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(encode(push))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load(state_dir: Path, rendered: UnitConfig) -> tuple[UnitConfig, UnitConfigPush] | None:
    """The config to start with from the stored push (rendered credentials), or None: none stored,
    or one that no longer fits the rendered file (then the rendered file is used and it is said)."""
    path = path_for(state_dir, rendered.unit.id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: cannot read the applied config (%s); using the rendered file", path, exc)
        return None
    try:
        push = parse(UnitConfigPush, raw)
    except ContractError as exc:
        log.warning("%s: not a stored config (%s); using the rendered file", path, exc)
        return None
    v = judge(rendered, None, push)
    if v.action != "apply" or v.cfg is None:
        log.warning("%s: stored config no longer fits (%s); using the rendered file", path, v.reason)
        return None
    return v.cfg, push
