"""The web ingress (`alarm-web`): where it listens, its limits and its tokens.

A token presses one web unit (`via = phone` or `app`). A device token belongs to a desk phone's
alarm key; a person token (with `person`) to that person's phone panic page. `alarm-broker
render` generates each token's secret and gives the ingress only its SHA-256; revoking is
`revoked = true` here and rendering again.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from stilalarm.inventory.kinds import StrictModel
from stilalarm.wire.messages import Ident


class WebToken(StrictModel):
    id: Ident = Field(description="Token id: named in logs and the event log instead of the token itself.")
    unit: Ident = Field(description="The web unit (via = phone or app) a press with this token raises.")
    person: Ident | None = Field(
        default=None, description="For a person's panic page: who holds it. None for a desk phone."
    )
    revoked: bool = Field(
        default=False, description="A revoked token is refused (render again and restart alarm-web)."
    )
    label: str = Field(default="", max_length=80, description="Where the token is configured, for IT.")


class WebPolicy(StrictModel):
    """The web ingress beside the console: desk phones' alarm keys and the phone panic page."""

    listen_host: str = Field(default="0.0.0.0", description="Address alarm-web listens on.")
    port: int = Field(default=8443, ge=1, le=65535, description="Port alarm-web listens on (HTTPS).")
    public_url: str = Field(
        default="https://alarm.example.invalid:8443",
        pattern=r"^https?://[^/?#\s]+$",
        description="Base URL phones reach alarm-web at (scheme, host, port): the press URLs in "
        "DIR/web/urls.txt are built from it.",
    )
    rate_burst: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Requests one token may make at once; beyond it (and the sustained rate) the answer "
        "is 429. A phone's repeated press within an open alarm joins it anyway.",
    )
    rate_per_s: float = Field(
        default=1.0, gt=0, le=100, description="Sustained requests per second per token."
    )
    max_body_bytes: int = Field(
        default=4096, ge=256, le=65536, description="Largest request body accepted (413 beyond)."
    )
    phone_silent_after_min: float = Field(
        default=11520,
        ge=0.05,
        le=44640,
        description="A desk phone not heard from (press or keep-alive URL) for this many minutes is a "
        "fault to facilities (`silent`); heard again, the fault clears. Default 8 days: no phone vendor "
        "documents an event that repeats on a timer (only boot and registration), so a healthy phone may "
        "be heard only at its weekly test press; lower it to 3x a repeating event measured on the site's "
        "firmware (hardware/PHONES.md).",
    )
    tokens: tuple[WebToken, ...] = Field(default=(), description="Every device and person token.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for i, tk in enumerate(self.tokens):
            if tk.id in seen:
                raise ValueError(f"tokens[{i}].id: duplicate token id {tk.id!r}")
            seen.add(tk.id)
        return self
