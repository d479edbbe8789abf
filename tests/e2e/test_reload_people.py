"""A new lead added to site.toml is paged after `alarm-console reload`, without a restart (issue 17).

Real mosquitto, the real `alarm-console serve`, a scripted unit. The team Sociale dienst gets a new
lead, Nora, who did not exist in the inventory the service started with: after the reload, a press
in that team's room pages her at level 1 (and no longer An). Before the fix the delivery side kept
its own copy of the people: Nora was an "unknown person" and nobody at level 1 was told.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.devkit.servicerun import FAST_SITE
from tests.harness import wait_until
from tests.rig import ConsoleRig

SITE_V2 = (
    FAST_SITE.replace('leads = ["an"]\ndeputies = ["dirk"]', 'leads = ["nora"]\ndeputies = ["dirk"]', 1)
    + '\n[[people]]\nid = "nora"\nname = "Nora Peeters"\nroles = ["lead"]\n'
)
assert SITE_V2.count('"nora"') == 2


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ConsoleRig]:
    r = ConsoleRig(tmp_path)
    yield r
    r.stop()


def test_a_lead_added_by_a_reload_is_paged_at_level_1(rig: ConsoleRig) -> None:
    rig.site_file.write_text(SITE_V2)
    done = rig.cli("reload", "--site", str(rig.site_file), "--db", str(rig.console.db))
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: "inventory reloaded" in rig.console.log(), 20, "the service reloading")

    unit = rig.unit("spreekkamer-1")  # team sociale-dienst
    inc = rig.press(unit)
    wait_until(
        lambda: any(n.incident_id == inc and n.level == 1 for n in rig.alarm_notes("nora")),
        15,
        "Nora, the new lead, paged at level 1",
    )
    assert not [n for n in rig.alarm_notes("an") if n.incident_id == inc and n.level == 1]
    assert "unknown person" not in rig.console.log()
