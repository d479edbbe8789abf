#!/usr/bin/env bash
# Install mosquitto (the real broker every MQTT test and the demo use) when missing.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
  if command -v mosquitto_pub >/dev/null 2>&1; then exit 0; fi
fi
echo "mosquitto (or mosquitto-clients) is missing: installing it" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ERROR: cannot install mosquitto without root. Run as root:" >&2
  echo "  apt-get install -y mosquitto mosquitto-clients" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: no apt-get here. Install mosquitto >= 2.0 and mosquitto-clients with your package manager." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q mosquitto mosquitto-clients
command -v mosquitto_pub >/dev/null && { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } || {
  echo "ERROR: mosquitto still missing after apt-get install" >&2; exit 1; }
