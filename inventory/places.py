"""Teams, rooms, buttons and desk units."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from stilalarm.inventory.kinds import USABLE_PINS, Contact, RoomKind, StrictModel, UnitRole, Via
from stilalarm.inventory.policies import EscalationPolicy
from stilalarm.wire.messages import TEST_WINDOW_DEFAULT_MIN, TEST_WINDOW_MAX_MIN, Ident


class Team(StrictModel):
    id: Ident = Field(description="Team / department id.")
    name: str = Field(min_length=1, max_length=120, description="Display name, e.g. Sociale dienst.")
    leads: tuple[Ident, ...] = Field(
        description="Person ids of the team lead(s) (teamverantwoordelijke); at least one."
    )
    deputies: tuple[Ident, ...] = Field(
        default=(), description="Person ids of the deputies (vervanger) of the lead(s)."
    )
    escalation: EscalationPolicy = Field(
        default_factory=EscalationPolicy, description="Escalation policy of this team."
    )

    @field_validator("leads")
    @classmethod
    def _has_lead(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a team needs at least one lead (the protocol: the lead handles first)")
        return v


class Building(StrictModel):
    """A building of the site whose units reach the broker over their own link (docs/HA.md, Buildings)."""

    id: Ident = Field(description="Building id, named by rooms' `building`.")
    name: str = Field(min_length=1, max_length=80, description="Name in Dutch, e.g. Sociaal Huis.")
    name_en: str = Field(default="", max_length=80, description="Optional English name.")


class Room(StrictModel):
    id: Ident = Field(description="Room / location id.")
    label: str = Field(min_length=1, max_length=80, description="Human label in Dutch, e.g. Balie 3.")
    label_en: str = Field(default="", max_length=80, description="Optional English label.")
    kind: RoomKind = Field(description="Type of place (balie, spreekkamer, wachtzaal, ...).")
    team: Ident = Field(description="Team responsible for this room.")
    floor: str = Field(default="", max_length=40, description="Floor or wing, shown to responders.")
    building: Ident | None = Field(
        default=None,
        description="Id of the building (from `[[buildings]]`) the room is in; its units' link is "
        "supervised as one (docs/HA.md, Buildings). None: not part of a listed building.",
    )
    waiting_room: Ident | None = Field(
        default=None,
        description="Id of the waiting room next to this room; level 3 then says evacuate it.",
    )


class Button(StrictModel):
    id: Ident = Field(description="Button id within the unit.")
    contact: Contact = Field(
        default=Contact.NO, description="Wiring: no, nc or dual (NO+NC, supervised); no for web units."
    )
    pin: int | None = Field(
        default=None,
        description="BCM GPIO of the NO contact (or the only contact for no/nc); required on a Pi "
        "(via = gpio), absent on a web unit (via = phone / app).",
    )
    nc_pin: int | None = Field(default=None, description="BCM GPIO of the NC contact (dual only).")
    min_hold_ms: int = Field(
        default=50,
        ge=0,
        le=5000,
        description="A press must be held this long to alarm (filters chatter and knocks).",
    )
    debounce_ms: int = Field(
        default=10,
        ge=0,
        le=500,
        description="A level change must be stable this long before it counts.",
    )
    label: str = Field(default="", max_length=60, description="Where the button is, e.g. under desk left.")

    @model_validator(mode="after")
    def _pins(self) -> Self:
        for name, pin in (("pin", self.pin), ("nc_pin", self.nc_pin)):
            if pin is not None and pin not in USABLE_PINS:
                raise ValueError(f"{name} {pin} is not a usable BCM GPIO (use 4..27)")
        if self.contact is Contact.DUAL and self.nc_pin is None:
            raise ValueError("a dual-contact button needs nc_pin (the NC contact's GPIO)")
        if self.contact is not Contact.DUAL and self.nc_pin is not None:
            raise ValueError(f"nc_pin is only for contact = 'dual', not {self.contact.value!r}")
        if self.min_hold_ms < self.debounce_ms:
            raise ValueError("min_hold_ms must be at least debounce_ms")
        return self


WEB_KEY = "toets"
"""The one button of a web unit (a desk phone's alarm key, the panic page's button)."""


class Unit(StrictModel):
    id: Ident = Field(description="Unit id; also its MQTT identity.")
    room: Ident = Field(description="Room the unit is installed in.")
    role: UnitRole = Field(default=UnitRole.DESK, description="desk (alarm) or lead (pager).")
    via: Via = Field(
        default=Via.GPIO,
        description="gpio: a Raspberry Pi with buttons on its pins (alarm-unit); phone: an IP desk "
        "phone's alarm key, app: a person's phone panic page, both through the web ingress (alarm-web), "
        "which keeps their outbox.",
    )
    person: Ident | None = Field(default=None, description="For a lead unit: the person whose pager it is.")
    buttons: tuple[Button, ...] = Field(
        min_length=1,
        description="Panic (or acknowledge) buttons; a web unit has one, `toets`, unless listed.",
    )
    led_pin: int | None = Field(default=None, description="BCM GPIO of the discreet feedback LED.")
    buzzer_pin: int | None = Field(
        default=None, description="BCM GPIO of a buzzer (lead units and test mode only)."
    )
    tamper_pin: int | None = Field(default=None, description="BCM GPIO of the enclosure tamper switch.")
    test_key_pin: int | None = Field(
        default=None, description="BCM GPIO of the local test-mode key switch / jumper."
    )
    heartbeat_s: float = Field(default=5, ge=1, le=300, description="Heartbeat interval in seconds.")
    test_mode_minutes: float = Field(
        default=TEST_WINDOW_DEFAULT_MIN,
        gt=0,
        le=TEST_WINDOW_MAX_MIN,
        description="Minutes a test window of this unit (console command or local test key) stays "
        f"open; {TEST_WINDOW_DEFAULT_MIN} by default, at most {TEST_WINDOW_MAX_MIN}: facilities open it "
        "when they stand at the unit, so a real alarm is never lost to a long test.",
    )

    @model_validator(mode="before")
    @classmethod
    def _web_key(cls, data: Any) -> Any:
        """A web unit (via = phone / app) has one key, `toets`, unless its buttons are listed."""
        if isinstance(data, dict) and data.get("via") in (Via.PHONE, Via.APP) and "buttons" not in data:
            return {**data, "buttons": [{"id": WEB_KEY}]}
        return data

    @model_validator(mode="after")
    def _pins_unique(self) -> Self:
        if self.via is not Via.GPIO:
            return self._web_unit()
        used: dict[int, str] = {}
        named: list[tuple[str, int | None]] = [
            ("led_pin", self.led_pin),
            ("buzzer_pin", self.buzzer_pin),
            ("tamper_pin", self.tamper_pin),
            ("test_key_pin", self.test_key_pin),
        ]
        for b in self.buttons:
            named.append((f"button {b.id} pin", b.pin))
            named.append((f"button {b.id} nc_pin", b.nc_pin))
        for b in self.buttons:
            if b.pin is None:
                raise ValueError(f"button {b.id} needs pin (the BCM GPIO of its contact) on a Pi unit")
        for name, pin in named:
            if pin is None:
                continue
            if pin not in USABLE_PINS:
                raise ValueError(f"{name} {pin} is not a usable BCM GPIO (use 4..27)")
            if pin in used:
                raise ValueError(f"GPIO {pin} used twice on unit {self.id}: {used[pin]} and {name}")
            used[pin] = name
        ids = [b.id for b in self.buttons]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate button id on unit {self.id}: {ids}")
        if self.role is UnitRole.LEAD and self.person is None:
            raise ValueError("a lead unit needs person = the lead whose pager it is")
        if self.role is UnitRole.DESK and self.person is not None:
            raise ValueError("person is only for role = 'lead' units")
        return self

    def _web_unit(self) -> Self:
        """A web unit has no pins and raises alarms (a desk phone's key or the panic page)."""
        pins = [self.led_pin, self.buzzer_pin, self.tamper_pin, self.test_key_pin]
        pins += [p for b in self.buttons for p in (b.pin, b.nc_pin)]
        if any(p is not None for p in pins):
            raise ValueError(f"unit {self.id} has via = {self.via.value!r}: it has no GPIO pins, remove them")
        if self.role is not UnitRole.DESK or self.person is not None:
            raise ValueError(f"unit {self.id} has via = {self.via.value!r}: it raises alarms (role = 'desk')")
        if any(b.contact is not Contact.NO for b in self.buttons):
            raise ValueError(f"unit {self.id} has via = {self.via.value!r}: its key has no wiring (contact)")
        return self


def unit_content(site_id: str, timezone: str, unit: Unit) -> dict[str, Any]:
    """The non-secret part of a unit's config, as the console pushes it (`UnitConfigPush.content`):
    what the rendered `units/U.json` holds without `broker`. Its digest is the config's identity."""
    return {"site_id": site_id, "timezone": timezone, "unit": unit.model_dump(mode="json")}
