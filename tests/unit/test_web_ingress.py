"""The web ingress's pure parts (tokens, rate limits, the phones' silence) and what render gives it."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from stilalarm.broker_config.acl import WEB_USER, render_acl, usernames
from stilalarm.broker_config.render import RenderOptions, render
from stilalarm.devkit.webrun import WEB_SITE
from stilalarm.ingress import liveness
from stilalarm.ingress.presses import PageAlarm
from stilalarm.ingress.tokens import RateLimit, Refusal, TokenBook, digest
from stilalarm.inventory import InventoryError, parse_site
from stilalarm.inventory.derived import WebConfig, WebTokenHash
from stilalarm.wire.topics import Topics

SITE = parse_site(WEB_SITE)


def _hash(token_id: str, secret: str, *, revoked: bool = False) -> WebTokenHash:
    return WebTokenHash(id=token_id, unit="u", sha256=digest(secret), revoked=revoked)


def test_a_token_is_found_by_its_hash_and_every_bad_one_says_why() -> None:
    good, old = "g" * 32, "o" * 32
    book = TokenBook([_hash("a", good), _hash("b", old, revoked=True)])
    found = book.check(good)
    assert found.refusal is None and found.token is not None and found.token.id == "a"
    assert book.check(None).refusal is Refusal.MISSING
    assert book.check("").refusal is Refusal.MISSING
    assert book.check("short").refusal is Refusal.MALFORMED
    assert book.check("x" * 31 + "!").refusal is Refusal.MALFORMED
    assert book.check("u" * 32).refusal is Refusal.UNKNOWN
    revoked = book.check(old)
    assert revoked.refusal is Refusal.REVOKED and revoked.token is not None and revoked.token.id == "b"


def test_the_rate_limit_allows_a_burst_then_the_sustained_rate_per_token() -> None:
    rl = RateLimit.of(burst=3, per_s=2.0)
    waits = []
    for _ in range(4):
        rl, w = rl.take("a", now=100.0)
        waits.append(w)
    assert waits[:3] == [None, None, None] and waits[3] == pytest.approx(0.5)
    rl, other = rl.take("b", now=100.0)  # another token has its own bucket
    assert other is None
    rl, later = rl.take("a", now=100.5)  # refilled one in 0.5 s
    assert later is None
    rl, again = rl.take("a", now=100.5)
    assert again is not None


def test_a_phone_falls_silent_once_and_is_cleared_when_heard() -> None:
    s = liveness.Phones.start(["p1", "p2"], silent=["p2", "gone"], now=0.0, limit_s=60)
    assert s.silent == frozenset({"p2"})  # a phone no longer in the inventory is forgotten
    assert liveness.next_check(s) == 60
    s, gone = liveness.check(s, 59.9)
    assert gone == []
    s, gone = liveness.check(s, 60.0)
    assert gone == ["p1"] and liveness.next_check(s) is None
    s, gone = liveness.check(s, 500.0)
    assert gone == []  # told once
    s, change = liveness.heard(s, "p1", 501.0)
    assert change is liveness.Change.HEARD_AGAIN and "p1" not in s.silent
    s, change = liveness.heard(s, "p1", 502.0)
    assert change is None
    s, change = liveness.heard(s, "not-a-phone", 502.0)
    assert change is None and "not-a-phone" not in s.heard_at
    assert liveness.next_check(s) == 562.0


def test_the_panic_page_body_is_strict_and_its_place_is_short() -> None:
    pid = uuid.uuid4()
    a = PageAlarm.model_validate(
        {"press_id": str(pid), "where": "Kerkstraat 1", "lat": 51.03, "lon": 5.28, "accuracy_m": 12}
    )
    assert a.detail() == "Kerkstraat 1; GPS 51.03000,5.28000 ±12 m"
    assert PageAlarm.model_validate({"press_id": str(pid)}).detail() == ""
    for bad in (
        {"press_id": "nope"},
        {"press_id": str(pid), "lat": 91},
        {"press_id": str(pid), "extra": 1},
        {"press_id": str(pid), "where": "x" * 121},
        {},
    ):
        with pytest.raises(ValidationError):
            PageAlarm.model_validate(bad)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('via = "phone"\nheartbeat_s = 1', 'via = "phone"\nheartbeat_s = 1\nled_pin = 17', "no GPIO pins"),
        ('id = "tel-oud"\nunit = "telefoon-balie-1"', 'id = "tel-oud"\nunit = "balie-1"', "is a Pi unit"),
        (
            'id = "gsm-an"\nunit = "gsm-an"\nperson = "an"',
            'id = "gsm-an"\nunit = "gsm-an"',
            "belongs to a person",
        ),
        ('id = "tel-spreekkamer-1"\n', 'id = "tel-spreekkamer-1"\nperson = "an"\n', "not a person"),
        ('id = "tel-oud"', 'id = "tel-balie-1"', "duplicate token id"),
        (
            'id = "gsm-an"\nunit = "gsm-an"\nperson = "an"',
            'id = "gsm-an"\nunit = "gsm-an"\nperson = "zoe"',
            "unknown person",
        ),
    ],
)
def test_web_units_and_tokens_are_validated(old: str, new: str, problem: str) -> None:
    assert old in WEB_SITE
    with pytest.raises(InventoryError, match=problem):
        parse_site(WEB_SITE.replace(old, new, 1))


def test_web_units_need_a_web_section_and_pi_units_need_pins() -> None:
    without = WEB_SITE[: WEB_SITE.index("[web]")]
    with pytest.raises(InventoryError, match=r"add a \[web\] section"):
        parse_site(without)
    with pytest.raises(InventoryError, match="needs pin"):
        parse_site(WEB_SITE.replace('{ id = "knop", contact = "no", pin = 5 }]', '{ id = "knop" }]', 1))


def test_render_gives_alarm_web_hashes_only_and_the_urls_in_a_secret_file(tmp_path: Path) -> None:
    render(SITE, RenderOptions(out=tmp_path, port=12345))
    secrets = json.loads((tmp_path / "secrets.json").read_text())
    web_text = (tmp_path / "web.json").read_text()
    cfg = WebConfig.model_validate_json(web_text)
    by_id = {t.id: t for t in cfg.tokens}
    for tid in ("tel-balie-1", "tel-spreekkamer-1", "tel-oud", "gsm-an"):
        secret = secrets[f"token:{tid}"]
        assert secret not in web_text and by_id[tid].sha256 == digest(secret)
    assert by_id["tel-oud"].revoked and cfg.people == {"an": "An Peeters"}
    assert [u.id for u in cfg.units] == ["telefoon-balie-1", "telefoon-spreekkamer-1", "gsm-an"]
    urls = (tmp_path / "web" / "urls.txt").read_text()
    assert f"/phone/press?token={secrets['token:tel-balie-1']}" in urls
    assert f"/app/#token={secrets['token:gsm-an']}" in urls
    assert f"/app/visit.html#token={secrets['token:gsm-an']}" in urls  # the home-visit page
    assert secrets["token:tel-oud"] not in urls  # a revoked token is not handed out again
    for f in ("web.json", "web/urls.txt", "secrets.json"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o600, f
    # web units have no login and no config of their own: alarm-web speaks for them
    assert not (tmp_path / "units" / "telefoon-balie-1.json").exists()
    assert "unit-telefoon-balie-1" not in (tmp_path / "passwd").read_text()
    assert f"{WEB_USER}:" in (tmp_path / "passwd").read_text()
    # rendering again keeps every token (phones stay configured); --rotate replaces them
    render(SITE, RenderOptions(out=tmp_path, port=12345))
    assert json.loads((tmp_path / "secrets.json").read_text()) == secrets
    render(SITE, RenderOptions(out=tmp_path, port=12345, rotate=True))
    assert (
        json.loads((tmp_path / "secrets.json").read_text())["token:tel-balie-1"]
        != secrets["token:tel-balie-1"]
    )


def test_the_web_login_may_use_exactly_its_units_topics() -> None:
    acl = render_acl(SITE)
    block = acl.split(f"user {WEB_USER}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    t = Topics(SITE.site.id)
    want = []
    for uid in ("telefoon-balie-1", "telefoon-spreekkamer-1", "gsm-an"):
        want += [
            f"topic write {t.unit_event(uid)}",
            f"topic write {t.unit_status(uid)}",
            f"topic write {t.unit_heartbeat(uid)}",
            f"topic read {t.unit_receipt(uid)}",
            f"topic read {t.unit_cmd(uid)}",
        ]
    # the home-visit commands of the one person with a panic-page token, and their replies
    want += [f"topic write {t.person_webcmd('an')}", f"topic read {t.person_reply('an')}"]
    assert block == want
    assert "+" not in "".join(block) and "#" not in "".join(block)
    assert WEB_USER in usernames(SITE) and "unit-gsm-an" not in usernames(SITE)


def test_alarm_web_cli_checks_its_config_and_asks_for_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stilalarm.ingress.cli import main

    render(SITE, RenderOptions(out=tmp_path, port=12345))
    assert main(["check", "--config", str(tmp_path / "web.json")]) == 0
    assert "3 web units, 3 live tokens: OK" in capsys.readouterr().out
    assert main(["run", "--config", str(tmp_path / "web.json"), "--state-dir", str(tmp_path / "s")]) == 2
    assert "--tls-dir" in capsys.readouterr().err  # never plain HTTP by accident
    assert main(["check", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
