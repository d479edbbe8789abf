"""The production TLS listener: a site CA made by broker_config/make-ca.sh, a config rendered
with --tls-dir, a real mosquitto; units connect over TLS with their rendered configs."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalBroker, free_port, port_open
from stilalarm.broker_config.render import RenderError, RenderOptions, render
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from tests.harness import make_site_ca, tls_site, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "site.toml"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `alarm-broker` CLI (its main(), in a fresh interpreter)."""
    return subprocess.run(
        [sys.executable, "-m", "stilalarm.broker_config.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_use_tls_without_a_tls_dir_fails_and_says_what_to_pass(tmp_path: Path, site) -> None:
    """Finding 6: `use_tls = true` without --tls-dir used to render unit configs with
    `tls: False` and exit 0, so units would have talked to the broker in the clear."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "use_tls = false" in text
    tls_toml = tmp_path / "site.toml"
    tls_toml.write_text(text.replace("use_tls = false", "use_tls = true"), encoding="utf-8")
    out = tmp_path / "out"
    res = _cli("render", "--site", str(tls_toml), "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "use_tls = true" in res.stderr and "--tls-dir DIR" in res.stderr
    assert "broker_config/make-ca.sh" in res.stderr
    assert not out.exists()  # nothing half-rendered that a unit could pick up
    # The library refuses too (LocalBroker, the demo and tests render through it).
    with_tls = site.model_copy(update={"broker": site.broker.model_copy(update={"use_tls": True})})
    with pytest.raises(RenderError, match="--tls-dir"):
        render(with_tls, RenderOptions(out=tmp_path / "lib"))
    # With the directory, every unit and person config connects over TLS.
    tls_dir = tmp_path / "tls"
    res = _cli("render", "--site", str(tls_toml), "--out", str(out), "--tls-dir", str(tls_dir))
    assert res.returncode == 0, res.stderr
    unit = json.loads((out / "units" / "balie-1.json").read_text())["broker"]
    person = json.loads((out / "people" / "an.json").read_text())["broker"]
    for cfg in (unit, person):
        assert (cfg["tls"], cfg["port"], cfg["ca_file"]) == (True, 8883, str((tls_dir / "ca.crt").resolve()))


def test_a_site_without_tls_still_renders_plain_configs(tmp_path: Path) -> None:
    """The demo's and the tests' path: use_tls = false, no --tls-dir."""
    out = tmp_path / "out"
    res = _cli("render", "--site", str(EXAMPLE), "--out", str(out), "--port", "12345")
    assert res.returncode == 0, res.stderr
    unit = json.loads((out / "units" / "balie-1.json").read_text())["broker"]
    assert (unit["tls"], unit["port"], unit["ca_file"]) == (False, 12345, None)


def test_units_connect_over_tls_with_the_site_ca(tmp_path: Path, site, topics) -> None:
    tls = make_site_ca(tmp_path / "tls", "localhost", "127.0.0.1")
    tls_port = free_port()
    broker = LocalBroker(tls_site(site, tls_port), tmp_path / "b", tls_dir=tls)
    broker.start()
    try:
        wait_until(lambda: port_open(tls_port), 10, "the TLS listener")
        unit_cfg = json.loads((broker.dir / "units" / "balie-1.json").read_text())["broker"]
        creds = BrokerCredentials.model_validate(unit_cfg)
        assert (creds.tls, creds.port, creds.host) == (True, tls_port, "localhost")
        got: list[bytes] = []
        console = Link(broker.creds("console"))  # the console stays on the loopback listener
        console.subscribe(topics.unit_event("balie-1"), lambda t, p: got.append(p))
        console.start()
        assert console.wait_connected(5)
        unit = Link(creds)
        unit.start()
        try:
            assert unit.wait_connected(10), "unit could not connect over TLS"
            unit.publish(topics.unit_event("balie-1"), b"over-tls", qos=1).wait_for_publish(5)
            wait_until(lambda: got == [b"over-tls"], 5, "the message through the TLS listener")
        finally:
            unit.stop()
            console.stop()
        # A client that does not trust the site CA is refused by TLS itself.
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        c.username_pw_set(creds.username, creds.password)
        c.tls_set(cert_reqs=ssl.CERT_REQUIRED)  # the system CAs only
        with pytest.raises(ssl.SSLCertVerificationError):
            c.connect("localhost", tls_port)
    finally:
        broker.kill()
