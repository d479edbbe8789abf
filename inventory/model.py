"""The site inventory: one validated file (`site.toml`) describing a whole site.

Everything else (broker credentials and ACLs, unit configs, routing, escalation)
is derived from this model. Every field carries a description; invalid
inventories fail with a message naming the file, the field and what is wrong
(see `inventory.load`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from wire.messages import TEST_WINDOW_DEFAULT_MIN, TEST_WINDOW_MAX_MIN, Ident

# BCM GPIO numbers usable for inputs/outputs on a 40-pin header. 0/1 are the
# HAT ID EEPROM pins and are refused; 2/3 carry hard I2C pull-ups and are refused
# for buttons (see hardware/pinmap.md).
USABLE_PINS = frozenset(range(4, 28))


class _Strict(BaseModel):
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


class UnitRole(StrEnum):
    """A desk unit raises alarms; a lead unit is a pager at a lead's desk."""

    DESK = "desk"
    LEAD = "lead"


class Target(StrEnum):
    """Who an escalation level notifies, resolved against the inventory."""

    TEAM_LEADS = "team_leads"
    TEAM_DEPUTIES = "team_deputies"
    ALL_LEADS = "all_leads"
    ALL_DEPUTIES = "all_deputies"
    RECEPTION = "reception"
    PREVENTION = "prevention"
    FACILITIES = "facilities"


class SiteInfo(_Strict):
    id: Ident = Field(description="Short id of the site; part of every MQTT topic.")
    name: str = Field(min_length=1, max_length=120, description="Display name of the site.")
    timezone: str = Field(
        default="Europe/Brussels", description="IANA time zone used to show times to people."
    )
    language: Language = Field(
        default=Language.NL, description="Default language of texts shown to people (nl, en or fr)."
    )
    building: str = Field(default="", max_length=120, description="Building name, for reports.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name like Europe/Brussels") from exc
        return v


class BrokerInfo(_Strict):
    host: str = Field(default="127.0.0.1", description="Host name units and consoles connect to.")
    port: int = Field(
        default=18830,
        ge=1,
        le=65535,
        description="Loopback plain-MQTT port (development, tests, console on the broker host).",
    )
    tls_port: int = Field(
        default=8883, ge=1, le=65535, description="TLS listener port for units and lead consoles."
    )
    use_tls: bool = Field(
        default=False,
        description="Whether unit and person configs connect with TLS (production: true).",
    )
    autosave_seconds: int = Field(
        default=1,
        ge=1,
        le=60,
        description="Broker saves its database at least this often, so a broker crash loses at most "
        "this much broker state (alarms themselves are end-to-end: units resend until the console's "
        "receipt). Measured: saving after every change instead stalls a 2,000-unit site's press "
        "burst (220 of 2,000 receipts in 120 s).",
    )
    autosave_every_change: bool = Field(
        default=False,
        description="Save at the end of every broker loop pass that changed something instead: the "
        "loss window shrinks to milliseconds (mosquitto still PUBACKs before it saves: measured, a "
        "SIGKILL right after the last PUBACK lost that one message in 3 of 3 runs), at a cost that "
        "grows with the number of clients (~3,100 QoS1 msg/s with 10 units). Not for large sites.",
    )
    publish_burst: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Messages one unit or person login (all its connections together) may publish at "
        "once before the broker's rate limit applies; the rest are dropped at the broker (a unit "
        "resends its events until the console's receipt, so they are delayed, not lost). A unit "
        "sends its retained status plus every pending event at once after an outage (tens), so "
        "100 leaves room. Never applies to the console or observer logins.",
    )
    publish_rate_per_s: float = Field(
        default=20.0,
        gt=0,
        le=1_000_000,
        description="Messages per second a unit or person login may publish in the long run (the "
        "broker's token bucket refills at this rate). A unit needs about 0.2/s (a heartbeat every "
        "5 s, an event per press, and a press takes at least 50 ms); 20/s is 100 times that, and "
        "10 times the console's own per-unit intake rate.",
    )
    publish_limit_log_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="The broker logs a login that is being rate-limited at most once per this many "
        "seconds, with the username and the number of messages dropped.",
    )


