"""alarm-web for tests, the demo and the bench: a test site with web units, the process, its tokens."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stilalarm.broker_config.local import free_port
from stilalarm.broker_config.web import token_key
from stilalarm.devkit.servicerun import FAST_SITE, ProcessGroup

WEB_UNITS = """
[[units]]
id = "telefoon-balie-1"
room = "balie-1"
via = "phone"
heartbeat_s = 1

[[units]]
id = "telefoon-spreekkamer-1"
room = "spreekkamer-1"
via = "phone"
heartbeat_s = 1

[[units]]
id = "gsm-an"
room = "huisbezoek"
via = "app"
heartbeat_s = 1

[[rooms]]
id = "huisbezoek"
label = "Huisbezoek sociale dienst"
label_en = "Home visit, social services"
kind = "huisbezoek"
team = "sociale-dienst"

[web]
public_url = "https://alarm.fast.invalid:8443"
rate_burst = 5
rate_per_s = 2
phone_silent_after_min = 60

[[web.tokens]]
id = "tel-balie-1"
unit = "telefoon-balie-1"
label = "Yealink T54W aan balie 1"

[[web.tokens]]
id = "tel-spreekkamer-1"
unit = "telefoon-spreekkamer-1"

[[web.tokens]]
id = "tel-oud"
unit = "telefoon-balie-1"
revoked = true

[[web.tokens]]
id = "gsm-an"
unit = "gsm-an"
person = "an"
"""

WEB_SITE = FAST_SITE + WEB_UNITS
"""FAST_SITE with two desk phones, one panic page and alarm-web's [web] section."""

VISIT_EXTRA = """
[[units]]
id = "gsm-hanne"
room = "huisbezoek"
via = "app"
heartbeat_s = 1

[[people]]
id = "hanne"
name = "Hanne Wouters"
roles = ["staff"]
team = "sociale-dienst"

[[people]]
id = "ilse"
name = "Ilse Jacobs"
roles = ["staff"]
team = "sociale-dienst"

[[web.tokens]]
id = "gsm-hanne"
unit = "gsm-hanne"
person = "hanne"

[visits]
grace_min = 0.02
answer_timeout_min = 0.05
everyone_after_min = 0.05
"""

VISIT_SITE = WEB_SITE + VISIT_EXTRA
"""WEB_SITE with home visits in seconds: staff member Hanne (panic-page token gsm-hanne) and her
colleague Ilse in the sociale dienst (lead An), overdue 1.2 s after the planned end, the lead 3 s
later, everyone 3 s after that; the office open all day, every day like
FAST_SITE (no evening rule by accident)."""


def tokens(broker_dir: Path) -> dict[str, str]:
    """Token id -> the token, from the render's secrets.json (what IT configures)."""
    secrets = json.loads((broker_dir / "secrets.json").read_text(encoding="utf-8"))
    prefix = token_key("")
    return {k[len(prefix) :]: v for k, v in secrets.items() if k.startswith(prefix)}


def _exe() -> list[str]:
    script = Path(sys.executable).parent / "alarm-web"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stilalarm.ingress.cli"]


class WebProcess(ProcessGroup):
    """`alarm-web run` in its own process group on a free port (plain HTTP unless `tls_dir`)."""

    def __init__(
        self, broker_dir: Path, state_dir: Path, log_path: Path, *, tls_dir: Path | None = None
    ) -> None:
        super().__init__(log_path)
        self.broker_dir = broker_dir
        self.state_dir = state_dir
        self.tls_dir = tls_dir
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_dir else 'http'}://127.0.0.1:{self.port}"

    def start(self, extra: list[str] | None = None) -> WebProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        tls = ["--tls-dir", str(self.tls_dir)] if self.tls_dir else ["--plain-http"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *_exe(),
                    "run",
                    "--config",
                    str(self.broker_dir / "web.json"),
                    "--state-dir",
                    str(self.state_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *tls,
                    *(extra or []),
                ],
                stdout=log,
                stderr=log,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 20.0, verify: bool | ssl.SSLContext = True) -> WebProcess:
        """Until alarm-web answers and is connected to the broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"alarm-web exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=1.0, verify=verify)
                if r.status_code == 200 and r.json().get("broker"):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"alarm-web not ready within {timeout} s:\n{self.log()}")
