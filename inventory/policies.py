"""Site-wide settings and policies: site and broker info, escalation levels, button tests,
after-care and retention."""

from __future__ import annotations

from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from stilalarm.inventory.kinds import Language, StrictModel, Target
from stilalarm.inventory.visits import OfficeHours
from stilalarm.wire.messages import Ident


class SiteInfo(StrictModel):
    id: Ident = Field(description="Short id of the site; part of every MQTT topic.")
    name: str = Field(min_length=1, max_length=120, description="Display name of the site.")
    timezone: str = Field(
        default="Europe/Brussels", description="IANA time zone used to show times to people."
    )
    language: Language = Field(
        default=Language.NL, description="Default language of texts shown to people (nl, en or fr)."
    )
    building: str = Field(default="", max_length=120, description="Building name, for reports.")
    office_hours: OfficeHours = Field(
        default_factory=OfficeHours,
        description="When the office is open (default 08:00-17:00, Monday to Friday); home visits "
        "planned past closing time follow the evening rule (docs/VISITS.md).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name like Europe/Brussels") from exc
        return v


class BrokerInfo(StrictModel):
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


class Level(StrictModel):
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


class EscalationPolicy(StrictModel):
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
    on_site_within_s: float = Field(
        default=120,
        ge=1,
        le=3600,
        description="After 'ik kom', the responder marks 'ter plaatse' within this many seconds; "
        "if not, the responder is reminded.",
    )
    on_site_escalate_after_s: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="Still not 'ter plaatse' this many seconds after that reminder: the next level "
        "is told that help may not have arrived (and the last level when it was acknowledged there).",
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


class ButtonTestPolicy(StrictModel):
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


class AftercarePolicy(StrictModel):
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


class RetentionPolicy(StrictModel):
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


class ClusterNode(StrictModel):
    """One node of the clustered broker (the `cluster` profile: NATS with JetStream and MQTT)."""

    name: Ident = Field(description="Node name: the NATS server_name, unique in the cluster.")
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Host name or address units, consoles and the other nodes reach this node at.",
    )
    mqtt_port: int = Field(ge=1, le=65535, description="MQTT listener (TLS when [broker] use_tls).")
    route_port: int = Field(ge=1, le=65535, description="Cluster route port the other nodes connect to.")
    nats_port: int = Field(
        ge=1,
        le=65535,
        description="NATS client port: the consoles' replicated log and lease (login console-log); "
        "TLS on every interface with [broker] use_tls, else loopback only (never 4222, a system NATS "
        "may own that one).",
    )


PAGE_AFTER_S = 2.0
"""The default of `ClusterInfo.page_after_s`."""


def _default_nodes() -> tuple[ClusterNode, ...]:
    return tuple(
        ClusterNode(name=f"n{i}", mqtt_port=18830 + i, route_port=16220 + i, nats_port=14220 + i)
        for i in (1, 2, 3)
    )


class ClusterInfo(StrictModel):
    """The `cluster` broker profile (`alarm-broker render --profile cluster`, docs/HA.md)."""

    name: Ident = Field(default="stilalarm", description="Cluster name; every node must share it.")
    nodes: tuple[ClusterNode, ...] = Field(
        default_factory=_default_nodes,
        min_length=1,
        description="The broker nodes (3 by default, on loopback: change the hosts for real machines).",
    )
    replicas: int = Field(
        default=3,
        ge=1,
        le=5,
        description="JetStream replicas of the MQTT streams and consumers (sessions, retained and "
        "queued QoS1 messages): 3 survives the loss of one node.",
    )
    max_ack_pending: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="QoS1 messages the broker sends one subscription before it waits for PUBACKs "
        "(NATS mqtt max_ack_pending; the total over a session's subscriptions cannot exceed 65535).",
    )
    ack_wait_s: int = Field(
        default=30, ge=1, le=3600, description="Seconds before an unacknowledged QoS1 message is resent."
    )
    max_file_store_mb: int = Field(
        default=1024, ge=16, description="JetStream file storage per node, in MiB."
    )
    queued_per_topic: int = Field(
        default=16,
        ge=1,
        le=10000,
        description="QoS1 messages the cluster keeps queued per MQTT topic (per unit's event topic, "
        "per person's command topic, ...); a newer one pushes out the oldest, which the sender's "
        "outbox sends again until its receipt. Bounds what one login can make the store hold "
        "(docs/HA.md, item 13).",
    )
    page_after_s: float = Field(
        default=PAGE_AFTER_S,
        gt=0,
        le=30,
        description="Seconds the active console waits for the log to confirm a commit before it pages "
        "from memory, marked 'niet opgeslagen' (a healthy cluster confirms in milliseconds; a "
        "stream leader's election after a node loss takes 4-9 s). Shorter pages sooner during an "
        "election, at the price of more 'not stored' pages and store faults (docs/HA.md, item 12). "
        "The active console follows a reload (SIGHUP): the next record is waited for with the "
        "new bound. One of the [cluster] fields the sites of a region may set differently.",
    )
    consoles: int = Field(
        default=2,
        ge=1,
        le=9,
        description="How many consoles run `alarm-console serve --ha` for this site: the active "
        "one tells facilities when it hears fewer than consoles - 1 standbys (then a failure of "
        "the active is a failure of the site: docs/HA.md, Standbys). 1: no standby, no notice. "
        "The site's own: sites of a region may differ.",
    )
    standby_silent_after_s: float = Field(
        default=30.0,
        ge=2,
        le=3600,
        description="Seconds without a word from a standby console before the active counts it "
        "as gone (a standby says it is there every quarter of this, at most every 5 s). The "
        "site's own: sites of a region may differ.",
    )
    queued_store_percent: int = Field(
        default=25,
        ge=1,
        le=50,
        description="Percent of each node's store that all queued QoS1 messages together may use "
        "(shared by the sites of a region); beyond it the oldest queued message is dropped, so the "
        "consoles' log, lease and the MQTT sessions always have the rest.",
    )

    def shared(self) -> dict[str, object]:
        """The fields every site of a region must agree on: all but the consoles' own
        (`page_after_s` is how long that site's active console waits, not the cluster's; how many
        consoles a site runs and when its standbys count as gone are the site's)."""
        return self.model_dump(exclude={"page_after_s", "consoles", "standby_silent_after_s"})

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"cluster node names must be unique: {names}")
        if self.replicas > len(self.nodes):
            raise ValueError(f"cluster replicas = {self.replicas} but only {len(self.nodes)} nodes")
        return self