class Level(_Strict):
    after_s: float = Field(
        ge=0, le=3600, description="Seconds after the press, without acknowledgement, to fire."
    )
    notify: tuple[Target, ...] = Field(min_length=1, description="Who to notify at this level (see Target).")
    call_101: bool = Field(
        default=False, description="The message tells recipients to call the police (101)."
    )


def default_levels() -> tuple[Level, ...]:
    """The protocol's default: lead at once, deputy after 30 s, everyone + 101 after 60 s."""
    return (
        Level(after_s=0, notify=(Target.TEAM_LEADS,)),
        Level(after_s=30, notify=(Target.TEAM_DEPUTIES,)),
        Level(
            after_s=60,
            notify=(Target.ALL_LEADS, Target.RECEPTION, Target.PREVENTION),
            call_101=True,
        ),
    )


class EscalationPolicy(_Strict):
    levels: tuple[Level, ...] = Field(
        default_factory=default_levels,
        min_length=1,
        description="Escalation levels in order; the last must say call_101.",
    )
    repeat_every_s: float = Field(
        default=60,
        ge=5,
        le=3600,
        description="After the last level, repeat it this often until acknowledged.",
    )
    remind_unresolved_after_s: float = Field(
        default=900,
        ge=60,
        description="Remind the acknowledging lead when the incident is not resolved by then.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        delays = [lv.after_s for lv in self.levels]
        if delays != sorted(delays) or len(set(delays)) != len(delays):
            raise ValueError(f"level delays must strictly increase, got {delays}")
        if self.levels[0].after_s != 0:
            raise ValueError("the first level must fire at once (after_s = 0)")
        if not self.levels[-1].call_101:
            raise ValueError("the last level must instruct to call 101 (call_101 = true)")
        return self


class Team(_Strict):
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


class Room(_Strict):
    id: Ident = Field(description="Room / location id.")
    label: str = Field(min_length=1, max_length=80, description="Human label in Dutch, e.g. Balie 3.")
    label_en: str = Field(default="", max_length=80, description="Optional English label.")
    kind: RoomKind = Field(description="Type of place (balie, spreekkamer, wachtzaal, ...).")
    team: Ident = Field(description="Team responsible for this room.")
    floor: str = Field(default="", max_length=40, description="Floor or wing, shown to responders.")
    waiting_room: Ident | None = Field(
        default=None,
        description="Id of the waiting room next to this room; level 3 then says evacuate it.",
    )


class Button(_Strict):
    id: Ident = Field(description="Button id within the unit.")
    contact: Contact = Field(description="Wiring: no, nc or dual (NO+NC, supervised).")
    pin: int = Field(description="BCM GPIO of the NO contact (or the only contact for no/nc).")
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


class Unit(_Strict):
    id: Ident = Field(description="Unit id; also its MQTT identity.")
    room: Ident = Field(description="Room the unit is installed in.")
    role: UnitRole = Field(default=UnitRole.DESK, description="desk (alarm) or lead (pager).")
    person: Ident | None = Field(default=None, description="For a lead unit: the person whose pager it is.")
    buttons: tuple[Button, ...] = Field(min_length=1, description="Panic (or acknowledge) buttons.")
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

    @model_validator(mode="after")
    def _pins_unique(self) -> Self:
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


SECRET_REF = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/\S+)$"
SecretRef = Annotated[str, Field(pattern=SECRET_REF)]
"""Where a secret lives: `env:NAME` (environment variable) or `file:/abs/path`. Never the secret."""


class ChannelKind(StrEnum):
    """How a person can be reached. `console` (MQTT person topic) is always on."""

    CONSOLE = "console"
    PAGER = "pager"
    EMAIL = "email"
    APPRISE = "apprise"


class ChannelRule(_Strict):
    kind: ChannelKind = Field(description="The channel.")
    from_level: int = Field(
        default=1, ge=1, le=20, description="Use this channel for notifications at this level and up."
    )


