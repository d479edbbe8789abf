"""Broker credentials and the JSON config files that carry them (no MQTT here).

`alarm-broker render` writes one credentials file per client (mode 0600); units, the console
service and consoles read theirs with `load_json_model`. Kept apart from the paho wrapper
(`stilalarm.wire.link`) so reading a config never imports an MQTT client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A config file cannot be read or is not valid; the message names the file and the field.

    Library code raises it; the command-line tools print it and exit with status 1.
    """


class BrokerCredentials(BaseModel):
    """How one client reaches the broker; rendered by `alarm-broker render`, mode 0600."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str = Field(description="Site id (topic prefix).")
    username: str = Field(description="MQTT username; also the client id.")
    password: str = Field(min_length=16, description="MQTT password (generated).")
    host: str = Field(description="Broker host name.")
    port: int = Field(ge=1, le=65535, description="Broker port.")
    tls: bool = Field(default=False, description="Connect with TLS.")
    ca_file: str | None = Field(default=None, description="CA certificate to verify the broker.")


def load_json_model(model: type[T], path: str | Path) -> T:
    """Load a JSON config file into `model`; ConfigError names the file and the field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{p}: {'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid config\n" + "\n".join(lines)) from None
