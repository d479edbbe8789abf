#!/usr/bin/env bash
# make package-test (docs/PACKAGES.md): build the packages (this tree), make the same packages a
# newer version (+test), then in clean Debian 12 roots made by debootstrap (chroot; no systemd
# running, no service started: policy-rc.d forbids it) install, check, upgrade, purge, and
# install and upgrade from the site's apt repository (reprepro, file://). Needs root.
# Cached machine-wide in /var/cache/stilalarm/package-test (or $PACKAGE_TEST_CACHE), so that a
# fresh clone (CI) reuses them: the debootstrapped base (a tarball; delete it to refresh) and the
# .debs apt fetched (mosquitto, gcc, ...). CI runs it every time (.ci/run): about 4 minutes warm.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: make package-test needs root (debootstrap, chroot, mount): sudo make package-test" >&2
  exit 1
fi
T=$PWD/run/package-test
CACHE=${PACKAGE_TEST_CACHE:-/var/cache/stilalarm/package-test}
# the Debian mirror this machine's apt already uses (deb822 or one-line sources), unless given
host_mirror() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror)}
if [ -z "$MIRROR" ]; then
  echo "ERROR: no Debian mirror in this machine's apt sources; set DEBIAN_MIRROR=<url of a Debian mirror>" >&2
  exit 1
fi
INCLUDE=systemd,python3.11,adduser
ARCH=$(dpkg --print-architecture)
t0=$(date +%s)
mkdir -p "$T" "$CACHE/apt-archives/partial"
scripts/ensure-deb-tools.sh

