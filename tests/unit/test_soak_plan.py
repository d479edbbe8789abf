"""The soak's plan and the private network names of soaks and test workers (pure, or a subprocess
per pid)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.netns import HOST_ADDR, numbered_netns
from soak.schedule import FAULT_KINDS, SOLO_FAULTS, make_plan
from soak.site import SOLO_UNIT, unit_ids

UNITS = [*unit_ids(8), SOLO_UNIT]


def test_the_same_seed_draws_the_same_plan_and_another_seed_another() -> None:
    a = make_plan(912, 150, UNITS, 4, SOLO_UNIT, 8)
    assert a == make_plan(912, 150, UNITS, 4, SOLO_UNIT, 8)
    assert a != make_plan(913, 150, UNITS, 4, SOLO_UNIT, 8)


def test_every_fault_kind_comes_once_before_any_repeats_and_solo_faults_target_the_solo_shard() -> None:
    plan = make_plan(5, 600, UNITS, 4, SOLO_UNIT, 8)
    kinds = [f.kind for f in plan.faults]
    assert set(kinds) == set(FAULT_KINDS) and len(kinds) > 2 * len(FAULT_KINDS)
    for f in plan.faults:
        if f.kind in SOLO_FAULTS:
            assert f.target == "shard-4"
        if f.kind == "clock_step":
            assert f.offset_s != 0
        if f.kind == "lead_absent":
            assert f.target.startswith("lead-")
    scopes = {p.scope for p in plan.presses if p.kind == "test"}
    assert scopes == {"unit", "room"}


def test_two_soaks_get_different_network_namespaces_and_addresses() -> None:
    """Regression: one fixed namespace name let a second soak delete the first one's (its solo
    unit lost its link for good, seen as a unit that never reconnected)."""
    code = (
        "from bench.netns import soak_netns as s; n = s(); "
        "print(n.veth_host, n.veth_ns, n.host_addr, n.ns_addr)"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(runs) == 3
    for line in runs:
        vh, vn, host, ns = line.split()
        assert len(vh) <= 15 and len(vn) <= 15  # Linux interface names
        assert host.startswith("10.254.") and int(host.split(".")[2]) >= 128  # never the network-cut test's
        assert host.rsplit(".", 1)[0] == ns.rsplit(".", 1)[0]


def test_each_test_worker_gets_its_own_network_namespace() -> None:
    """Regression: the `netns` fixture had one fixed name, so a second pytest-xdist worker's
    fixture would remove the first one's namespace (`open` clears a leftover of that name)."""
    spaces = [numbered_netns(i) for i in range(28)]
    for field in ("name", "veth_host", "veth_ns", "host_addr", "ns_addr"):
        assert len({getattr(n, field) for n in spaces}) == 28, field
    for n in spaces:
        assert len(n.veth_host) <= 15 and len(n.veth_ns) <= 15  # Linux interface names
        third = int(n.host_addr.split(".")[2])
        assert 100 <= third < 128 and n.host_addr != HOST_ADDR  # not a soak's nor the bench's
    with pytest.raises(ValueError, match="at most 28 test workers"):
        numbered_netns(28)