class AppriseTarget(_Strict):
    url: str = Field(
        min_length=3,
        max_length=500,
        description="Apprise URL (teams://, ntfy://, json://, ...). Write `{secret}` where a token "
        "goes; it is filled from `secret` at send time, so no token is stored here.",
    )
    secret: SecretRef | None = Field(default=None, description="env:NAME or file:/path for {secret}.")

    @model_validator(mode="after")
    def _placeholder(self) -> Self:
        if ("{secret}" in self.url) != (self.secret is not None):
            raise ValueError("use {secret} in url exactly when secret is given")
        if re.search(r"://[^/@\s]+:[^/@\s]+@", self.url):
            raise ValueError("url contains a password; put it in secret (env:NAME or file:/path)")
        return self


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"  # only for a relay on localhost


class SmtpConfig(_Strict):
    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port (587 starttls, 465 tls).")
    security: SmtpSecurity = Field(default=SmtpSecurity.STARTTLS, description="starttls, tls or none.")
    username: str | None = Field(default=None, description="SMTP user, if the server wants auth.")
    password: SecretRef | None = Field(default=None, description="env:NAME or file:/path of the password.")
    from_addr: str = Field(description="Sender address, e.g. stilalarm@gemeente.be.")
    timeout_s: float = Field(default=10, gt=0, le=120, description="Give up one attempt after this long.")
    ca_file: str | None = Field(
        default=None, description="CA bundle to verify the server, if not the system's."
    )


class DeliveryPolicy(_Strict):
    attempts: int = Field(default=4, ge=1, le=20, description="Tries per message and channel.")
    backoff_s: float = Field(default=2, gt=0, le=300, description="First retry delay; doubles each time.")
    queue_size: int = Field(default=1000, ge=10, description="Bound of each channel's queue.")
    fault_after_failures: int = Field(
        default=3, ge=1, description="Consecutive failed messages before a channel fault is raised."
    )


class Person(_Strict):
    id: Ident = Field(description="Person id; also their MQTT identity.")
    name: str = Field(min_length=1, max_length=120, description="Full name shown to colleagues.")
    roles: tuple[Role, ...] = Field(min_length=1, description="Roles in the alarm chain.")
    language: Language | None = Field(
        default=None, description="Language of texts to this person; the site's by default."
    )
    email: str | None = Field(default=None, max_length=254, description="E-mail address (fan-out).")
    apprise: tuple[AppriseTarget, ...] = Field(
        default=(), max_length=10, description="Chat / push / SMS gateways through Apprise."
    )
    channels: tuple[ChannelRule, ...] | None = Field(
        default=None,
        description="Channels by level. Default: console and pager from level 1, e-mail and "
        "Apprise from level 3. The console (MQTT) is always used.",
    )

    def channel_rules(self) -> tuple[ChannelRule, ...]:
        """The person's channel rules, with the defaults filled in."""
        if self.channels is not None:
            return self.channels
        rules = [ChannelRule(kind=ChannelKind.CONSOLE), ChannelRule(kind=ChannelKind.PAGER)]
        if self.email:
            rules.append(ChannelRule(kind=ChannelKind.EMAIL, from_level=3))
        if self.apprise:
            rules.append(ChannelRule(kind=ChannelKind.APPRISE, from_level=3))
        return tuple(rules)

    def channels_at(self, level: int) -> frozenset[ChannelKind]:
        """Channels to use for a notification at `level` (0 = not an escalation level: all)."""
        lv = max(level, 1) if level else 20
        return frozenset({ChannelKind.CONSOLE} | {r.kind for r in self.channel_rules() if lv >= r.from_level})

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v


class ButtonTestPolicy(_Strict):
    """Weekly button tests: when facilities and team leads hear about overdue or faulty buttons."""

    notify_at: str = Field(
        default="08:30",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time of day (HH:MM) of the daily check of overdue (untested > 7 days) and "
        "faulty buttons; facilities get one summary, each team lead one notice about their rooms.",
    )
    notify_overdue_every_h: float = Field(
        default=24,
        ge=1,
        le=168,
        description="Hours between two checks, counted from notify_at. A check missed while the console "
        "was down runs once at the next start, never twice.",
    )
    notify_leads: bool = Field(
        default=True, description="Tell a team lead when a room of theirs has an overdue or faulty button."
    )


