"""Consistency of the catalogues, for the tests and `make texts-check` (docs/TEXTS.md).

- every language has every message id of the Dutch source, and no other;
- a translated message has the same placeholders as the Dutch one (names, conversions, specs);
- Dutch and English leave no message empty (French may: it falls back to Dutch);
- every literal message id in the code (`t("...")`, `raw("...")`, found with Babel's extractor,
  like `pybabel extract -k t -k raw`) is in the catalogue.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from stilalarm.console.i18n import DOMAIN, LANGUAGES, SOURCE, placeholders, po_path

COMPLETE = ("nl", "en")
"""Languages that must translate every message."""
KEYWORDS: dict[str, None] = {"t": None, "raw": None}
"""Functions whose first argument is a message id (`stilalarm.console.i18n.t`, `.raw`)."""
CODE_DIR = Path(__file__).resolve().parents[1]


def load(lang: str) -> Catalog:
    """The whole catalogue of `lang`, untranslated entries included."""
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def entries(lang: str) -> dict[str, str]:
    """{id: text} of `lang`, empty texts included."""
    return {str(m.id): str(m.string or "") for m in load(lang) if m.id and isinstance(m.id, str)}


def used_ids(root: Path = CODE_DIR) -> dict[str, str]:
    """Every literal message id passed to `t` or `raw` under `root`, with where it was found."""
    found: dict[str, str] = {}
    with contextlib.redirect_stderr(io.StringIO()):  # "skipping f-string": computed ids, on purpose
        for filename, lineno, message, _comments, _context in extract_from_dir(
            root, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, str):
                found.setdefault(message, f"{filename}:{lineno}")
    return found


def problems() -> list[str]:
    """Everything wrong with the catalogues, one line each (empty when all is well)."""
    out: list[str] = []
    source = entries(SOURCE)
    for lang in LANGUAGES:
        cat = entries(lang)
        out += [f"{lang}: missing {k}" for k in source.keys() - cat.keys()]
        out += [f"{lang}: {k} is not in the Dutch source" for k in cat.keys() - source.keys()]
        for k, text in cat.items():
            if not text:
                if lang in COMPLETE:
                    out.append(f"{lang}: {k} is empty")
                continue
            if k in source and placeholders(text) != placeholders(source[k]):
                want, got = sorted(placeholders(source[k])), sorted(placeholders(text))
                out.append(f"{lang}: {k} has placeholders {got}, the Dutch text {want}")
    used = used_ids()
    out += [f"code: {k} ({where}) is not in the catalogue" for k, where in used.items() if k not in source]
    return sorted(out)


def template() -> Catalog:
    """The template (.pot) for translators and `pybabel update`: every id of the Dutch source, with
    the Dutch text as a comment."""
    pot = Catalog(project="stilalarm", domain=DOMAIN, charset="utf-8", fuzzy=False)
    for m in load(SOURCE):
        if m.id:
            pot.add(m.id, "", auto_comments=(f"nl: {m.string}",), flags=m.flags)
    return pot
