"""The inventory's basic kinds: the strict base model, enums and the usable GPIO pins."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# BCM GPIO numbers usable for inputs/outputs on a 40-pin header. 0/1 are the
# HAT ID EEPROM pins and are refused; 2/3 carry hard I2C pull-ups and are refused
# for buttons (see hardware/pinmap.md).
USABLE_PINS = frozenset(range(4, 28))


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Language(StrEnum):
    """A language the console writes in (its texts: console/i18n; French is a skeleton that shows
    Dutch for every message not yet translated)."""

    NL = "nl"
    EN = "en"
    FR = "fr"


class Contact(StrEnum):
    """How a button is wired (see hardware/wiring.md)."""

    NO = "no"
    NC = "nc"
    DUAL = "dual"


class RoomKind(StrEnum):
    """Type of place, as the registration form of the protocol names them."""

    BALIE = "balie"
    SPREEKKAMER = "spreekkamer"
    ONTHAAL = "onthaal"
    WACHTZAAL = "wachtzaal"
    BUREAU = "bureau"
    TELEFOON = "telefoon"
    HUISBEZOEK = "huisbezoek"


class Role(StrEnum):
    """What a person does in the alarm chain."""

    LEAD = "lead"
    DEPUTY = "deputy"
    RECEPTION = "reception"
    FACILITIES = "facilities"
    PREVENTION = "prevention"
    STAFF = "staff"
    """A staff member (medewerker) with no duty in the alarm chain: may register home visits
    (huisbezoek) and be the colleague agreed for one."""


class UnitRole(StrEnum):
    """A desk unit raises alarms; a lead unit is a pager at a lead's desk."""

    DESK = "desk"
    LEAD = "lead"


class Via(StrEnum):
    """How a unit's presses reach the system: a Raspberry Pi's pins, or the web ingress
    (`alarm-web`) for an IP desk phone's alarm key or a person's phone panic page."""

    GPIO = "gpio"
    PHONE = "phone"
    APP = "app"


class Target(StrEnum):
    """Who an escalation level notifies, resolved against the inventory."""

    TEAM_LEADS = "team_leads"
    TEAM_DEPUTIES = "team_deputies"
    ALL_LEADS = "all_leads"
    ALL_DEPUTIES = "all_deputies"
    RECEPTION = "reception"
    PREVENTION = "prevention"
    FACILITIES = "facilities"
