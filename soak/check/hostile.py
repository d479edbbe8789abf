"""Invariant 8: nothing the hostile client sent took effect."""

from __future__ import annotations

from soak.check.capture import Wire
from soak.check.run import Db, Result, Run, ts
from soak.site import HOSTILE_PERSON, HOSTILE_UNIT


def inv8(run: Run, db: Db, wire: Wire) -> Result:
    r = Result("8", "nothing unauthorised took effect (hostile client)")
    received, incidents = db.received, db.incidents
    spoofed = {e for h in run.hostile for e in h.get("event_ids", [])}
    cmds = {c for h in run.hostile for c in h.get("cmd_ids", [])}
    r.checked = len(spoofed) + len(cmds) + len(incidents)
    for eid in spoofed:
        if eid in received:
            row = received[eid]
            r.fail(f"spoofed event {eid} was stored as {row['unit_id']} / {row['incident_id']}",
                   None, eid)  # fmt: skip
    for t, person, cmd_id, ok in wire.replies:
        if ok:
            r.fail(f"hostile command {cmd_id} was accepted ({person})", t)
    sent = {(x["kind"], x["person"], x["incident_id"]) for x in run.leads}
    for iid, inc in incidents.items():
        if inc["unit_id"] == HOSTILE_UNIT:
            r.fail(f"incident {iid} opened for the hostile login {HOSTILE_UNIT}", ts(inc["stored_at"]), iid)
        for kind, col in (("ack", "acknowledged_by"), ("resolve", "resolved_by")):
            who = inc[col]
            if who is not None and (who == HOSTILE_PERSON or (kind, who, iid) not in sent):
                r.fail(f"incident {iid}: {col} {who}, who never sent that command", ts(inc["stored_at"]), iid)
    malformed = sum(h.get("n", 0) for h in run.hostile if h.get("action") == "malformed")
    counted = sum(db.rejects.values())
    if malformed:
        r.checked += 1
        if counted < malformed:
            r.fail(f"{malformed} malformed payloads sent, only {counted} counted as refused ({db.rejects})")
    r.note = f"refused and counted: {db.rejects}" if run.hostile else "no hostile action in this run"
    return r
