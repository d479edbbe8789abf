"""A region with real processes (docs/HA.md "Region"): two sites on one 3-node NATS cluster, an
account each (`LocalRegion`), site A with two `alarm-console serve --ha` (a active, b standby),
site B with one. Each site's console takes its own site's alarm and pages its own lead; a kill -9
of site A's active hands site A to b and leaves site B's console as it was (one active per site,
each site's lease in its own account). Times are printed, never asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stilalarm.broker_config.local import BrokerError, LocalRegion, find_nats_server
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until

IDS = ("site-a", "site-b")
TTL = "3"


def site_text(site_id: str) -> str:
    assert 'id = "fast"' in FAST_SITE
    return FAST_SITE.replace('id = "fast"', f'id = "{site_id}"', 1)


def test_two_sites_on_one_cluster_each_console_serves_its_own_site(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    files = {}
    for sid in IDS:
        files[sid] = tmp_path / f"{sid}.toml"
        files[sid].write_text(site_text(sid))
    region = LocalRegion([parse_site(site_text(sid)) for sid in IDS], tmp_path / "region")

    def console(sid: str, name: str) -> ServiceProcess:
        return ServiceProcess(
            files[sid], tmp_path / f"{name}.db", region.site_dir(sid), tmp_path / f"{name}.log"
        )

    a, b, c = console("site-a", "a"), console("site-a", "b"), console("site-b", "c")
    seen: dict[str, Capture] = {}
    units: dict[str, ScriptedUnit] = {}  # by "<site>/<unit>"
    try:
        region.start()
        for sid in IDS:
            seen[sid] = Capture(
                region.creds("observer", None, sid), (f"{Topics(sid).base}/#",), persistent=True
            )
            seen[sid].start()
        a.start(["--ha", "a", "--ha-ttl", TTL])
        c.start(["--ha", "c", "--ha-ttl", TTL])
        # both active: each site's lease is its own (another site's active does not hold it)
        wait_until(lambda: "ACTIVE console a " in a.log(), 60, f"a active:\n{a.log()}")
        wait_until(lambda: "ACTIVE console c " in c.log(), 60, f"c active:\n{c.log()}")
        b.start(["--ha", "b", "--ha-ttl", TTL])
        wait_until(lambda: "standby b " in b.log(), 60, f"b standby:\n{b.log()}")
        for sid in IDS:
            for uid in ("balie-1", "spreekkamer-1"):
                units[f"{sid}/{uid}"] = ScriptedUnit(region.creds(f"unit-{uid}", None, sid), uid).start(20)
                t = Topics(sid)
                wait_until(
                    lambda t=t, sid=sid, uid=uid: seen[sid].on(t.unitstate(uid)) != [], 30, f"{sid}/{uid}"
                )

        def alarm(sid: str, uid: str, lead: str) -> float:
            """A press at `sid`'s unit `uid` (a new incident): receipted and `lead` paged for that
            incident; seconds from the press until both are seen."""
            unit = units[f"{sid}/{uid}"]
            t0 = time.monotonic()
            ev = unit.press()

            def done() -> bool:
                receipt = unit.receipt_for(ev.event_id)
                pages = seen[sid].alarm_notifications(lead)
                return receipt is not None and any(n.incident_id == receipt.incident_id for n in pages)

            wait_until(done, 30, f"{sid}: {uid}'s receipt and {lead} paged for its incident")
            return time.monotonic() - t0

        first = {sid: alarm(sid, "balie-1", "chris") for sid in IDS}
        # nothing of one site reached the other: each site's lead was paged for one incident, its own
        for sid in IDS:
            assert len({n.incident_id for n in seen[sid].alarm_notifications("chris")}) == 1
        a.kill()  # site A's active
        t_kill = time.monotonic()
        wait_until(lambda: "ACTIVE console b " in b.log(), 30, f"b takes site A over:\n{b.log()}")
        took = time.monotonic() - t_kill
        again = {sid: alarm(sid, "spreekkamer-1", "an") for sid in IDS}
        assert "stepping down" not in c.log() and c.log().count("ACTIVE console c ") == 1, (
            "site B undisturbed"
        )
        print(
            f"\nregion of 2 sites: press -> lead paged {first['site-a']:.2f} s / {first['site-b']:.2f} s; "
            f"site A's active killed -> b active {took:.2f} s; "
            f"then {again['site-a']:.2f} s / {again['site-b']:.2f} s"
        )
    finally:
        for u in units.values():
            u.stop()
        for p in (a, b, c):
            p.kill()
        for cap in seen.values():
            cap.stop()
        region.kill()
