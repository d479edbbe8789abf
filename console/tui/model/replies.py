"""The words for the console's answers to my commands and for a registration it refused."""

from __future__ import annotations

from pydantic import ValidationError

from stilalarm.console.tui.texts import Texts
from stilalarm.wire.messages import CommandReply


def reply_text(reply: CommandReply, what: str, t: Texts) -> str:
    """The line shown for the console's answer to one of my commands."""
    if reply.ok:
        return t.reply_ok.format(what=what)
    return t.reply_rejected.format(reason=reply.reason or t.reply_codes.get(reply.code, reply.code))


def registration_error(exc: ValidationError, t: Texts) -> str:
    """Registration's own error text, translated when we know it (else shown as is)."""
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in err["loc"])
        known = next((v for k, v in t.errors.items() if msg.startswith(k) or loc == k), None)
        parts.append(known or (f"{loc}: {msg}" if loc else msg))
    return " ".join(parts)
