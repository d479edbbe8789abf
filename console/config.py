"""Configuration of the console service (everything not in the site inventory)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EnginePolicy(BaseModel):
    """Incident handling settings that are not per team."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    resolved_retention_s: float = Field(
        default=24 * 3600,
        gt=0,
        description="A resolved incident stays retained on incident/<id> this long, then is cleared.",
    )


class SupervisionPolicy(BaseModel):
    """When a unit counts as offline or faulty, and how often facilities hear about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    missed_heartbeats: int = Field(
        default=3,
        ge=2,
        le=20,
        description="A unit is offline after this many heartbeat intervals of silence.",
    )
    backlog_threshold: int = Field(
        default=10, ge=1, description="A unit's outbox above this many events is a fault."
    )
    flap_window_s: float = Field(
        default=600,
        gt=0,
        description="After a notice about a unit, further changes within this window are summarised.",
    )
    building_hold_s: float = Field(
        default=20,
        gt=0,
        le=600,
        description="A unit of a building with at least two Pi units (`[[buildings]]`) that goes offline "
        "is told to facilities this long later (at least twice the building's longest heartbeat "
        "interval), unless its whole building goes meanwhile: then one 'gebouw onbereikbaar' notice "
        "stands for them all (docs/HA.md, Buildings).",
    )
    health_refresh_s: float = Field(
        default=60, gt=0, description="Republish a unit's retained health at most this often for heartbeats."
    )
    stall_s: float = Field(
        default=2.5,
        gt=0,
        description="A gap longer than this between two supervision ticks, by the service's own monotonic "
        "clock, is the console's own stall (a SIGSTOP, a hung disk): silence deadlines move on by the gap "
        "instead of declaring units offline for the time the console was not listening.",
    )
    clock_skew_s: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="A unit whose heartbeat time (sent_at) differs from the console's receive time by more "
        "than this has a clock fault ('klok wijkt af'); notices and reports use the console's time anyway.",
    )
    clock_samples: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Heartbeats in a row (spanning at least one heartbeat interval) that must agree before a "
        "unit whose clock seems behind gets the fault, or a faulty clock counts as correct again. A clock "
        "ahead of the console is certain at once (a delay can only make a unit look behind).",
    )


class IntakePolicy(BaseModel):
    """How much the console takes from one unit (stilalarm.console.intake): a flood never buries others."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_rate_per_s: float = Field(
        default=2.0,
        gt=0,
        le=1000,
        description="Sustained events (and statuses) per second per unit; beyond it (after the burst) "
        "repeat presses of an open incident are only counted, faults wait for the unit's retransmit.",
    )
    event_burst: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Events a unit may send at once before the rate applies "
        "(a unit's outbox after an outage).",
    )
    heartbeat_min_gap: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A heartbeat sooner than this fraction of the unit's inventory interval after the "
        "last accepted one is dropped before any disk work.",
    )
    noisy_per_batch: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Each batch takes at most this many messages of flooding units, after all others.",
    )
    count_every_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Counted repeat presses of one incident (over the rate) are written as one fact at most "
        "this often, however many batches they arrive in; their receipts wait for that fact.",
    )
    flood_flag_after: int = Field(
        default=50,
        ge=1,
        description="A unit with this many messages over its limits is flagged to facilities (once).",
    )
    flood_clear_after_s: float = Field(
        default=120,
        gt=0,
        description="The flag is cleared (and facilities told) after the unit kept to its limits this long.",
    )


class ServiceConfig(BaseModel):
    """How `alarm-console serve` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_path: Path = Field(description="The site inventory (site.toml).")
    db_path: Path = Field(default=Path("run/console.db"), description="SQLite event log and projections.")
    broker_dir: Path = Field(
        default=Path("run/broker"), description="Output of `alarm-broker render` (console.json)."
    )
    batch_max: int = Field(
        default=2000, ge=1, le=100_000, description="At most this many messages per group commit."
    )
    status_beat_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="The writer publishes ConsoleStatus(online) on console/status this often (not retained); "
        "consoles count the service as gone after three missed beats.",
    )
    engine: EnginePolicy = Field(default_factory=EnginePolicy, description="Incident settings.")
    supervision: SupervisionPolicy = Field(
        default_factory=SupervisionPolicy, description="Unit supervision settings."
    )
    intake: IntakePolicy = Field(default_factory=IntakePolicy, description="Per-unit input limits.")
    warm_nodes_every_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="On a cluster (more than one broker address): connect once to every node this "
        "often, so that each node has set up the site's MQTT sessions before a failover needs it "
        "(wire/warm.py); a node that does not answer is logged.",
    )
    node_silent_after_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="On a cluster: facilities are told of a broker node that has not accepted the "
        "console's connects for this long (console/core/nodes.py), and again when it answers.",
    )
