"""Tools for the text catalogue (docs/TEXTS.md): `pot` writes the template that `pybabel update`
merges into the translations, `check` lists what is wrong with the catalogues.

    python scripts/texts.py pot --out run/i18n/stilalarm.pot
    python scripts/texts.py check
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.pofile import write_po

from stilalarm.console.i18n.check import problems, template


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pot = sub.add_parser("pot", help="write the template from the Dutch catalogue")
    pot.add_argument("--out", type=Path, default=Path("run/i18n/stilalarm.pot"))
    sub.add_parser("check", help="every language has every message, with the same placeholders")
    args = p.parse_args()
    if args.command == "pot":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("wb") as f:
            write_po(f, template(), width=100, sort_output=False)
        print(f"wrote {args.out}")
        return 0
    found = problems()
    for line in found:
        print(line)
    if found:
        print(
            f"{len(found)} problem(s) in the text catalogue: fix the .po files (docs/TEXTS.md)",
            file=sys.stderr,
        )
        return 1
    print("text catalogue: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
