#!/usr/bin/env bash
# Build the Debian packages (stilalarm-unit, stilalarm-console) for this machine's architecture
# from the working tree: tracked files plus new ones not ignored by git, never .venv/ or run/.
#   scripts/build-deb.sh [--out DIR] [--version-suffix SUFFIX]
# --version-suffix builds a newer version of the same tree (e.g. +test: 0.1.0-1+test > 0.1.0-1),
# as `make package-test` does to try an upgrade. docs/PACKAGES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=run/deb
SUFFIX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --version-suffix) SUFFIX=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--version-suffix SUFFIX]" >&2; exit 2 ;;
  esac
done
scripts/ensure-deb-tools.sh

# one version: the package's (pyproject.toml) is the upstream part of debian/changelog's
project=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
debver=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "${debver%-*}" != "$project" ]; then
  echo "ERROR: debian/changelog is at $debver but pyproject.toml at $project: add a changelog entry $project-1" >&2
  exit 1
fi
version=$debver$SUFFIX

work=run/deb-build/$version
src=$work/stilalarm-$version
rm -rf "$work"
mkdir -p "$src" "$OUT"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
  | tar --null -T - -cf - | tar -xf - -C "$src"
if [ -n "$SUFFIX" ]; then
  { printf 'stilalarm (%s) bookworm; urgency=medium\n\n  * Rebuild of %s (version suffix %s).\n\n -- %s  %s\n\n' \
      "$version" "$debver" "$SUFFIX" "$(dpkg-parsechangelog -l debian/changelog -S Maintainer)" "$(date -R)"
    cat debian/changelog; } > "$src/debian/changelog"
fi
start=$(date +%s)
( cd "$src" && dpkg-buildpackage -b -us -uc )
rm -f "$OUT"/stilalarm-*.deb   # OUT holds one build: the one apt-repo takes
mv "$work"/*.deb "$OUT"/
echo "built in $(( $(date +%s) - start )) s:"
ls -l "$OUT"/*_"$version"_*.deb
rm -rf "$work"
