#!/usr/bin/env bash
# Install Debian's packaging tools when missing: dh-virtualenv and debhelper (make deb), debootstrap
# (make package-test), reprepro and gnupg (the site's apt repository). All from Debian 12.
set -euo pipefail
need=()
command -v dpkg-buildpackage >/dev/null 2>&1 || need+=(dpkg-dev)
dpkg -s build-essential >/dev/null 2>&1 || need+=(build-essential)  # dpkg-checkbuilddeps asks for it
command -v fakeroot >/dev/null 2>&1 || need+=(fakeroot)
command -v dh >/dev/null 2>&1 || need+=(debhelper)
command -v dh_virtualenv >/dev/null 2>&1 || need+=(dh-virtualenv)
[ -x /usr/bin/python3.11 ] || need+=(python3.11)
/usr/bin/python3.11 -c 'import ensurepip' 2>/dev/null || need+=(python3.11-venv)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v reprepro >/dev/null 2>&1 || need+=(reprepro)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
[ ${#need[@]} -eq 0 ] && exit 0
echo "packaging tools missing: installing ${need[*]}" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ERROR: cannot install them without root. Run as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
