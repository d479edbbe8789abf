"""`alarm-console` arguments and help, systemd notify, and error messages that say what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stilalarm.console import cli
from stilalarm.console.sdnotify import SystemdNotifier

SUBCOMMANDS = [
    ["serve"],
    ["incidents"],
    ["units"],
    ["ack"],
    ["resolve"],
    ["presence"],
    ["test"],
    ["test", "start"],
    ["test", "stop"],
]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([*words, "--help"])
    assert exc.value.code == 0
    assert "usage: alarm-console" in capsys.readouterr().out


def test_views_on_a_missing_database_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="give --db"):
        cli.main(["incidents", "--db", str(tmp_path / "none.db")])


def test_person_command_without_config_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="alarm-broker render"):
        cli.main(["ack", "20261128-0001", "--as", "an", "--broker-dir", str(tmp_path)])


def test_resolve_without_the_registration_is_refused_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = tmp_path / "people"
    people.mkdir()
    (people / "an.json").write_text(
        '{"site_id": "s", "person_id": "an", "broker": {"site_id": "s", "username": "person-an", '
        '"password": "0123456789abcdef", "host": "127.0.0.1", "port": 1}}'
    )
    rc = cli.main(["resolve", "20261128-0001", "--as", "an", "--note", "x", "--broker-dir", str(tmp_path)])
    assert rc == 2
    assert "type of aggression" in capsys.readouterr().err


def test_serve_without_credentials_says_how_to_render_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stilalarm.devkit.servicerun import FAST_SITE

    site = tmp_path / "site.toml"
    site.write_text(FAST_SITE)
    assert cli.main(["serve", "--site", str(site), "--broker-dir", str(tmp_path / "nope")]) == 2
    assert "alarm-broker render" in capsys.readouterr().err


def test_systemd_notify_ready_and_watchdog(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        srv.settimeout(2)
        n = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        assert n.ping_interval() == 1.0
        n.ready()
        n.watchdog()
        n.watchdog()  # within the interval: not sent twice
        n.stopping()
        got = [srv.recv(64) for _ in range(3)]
    assert got == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_systemd_notify_is_a_no_op_outside_systemd() -> None:
    n = SystemdNotifier({})
    assert n.send("READY=1") is False and n.ping_interval() is None
    n.watchdog()
