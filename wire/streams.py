"""Every NATS JetStream name stilalarm uses on the cluster profile is built here, and nowhere else.

The consoles' log (console/ha/jetstream.py) uses these names, and the cluster renderer
(broker_config/cluster.py) grants the `console-log` login exactly these. Per site `S` (its id with
every character but [A-Za-z0-9_-] as `_`):

    STILALARM_FACTS_S      stream   the consoles' replicated facts log, subject stilalarm.S.facts
    STILALARM_SNAP_S       stream   the log's snapshots (compaction), subject stilalarm.S.snapshot
    stilalarm_lease_S      KV       the active console's lease (its stream: KV_stilalarm_lease_S)
    stilalarm.S.consoles   subject  core NATS, not stored: each console says it is there (presence)
    $MQTT_msgs             stream   nats-server's own: an account's queued QoS1 messages
"""

from __future__ import annotations

import re

MQTT_MSGS_STREAM = "$MQTT_msgs"
"""nats-server's stream of an account's queued QoS1 messages (created at the first MQTT login, or by
the console first: console/ha/jetstream.py limits it; docs/HA.md, item 13)."""
MQTT_MSGS_SUBJECTS = "$MQTT.msgs.>"
"""Its subjects: `$MQTT.msgs.` and the message's MQTT topic as a NATS subject."""


def site_token(site_id: str) -> str:
    """The site id as a subject token and stream/bucket name part: every character but
    [A-Za-z0-9_-] becomes `_` (a site id, [a-z0-9-], never changes)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", site_id)


def stream_name(site_id: str) -> str:
    """The site's facts log stream."""
    return f"STILALARM_FACTS_{site_token(site_id)}"


def facts_subject(site_id: str) -> str:
    """The subject the facts log's records are appended on."""
    return f"stilalarm.{site_token(site_id)}.facts"


def lease_bucket(site_id: str) -> str:
    """The KV bucket of the active console's lease (JetStream names its stream `KV_` + this)."""
    return f"stilalarm_lease_{site_token(site_id)}"


def presence_subject(site_id: str) -> str:
    """Core NATS, not stored: where each of the site's `serve --ha` consoles says it is there."""
    return f"stilalarm.{site_token(site_id)}.consoles"


def snapshot_stream(site_id: str) -> str:
    """The stream of the log's snapshots."""
    return f"STILALARM_SNAP_{site_token(site_id)}"


def snapshot_subject(site_id: str) -> str:
    """The subject snapshots are stored on."""
    return f"stilalarm.{site_token(site_id)}.snapshot"
