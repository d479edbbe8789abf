"""What the wire said: one streamed pass over the observer's capture keeps what the checks need.

Heartbeats (most of the capture) are skipped before parsing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from soak.check.run import Run, ts
from soak.record import payload_bytes
from stilalarm.wire.messages import IncidentState, NotifyReason, parse
from stilalarm.wire.topics import Topics

PAGES = (NotifyReason.ALARM.value, NotifyReason.ESCALATION.value)
ALL_PAGES = (*PAGES, NotifyReason.REPEAT.value)


@dataclass(frozen=True)
class Note:
    """One notification (alarm, escalation or repeat of an incident) as the observer saw it."""

    t: float  # when the observer got it
    at: float  # the console's time of the page (Notification.at)
    incident_id: str
    person_id: str
    level: int
    reason: str
    notification_id: str


@dataclass
class Wire:
    """What one pass over the capture keeps."""

    notes: list[Note] = field(default_factory=list)
    states: dict[str, IncidentState] = field(default_factory=dict)
    acked_cmds: list[tuple[float, str, str | None, float]] = field(default_factory=list)
    """FeedbackCmd(acknowledged): (t, unit, incident id, issued_at)."""
    replies: list[tuple[float, str, str, bool]] = field(default_factory=list)
    """(t, person, cmd id, ok) of the replies to the hostile client's commands."""
    unitstate: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    quits: list[float] = field(default_factory=list)
    """When a unit said it shuts down (status `shutdown`)."""
    receipts: dict[str, list[tuple[float, str | None]]] = field(default_factory=dict)
    """event id -> (t, incident id) of every Receipt the console sent to a unit."""
    last_t: float = 0.0
    messages: int = 0


def scan_capture(run: Run, T: Topics, sim_units: set[str]) -> Wire:
    """One pass over the capture. Heartbeats (most of it) are skipped before parsing."""
    w = Wire()
    hostile_cmds = {c for h in run.hostile for c in h.get("cmd_ids", [])}
    starts = [run.summary.get("started", 0.0)] + [f["end"] for f in run.faults if f["kind"] == "console_kill"]
    last_start = max(starts)
    best: dict[str, tuple[int, str]] = {}  # incident -> (version, payload), newest of any console
    best_last: dict[str, tuple[int, str]] = {}  # the same, published by the last console process
    base = T.base + "/"
    for rec in run.capture():
        if "topic" not in rec:
            continue
        w.messages += 1
        t, topic, text = rec["t"], rec["topic"], rec["payload"]
        w.last_t = max(w.last_t, t)
        if not topic.startswith(base):
            continue
        parts = topic[len(base) :].split("/")
        head = parts[0]
        if head == "unit" and len(parts) == 3:
            uid, ch = parts[1], parts[2]
            if ch == "cmd" and '"acknowledged"' in text:
                cmd = json.loads(payload_bytes(text))
                if cmd.get("feedback") == "acknowledged":
                    w.acked_cmds.append((t, uid, cmd.get("incident_id"), ts(cmd["issued_at"]) or 0.0))
            elif ch == "status" and '"shutdown"' in text:
                w.quits.append(t)
            elif ch == "receipt" and text:
                rc = json.loads(payload_bytes(text))
                w.receipts.setdefault(str(rc.get("event_id")), []).append((t, rc.get("incident_id")))
        elif head == "person" and len(parts) == 3:
            if parts[2] == "notify":
                n = json.loads(payload_bytes(text))
                if n.get("incident_id") is not None and n.get("reason") in ALL_PAGES:
                    w.notes.append(
                        Note(t, ts(n["at"]) or 0.0, n["incident_id"], n["person_id"], int(n.get("level", 0)),
                             n["reason"], n["notification_id"])
                    )  # fmt: skip
            elif parts[2] == "reply" and hostile_cmds:
                rep = json.loads(payload_bytes(text))
                if rep.get("cmd_id") in hostile_cmds:
                    w.replies.append((t, parts[1], rep["cmd_id"], bool(rep.get("ok"))))
        elif head == "incident" and len(parts) == 2 and text:
            version = int(json.loads(text).get("version", 0))
            for into, ok in ((best, True), (best_last, t >= last_start)):
                if ok and (parts[1] not in into or version > into[parts[1]][0]):
                    into[parts[1]] = (version, text)
        elif head == "unitstate" and len(parts) == 2 and text and parts[1] in sim_units:
            w.unitstate.setdefault(parts[1], []).append((t, bool(json.loads(text)["online"])))
    # A console restarted while the disk was full lost what it held, and republished every incident
    # from its log: the truth is what the last console process published (versions may go back).
    for iid, (_v, text) in {**best, **best_last}.items():
        w.states[iid] = parse(IncidentState, text.encode("utf-8"))
    return w
