"""Invariant 6: a rebuild from the log equals the tables and the retained incident states."""

from __future__ import annotations

from datetime import datetime

from soak.check.capture import Wire
from soak.check.run import Db, Result, Run
from stilalarm.console.core import world as core
from stilalarm.console.store import incident_row, unit_row
from stilalarm.inventory.model import Site


def inv6(run: Run, site: Site, db: Db, wire: Wire) -> Result:
    r = Result("6", "rebuild from the log = the incidents and units tables and the retained incident states")
    incidents = db.incidents
    started = datetime.now().astimezone()
    w, history = core.rebuild_with_history(site, db.facts, started)
    r.checked = len(history) + len(incidents)
    for iid, inc in history.items():
        row = incidents.get(iid)
        rebuilt = incident_row(inc)
        if row is None:
            r.fail(f"incident {iid} is in the log, not in the incidents table", None, iid)
        elif tuple(row.values()) != rebuilt:
            diff = [k for k, a, b in zip(row.keys(), tuple(row.values()), rebuilt, strict=False) if a != b]
            r.fail(f"incident {iid}: the table differs from the rebuild in {diff}", None, iid)
        live = wire.states.get(iid)
        if live is None:
            r.fail(f"incident {iid}: no retained state ever seen", None, iid)
        elif live != inc.to_wire():
            a, b = live.model_dump(), inc.to_wire().model_dump()
            diff = [k for k in a if a[k] != b[k]]
            r.fail(f"incident {iid}: last retained state differs from the rebuild in {diff}",
                   None, iid)  # fmt: skip
    for iid in incidents:
        if iid not in history:
            r.fail(f"incident {iid} is in the table, not in the log", None, iid)
    rows = {u["unit_id"]: u for u in db.unit_rows}
    for uid in w.units.units:
        r.checked += 1
        row = rows.get(uid)
        table = None if row is None else (row["online"], row["since"], row["boot_id"], row["faults"])
        rebuilt_unit = unit_row(w.units, uid)[:4]  # the health column has heartbeat times: not in the log
        if table != rebuilt_unit:
            r.fail(f"unit {uid}: the units table says {table}, the rebuild {rebuilt_unit}", None, uid)
    return r
