#!/usr/bin/env bash
# Install mosquitto (the real broker every MQTT test and the demo use) when missing, and what
# `alarm-broker render` needs to build the broker's client-id plugin from broker_config/
# (gcc, mosquitto-dev and libmosquitto-dev: mosquitto_broker.h, mosquitto_plugin.h, mosquitto.h).
set -euo pipefail
have_broker() { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; }
have_all() {
  have_broker && command -v mosquitto_pub >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 \
    && [ -f /usr/include/mosquitto_broker.h ] && [ -f /usr/include/mosquitto.h ]
}
if have_all; then exit 0; fi
echo "mosquitto, mosquitto-clients, mosquitto-dev, libmosquitto-dev or gcc is missing: installing them" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ERROR: cannot install mosquitto without root. Run as root:" >&2
  echo "  apt-get install -y mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev gcc libc6-dev" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: no apt-get here. Install mosquitto >= 2.0, mosquitto-clients, the mosquitto" >&2
  echo "  development headers (mosquitto_broker.h) and a C compiler with your package manager." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev gcc libc6-dev
have_all || { echo "ERROR: mosquitto, mosquitto-clients, mosquitto-dev, libmosquitto-dev or gcc still missing after apt-get install" >&2; exit 1; }
