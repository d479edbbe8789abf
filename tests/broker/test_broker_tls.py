"""The production TLS listener: a site CA made by broker_config/make-ca.sh, a config rendered
with --tls-dir, a real mosquitto; units connect over TLS with their rendered configs."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker_config.local import LocalBroker, free_port, port_open
from broker_config.render import RenderOptions, render
from tests.harness import wait_until
from wire.link import BrokerCredentials, Link

ROOT = Path(__file__).resolve().parents[2]


def test_units_connect_over_tls_with_the_site_ca(tmp_path: Path, site, topics) -> None:
    tls = tmp_path / "tls"
    out = subprocess.run(
        ["bash", str(ROOT / "broker_config" / "make-ca.sh"), str(tls), "localhost", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    tls_port = free_port()
    tls_site = site.model_copy(
        update={
            "broker": site.broker.model_copy(
                update={"use_tls": True, "tls_port": tls_port, "host": "localhost"}
            )
        }
    )
    broker = LocalBroker(tls_site, tmp_path / "b")
    render(tls_site, RenderOptions(out=broker.dir, port=broker.port, tls_dir=tls, log_file=broker.log_path))
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
