"""Broker credentials and the JSON config files that carry them (no MQTT here).

`alarm-broker render` writes one credentials file per client (mode 0600); units, the console
service and consoles read theirs with `load_json_model`. Kept apart from the paho wrapper
(`stilalarm.wire.link`) so reading a config never imports an MQTT client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A config file cannot be read or is not valid; the message names the file and the field.

    Library code raises it; the command-line tools print it and exit with status 1.
    """


class BrokerAddress(BaseModel):
    """One broker node's MQTT listener."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field(
        min_length=1,
        description="Host name or IP address; with TLS, the name the certificate is checked against.",
    )
    port: int = Field(ge=1, le=65535, description="MQTT port.")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class BrokerCredentials(BaseModel):
    """How one client reaches the broker; rendered by `alarm-broker render`, mode 0600.

    `addresses` lists every broker node, the preferred one first; a client that loses its node
    or cannot reach it tries the next (`stilalarm.wire.link`). `host`/`port` are the first
    address: a file with only `host`/`port` (mosquitto, older renders) is a one-address list,
    and a file with only `addresses` gets `host`/`port` from its first entry. A one-address
    config is written without `addresses`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str = Field(description="Site id (topic prefix).")
    username: str = Field(description="MQTT username; also the client id.")
    password: str = Field(min_length=16, description="MQTT password (generated).")
    host: str = Field(description="Broker host name: the first of `addresses`.")
    port: int = Field(ge=1, le=65535, description="Broker port: the first of `addresses`.")
    addresses: tuple[BrokerAddress, ...] = Field(
        default=(),
        description=(
            "Every broker node's address, the preferred one first; the client moves to the next "
            "when a connect fails or the connection is lost. Left out: `host`/`port` only."
        ),
    )
    tls: bool = Field(default=False, description="Connect with TLS (to every address).")
    ca_file: str | None = Field(default=None, description="CA certificate to verify the broker.")

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        """Fill `addresses` from `host`/`port`, or `host`/`port` from the first address."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        addrs = out.get("addresses")
        if not addrs and "host" in out and "port" in out:
            out["addresses"] = [{"host": out["host"], "port": out["port"]}]
        elif addrs and "host" not in out and "port" not in out:
            first = addrs[0]
            if isinstance(first, BrokerAddress):
                out["host"], out["port"] = first.host, first.port
            elif isinstance(first, dict):
                out["host"], out["port"] = first.get("host"), first.get("port")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> BrokerCredentials:
        if not self.addresses:
            raise ValueError("give the broker's address: `host` and `port`, or `addresses`")
        first = self.addresses[0]
        if (first.host, first.port) != (self.host, self.port):
            raise ValueError(
                f"host/port ({self.host}:{self.port}) must be the first of addresses ({first}); "
                "re-render the config with `alarm-broker render`, or drop host/port and keep addresses"
            )
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError(f"addresses lists an address twice: {', '.join(map(str, self.addresses))}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave `addresses` out when it only repeats host/port: a one-broker (mosquitto) config
        stays as it was, readable by units that do not know the field yet."""
        out = handler(self)
        if isinstance(out, dict) and len(self.addresses) == 1:
            out.pop("addresses", None)
        return out

    def at(self, *addresses: BrokerAddress | tuple[str, int]) -> BrokerCredentials:
        """The same login with other broker addresses (the first preferred); validated."""
        if not addresses:
            raise ValueError("give at least one broker address")
        addrs = [
            a if isinstance(a, BrokerAddress) else BrokerAddress(host=a[0], port=a[1]) for a in addresses
        ]
        data = self.model_dump()
        data.update(host=addrs[0].host, port=addrs[0].port, addresses=[a.model_dump() for a in addrs])
        return BrokerCredentials.model_validate(data)


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
