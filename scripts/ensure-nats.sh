#!/usr/bin/env bash
# Install nats-server (the cluster broker profile's engine: NATS with JetStream and MQTT; Debian 12
# ships 2.9.10) when missing. The cluster tests in tests/broker need it: a missing binary fails them.
set -euo pipefail
have() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; }
if have; then exit 0; fi
echo "nats-server is missing: installing it" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ERROR: cannot install nats-server without root. Run as root: apt-get install -y nats-server" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: no apt-get here. Install nats-server >= 2.9 (with JetStream and MQTT) yourself." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q nats-server
# Debian starts it as a service on 4222; the tests never use that one (they start their own nodes).
have || { echo "ERROR: nats-server still missing after apt-get install" >&2; exit 1; }
