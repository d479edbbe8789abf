"""`alarm-console risk`: its help, and the commands it builds from the arguments (nothing sent)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from stilalarm.console import cli
from stilalarm.console.cli.parser import build_parser
from stilalarm.console.cli.risk import build
from stilalarm.wire.messages import RiskAnnounceCmd, RiskCancelCmd, RiskConfirmCmd


@pytest.mark.parametrize("words", [["risk"], ["risk", "announce"], ["risk", "confirm"], ["risk", "cancel"]])
def test_every_risk_action_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([*words, "--help"])
    assert exc.value.code == 0 and "usage: alarm-console" in capsys.readouterr().out


def test_announce_builds_the_command_with_local_times() -> None:
    args = build_parser().parse_args(
        [
            *("risk", "announce", "--as", "hanne", "--room", "spreekkamer-1"),
            *("--from", "2026-12-01T14:00+01:00", "--until", "2026-12-01T15:00+01:00", "--standby", "ilse"),
            *("--risk-id", "r-1", "--colleagues-present"),
        ]
    )
    cmd = build(args, "Europe/Brussels")
    assert isinstance(cmd, RiskAnnounceCmd)
    assert (cmd.risk_id, cmd.room, cmd.standby, cmd.colleagues_present) == (
        "r-1",
        "spreekkamer-1",
        "ilse",
        True,
    )
    assert cmd.starts_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert cmd.ends_at == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    hhmm = build_parser().parse_args(
        [
            *("risk", "announce", "--as", "hanne", "--room", "r", "--from", "14:00", "--until", "15:00"),
            "--standby",
            "x",
        ]
    )
    made = build(hhmm, "Europe/Brussels")
    assert isinstance(made, RiskAnnounceCmd) and made.risk_id.startswith("r-")
    assert made.ends_at - made.starts_at == datetime(2026, 1, 1, 15) - datetime(2026, 1, 1, 14)


def test_confirm_and_cancel_and_bad_times() -> None:
    p = build_parser()
    assert isinstance(build(p.parse_args(["risk", "confirm", "r-1", "--as", "ilse"]), "UTC"), RiskConfirmCmd)
    assert isinstance(build(p.parse_args(["risk", "cancel", "r-1", "--as", "an"]), "UTC"), RiskCancelCmd)
    for bad in ("morgen", "2026-12-01T14:00"):  # no time, no offset
        args = p.parse_args(
            [
                "risk",
                "announce",
                "--as",
                "hanne",
                "--room",
                "r",
                "--from",
                bad,
                "--until",
                "15:00",
                "--standby",
                "x",
            ]
        )
        with pytest.raises(ValueError):
            build(args, "UTC")
    args = p.parse_args(
        [
            "risk",
            "announce",
            "--as",
            "hanne",
            "--room",
            "Kamer 1",
            "--from",
            "14:00",
            "--until",
            "15:00",
            "--standby",
            "x",
        ]
    )
    with pytest.raises(ValidationError):  # not an id
        build(args, "UTC")
