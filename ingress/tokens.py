"""Tokens and per-token rate limits (pure: no clock, no I/O; time is handed in).

A token is looked up by its SHA-256 (the ingress never holds a token itself); the comparison is
constant-time. Each token has a bucket: `burst` requests at once, refilled at `per_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from stilalarm.inventory.derived import WebTokenHash

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
"""What a token looks like (`secrets.token_urlsafe(24)` gives 32 characters)."""


class Refusal(StrEnum):
    """Why a request's token is refused (the code in the JSON error)."""

    MISSING = "token_missing"
    MALFORMED = "token_malformed"
    UNKNOWN = "token_unknown"
    REVOKED = "token_revoked"


@dataclass(frozen=True)
class Checked:
    """The outcome of a token check: the token, or why not."""

    token: WebTokenHash | None
    refusal: Refusal | None


def digest(token: str) -> str:
    """SHA-256 of a token, hex (what web.json holds)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    """Every token of the site by its hash."""

    def __init__(self, tokens: Iterable[WebTokenHash]) -> None:
        self._by_hash = {t.sha256: t for t in tokens}

    def check(self, token: str | None) -> Checked:
        """The token named by `token`, or the refusal (never raises, never logs the token)."""
        if not token:
            return Checked(None, Refusal.MISSING)
        if not TOKEN_PATTERN.fullmatch(token):
            return Checked(None, Refusal.MALFORMED)
        h = digest(token)
        found = None
        for known, t in self._by_hash.items():  # constant time per entry; a site has tens of tokens
            if hmac.compare_digest(known, h):
                found = t
        if found is None:
            return Checked(None, Refusal.UNKNOWN)
        if found.revoked:
            return Checked(found, Refusal.REVOKED)
        return Checked(found, None)


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class RateLimit:
    """Per-key token buckets (a pure value; `take` returns the next one)."""

    burst: int
    per_s: float
    buckets: dict[str, Bucket]

    @staticmethod
    def of(burst: int, per_s: float) -> RateLimit:
        return RateLimit(burst, per_s, {})

    def take(self, key: str, now: float) -> tuple[RateLimit, float | None]:
        """Spend one request of `key` at monotonic `now`: (next state, None) when allowed, else
        (next state, seconds until one is available)."""
        b = self.buckets.get(key, Bucket(float(self.burst), now))
        level = min(float(self.burst), b.tokens + max(0.0, now - b.at) * self.per_s)
        if level >= 1.0:
            return replace(self, buckets={**self.buckets, key: Bucket(level - 1.0, now)}), None
        wait = (1.0 - level) / self.per_s
        return replace(self, buckets={**self.buckets, key: Bucket(level, now)}), wait