# ---- roots and mounts: never rm -rf a root while something is mounted inside it
unmount_all() {
  { findmnt -rn -o TARGET | grep "^$T/" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
}
trap unmount_all EXIT
unmount_all

FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "  ok   $1"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "  FAIL $1"; }
expect() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi; }
expect_not() { local d=$1; shift; if "$@" >/dev/null 2>&1; then bad "$d"; else ok "$d"; fi; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1 ($3)"; else bad "$1: got '$2', expected '$3'"; fi; }

in_root() {
  local r=$1; shift
  chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
apt_in() { local r=$1; shift; in_root "$r" apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >>"$T/apt.log" 2>&1; }
stat_of() { in_root "$1" stat -c '%U %G %a' "$2" 2>&1; }
# shellcheck disable=SC2016  # dpkg-query's format, not the shell's
version_of() { in_root "$1" dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$2" 2>&1 | sed 's/ *$//'; }
# every file under the given directories: path, owner, group, mode and a hash of the content
snapshot() {
  local r=$1; shift
  # shellcheck disable=SC2016  # expanded by the root's sh
  in_root "$r" sh -c 'find "$@" -type f | sort | while read -r f; do
    printf "%s %s\n" "$(stat -c "%n %U %G %a" "$f")" "$(sha256sum < "$f" | cut -c1-16)"; done' sh "$@"
}

new_root() {
  local r=$T/root-$1
  rm -rf --one-file-system "$r"
  mkdir -p "$r"
  tar -xzf "$BASE" -C "$r"
  printf '#!/bin/sh\n# package-test: no service starts in this root\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  echo "deb $MIRROR bookworm main" > "$r/etc/apt/sources.list"
  mount -t proc proc "$r/proc"
  mount --bind "$CACHE/apt-archives" "$r/var/cache/apt/archives"
  mkdir -p "$r/tmp/debs-1" "$r/tmp/debs-2"
  cp "$T"/debs-1/*.deb "$r/tmp/debs-1/"
  cp "$T"/debs-2/*.deb "$r/tmp/debs-2/"
  apt_in "$r" update
}

# ---- 1. the packages, and the same packages as a newer version
# The newer version (+test) is the first build with only the version in DEBIAN/control raised: what
# a second build of the same tree gives (`build-deb.sh --version-suffix +test`), without its
# 140-150 s. The upgrade checks below need a higher version, not other content.
reversion() {  # reversion IN_DIR OUT_DIR SUFFIX
  local f d
  mkdir -p "$2"
  for f in "$1"/*.deb; do
    d=$(mktemp -d "$T/reversion.XXXXXX")
    dpkg-deb -R "$f" "$d"
    sed -i "s/^Version: .*/Version: $(dpkg-deb -f "$f" Version)$3/" "$d/DEBIAN/control"
    dpkg-deb -Zxz -z1 --build "$d" "$2/" >/dev/null
    rm -rf "$d"
  done
}
rm -rf "$T/debs-1" "$T/debs-2"
scripts/build-deb.sh --out "$T/debs-1"
reversion "$T/debs-1" "$T/debs-2" +test
t_built=$(date +%s)
V1=$(dpkg-deb -f "$T"/debs-1/stilalarm-unit_*_"$ARCH".deb Version)
V2=$(dpkg-deb -f "$T"/debs-2/stilalarm-unit_*_"$ARCH".deb Version)
deb() { echo "/tmp/debs-$1/$2_$([ "$1" = 1 ] && echo "$V1" || echo "$V2")_$ARCH.deb"; }

# ---- 2. a clean Debian 12 (cached base)
key=$(echo "bookworm $MIRROR $INCLUDE $ARCH" | sha256sum | cut -c1-12)
BASE=$CACHE/bookworm-minbase-$key.tar.gz
if [ ! -f "$BASE" ]; then
  echo "== debootstrap bookworm ($MIRROR) into a cached base"
  rm -rf --one-file-system "$T/bootstrap"
  debootstrap --variant=minbase --include="$INCLUDE" bookworm "$T/bootstrap" "$MIRROR" >"$T/debootstrap.log" 2>&1 \
    || { tail -20 "$T/debootstrap.log"; exit 1; }
  tar -C "$T/bootstrap" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
  rm -rf --one-file-system "$T/bootstrap"
fi
: > "$T/apt.log"

# ---- 3. the desk unit
echo "== stilalarm-unit: install $V2 and purge at once: nothing left"
R=$T/root-unit
new_root unit
apt_in "$R" install "$(deb 2 stilalarm-unit)"
apt_in "$R" purge stilalarm-unit
for p in /opt/stilalarm /etc/stilalarm /var/lib/stilalarm /lib/systemd/system/stilalarm-unit.service /usr/bin/alarm-unit /usr/bin/alarm-sim; do
  expect_not "purge removed $p" in_root "$R" test -e "$p"
done
expect_not "purge removed the user stilalarm" in_root "$R" getent passwd stilalarm
expect_not "purge removed the group stilalarm" in_root "$R" getent group stilalarm
expect "purge kept the group gpio" in_root "$R" getent group gpio

echo "== stilalarm-unit: install $V1"
apt_in "$R" install "$(deb 1 stilalarm-unit)"
expect_eq "installed" "$(version_of "$R" stilalarm-unit)" "$V1 ii"
expect_eq "/etc/stilalarm" "$(stat_of "$R" /etc/stilalarm)" "root stilalarm 750"
expect_eq "/var/lib/stilalarm (the outbox)" "$(stat_of "$R" /var/lib/stilalarm)" "stilalarm gpio 750"
expect_eq "user stilalarm's groups" "$(in_root "$R" id -nG stilalarm)" "stilalarm gpio"
expect_eq "user stilalarm's shell" "$(in_root "$R" getent passwd stilalarm | cut -d: -f7)" "/usr/sbin/nologin"
expect "alarm-unit --help" in_root "$R" alarm-unit --help
expect "alarm-sim --help" in_root "$R" alarm-sim --help
expect_not "no server command in the unit's venv" in_root "$R" test -e /opt/stilalarm/venv/bin/alarm-console
expect "the venv sees the system's site-packages (python3-lgpio)" in_root "$R" /opt/stilalarm/venv/bin/python -c \
  'import sys; assert "/usr/lib/python3/dist-packages" in sys.path, sys.path'
expect_eq "stilalarm-unit.service not enabled" "$(in_root "$R" systemctl is-enabled stilalarm-unit.service 2>&1)" "disabled"
expect "systemd-analyze verify stilalarm-unit.service" in_root "$R" systemd-analyze verify /lib/systemd/system/stilalarm-unit.service
echo '{"unit_id": "balie-01", "note": "package-test"}' | in_root "$R" sh -c 'umask 077; cat > /etc/stilalarm/unit.json'
in_root "$R" chown stilalarm:stilalarm /etc/stilalarm/unit.json
in_root "$R" runuser -u stilalarm -- sh -c 'umask 077; exec /opt/stilalarm/venv/bin/python -c "
from stilalarm.firmware.outbox import Outbox
Outbox(\"/var/lib/stilalarm/outbox.sqlite\").close()"'
in_root "$R" systemctl enable stilalarm-unit.service >/dev/null 2>&1
before=$(snapshot "$R" /etc/stilalarm /var/lib/stilalarm)
expect "a real outbox" in_root "$R" test -s /var/lib/stilalarm/outbox.sqlite

echo "== stilalarm-unit: upgrade to $V2"
apt_in "$R" install "$(deb 2 stilalarm-unit)"
expect_eq "upgraded" "$(version_of "$R" stilalarm-unit)" "$V2 ii"
expect_eq "config and outbox unchanged (content, owner, mode)" "$(snapshot "$R" /etc/stilalarm /var/lib/stilalarm)" "$before"
expect_eq "/var/lib/stilalarm unchanged" "$(stat_of "$R" /var/lib/stilalarm)" "stilalarm gpio 750"
expect_eq "still enabled" "$(in_root "$R" systemctl is-enabled stilalarm-unit.service 2>&1)" "enabled"
expect "alarm-unit --help after the upgrade" in_root "$R" alarm-unit --help

echo "== stilalarm-unit: purge"
apt_in "$R" purge stilalarm-unit
for p in /opt/stilalarm /lib/systemd/system/stilalarm-unit.service /usr/bin/alarm-unit /etc/systemd/system/multi-user.target.wants/stilalarm-unit.service; do
  expect_not "purge removed $p" in_root "$R" test -e "$p" -o -L "$p"
done
expect_not "purge removed the user stilalarm" in_root "$R" getent passwd stilalarm
expect_not "purge removed the group stilalarm" in_root "$R" getent group stilalarm
expect_eq "purge kept config and outbox, now root's" "$(snapshot "$R" /etc/stilalarm /var/lib/stilalarm)" \
  "$(echo "$before" | sed -E 's/ stilalarm / root /g; s/ stilalarm / root /g')"
expect "purge kept python3.11 (a dependency)" in_root "$R" dpkg-query -W python3.11

echo "== the site's apt repository (reprepro, signed) as a file:// source"
export GNUPGHOME=$T/gnupg
rm -rf "$GNUPGHOME" "$T/apt-repo"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'stilalarm package-test <package-test@localhost>' ed25519 sign 1d 2>/dev/null
fpr=$(gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
scripts/apt-repo.sh --repo "$T/apt-repo" --sign-with "$fpr" "$T"/debs-1/*.deb >>"$T/apt.log" 2>&1
mkdir -p "$R/srv/stilalarm-apt" "$R/etc/apt/keyrings"
mount --bind "$T/apt-repo/public" "$R/srv/stilalarm-apt"
mount -o remount,bind,ro "$R/srv/stilalarm-apt"
cp "$T/apt-repo/public/stilalarm-archive.gpg" "$R/etc/apt/keyrings/stilalarm-archive.gpg"
echo "deb [signed-by=/etc/apt/keyrings/stilalarm-archive.gpg] file:///srv/stilalarm-apt stilalarm main" \
  > "$R/etc/apt/sources.list.d/stilalarm.list"
expect "apt-get update with the signed repository" apt_in "$R" update
expect "apt-get install stilalarm-unit from it" apt_in "$R" install stilalarm-unit
expect_eq "installed from the repository" "$(version_of "$R" stilalarm-unit)" "$V1 ii"
scripts/apt-repo.sh --repo "$T/apt-repo" "$T"/debs-2/*.deb >>"$T/apt.log" 2>&1
apt_in "$R" update
expect "apt-get upgrade" apt_in "$R" upgrade
expect_eq "upgraded from the repository" "$(version_of "$R" stilalarm-unit)" "$V2 ii"
rm -f "$R/etc/apt/sources.list.d/stilalarm.list"
gpgconf --kill gpg-agent || true   # the agent the test key started
unset GNUPGHOME

# ---- 4. the central server
echo "== stilalarm-console: install $V2 and purge at once: nothing left"
R=$T/root-console
unmount_all
new_root console
apt_in "$R" install "$(deb 2 stilalarm-console)"
expect "mosquitto installed (Depends)" in_root "$R" dpkg-query -W mosquitto
apt_in "$R" purge stilalarm-console
for p in /opt/stilalarm /etc/stilalarm /var/lib/stilalarm /var/lib/stilalarm-web /var/backups/stilalarm \
    /lib/systemd/system/stilalarm-console.service /usr/bin/alarm-console; do
  expect_not "purge removed $p" in_root "$R" test -e "$p"
done
expect_not "purge removed the user stilalarm" in_root "$R" getent passwd stilalarm

echo "== stilalarm-console: install $V1"
apt_in "$R" install "$(deb 1 stilalarm-console)"
expect_eq "installed" "$(version_of "$R" stilalarm-console)" "$V1 ii"
expect_eq "/etc/stilalarm" "$(stat_of "$R" /etc/stilalarm)" "root stilalarm 750"
for d in /var/lib/stilalarm /var/lib/stilalarm-web /var/backups/stilalarm; do
  expect_eq "$d" "$(stat_of "$R" "$d")" "stilalarm stilalarm 700"
done
for c in alarm-console alarm-broker alarm-web; do expect "$c --help" in_root "$R" "$c" --help; done
for u in stilalarm-console.service stilalarm-web.service stilalarm-backup.timer stilalarm-purge.timer; do
  expect_eq "$u not enabled" "$(in_root "$R" systemctl is-enabled "$u" 2>&1)" "disabled"
done
for u in stilalarm-console.service stilalarm-web.service stilalarm-backup.service stilalarm-backup.timer \
    stilalarm-purge.service stilalarm-purge.timer; do
  expect "systemd-analyze verify $u" in_root "$R" systemd-analyze verify "/lib/systemd/system/$u"
done
in_root "$R" sh -c 'cat > /etc/stilalarm/site.toml' < examples/site.toml
in_root "$R" chgrp stilalarm /etc/stilalarm/site.toml
in_root "$R" chmod 0640 /etc/stilalarm/site.toml
# the broker's files as hardware/installation.md makes them: the client-id plugin is compiled in
# the root (the Recommends: gcc, mosquitto-dev), group mosquitto on what the broker reads
expect "alarm-broker render --run-as mosquitto" in_root "$R" alarm-broker render --site /etc/stilalarm/site.toml \
  --out /etc/stilalarm/broker --run-as mosquitto
in_root "$R" chown stilalarm /etc/stilalarm/broker/console.json
expect_eq "the broker's acl" "$(stat_of "$R" /etc/stilalarm/broker/acl)" "root mosquitto 640"
expect "alarm-console db init (as stilalarm)" in_root "$R" runuser -u stilalarm -- \
  alarm-console db init --db /var/lib/stilalarm/console.db
expect "alarm-console backup (as stilalarm)" in_root "$R" runuser -u stilalarm -- sh -c \
  'umask 077; exec alarm-console backup --db /var/lib/stilalarm/console.db --dir /var/backups/stilalarm --keep 14'
expect "alarm-console purge --unless-cluster (as stilalarm, as stilalarm-purge.service)" in_root "$R" runuser -u stilalarm -- \
  sh -c 'umask 077; exec alarm-console purge --unless-cluster --site /etc/stilalarm/site.toml --db /var/lib/stilalarm/console.db'
in_root "$R" runuser -u stilalarm -- sh -c 'umask 077; exec /opt/stilalarm/venv/bin/python -c "
from stilalarm.firmware.outbox import Outbox
Outbox(\"/var/lib/stilalarm-web/web-outbox.sqlite\").close()"'
in_root "$R" systemctl enable stilalarm-console.service stilalarm-backup.timer stilalarm-purge.timer >/dev/null 2>&1
DATA="/etc/stilalarm /var/lib/stilalarm /var/lib/stilalarm-web /var/backups/stilalarm"
# shellcheck disable=SC2086
before=$(snapshot "$R" $DATA)
echo "$before" > "$T/console-data.txt"
expect "site.toml, the broker's files, a database, a backup and alarm-web's outbox" test "$(echo "$before" | wc -l)" -ge 10

echo "== stilalarm-console: upgrade to $V2"
apt_in "$R" install "$(deb 2 stilalarm-console)"
expect_eq "upgraded" "$(version_of "$R" stilalarm-console)" "$V2 ii"
# shellcheck disable=SC2086
expect_eq "config, database, backups and web outbox unchanged" "$(snapshot "$R" $DATA)" "$before"
expect_eq "console still enabled" "$(in_root "$R" systemctl is-enabled stilalarm-console.service 2>&1)" "enabled"
expect "alarm-console --help after the upgrade" in_root "$R" alarm-console --help

echo "== stilalarm-console: purge"
apt_in "$R" purge stilalarm-console
for p in /opt/stilalarm /usr/bin/alarm-console /usr/bin/alarm-web /lib/systemd/system/stilalarm-backup.timer \
    /lib/systemd/system/stilalarm-purge.timer /etc/systemd/system/timers.target.wants/stilalarm-purge.timer \
    /etc/systemd/system/multi-user.target.wants/stilalarm-console.service /etc/systemd/system/timers.target.wants/stilalarm-backup.timer; do
  expect_not "purge removed $p" in_root "$R" test -e "$p" -o -L "$p"
done
expect_not "purge removed the user stilalarm" in_root "$R" getent passwd stilalarm
# shellcheck disable=SC2086
expect_eq "purge kept config, database, backups, web outbox, now root's" "$(snapshot "$R" $DATA)" \
  "$(echo "$before" | sed -E 's/ stilalarm / root /g; s/ stilalarm / root /g')"
expect_eq "purge left the broker's files alone" "$(stat_of "$R" /etc/stilalarm/broker/acl)" "root mosquitto 640"
expect "purge kept mosquitto" in_root "$R" dpkg-query -W mosquitto

unmount_all
t_end=$(date +%s)
echo "== package-test: $CHECKS checks, $FAILS failed; build $((t_built - t0)) s, roots $((t_end - t_built)) s, total $((t_end - t0)) s (apt's output: $T/apt.log)"
if [ "$FAILS" -ne 0 ]; then
  echo "the roots stay in $T/root-* for a look" >&2
  exit 1
fi
rm -rf --one-file-system "$T/root-unit" "$T/root-console"
