#!/usr/bin/env bash
# Put built .debs into the site's apt repository (reprepro), from which the desk units (and the
# server itself) install and upgrade stilalarm with apt. docs/PACKAGES.md.
#   scripts/apt-repo.sh [--repo DIR] [--sign-with KEYID | --unsigned] DEB...
# DIR (default run/apt-repo) holds reprepro's conf/ and db/; what apt reads (dists/, pool/ and the
# public key stilalarm-archive.gpg) is in DIR/public, the only part to serve over HTTP.
# A new repository needs the site's signing key (--sign-with, a key in gpg's keyring, GNUPGHOME
# honoured); --unsigned is for trying it out only.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=run/apt-repo
SIGN=""
UNSIGNED=0
CODENAME=stilalarm
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) REPO=$2; shift 2 ;;
    --sign-with) SIGN=$2; shift 2 ;;
    --unsigned) UNSIGNED=1; shift ;;
    --) shift; break ;;
    -*) echo "usage: $0 [--repo DIR] [--sign-with KEYID | --unsigned] DEB..." >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "ERROR: no .deb given (build them with: make deb)" >&2; exit 2; }
command -v reprepro >/dev/null 2>&1 || scripts/ensure-deb-tools.sh

if [ ! -f "$REPO/conf/distributions" ]; then
  if [ -z "$SIGN" ] && [ "$UNSIGNED" = 0 ]; then
    echo "ERROR: a new repository needs --sign-with KEYID (the site's signing key) or --unsigned" >&2
    exit 2
  fi
  mkdir -p "$REPO/conf" "$REPO/public"
  {
    echo "Origin: stilalarm"
    echo "Label: stilalarm"
    echo "Codename: $CODENAME"
    echo "Architectures: amd64 arm64 armhf"
    echo "Components: main"
    echo "Description: stilalarm packages of this site"
    [ -n "$SIGN" ] && echo "SignWith: $SIGN"
  } > "$REPO/conf/distributions"
  echo "outdir +b/public" > "$REPO/conf/options"
  if [ -n "$SIGN" ]; then
    gpg --batch --yes --export "$SIGN" > "$REPO/public/stilalarm-archive.gpg"
    [ -s "$REPO/public/stilalarm-archive.gpg" ] || { echo "ERROR: no public key $SIGN in gpg's keyring" >&2; exit 1; }
  fi
  echo "new apt repository in $REPO (serve $REPO/public)" >&2
fi
for deb in "$@"; do
  reprepro -b "$REPO" includedeb "$CODENAME" "$deb"
done
reprepro -b "$REPO" list "$CODENAME"
