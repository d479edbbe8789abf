"""Local test mode without a console: a request file in the state directory.

`alarm-unit test-mode on|off [--minutes N] --state-dir DIR` writes
`DIR/test-mode.request.json` atomically; the running `alarm-unit run` (same
--state-dir) polls it every second, applies each new request once, and answers in
`DIR/test-mode.state.json` with the request id it applied. A request found at
start-up is NOT applied: after a restart the unit is always live.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from stilalarm.wire.messages import utcnow

REQUEST = "test-mode.request.json"
STATE = "test-mode.state.json"


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_request(state_dir: Path, on: bool, minutes: float | None) -> str:
    """Ask the running unit to switch test mode; returns the request id."""
    rid = str(uuid.uuid4())
    data = {"request_id": rid, "on": on, "minutes": minutes, "requested_at": utcnow().isoformat()}
    _write_atomic(state_dir / REQUEST, data)
    return rid


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def applied_request(state_dir: Path) -> str | None:
    """The id of the last request the running unit applied."""
    st = read_json(state_dir / STATE)
    return str(st.get("request_id")) if st else None


class RequestWatcher:
    """Polled by the running unit: returns each new request once."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / REQUEST
        self.state_path = state_dir / STATE
        self._mtime: int | None = None
        first = read_json(self.path)
        self._seen = str(first.get("request_id")) if first else None  # never applied at start-up
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def poll(self) -> tuple[bool, float | None] | None:
        """(on, minutes) for a new, valid request; None otherwise."""
        m = self._stat()
        if m is None or m == self._mtime:
            return None
        self._mtime = m
        req = read_json(self.path)
        if req is None or str(req.get("request_id")) == self._seen:
            return None
        self._seen = str(req.get("request_id"))
        on, minutes = req.get("on"), req.get("minutes")
        if not isinstance(on, bool) or not (minutes is None or isinstance(minutes, int | float)):
            return None
        return on, (float(minutes) if minutes is not None else None)

    def answer(self, on: bool, until: str | None) -> None:
        """Tell the CLI which request was applied."""
        _write_atomic(
            self.state_path,
            {"request_id": self._seen, "on": on, "until": until, "applied_at": utcnow().isoformat()},
        )
