"""Broker config rendering: ACL shape, password hashes, secret handling, file modes."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

from stilalarm.broker_config.acl import render_acl
from stilalarm.broker_config.render import RenderOptions, hash_password, render


def test_password_hash_is_mosquitto_pbkdf2_sha512() -> None:
    h = hash_password("secret", salt=b"0123456789ab")
    _, alg, it, salt, digest = h.split("$")
    assert (alg, it) == ("7", "101")
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"secret", b"0123456789ab", 101)


def test_acl_gives_each_client_only_its_own_topics(site) -> None:
    acl = render_acl(site)
    block = acl.split("user unit-balie-1\n")[1].split("\n\n")[0].splitlines()
    assert block == [
        "topic write stilalarm/v1/hz-gemeentehuis/unit/balie-1/event",
        "topic write stilalarm/v1/hz-gemeentehuis/unit/balie-1/status",
        "topic write stilalarm/v1/hz-gemeentehuis/unit/balie-1/heartbeat",
        "topic read stilalarm/v1/hz-gemeentehuis/unit/balie-1/receipt",
        "topic read stilalarm/v1/hz-gemeentehuis/unit/balie-1/cmd",
        "topic read stilalarm/v1/hz-gemeentehuis/unit/balie-1/config",
    ]
    an = acl.split("user person-an\n")[1].split("\n\n")[0]
    assert "topic write stilalarm/v1/hz-gemeentehuis/person/an/cmd" in an
    assert an.count("topic write") == 1
    # registrations to complete are private: each person reads only their own list
    assert "topic read stilalarm/v1/hz-gemeentehuis/person/an/registrations" in an
    assert an.count("/registrations") == 1 and "person/+/registrations" not in an
    # the retained risky conversations: only An's own copies, read only
    assert "topic read stilalarm/v1/hz-gemeentehuis/risk/an/+" in an.splitlines()
    assert [ln for ln in an.splitlines() if "/risk/" in ln] == [
        "topic read stilalarm/v1/hz-gemeentehuis/risk/an/+"
    ]
    assert "/risk/" not in "\n".join(block)
    # the only `pattern` lines: each client's own enrolment request (write) and reply (read)
    patterns = [line for line in acl.splitlines() if line.startswith("pattern")]
    assert patterns == [
        "pattern write stilalarm/v1/hz-gemeentehuis/enroll/%c/request",
        "pattern read stilalarm/v1/hz-gemeentehuis/enroll/%c/reply",
    ]
    assert "user enroll" not in acl  # the public enrolment login has no topic of its own


def test_console_and_observer_acl_filters_are_unchanged(site) -> None:
    """The filters come from stilalarm.wire.topics; the ACL a broker reads stays exactly what it was
    (plus the console writing each person's own registration list)."""
    acl = render_acl(site)
    b = "stilalarm/v1/hz-gemeentehuis"
    console = acl.split("user console\n")[1].split("\n\n")[0].splitlines()
    assert console == [
        f"topic read {b}/unit/+/event",
        f"topic read {b}/unit/+/status",
        f"topic read {b}/unit/+/heartbeat",
        f"topic write {b}/unit/+/receipt",
        f"topic write {b}/unit/+/cmd",
        f"topic write {b}/unit/+/config",
        f"topic read {b}/person/+/cmd",
        f"topic read {b}/person/+/webcmd",
        f"topic write {b}/person/+/reply",
        f"topic write {b}/person/+/notify",
        f"topic write {b}/person/+/registrations",
        f"topic readwrite {b}/incident/+",
        f"topic readwrite {b}/timeline/+",
        f"topic readwrite {b}/unitstate/+",
        f"topic readwrite {b}/presence/+",
        f"topic readwrite {b}/console/status",
        f"topic write {b}/risk/+/+",
        f"topic readwrite {b}/enroll/+/request",
        f"topic readwrite {b}/enroll/+/reply",
    ]
    observer = acl.split("user observer\n")[1].split("\n\n")[0].splitlines()
    assert observer == [f"topic read {b}/#"]


def test_render_keeps_secrets_unless_rotated_and_protects_them(tmp_path: Path, site) -> None:
    out = tmp_path / "b"
    render(site, RenderOptions(out=out, port=12345))
    first = json.loads((out / "secrets.json").read_text())
    for rel in ("secrets.json", "passwd", "acl", "console.json", "units/balie-1.json", "people/an.json"):
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o600, rel
    render(site, RenderOptions(out=out, port=12345))
    assert json.loads((out / "secrets.json").read_text()) == first
    render(site, RenderOptions(out=out, port=12345, rotate=True))
    rotated = json.loads((out / "secrets.json").read_text())
    assert rotated.keys() == first.keys()
    assert all(rotated[u] != first[u] for u in first)
    unit = json.loads((out / "units/balie-1.json").read_text())
    assert unit["broker"]["username"] == "unit-balie-1"
    assert unit["broker"]["password"] == rotated["unit-balie-1"]
    assert unit["unit"]["buttons"][0]["contact"] == "dual"


def test_conf_is_durable_and_closed(tmp_path: Path, site) -> None:
    render(site, RenderOptions(out=tmp_path, port=12345, tls_dir=tmp_path / "tls"))
    conf = (tmp_path / "mosquitto.conf").read_text()
    lines = {ln for ln in conf.splitlines() if ln and not ln.startswith("#")}
    for needed in (
        "allow_anonymous false",
        "persistence true",
        "autosave_on_changes false",
        "autosave_interval 1",
        "max_queued_messages 2147483647",  # no limit (0 would be, but see render.py)
        "message_size_limit 65536",
        "listener 12345 127.0.0.1",
        "listener 8883",
    ):
        assert needed in lines, needed


def test_strict_save_policy_is_available(tmp_path: Path, site) -> None:
    strict = site.model_copy(
        update={"broker": site.broker.model_copy(update={"autosave_every_change": True})}
    )
    render(strict, RenderOptions(out=tmp_path, port=12345))
    lines = set((tmp_path / "mosquitto.conf").read_text().splitlines())
    assert {"autosave_on_changes true", "autosave_interval 1"} <= lines


def test_run_as_grants_the_broker_user_only_what_it_needs(tmp_path: Path, site) -> None:
    import os
    import pwd

    import pytest

    if os.geteuid() != 0:
        pytest.skip("chown needs root (CI runs as root)")
    user = pwd.getpwnam("mosquitto")
    render(site, RenderOptions(out=tmp_path, port=12345, run_as="mosquitto"))
    for name in ("passwd", "acl", "mosquitto.conf"):
        st = (tmp_path / name).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, user.pw_gid, 0o640), name
    assert (tmp_path / "data").stat().st_uid == user.pw_uid
    for name in ("secrets.json", "console.json", "units/balie-1.json", "people/an.json"):
        st = (tmp_path / name).stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), name
    assert "user mosquitto" in (tmp_path / "mosquitto.conf").read_text().splitlines()


def test_new_unit_password_changes_one_login_and_keeps_the_others(tmp_path: Path, site) -> None:
    from stilalarm.broker_config.render import new_unit_password

    out = tmp_path / "b"
    render(site, RenderOptions(out=out, port=12345))
    before = json.loads((out / "secrets.json").read_text())
    passwd_before = (out / "passwd").read_text()
    cfg = new_unit_password(site, out, "balie-1")
    after = json.loads((out / "secrets.json").read_text())
    assert cfg.broker.password == after["unit-balie-1"] != before["unit-balie-1"]
    assert {k: v for k, v in after.items() if k != "unit-balie-1"} == {
        k: v for k, v in before.items() if k != "unit-balie-1"
    }
    unit_file = json.loads((out / "units" / "balie-1.json").read_text())
    assert unit_file["broker"]["password"] == cfg.broker.password
    users = [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()]
    assert users == [line.split(":")[0] for line in passwd_before.splitlines()] and users[-1] == "enroll"
    for rel in ("secrets.json", "passwd", "units/balie-1.json"):
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o600, rel
