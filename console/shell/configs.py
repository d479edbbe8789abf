"""The console pushes every Pi unit's config, retained on unit/U/config (issue 17).

What is pushed is the non-secret part of `units/U.json` (`stilalarm.inventory.derived.unit_content`:
site id, time zone, the unit's inventory entry; never the broker password). Only the console may
write these topics and only unit U (and the observer) may read U's (broker ACL).

Versions: `serial` orders them (the unit applies only a larger one), `digest` is the SHA-256 of the
content. Per unit the console keeps `(serial, digest)` in a small file beside its database
(`<db>.configs.json`): while the content stays the same, the serial stays (a restart or a reload
without a change publishes the very same version again); when it changes the new serial is
`max(previous + 1, unix milliseconds now)`, so it grows across restarts even if that file is lost
(as long as the clock does not run backwards), and never goes backwards when the clock does.
A heartbeat reporting a larger serial than the console knows (file lost and clock behind) raises
the console's floor for that unit (`observe`), so its next push is newer again.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

from stilalarm.inventory.derived import unit_content
from stilalarm.inventory.kinds import Via
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import UnitConfigPush, config_digest, version_serial

log = logging.getLogger("console")


def state_path(db_path: Path) -> Path:
    """Where the console keeps the serial and digest of each unit's pushed config."""
    return db_path.with_name(db_path.name + ".configs.json")


class ConfigVersions:
    """Serial and digest per unit, kept in a file (written atomically when it changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[str, tuple[int, str]] = {}
        self.floor: dict[str, int] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.known = {str(k): (int(v[0]), str(v[1])) for k, v in raw.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); config serials start from the clock", path, exc)

    def observe(self, unit_id: str, reported: str | None) -> None:
        """A unit reported this version: never push it a serial at or below it."""
        serial = version_serial(reported)
        if serial is not None and serial > self.floor.get(unit_id, -1):
            self.floor[unit_id] = serial

    def behind(self) -> bool:
        """Whether a unit reported a serial at or above the console's own for it (push again)."""
        return any(f > self.known.get(uid, (-1, ""))[0] for uid, f in self.floor.items())

    def pushes(self, site: Site, now: datetime) -> list[UnitConfigPush]:
        """The push of every Pi unit of `site` (new serials where the content changed)."""
        now_ms = int(now.timestamp() * 1000)
        out: list[UnitConfigPush] = []
        changed = False
        for u in site.units:
            if u.via is not Via.GPIO:
                continue
            content = unit_content(site.site.id, site.site.timezone, u)
            digest = config_digest(content)
            old = self.known.get(u.id)
            floor = self.floor.get(u.id, -1)
            if old is not None and old[1] == digest and old[0] >= floor:
                serial = old[0]
            else:
                serial = max((old[0] if old else -1) + 1, floor + 1, now_ms)
                self.known[u.id] = (serial, digest)
                changed = True
            out.append(
                UnitConfigPush(unit_id=u.id, serial=serial, digest=digest, issued_at=now, content=content)
            )
        if changed:
            self._save()
        return out

    def gone(self, site: Site) -> list[str]:
        """Units with a pushed config that the site no longer has (their retained config is cleared)."""
        have = {u.id for u in site.units if u.via is Via.GPIO}
        return [uid for uid in self.known if uid not in have]

    def forget(self, unit_id: str) -> None:
        if self.known.pop(unit_id, None) is not None:
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({k: list(v) for k, v in sorted(self.known.items())}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:  # the serials come from the clock next time: still increasing
            log.warning("cannot write %s: %s", self.path, exc)
