"""Parsing and encoding: every failure a `ContractError` naming the field, never anything else."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import (
    BaseModel,
    Field,
    TypeAdapter,
    ValidationError,
)

from stilalarm.wire.messages.base import MAX_PAYLOAD_BYTES, ContractCode, ContractError
from stilalarm.wire.messages.person import (
    AckCmd,
    AftercareDoneCmd,
    ConsoleLinkCmd,
    DeclineCmd,
    OnSiteCmd,
    PersonCommand,
    PresenceCmd,
    ResolveCmd,
    RiskAnnounceCmd,
    RiskCancelCmd,
    RiskConfirmCmd,
    TestStartCmd,
    TestStopCmd,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
)
from stilalarm.wire.messages.registration import (
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
)
from stilalarm.wire.messages.unit import FeedbackCmd, IdentifyCmd, PageCmd, TestModeCmd, UnitCommand

# --------------------------------------------------------------------------- parsing

M = TypeVar("M", bound=BaseModel)

_unit_command_adapter: TypeAdapter[UnitCommand] = TypeAdapter(UnitCommand)
AnyPersonCommand = Annotated[
    PersonCommand | RegistrationFileCmd | RegistrationCompleteCmd | RegistrationCorrectCmd,
    Field(discriminator="kind"),
]
"""Every person command: `PersonCommand` and the registration's two parts (`registration.py`)."""

_person_command_adapter: TypeAdapter[AnyPersonCommand] = TypeAdapter(AnyPersonCommand)


_WIRE = {"wire": True}


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "(payload)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _code(exc: ValidationError) -> ContractCode:
    """Not JSON at all (pydantic's `json_invalid`), or JSON that is not this message."""
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        return ContractCode.INVALID_JSON
    return ContractCode.INVALID_SCHEMA


def _check_size(payload: bytes | str) -> bytes:
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}", ContractCode.OVERSIZED
        )
    return raw


def _validate(adapter_or_model: TypeAdapter[M] | type[M], raw: bytes, name: str) -> M:
    try:
        if isinstance(adapter_or_model, TypeAdapter):
            return adapter_or_model.validate_json(raw, context=_WIRE)
        return adapter_or_model.model_validate_json(raw, context=_WIRE)
    except ValidationError as exc:
        raise ContractError(f"invalid {name}: {_explain(exc)}", _code(exc)) from None
    except Exception as exc:  # the last line of defence: bad input is never a crash
        raise ContractError(
            f"invalid {name}: (payload): {type(exc).__name__}: {exc}", ContractCode.INVALID_SCHEMA
        ) from None


def parse(model: type[M], payload: bytes | str) -> M:
    """Parse one message of a known type; raise ContractError with the reason."""
    return _validate(model, _check_size(payload), model.__name__)


def parse_unit_command(payload: bytes | str) -> TestModeCmd | FeedbackCmd | IdentifyCmd | PageCmd:
    """Parse a command sent to a unit."""
    return _validate(_unit_command_adapter, _check_size(payload), "unit command")


def parse_person_command(
    payload: bytes | str,
) -> (
    AckCmd
    | DeclineCmd
    | OnSiteCmd
    | ResolveCmd
    | PresenceCmd
    | TestStartCmd
    | TestStopCmd
    | AftercareDoneCmd
    | ConsoleLinkCmd
    | VisitStartCmd
    | VisitEndCmd
    | VisitAnswerCmd
    | RegistrationFileCmd
    | RegistrationCompleteCmd
    | RegistrationCorrectCmd
    | RiskAnnounceCmd
    | RiskConfirmCmd
    | RiskCancelCmd
):
    """Parse a command sent by a person (lead, facilities, a visitor)."""
    return _validate(_person_command_adapter, _check_size(payload), "person command")


def encode(msg: BaseModel) -> bytes:
    """Serialise a message for the wire (compact JSON, UTF-8)."""
    return msg.model_dump_json().encode("utf-8")
