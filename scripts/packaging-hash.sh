#!/usr/bin/env bash
# One hash of everything the Debian packages are made from, apart from the code itself: debian/,
# the service files, pyproject.toml (dependencies, entry points, package data), the list of the
# wheel's packages (stilalarm/) and the packaging scripts.
# `make package-test` writes it to debian/package-test.stamp when it passes; .ci/run runs
# package-test when the stamp differs from this hash (docs/PACKAGES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
{
# stilalarm/: the symlinks that make the wheel's packages (a new one changes what is packaged)
git ls-files -s -- stilalarm
git ls-files -z --cached --others --exclude-standard -- debian hardware/systemd pyproject.toml \
    scripts/build-deb.sh scripts/package-test.sh scripts/apt-repo.sh scripts/ensure-deb-tools.sh \
    scripts/packaging-hash.sh \
  | grep -zv '^debian/package-test.stamp$' | sort -z \
  | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"; fi; done
} | sha256sum | cut -d' ' -f1
