"""One text catalogue: every human text of the console, from gettext `.po` files.

`locale/<lang>/LC_MESSAGES/stilalarm.po` holds one catalogue per language. Message ids are
stable keys (`alarm_title`, `tui.key_ack`, ...); Dutch (`nl`) is the source language and
complete, English is complete, French is a skeleton. A message that a language lacks, or
leaves empty, is shown in Dutch: nobody ever sees an empty text. See docs/TEXTS.md.

Pure apart from reading the catalogues once per process (cached). Cores emit a key and
values; the shell calls `t(key, lang, **values)` per recipient.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.pofile import read_po

DOMAIN = "stilalarm"
LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE = "nl"
"""The source language: complete by definition, and the fallback for every other one."""
LANGUAGES = ("nl", "en", "fr")
"""Every language with a catalogue; `t` accepts any other code and answers in Dutch."""
BABEL_LOCALES = {"nl": "nl", "en": "en_GB", "fr": "fr"}
"""The Babel locale of each language for dates and times: 24-hour clock, day before month,
four-digit year (nl_BE and fr_BE drop the leading zero or shorten the year)."""


def po_path(lang: str) -> Path:
    """Where the catalogue of `lang` lives."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def messages(lang: str) -> Mapping[str, str]:
    """Every translated message of `lang` as {id: text}; untranslated (empty) and fuzzy entries
    are left out, so that `t` falls back to Dutch for them."""
    if lang not in LANGUAGES:
        return {}
    with po_path(lang).open("rb") as f:
        cat = read_po(f, locale=lang, domain=DOMAIN)
    return {
        str(m.id): str(m.string)
        for m in cat
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def lang_code(lang: object) -> str:
    """'nl', 'en', 'fr' from a `Language`, a code or None (the source language)."""
    code = str(getattr(lang, "value", lang) or SOURCE).lower()
    return code if code in LANGUAGES else SOURCE


def has(key: str) -> bool:
    """Whether `key` is a message of the catalogue."""
    return key in messages(SOURCE)


def keys(prefix: str) -> list[str]:
    """The message ids that start with `prefix`, in catalogue order."""
    return [k for k in messages(SOURCE) if k.startswith(prefix)]


def raw(key: str, lang: object) -> str:
    """The unformatted text of `key` in `lang` (in Dutch when `lang` has none); KeyError if unknown."""
    code = lang_code(lang)
    text = messages(code).get(key)
    if text is None:
        text = messages(SOURCE)[key]
    return text


def t(key: str, lang: object, **values: object) -> str:
    """The text `key` in `lang` with `values` filled in (str.format); KeyError if `key` is unknown.

    A translation that cannot be filled in (a placeholder the Dutch text does not have: the
    catalogue check forbids it, but a hand-edited file on a server may slip through) is shown
    in Dutch rather than failing on the alarm path."""
    text = raw(key, lang)
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        if lang_code(lang) == SOURCE:
            raise
        return messages(SOURCE)[key].format(**values)


def placeholders(text: str) -> frozenset[str]:
    """The `{name}` fields of a text, with their conversion and format spec ('unit:<16')."""
    out = set()
    for _, name, spec, conv in string.Formatter().parse(text):
        if name is not None:
            out.add(name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else ""))
    return frozenset(out)


def fmt_time(at: datetime, tz: tzinfo, lang: object) -> str:
    """`at` as a wall-clock time (10:42:05) in `tz`, the way `lang` writes it."""
    return str(format_time(at, "medium", tzinfo=tz, locale=BABEL_LOCALES[lang_code(lang)]))


def fmt_date(day: date | datetime, tz: tzinfo | None, lang: object) -> str:
    """A date (03-03-2025 in Dutch, 03/03/2025 in English) in `tz` when `day` is a datetime."""
    if isinstance(day, datetime) and tz is not None:
        day = day.astimezone(tz)
    return str(format_date(day, "short", locale=BABEL_LOCALES[lang_code(lang)]))
