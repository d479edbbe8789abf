"""The `region` bench scenario's pure parts: site ids and texts, still-refused units, a settled CPU,
the nodes' complaints, a step's verdict."""

from __future__ import annotations

import math

from bench.sc_region import (
    OUT_OF_FILES,
    Step,
    flat,
    limits,
    nofile_limit,
    region_site_text,
    site_ids,
    still_refused,
    trouble,
)
from stilalarm.devkit.sitegen import many_units_toml
from stilalarm.inventory.load import parse_site
from tests.conftest import EXAMPLE_SITE


def test_site_ids_are_numbered_and_distinct() -> None:
    assert site_ids(3) == ["r01", "r02", "r03"]
    assert len(set(site_ids(20))) == 20


def test_the_site_text_gets_the_new_id_and_keeps_the_rest() -> None:
    base = many_units_toml(EXAMPLE_SITE.read_text(), 3)
    site = parse_site(region_site_text(base, "r07"))
    assert site.site.id == "r07"
    assert [u.id for u in site.units] == [u.id for u in parse_site(base).units]
    assert region_site_text('[site]\nname = "x"\nid = "a"\n[[teams]]\nid = "t"\n', "b") == (
        '[site]\nname = "x"\nid = "b"\n[[teams]]\nid = "t"\n'
    )


SIM = "2026-12-04 07:00:00,000 {level} stilalarm.firmware.mux: {msg}"
REFUSED = (
    "broker refused subscriptions of {who}: ['x/receipt']; asking again in 2 s (nothing arrives on them)"
)


def test_still_refused_is_a_refusal_without_a_later_grant() -> None:
    lines = [
        SIM.format(level="ERROR", msg=REFUSED.format(who="unit-sim-0000@r01")),
        SIM.format(level="ERROR", msg=REFUSED.format(who="unit-sim-0001@r01")),
        SIM.format(level="WARNING", msg="unit-sim-0000@r01: subscriptions granted on a retry"),
        SIM.format(level="ERROR", msg=REFUSED.format(who="unit-sim-0002@r01")),
        SIM.format(level="WARNING", msg="unit-sim-0002@r01: subscriptions granted on a retry"),
        # partly granted: the grant is logged, then the rest refused again
        SIM.format(level="ERROR", msg=REFUSED.format(who="unit-sim-0002@r01")),
        # the console's link words its grant differently
        "E " + REFUSED.format(who="console@r01"),
        "W broker granted the subscriptions of console@r01 on a retry: ['x']",
    ]
    assert still_refused("\n".join(lines)) == {"unit-sim-0001@r01", "unit-sim-0002@r01"}
    assert still_refused("") == set()


def test_flat_is_the_last_windows_close_to_their_median() -> None:
    assert not flat([30, 29, 31])  # too few windows
    assert flat([180, 120, 30, 28, 32, 29])  # fell, then steady within 5 points
    assert not flat([90, 70, 55, 45])  # still falling
    assert flat([200, 190, 205, 195, 210], tol=5, rel=0.1)  # 10 % of a high median
    assert not flat([28, 29, 36, 38])


def test_trouble_counts_only_what_the_nodes_said() -> None:
    log = "\n".join(
        [
            "[1] ... [ERR] Error creating filestore WAL: open x/meta.inf: too many open files",
            '[1] ... [ERR] 127.0.0.1:1 - mid:2 - "u" - Unable to add JetStream consumer for subscription',
            '[1] ... [ERR] 127.0.0.1:1 - mid:3 - "u" - Unable to add JetStream consumer for subscription',
            "[1] ... [INF] JetStream cluster new consumer leader",
        ]
    )
    assert trouble(log) == {
        "too many open files": 1,
        "QoS1 subscriptions refused (consumer not created)": 2,
    }
    assert trouble("") == {}


def test_a_step_fails_by_refusals_lost_presses_an_unsettled_cluster_or_an_error() -> None:
    ok = Step(5, 25, settle_s=3, settle_cpu=40.0, settled=True, presses=25)
    assert limits(ok, 90) == []
    assert limits(Step(5, 25, settled=True, refused=40, presses=25), 90) == []  # refused, then granted
    assert "2 unit(s) still refused" in limits(Step(5, 25, settled=True, refused_still=2), 90)[0]
    assert "3 of 25 presses" in limits(Step(5, 25, settled=True, presses=25, lost=3), 90)[0]
    assert "did not settle within 90 s (80 %" in limits(Step(5, 25, settle_cpu=80.0), 90)[0]
    stopped = Step(20, 100, error="TimeoutError: alarm-sim: timed out")
    assert math.isnan(stopped.settle_cpu) and limits(stopped, 90) == [stopped.error]
    assert "2 of 20 active consoles paused" in limits(Step(20, 25, settled=True, paused=2), 90)[0]
    # running out of files is named first: what broke first, the rest follows from it
    out = Step(20, 100, error=stopped.error, file_limit=20000, nodes_said={OUT_OF_FILES: 7}, paused=20)
    assert limits(out, 90) == [
        f"the nodes ran out of open files (limit 20000 per node; 7 × '{OUT_OF_FILES}' in their logs)",
        stopped.error,
        "20 of 20 active consoles paused (lease not renewed in time)",
    ]


def test_the_file_limit_is_the_soft_one_of_proc_limits() -> None:
    text = (
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max processes             95322                95322                processes \n"
        "Max open files            20000                40000                files     \n"
    )
    assert nofile_limit(text) == 20000
    assert nofile_limit("") == 0