class AftercarePolicy(_Strict):
    """After-care (nazorg): the resolving lead checks in with the staff member afterwards."""

    remind_after_h: tuple[float, ...] = Field(
        default=(24, 168),
        max_length=10,
        description="Remind the resolver this many hours after the resolve (default 1 day and 1 week), "
        "until the after-care is recorded as done (`alarm-console aftercare done`).",
    )
    follow_up_severities: tuple[Literal["boosheid", "agressie", "geweld"], ...] = Field(
        default=("agressie", "geweld"),
        description="Besides every incident whose registration lists after-care, follow up incidents of "
        "these severities (boosheid / agressie / geweld). False alarms are never followed up.",
    )

    @field_validator("remind_after_h")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if list(v) != sorted(set(v)) or any(h <= 0 for h in v):
            raise ValueError(f"reminder hours must be positive and strictly increase, got {list(v)}")
        return v


class RetentionPolicy(_Strict):
    """How long the console keeps what (`alarm-console purge` deletes what is older)."""

    registrations_days: int = Field(
        default=1826,
        ge=365,
        description="Resolved incidents (registration, timeline, after-care) are kept this long after "
        "the resolve (default 5 years), then deleted whole.",
    )
    supervision_days: int = Field(
        default=90,
        ge=7,
        description="Unit supervision detail (online/offline, faults, unit notices, refused commands, "
        "raw unit payloads, rendered notifications) older than this is deleted; the newest state of each "
        "unit and person is kept.",
    )
    tests_days: int = Field(
        default=730,
        ge=90,
        description="Test campaigns and test presses older than this are deleted; each button's newest "
        "test press is kept (its last successful test).",
    )


@dataclass(frozen=True)
class SiteIndex:
    """A site's lookups by id, built once when the site is validated (they are on the alarm
    path). Read-only: a Site never changes, and neither do its indexes."""

    teams: Mapping[str, Team]
    rooms: Mapping[str, Room]
    units: Mapping[str, Unit]
    """Every unit by id, in inventory order."""
    people: Mapping[str, Person]
    with_role: Mapping[Role, tuple[str, ...]]
    """Ids of the people who hold each role, in inventory order."""
    pagers: Mapping[str, tuple[str, ...]]
    """Person id -> ids of their lead pager units."""
    units_in_room: Mapping[str, tuple[str, ...]]
    units_in_team: Mapping[str, tuple[str, ...]]
    """Team id -> ids of the units in the team's rooms, in inventory order."""

    @staticmethod
    def of(site: Site) -> SiteIndex:
        """Index a site whose references are valid (every unit's room exists)."""
        rooms = {r.id: r for r in site.rooms}
        with_role: dict[Role, list[str]] = {}
        pagers: dict[str, list[str]] = {}
        in_room: dict[str, list[str]] = {}
        in_team: dict[str, list[str]] = {}
        for p in site.people:
            for role in dict.fromkeys(p.roles):
                with_role.setdefault(role, []).append(p.id)
        for u in site.units:
            if u.role is UnitRole.LEAD and u.person is not None:
                pagers.setdefault(u.person, []).append(u.id)
            in_room.setdefault(u.room, []).append(u.id)
            in_team.setdefault(rooms[u.room].team, []).append(u.id)
        return SiteIndex(
            teams={t.id: t for t in site.teams},
            rooms=rooms,
            units={u.id: u for u in site.units},
            people={p.id: p for p in site.people},
            with_role={k: tuple(v) for k, v in with_role.items()},
            pagers={k: tuple(v) for k, v in pagers.items()},
            units_in_room={k: tuple(v) for k, v in in_room.items()},
            units_in_team={k: tuple(v) for k, v in in_team.items()},
        )


