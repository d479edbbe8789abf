#!/usr/bin/env bash
# Install Debian's chromium (headless) when missing: the HTML report test renders in it and the
# panic-page test drives it with Playwright (never a downloaded browser).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
echo "chromium is missing (needed to check the HTML report renders): installing it" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ERROR: cannot install chromium without root. Run as root: apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
