"""The text catalogue (console/i18n, docs/TEXTS.md): every language has every message with the same
placeholders, Dutch and English are complete, French falls back to Dutch, dates come from Babel."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stilalarm.console import i18n
from stilalarm.console.delivery.texts import render
from stilalarm.console.i18n.check import entries, problems, used_ids
from stilalarm.console.reporting.buttontests import WeekReport
from stilalarm.console.texts import notice_text
from stilalarm.console.tui.texts import EN, NL, texts_for
from stilalarm.inventory import Site, load_site
from stilalarm.inventory.kinds import Language
from tests.conftest import EXAMPLE_SITE
from tests.unit.test_delivery_support import note

AT = datetime(2025, 3, 3, 9, 42, 5, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")


class _Any(dict[str, object]):
    """Values for any placeholder: str.format finds every name, with any format spec."""

    def __missing__(self, key: str) -> object:
        return 7


def test_the_catalogues_have_no_problems() -> None:
    assert problems() == []


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    source = entries("nl")
    assert len(source) > 300
    for lang in i18n.LANGUAGES:
        cat = entries(lang)
        assert cat.keys() == source.keys(), lang
        for key, text in cat.items():
            if text:
                assert i18n.placeholders(text) == i18n.placeholders(source[key]), (lang, key)


def test_dutch_and_english_leave_no_message_empty_and_french_is_a_skeleton() -> None:
    assert all(entries("nl").values()) and all(entries("en").values())
    assert set(entries("fr").values()) == {""}  # not translated yet: every message shows in Dutch


def test_placeholders_keep_names_conversions_and_specs() -> None:
    assert i18n.placeholders("  {unit:<16} {state!r} {n}") == {"unit:<16", "state!r", "n"}
    assert i18n.placeholders("geen velden") == frozenset()


def test_a_french_reader_never_sees_an_empty_text() -> None:
    for key in entries("nl"):
        fr = i18n.raw(key, Language.FR).format_map(_Any())
        assert fr and fr == i18n.raw(key, Language.NL).format_map(_Any()), key


def test_unknown_languages_read_dutch_and_unknown_ids_fail_loudly() -> None:
    assert i18n.t("reply_ok", "de") == i18n.t("reply_ok", None) == "Uitgevoerd."
    assert i18n.t("reply_ok", Language.EN) == i18n.t("reply_ok", "EN") == "Done."
    with pytest.raises(KeyError):
        i18n.t("no_such_message", "nl")


def test_every_literal_id_in_the_code_is_in_the_catalogue() -> None:
    used = used_ids()
    assert {"alarm_body", "mail.footer", "campaign_head", "report.tests_title"} <= used.keys()
    assert used.keys() <= entries("nl").keys()


def test_the_check_finds_a_broken_translation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong placeholder or an empty English message is reported (the check is not vacuous)."""
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    en = tmp_path / "locale" / "en" / "LC_MESSAGES" / "stilalarm.po"
    text = en.read_text(encoding="utf-8")
    text = text.replace('msgstr "Unit {unit} ({room}) is back online."', 'msgstr "Unit {unit} is back."')
    text = text.replace('msgstr "Done."', 'msgstr ""')
    en.write_text(text, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    found = problems()
    assert "en: reply_ok is empty" in found
    assert any(p.startswith("en: online has placeholders") for p in found)
    assert len(found) == 2


@pytest.mark.parametrize(
    ("lang", "offline", "refusal", "banner", "summary"),
    [
        (
            "nl",
            "Toestel balie-1 (Balie 1) is offline: verbinding verloren.",
            "Incident i-1 kan pas afgesloten worden nadat iemand 'Ik kom' heeft bevestigd;",
            "2 OPEN ALARMEN — kies eerst met 1–2 of ↑↓, dan  k  = Ik kom",
            "1/2 knoppen getest, 1 defect, 0 niet getest",
        ),
        (
            "en",
            "Unit balie-1 (Balie 1) is offline: connection lost.",
            "Incident i-1 can only be resolved after someone has acknowledged it ('on my way');",
            "2 OPEN ALARMS — first pick with 1–2 or ↑↓, then  k  = I'm coming",
            "1/2 buttons tested, 1 faulty, 0 not tested",
        ),
        (
            "fr",
            "Toestel balie-1 (Balie 1) is offline: verbinding verloren.",
            "Incident i-1 kan pas afgesloten worden nadat iemand 'Ik kom' heeft bevestigd;",
            "2 OPEN ALARMEN — kies eerst met 1–2 of ↑↓, dan  k  = Ik kom",
            "1/2 knoppen getest, 1 defect, 0 niet getest",
        ),
    ],
)
def test_a_sample_of_texts_in_each_language(
    lang: str, offline: str, refusal: str, banner: str, summary: str
) -> None:
    assert i18n.t("offline_lost", lang, unit="balie-1", room="Balie 1") == offline
    assert i18n.t("reply_resolve_needs_ack", lang, incident="i-1").startswith(refusal)
    assert texts_for(lang).banner_pick.format(n=2, max=2) == banner
    assert i18n.t("report.tests_summary", lang, ok=1, total=2, bad=1, untested=0) == summary
    assert WeekReport("2025-W10", ()).summary(lang).startswith("0/0 ")


def test_tui_texts_in_french_are_the_dutch_ones_until_translated() -> None:
    fr = texts_for("fr")
    assert fr.lang == "fr" and fr.key_ack == NL.key_ack == "Ik kom" and EN.key_ack == "I'm coming"
    assert fr.aggression == NL.aggression and fr.errors.keys() == NL.errors.keys() == EN.errors.keys()
    assert texts_for("xx") is NL


def test_times_and_dates_follow_the_language_through_babel() -> None:
    assert {i18n.fmt_time(AT, BRUSSELS, lang) for lang in i18n.LANGUAGES} == {"10:42:05"}
    assert i18n.fmt_date(AT, BRUSSELS, "nl") == "03-03-2025"
    assert i18n.fmt_date(AT, BRUSSELS, "en") == "03/03/2025"
    assert i18n.fmt_date(AT, BRUSSELS, "fr") == "03/03/2025"


@pytest.fixture(scope="module")
def french_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The example site with Fien reading French."""
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    head, fien = text.split('id = "fien"', 1)
    path = tmp_path_factory.mktemp("fr") / "site.toml"
    fien = fien.replace('language = "en"', 'language = "fr"', 1)
    path.write_text(f'{head}id = "fien"{fien}', encoding="utf-8")
    return load_site(path)


def test_a_french_person_gets_every_notice_in_dutch_until_french_is_translated(french_site: Site) -> None:
    site = french_site
    assert site.language_of("fien") is Language.FR
    r = render(site, note("fien", level=1), site.person("fien"))
    assert r.subject == "ALARM Spreekkamer 1 (Sociale dienst) — niveau 1"
    assert "Tijd: 10:42:05 (03/03/2025)" in r.body  # words in Dutch, the date the French way
    detail = {"incident": "inc-1", "room": "balie-1", "days": "3"}
    fr = notice_text(site, "aftercare", detail, Language.FR)
    assert fr == notice_text(site, "aftercare", detail, Language.NL)
    assert fr is not None and fr[0] == "Nazorg — Balie 1"


def test_a_broken_translation_on_a_server_shows_dutch_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    en = tmp_path / "locale" / "en" / "LC_MESSAGES" / "stilalarm.po"
    text = en.read_text(encoding="utf-8")
    en.write_text(text.replace("is back online.", "is back online at {when}."), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    i18n.messages.cache_clear()
    try:
        assert i18n.t("online", "en", unit="u", room="r") == "Toestel u (r) is terug online."
        assert i18n.t("offline_lost", "en", unit="u", room="r") == "Unit u (r) is offline: connection lost."
        with pytest.raises(KeyError):
            i18n.t("online", "nl", unit="u")  # the source itself lacks a value: a bug, said loudly
    finally:
        i18n.messages.cache_clear()