class Site(_Strict):
    """A whole site inventory: the one source of truth."""

    _index: SiteIndex = PrivateAttr()

    site: SiteInfo = Field(description="The site itself.")
    broker: BrokerInfo = Field(default_factory=BrokerInfo, description="How to reach the broker.")
    teams: tuple[Team, ...] = Field(min_length=1, description="Departments / teams.")
    rooms: tuple[Room, ...] = Field(min_length=1, description="Rooms and locations.")
    units: tuple[Unit, ...] = Field(min_length=1, description="Desk units and lead pager units.")
    people: tuple[Person, ...] = Field(min_length=1, description="People and their roles.")
    smtp: SmtpConfig | None = Field(default=None, description="Mail server for e-mail notifications.")
    delivery: DeliveryPolicy = Field(
        default_factory=DeliveryPolicy,
        description="Retries and bounds of the pager, e-mail and Apprise channels "
        "(the console retries until confirmed).",
    )
    tests: ButtonTestPolicy = Field(
        default_factory=ButtonTestPolicy, description="Daily notices about overdue or faulty buttons."
    )
    aftercare: AftercarePolicy = Field(
        default_factory=AftercarePolicy, description="After-care (nazorg) reminders to the resolver."
    )
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy, description="How long registrations and detail are kept."
    )

    @model_validator(mode="after")
    def _references(self) -> Self:
        def at(kind: str, i: int, ident: str, field: str) -> str:
            return f"{kind}[{i}] (id={ident!r}).{field}"

        def unique(kind: str, ids: list[str]) -> set[str]:
            seen: set[str] = set()
            for i, ident in enumerate(ids):
                if ident in seen:
                    raise ValueError(f"{kind}[{i}].id: duplicate {kind[:-1]} id {ident!r}")
                seen.add(ident)
            return seen

        teams = unique("teams", [t.id for t in self.teams])
        rooms = unique("rooms", [r.id for r in self.rooms])
        unique("units", [u.id for u in self.units])
        unique("people", [p.id for p in self.people])
        people = {p.id: p for p in self.people}
        for i, t in enumerate(self.teams):
            for field, ids in (("leads", t.leads), ("deputies", t.deputies)):
                for pid in ids:
                    if pid not in people:
                        raise ValueError(f"{at('teams', i, t.id, field)}: unknown person {pid!r}")
            for pid in t.leads:
                if Role.LEAD not in people[pid].roles:
                    raise ValueError(f"{at('teams', i, t.id, 'leads')}: {pid!r} lacks role 'lead'")
            for pid in t.deputies:
                if not {Role.DEPUTY, Role.LEAD} & set(people[pid].roles):
                    raise ValueError(f"{at('teams', i, t.id, 'deputies')}: {pid!r} lacks role 'deputy'")
        room_by_id = {r.id: r for r in self.rooms}
        for i, r in enumerate(self.rooms):
            if r.team not in teams:
                raise ValueError(f"{at('rooms', i, r.id, 'team')}: unknown team {r.team!r}")
            if r.waiting_room is not None:
                where = at("rooms", i, r.id, "waiting_room")
                if r.waiting_room not in rooms:
                    raise ValueError(f"{where}: unknown room {r.waiting_room!r}")
                if room_by_id[r.waiting_room].kind is not RoomKind.WACHTZAAL:
                    raise ValueError(f"{where}: {r.waiting_room!r} is not a wachtzaal")
        for i, u in enumerate(self.units):
            if u.room not in rooms:
                raise ValueError(f"{at('units', i, u.id, 'room')}: unknown room {u.room!r}")
            if u.person is not None and u.person not in people:
                raise ValueError(f"{at('units', i, u.id, 'person')}: unknown person {u.person!r}")
        for i, p in enumerate(self.people):
            kinds = {r.kind for r in p.channel_rules()}
            if ChannelKind.EMAIL in kinds and not p.email:
                raise ValueError(f"{at('people', i, p.id, 'channels')}: e-mail channel without email")
            if ChannelKind.EMAIL in kinds and p.email and self.smtp is None:
                raise ValueError(f"{at('people', i, p.id, 'email')}: e-mail needs an [smtp] section")
            if ChannelKind.APPRISE in kinds and not p.apprise:
                raise ValueError(f"{at('people', i, p.id, 'channels')}: apprise channel without apprise")
        if not any(Role.FACILITIES in p.roles for p in self.people):
            raise ValueError("people: nobody has role 'facilities'; unit faults would reach no one")
        self._index = SiteIndex.of(self)  # once, now that every reference is known to be valid
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, indexed anew (an update may replace teams, rooms, units or people).

        Like pydantic's model_copy it does not validate `update`: give only valid values."""
        copied = super().model_copy(update=update, deep=deep)
        copied._index = SiteIndex.of(copied)
        return copied

    # -- lookups (pure) -------------------------------------------------------

    @property
    def index(self) -> SiteIndex:
        """Lookups by id (teams, rooms, units, people, roles, pagers), built once."""
        return self._index

    def team(self, team_id: str) -> Team:
        """The team with this id (KeyError if unknown)."""
        return self._index.teams[team_id]

    def room(self, room_id: str) -> Room:
        """The room with this id (KeyError if unknown)."""
        return self._index.rooms[room_id]

    def unit(self, unit_id: str) -> Unit:
        """The unit with this id (KeyError if unknown)."""
        return self._index.units[unit_id]

    def person(self, person_id: str) -> Person:
        """The person with this id (KeyError if unknown)."""
        return self._index.people[person_id]

    def language_of(self, person_id: str) -> Language:
        """The language texts to this person are written in."""
        return self.person(person_id).language or self.site.language

    def people_with(self, role: Role) -> tuple[str, ...]:
        """Ids of the people who hold this role, in inventory order."""
        return self._index.with_role.get(role, ())

    def waiting_room_for(self, room_id: str) -> str | None:
        """The waiting room to evacuate for an alarm in this room (itself when it is one)."""
        room = self._index.rooms[room_id]
        if room.kind is RoomKind.WACHTZAAL:
            return room.id
        return room.waiting_room

    def units_in_scope(self, scope: str, target: str | None) -> tuple[str, ...] | None:
        """Units of a test scope (unit/room/team/site), or None when the target is unknown."""
        ix = self._index
        if scope == "site":
            return tuple(ix.units)
        if target is None:
            return None
        if scope == "unit":
            return (target,) if target in ix.units else None
        if scope == "room":
            return ix.units_in_room.get(target, ()) if target in ix.rooms else None
        if scope == "team":
            return ix.units_in_team.get(target, ()) if target in ix.teams else None
        return None

    def resolve_targets(self, team_id: str, targets: tuple[Target, ...]) -> tuple[str, ...]:
        """Person ids a level's targets name for an alarm in this team, deduplicated, in order."""
        team = self.team(team_id)
        out: list[str] = []
        for tg in targets:
            match tg:
                case Target.TEAM_LEADS:
                    ids: tuple[str, ...] = team.leads
                case Target.TEAM_DEPUTIES:
                    ids = team.deputies
                case Target.ALL_LEADS:
                    ids = tuple(p for t in self.teams for p in t.leads)
                case Target.ALL_DEPUTIES:
                    ids = tuple(p for t in self.teams for p in t.deputies)
                case Target.RECEPTION:
                    ids = self.people_with(Role.RECEPTION)
                case Target.PREVENTION:
                    ids = self.people_with(Role.PREVENTION)
                case Target.FACILITIES:
                    ids = self.people_with(Role.FACILITIES)
            for pid in ids:
                if pid not in out:
                    out.append(pid)
        return tuple(out)

    def may_act_on_incidents(self, person_id: str) -> bool:
        """Whether this person may acknowledge / resolve aggression alarms."""
        try:
            p = self.person(person_id)
        except KeyError:
            return False
        return bool({Role.LEAD, Role.DEPUTY, Role.RECEPTION, Role.PREVENTION} & set(p.roles))

    def may_run_tests(self, person_id: str) -> bool:
        """Whether this person may start / stop test mode (facilities)."""
        try:
            return Role.FACILITIES in self.person(person_id).roles
        except KeyError:
            return False
