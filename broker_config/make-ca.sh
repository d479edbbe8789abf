#!/usr/bin/env bash
# Make a site CA and a broker server certificate for the TLS listener.
#   broker_config/make-ca.sh DIR BROKER_HOSTNAME [EXTRA_SAN ...]
# Writes DIR/ca.key (keep offline), DIR/ca.crt (copy to every unit and console),
# DIR/server.key and DIR/server.crt (for mosquitto, and each cluster node: serverAuth and, for
# the TLS routes between nodes, clientAuth). Then render with
#   alarm-broker render --site site.toml --out OUT --tls-dir DIR
# and set `use_tls = true` under [broker] in site.toml.
set -euo pipefail
dir=${1:?usage: make-ca.sh DIR BROKER_HOSTNAME [EXTRA_SAN ...]}
host=${2:?usage: make-ca.sh DIR BROKER_HOSTNAME [EXTRA_SAN ...]}
shift 2
mkdir -p "$dir"
umask 077
san="DNS:${host}"
for extra in "$@"; do
  if [[ $extra =~ ^[0-9.]+$ ]]; then san="$san,IP:$extra"; else san="$san,DNS:$extra"; fi
done
if [[ ! -f "$dir/ca.key" ]]; then
  openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj "/CN=stilalarm site CA"
fi
openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$dir/server.key" \
  -out "$dir/server.csr" -subj "/CN=${host}"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 825 -sha256 -out "$dir/server.crt" \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san")
rm -f "$dir/server.csr"
chmod 0644 "$dir/ca.crt" "$dir/server.crt"
chmod 0600 "$dir/ca.key" "$dir/server.key"
echo "CA: $dir/ca.crt  server: $dir/server.crt ($san)"
