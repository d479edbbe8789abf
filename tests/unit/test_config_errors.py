"""Library code raises errors that say what to fix; only the command-line tools exit (status 1,
the message alone on stderr, as before the libraries stopped exiting)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stilalarm.broker_config import render
from stilalarm.console import cli as console_cli
from stilalarm.console import remote
from stilalarm.firmware import cli as unit_cli
from stilalarm.firmware import sim
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire.credentials import BrokerCredentials, ConfigError, load_json_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SITE = ROOT / "examples" / "site.toml"

CASES = [
    (None, "cannot read: No such file or directory"),
    ('{"site_id": "s"', "not valid JSON"),
    ('{"site_id": "s", "unit": {}}', "unit.room: Field required"),
]


@pytest.mark.parametrize(("text", "words"), CASES)
def test_load_json_model_raises_a_config_error_naming_the_file(
    tmp_path: Path, text: str | None, words: str
) -> None:
    path = tmp_path / "unit.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_json_model(UnitConfig, path)
    assert str(path) in str(err.value) and words in str(err.value)


@pytest.mark.parametrize(("text", "words"), CASES)
def test_alarm_unit_check_exits_with_the_message_alone(tmp_path: Path, text: str | None, words: str) -> None:
    path = tmp_path / "unit.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        unit_cli.main(["check", "--config", str(path)])
    assert isinstance(exc.value.code, str)
    assert str(path) in exc.value.code and words in exc.value.code


def test_the_real_alarm_unit_exits_1_with_the_message_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "unit.json"
    path.write_text('{"site_id": "s", "unit": {}}', encoding="utf-8")
    exe = Path(sys.executable).parent / "alarm-unit"
    done = subprocess.run(
        [str(exe), "check", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"invalid config\n{path}: unit.id: Field required\n")
    assert "Traceback" not in done.stderr


def test_load_person_raises_and_alarm_console_exits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config for person 'bob'.*alarm-broker render"):
        remote.load_person(tmp_path, "bob")
    (tmp_path / "people").mkdir()
    (tmp_path / "people" / "an.json").write_text('{"site_id": "s"', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"people/an\.json: not valid JSON"):
        console_cli.main(["ack", "20261128-0001", "--as", "an", "--broker-dir", str(tmp_path)])


def test_alarm_console_serve_exits_on_invalid_credentials(tmp_path: Path) -> None:
    (tmp_path / "console.json").write_text('{"username": 3}', encoding="utf-8")
    db = tmp_path / "c.db"
    argv = ["serve", "--site", str(EXAMPLE_SITE), "--db", str(db), "--broker-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"^invalid config\n.*console\.json: site_id: Field required"):
        console_cli.main(argv)
    with pytest.raises(ConfigError):
        load_json_model(BrokerCredentials, tmp_path / "console.json")


def test_alarm_sim_configs_raise_and_the_cli_exits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--units: unknown unit\(s\) nope"):
        sim.load_configs(EXAMPLE_SITE, tmp_path, "nope")
    with pytest.raises(ConfigError, match=r"balie-1\.json: missing; run `alarm-broker render"):
        sim.load_configs(EXAMPLE_SITE, tmp_path, "balie-1")
    with pytest.raises(SystemExit, match=r"--units: unknown unit\(s\) nope"):
        sim.main(["--site", str(EXAMPLE_SITE), "--broker-dir", str(tmp_path), "--units", "nope"])


def test_an_unknown_run_as_user_is_an_error_not_an_exit(tmp_path: Path) -> None:
    with pytest.raises(render.RunAsError, match="--run-as no-such-user-stl: no such user on this machine"):
        render._grant_broker_user(tmp_path, "no-such-user-stl")


def test_only_command_line_modules_exit() -> None:
    """SystemExit / sys.exit appear only in the modules behind a command, never in a library."""
    entry_points = {
        "bench/__main__.py",
        "bench/sink.py",
        "broker_config/cli.py",
        "devkit/consolebench.py",
        "console/cli/__main__.py",
        "console/cli/person.py",
        "console/cli/serve.py",
        "console/cli/views.py",
        "devkit/demo.py",
        "firmware/cli.py",
        "firmware/sim.py",
        "soak/__main__.py",
    }
    exiting = {
        str(p.relative_to(ROOT))
        for pkg in ("wire", "inventory", "console", "firmware", "broker_config", "soak", "bench")
        for p in (ROOT / pkg).rglob("*.py")
        if "SystemExit(" in (text := p.read_text(encoding="utf-8")) or "sys.exit(" in text
    }
    assert exiting <= entry_points, sorted(exiting - entry_points)
    assert "wire/credentials.py" not in exiting and "wire/link.py" not in exiting
