"""Console service (`alarm-console`): ingest, incidents, escalation, supervision, consoles.

It needs the `[console]` extra (Textual, Rich, Apprise, Babel); a desk unit installs without it.
Importing the console without them says so and how to fix it, instead of a bare import error."""

from importlib.util import find_spec


def _missing(*modules: str) -> list[str]:
    out = []
    for m in modules:
        try:
            if find_spec(m) is None:
                out.append(m)
        except ValueError:  # present in sys.modules as None: blocked, as good as missing
            out.append(m)
    return out


if _gone := _missing("textual", "rich", "apprise", "babel"):
    raise ImportError(
        f"stilalarm's console needs the [console] extra ({', '.join(_gone)} not installed): "
        "pip install 'stilalarm[console]' (a desk unit does not need it)"
    )
