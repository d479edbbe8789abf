"""The soak's drain reads a unit's durable outbox: a stored press it no longer holds was receipted,
even when a SIGKILL took the unit's receipt line with it (the drain then need not wait it out)."""

from __future__ import annotations

from pathlib import Path

from soak.record import Shard
from stilalarm.firmware.outbox import Outbox
from tests.unit.test_fw_outbox import make


def test_a_shard_holds_what_its_outbox_holds_until_the_receipt(tmp_path: Path) -> None:
    shard = Shard(4, ["solo-0000"], tmp_path / "site.toml", tmp_path / "broker", tmp_path)
    assert shard.held() == set()  # no outbox yet: nothing held
    ob = Outbox(shard.state_dir / "outbox.sqlite")
    kept = ob.append("solo-0000", make(unit="solo-0000")).event
    done = ob.append("solo-0000", make(unit="solo-0000")).event
    assert shard.held() == {str(kept.event_id), str(done.event_id)}
    ob.receipt("solo-0000", done.event_id)
    assert shard.held() == {str(kept.event_id)}
    ob.close()
