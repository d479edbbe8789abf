"""The soak's site: FAST_SITE (escalation in seconds) plus the simulated desk units and two
units nobody presses, whose logins the hostile client uses."""

from __future__ import annotations

from stilalarm.devkit.servicerun import FAST_SITE

ROOMS = ("spreekkamer-1", "balie-1")  # team sociale-dienst (an / dirk), team onthaal (chris / bart)
HOSTILE_UNIT = "soak-x"  # malformed and spoofed input with this unit's login
FLOOD_UNIT = "soak-flood"  # a flood with this unit's login (tests/flood.py)
HEARTBEAT_S = 2
# Who answers alarms of a team (the scripted leads), by the team of each room.
RESPONDERS = {"spreekkamer-1": ("an", "dirk"), "balie-1": ("chris", "bart")}
FACILITIES = "fien"  # opens test windows
HOSTILE_PERSON = "els"  # reception: may acknowledge, never resolve an unacknowledged incident


SOLO_UNIT = "solo-0000"  # runs as its own alarm-unit process (fault unit_kill)


def unit_ids(n: int) -> list[str]:
    """The `alarm-sim` units."""
    return [f"sim-{i:04d}" for i in range(n)]


def room_of(unit_id: str) -> str:
    """The room of a generated unit (alternating between the two teams)."""
    if unit_id in (HOSTILE_UNIT, FLOOD_UNIT, SOLO_UNIT):
        return "balie-1"
    return ROOMS[int(unit_id.rsplit("-", 1)[1]) % len(ROOMS)]


def soak_site_toml(n: int) -> str:
    """FAST_SITE plus `n` dual-button units `sim-0000`.., the solo unit and the two hostile logins."""
    blocks = [FAST_SITE.rstrip(), ""]
    for uid in [*unit_ids(n), SOLO_UNIT, HOSTILE_UNIT, FLOOD_UNIT]:
        blocks += [
            "[[units]]",
            f'id = "{uid}"',
            f'room = "{room_of(uid)}"',
            f"heartbeat_s = {HEARTBEAT_S}",
            "led_pin = 17",
            'buttons = [{ id = "knop", contact = "dual", pin = 5, nc_pin = 6 }]',
            "",
        ]
    return "\n".join(blocks)
