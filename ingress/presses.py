"""The panic page's presses: what a press carries, and which press ids were already taken.

The page gives every press a random id and retries it until answered, so a press is raised once
however often it arrives; the ids are kept on disk (a restart does not forget them) for a week.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

KEEP_S = 7 * 24 * 3600
log = logging.getLogger("alarm-web")


class PageAlarm(BaseModel):
    """The body of a panic-page press (strict: anything else is refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    press_id: uuid.UUID = Field(description="Made by the page for this press; the same on every retry.")
    where: str = Field(default="", max_length=120, description="The visit's address, if the page knows it.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude, if the person agreed.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude, if the person agreed.")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="Accuracy of the position.")
    queued_s: float = Field(
        default=0, ge=0, le=86_400, description="How long the page held it (bad network)."
    )

    def detail(self) -> str:
        """The place for the alarm notice (at most 200 characters): address and position."""
        parts = []
        if self.where:
            parts.append(self.where)
        if self.lat is not None and self.lon is not None:
            acc = f" ±{self.accuracy_m:.0f} m" if self.accuracy_m is not None else ""
            parts.append(f"GPS {self.lat:.5f},{self.lon:.5f}{acc}")
        return "; ".join(parts)[:200]


@dataclass(frozen=True)
class Seen:
    unit_id: str
    event_id: uuid.UUID


class PressBook:
    """Press id -> the event it raised (SQLite, one small file)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS presses (press_id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, "
            "event_id TEXT NOT NULL, at REAL NOT NULL)"
        )
        self._db.execute("DELETE FROM presses WHERE at < ?", (time.time() - KEEP_S,))

    def get(self, press_id: uuid.UUID) -> Seen | None:
        with self._lock:
            row = self._db.execute(
                "SELECT unit_id, event_id FROM presses WHERE press_id = ?", (str(press_id),)
            ).fetchone()
        return Seen(row[0], uuid.UUID(row[1])) if row else None

    def add(self, press_id: uuid.UUID, unit_id: str, event_id: uuid.UUID) -> None:
        """Remember a press (after its event is in the outbox; a lost row only means a retry
        raises a second press, which joins the same incident)."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR IGNORE INTO presses VALUES (?, ?, ?, ?)",
                    (str(press_id), unit_id, str(event_id), time.time()),
                )
        except sqlite3.Error:
            log.exception("cannot remember press %s; a retry of it will count as a second press", press_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()
