#!/usr/bin/env bash
# Check for Python >= 3.11 with venv; install python3-venv on Debian when it is missing.
set -euo pipefail
PY=${1:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "ERROR: $PY not found. Install Python 3.11 or newer (apt-get install -y python3 python3-venv)." >&2
  exit 1
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "ERROR: $PY is $("$PY" -V 2>&1); stilalarm needs Python >= 3.11." >&2; exit 1; }
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python3-venv is missing: installing it" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q && $SUDO apt-get install -y -q python3-venv
fi
