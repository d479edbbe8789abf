"""The product is one distribution under one namespace: every module is `stilalarm.<package>...`.

The top-level folders (`wire/`, `console/`, ...) are the real ones; `stilalarm/<package>` links to
them. Importing a bare name (`wire.link`) would load the same file a second time under another
identity, so nothing may: ruff bans the imports (TID251, pyproject.toml), these tests catch the
rest (module paths in strings, and what actually ends up in `sys.modules`)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("wire", "inventory", "firmware", "console", "broker_config", "devkit")
HARNESS = ("soak", "bench", "tests", "scripts")
BARE = re.compile(rf"(?<![\w./-])({'|'.join(PRODUCT)})((?:\.[A-Za-z_]\w*)+)")


def _is_module(top: str, name: str) -> bool:
    path = ROOT / top / name
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _bare_module_paths(text: str) -> list[str]:
    """Dotted names like `console.cli` that name a real product module without `stilalarm.`."""
    return [m.group(0) for m in BARE.finditer(text) if _is_module(m.group(1), m.group(2).split(".")[1])]


def test_each_product_package_is_linked_into_the_namespace() -> None:
    for pkg in PRODUCT:
        link = ROOT / "stilalarm" / pkg
        assert link.is_symlink(), f"stilalarm/{pkg} must be a symlink to ../{pkg} (git stores it as one)"
        assert link.resolve() == (ROOT / pkg).resolve()
    assert (ROOT / "stilalarm" / "__init__.py").is_file()


def test_no_string_names_a_product_module_without_the_namespace() -> None:
    """`-m console.cli`, monkeypatch targets, logger names, import-linter contracts, the Makefile."""
    bad: dict[str, list[str]] = {}
    for top in (*PRODUCT, *HARNESS):
        for path in (ROOT / top).rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue  # this file names the bare forms on purpose
            source = path.read_text(encoding="utf-8")
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type == tokenize.STRING and (hits := _bare_module_paths(tok.string)):
                    bad.setdefault(str(path.relative_to(ROOT)), []).extend(hits)
    for name in ("Makefile", "pyproject.toml"):
        if hits := _bare_module_paths((ROOT / name).read_text(encoding="utf-8")):
            bad[name] = hits
    assert not bad, f"name these modules as stilalarm.<package>...: {bad}"


def test_importing_every_product_module_never_loads_a_bare_name() -> None:
    """Run from the repository root, where `import wire` would succeed: nothing may do it."""
    code = (
        "import pkgutil, sys, stilalarm\n"
        "for m in pkgutil.walk_packages(stilalarm.__path__, 'stilalarm.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        __import__(m.name)\n"
        f"bare = sorted(n for n in sys.modules if n.split('.')[0] in {PRODUCT!r})\n"
        "print(len([n for n in sys.modules if n.startswith('stilalarm.')]), bare)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    count, bare = res.stdout.split(" ", 1)
    assert int(count) > 100  # walked the whole product
    assert bare.strip() == "[]"
