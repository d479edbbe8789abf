"""A standby taking over reads site.toml as it is now (console/ha/run.py `current_site`), and keeps
the inventory it started with when the file is now invalid or names another site."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stilalarm.console.config import ServiceConfig
from stilalarm.console.ha.run import current_site
from stilalarm.inventory.load import parse_site
from tests.conftest import EXAMPLE_SITE

TEXT = EXAMPLE_SITE.read_text()
STARTED = parse_site(TEXT)


def cfg(tmp_path: Path, text: str) -> ServiceConfig:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return ServiceConfig(site_path=path)


def test_the_file_as_it_is_now(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    changed = TEXT.replace('name = "Gemeentehuis Heusden-Zolder"', 'name = "Gemeentehuis (nieuw)"')
    assert changed != TEXT
    with caplog.at_level(logging.WARNING):
        site = current_site(cfg(tmp_path, changed), STARTED)
    assert site.site.name == "Gemeentehuis (nieuw)"
    assert "changed since this console started" in caplog.text


def test_unchanged_says_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert current_site(cfg(tmp_path, TEXT), STARTED) == STARTED
    assert caplog.text == ""


def test_an_invalid_file_keeps_the_started_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        site = current_site(cfg(tmp_path, TEXT + "\n[[units]]\nid = 42\n"), STARTED)
    assert site is STARTED
    assert "is invalid now" in caplog.text and "alarm-console reload" in caplog.text


def test_another_site_id_keeps_the_started_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other = TEXT.replace('id = "hz-gemeentehuis"', 'id = "ander-huis"', 1)
    assert other != TEXT
    with caplog.at_level(logging.ERROR):
        site = current_site(cfg(tmp_path, other), STARTED)
    assert site is STARTED
    assert "'ander-huis'" in caplog.text and "restart the consoles" in caplog.text
