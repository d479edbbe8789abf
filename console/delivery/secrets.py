"""Secrets by reference (`env:NAME`, `file:/abs/path`), read at send time, never logged.

Every secret value read here is remembered in memory so that `redact` can blank it
out of any text (error reasons, log records) before it leaves the package, and a
logging filter does the same for the `apprise` logger, whose debug output shows
URLs (tokens included).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from urllib.parse import quote

from stilalarm.console.delivery.channel import PermanentError

MASK = "***"
_known: set[str] = set()
_lock = threading.Lock()


class SecretError(PermanentError):
    """A secret reference cannot be resolved; the reason names the reference, not a value."""


def resolve_secret(ref: str) -> str:
    """The secret behind `ref` (env:NAME or file:/path), read now; remembered for redaction."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise SecretError(f"secret {ref} is not set (environment variable {where} missing)")
    elif kind == "file":
        try:
            value = Path(where).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"secret {ref} cannot be read: {exc.strerror or type(exc).__name__}") from None
    else:
        raise SecretError(f"secret reference {kind!r}: use env:NAME or file:/path")
    if not value:
        raise SecretError(f"secret {ref} is empty")
    remember(value)
    return value


def remember(value: str) -> None:
    """Treat `value` (and its URL-quoted form) as secret from now on."""
    with _lock:
        _known.add(value)
        _known.add(quote(value, safe=""))


def redact(text: str) -> str:
    """`text` with every secret read so far replaced by ***."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message with secrets blanked out (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to complain
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and redact(str(exc)) != str(exc):
            # the traceback would print the secret: keep the type and the blanked message only
            record.exc_info, record.exc_text = None, None
            record.msg, record.args = f"{redact(message)} ({type(exc).__name__}: {redact(str(exc))})", None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(*prefixes: str) -> None:
    """Attach the redacting filter to these loggers and every existing logger below them (idempotent).

    A logger's filters only see records created on that very logger, hence the children.
    The service should also put a `RedactingFilter` on its own log handlers.
    """
    names = set(prefixes)
    for name in list(logging.root.manager.loggerDict):
        if any(name.startswith(f"{p}.") for p in prefixes):
            names.add(name)
    for name in names:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
