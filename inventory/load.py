"""Load and validate `site.toml`, failing with the file, the field and what is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stilalarm.inventory.model import Site


class InventoryError(ValueError):
    """The site inventory is invalid; the message names file, field and problem."""


def _where(data: Any, loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location with ids instead of list indexes where possible."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            node = node[key]
            ident = node.get("id") if isinstance(node, dict) else None
            parts[-1:] = [f"{parts[-1]}[{key}]" + (f" (id={ident!r})" if ident else "")]
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def format_validation_error(source: str, data: Any, exc: ValidationError) -> str:
    """One line per problem: `FILE: FIELD: message`."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        where = _where(data, loc)
        # cross-reference checks run on the whole site and name their field themselves
        lines.append(f"{source}: {msg}" if not loc else f"{source}: {where}: {msg}")
    return "invalid site inventory\n" + "\n".join(lines)


def parse_site(text: str, source: str = "<site.toml>") -> Site:
    """Parse and validate inventory TOML text; raise InventoryError naming source and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(format_validation_error(source, data, exc)) from exc


def load_site(path: str | Path) -> Site:
    """Load `site.toml` from disk; raise InventoryError with a message that says what to fix."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{p}: cannot read site inventory: {exc.strerror}") from exc
    return parse_site(text, str(p))
