"""Finding 7 end to end: a payload that broke the parser is refused as invalid, naming the field.

`occurred_at = 0001-01-01T00:00:00+23:59` once raised OverflowError inside the parser, which the
service counted as `internal_error`. It is published here with `mosquitto_pub` and a unit's own
credentials against the real broker and the real `alarm-console serve`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import EventKind, UnitEvent, encode, utcnow
from stilalarm.wire.topics import Topics
from tests.harness import mosquitto_pub, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LocalBroker, ServiceProcess]]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    try:
        console.start()
        console.wait_ready()
        yield broker, console
    finally:
        console.kill()
        broker.kill()


def _event_with(**fields: object) -> bytes:
    now = utcnow()
    ev = UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="balie-1",
        kind=EventKind.ALARM,
        button_id="knop",
        seq=1,
        boot_id=uuid.uuid4(),
        occurred_at=now,
        sent_at=now,
    )
    d = json.loads(encode(ev))
    d.update(fields)
    return json.dumps(d).encode()


def test_extreme_times_and_numbers_are_counted_invalid_with_the_field_named(
    served: tuple[LocalBroker, ServiceProcess],
) -> None:
    broker, console = served
    unit = broker.creds("unit-balie-1")
    bad = [
        _event_with(occurred_at="0001-01-01T00:00:00+23:59"),  # OverflowError before the fix
        _event_with(sent_at="9999-12-31T23:59:59-23:59"),
        _event_with(seq=10**30),
        _event_with(occurred_at=1764324000),
    ]
    for payload in bad:
        assert mosquitto_pub(unit, T.unit_event("balie-1"), payload).returncode == 0

    good = ScriptedUnit(unit, "balie-1").start()
    try:
        ev = good.press()
        wait_until(lambda: good.receipt_for(ev.event_id) is not None, 20, "the receipt of the next alarm")
    finally:
        good.stop()
    assert console.terminate() == 0
    log = console.log()
    assert "internal error" not in log
    refused = [line for line in log.splitlines() if "refused message (invalid_schema)" in line]
    for field in ("occurred_at", "sent_at", "seq"):
        assert any(field in line for line in refused), (field, refused)
    assert any("outside years 1..9999" in line for line in refused)
    store = Store(console.db, readonly=True)
    try:
        assert store.rejects() == {"invalid_schema": 4}
        (row,) = store.incidents()
        assert row["unit_id"] == "balie-1"
    finally:
        store.close()
