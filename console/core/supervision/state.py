"""Supervision's state: what the log says of each unit, and what its heartbeats say."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.reporting.buttontests import TestState, test_state
from stilalarm.inventory.kinds import Via
from stilalarm.inventory.model import Site
from stilalarm.inventory.places import unit_content
from stilalarm.wire.messages import UnitHealth, config_digest, version_digest


@dataclass(frozen=True)
class UnitRecord:
    """What the log says about a unit."""

    unit_id: str
    online: bool | None = None
    """None: not seen since this console's log began."""
    since: datetime | None = None
    boot_id: uuid.UUID | None = None
    clean_shutdown: bool = False
    firmware: str = ""
    faults: frozenset[str] = frozenset()
    window_until: datetime | None = None
    suppressed: int = 0
    last_test_ok: datetime | None = None
    """The oldest of the buttons' last OK tests; None while a button of the unit was never tested."""
    button_ok: Mapping[str, datetime] = field(default_factory=dict)
    """Button id -> when its last test press was stored."""
    held_until: datetime | None = None
    """The unit's offline notice to facilities waits until then: it is folded into its building's
    notice if the whole building goes meanwhile (None: no notice waits; see `buildings`)."""
    held_key: str = ""
    """The waiting (or last folded) offline notice's text key (offline_lost, offline_silent, ...)."""
    held_last: datetime | None = None
    """Its last sign of life (offline_silent's time)."""
    building_window: bool = False
    """The flap window was opened by the building's notice (not the unit's own): at its end the unit
    is told about only if it is still offline."""


@dataclass(frozen=True)
class BuildingRecord:
    """What the log says about a building's link (only buildings with at least two Pi units)."""

    building_id: str
    unreachable: bool = False
    since: datetime | None = None
    """When it became unreachable (its first unit went offline in that outage)."""


@dataclass(frozen=True)
class LiveHealth:
    """What heartbeats say (not logged: rebuilt by the next heartbeat)."""

    last_heartbeat: datetime | None = None
    interval_s: float | None = None
    outbox_depth: int = 0
    test_mode: bool = False
    test_until: datetime | None = None
    firmware: str = ""
    published_at: datetime | None = None
    silent_from: datetime | None = None
    """Silence baseline moved on by the console's own stall (None: last_heartbeat / the start)."""
    clock_run: str = ""
    """What the last heartbeats in a row said of the unit's clock: ok, ahead or behind."""
    clock_run_since: datetime | None = None
    clock_run_n: int = 0
    clock_offset_s: float = 0.0
    """Console time minus the unit's sent_at at the last heartbeat (positive: the unit is behind)."""
    heard: bool = False
    """A heartbeat came since the console started (so the fields below are the unit's word)."""
    config_version: str | None = None
    """The config version the unit's last heartbeat reported (None: only its rendered file)."""
    os_name: str = ""
    kernel: str = ""
    python: str = ""


NO_LIVE = LiveHealth()


@dataclass(frozen=True)
class UnitsState:
    """Supervision state of every unit of the site."""

    site: Site
    policy: SupervisionPolicy
    started_at: datetime
    units: Mapping[str, UnitRecord]
    live: Mapping[str, LiveHealth] = field(default_factory=dict)
    checked_at: datetime | None = None
    """When the daily button check last ran (`buttons_checked`)."""
    scanned_at: datetime | None = None
    """Last full scan for silent units and ended flap windows (not from the log)."""
    due_hint: datetime | None = None
    """Earliest deadline that scan found; heartbeats only push deadlines later, and any unit
    fact clears it, so it never makes a check late. None: scan at the next tick."""
    mono: float | None = None
    """The shell's monotonic clock at the last tick that carried one (to see our own stalls)."""
    deaf: bool = False
    """The last tick said the console was not connected to the broker (it could hear nobody)."""
    stalls: int = 0
    """How many stalls of the console itself were seen (re-baselined) since the start."""
    last_stall_s: float = 0.0
    """The gap of the last one, in seconds."""
    config_digests: Mapping[str, str] = field(default_factory=dict)
    """Pi unit id -> digest of the config the current inventory gives it (what it should run)."""
    buildings: Mapping[str, BuildingRecord] = field(default_factory=dict)
    """Supervised buildings (at least two Pi units) by id."""

    @staticmethod
    def initial(site: Site, started_at: datetime, policy: SupervisionPolicy | None = None) -> UnitsState:
        return UnitsState(
            site=site,
            policy=policy or SupervisionPolicy(),
            started_at=started_at,
            units={u: UnitRecord(u) for u in site.index.units},
            config_digests=config_digests(site),
            buildings={
                b: BuildingRecord(b) for b, pis in site.index.pis_in_building.items() if len(pis) >= 2
            },
        )

    def config_current(self, unit_id: str) -> bool | None:
        """Whether the unit runs the config of the current inventory (None: not known)."""
        lv = self.live.get(unit_id, NO_LIVE)
        want = self.config_digests.get(unit_id)
        if not lv.heard or want is None:
            return None
        reported = version_digest(lv.config_version)
        return bool(reported) and want.startswith(reported)

    def comparable(self) -> tuple[object, ...]:
        """The fact-derived content (for rebuild == live checks)."""
        return (dict(self.units), self.checked_at, dict(self.buildings))

    def button_state(self, unit_id: str, button_id: str, now: datetime) -> TestState:
        """A button's test state: ok (tested in 6 days), due (6-7 days), overdue (older or never)."""
        return test_state(self.units[unit_id].button_ok.get(button_id), now)

    def health(self, unit_id: str) -> UnitHealth:
        """The retained UnitHealth message of a unit."""
        r = self.units[unit_id]
        lv = self.live.get(unit_id, NO_LIVE)
        return UnitHealth(
            unit_id=unit_id,
            online=bool(r.online),
            since=r.since,
            last_heartbeat=lv.last_heartbeat,
            faults=tuple(sorted(r.faults))[:32],
            firmware_version=lv.firmware or r.firmware,
            test_mode=lv.test_mode,
            test_until=lv.test_until,
            outbox_depth=lv.outbox_depth,
            last_test_ok=r.last_test_ok,
            config_version=lv.config_version,
            config_current=self.config_current(unit_id),
            os_name=lv.os_name,
            kernel=lv.kernel,
            python=lv.python,
        )


def config_digests(site: Site) -> dict[str, str]:
    """Pi unit id -> the digest of the config the inventory gives it (`UnitConfigPush.digest`)."""
    return {
        u.id: config_digest(unit_content(site.site.id, site.site.timezone, u))
        for u in site.units
        if u.via is Via.GPIO
    }
