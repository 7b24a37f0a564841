#!/bin/sh
# Install the Debian packages Letterbox needs to build and test, once.
# As root: apt-get installs what is missing (nothing is reinstalled).
# As another user: print the apt-get line and fail.
# SPDX-License-Identifier: ISC
set -eu

PKGS="gcc make pkg-config libev-dev libssl-dev libsasl2-dev liblmdb-dev
libsodium-dev libcmocka-dev zlib1g-dev python3 python3-pytest openssl
procps swaks isync libnet-ssleay-perl libio-socket-ssl-perl fetchmail python3-dkim
libc-ares-dev python3-lmdb
mutt
${LB_EXTRA_PKGS:-}"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "letterbox: missing Debian packages. As root, run:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi

echo "letterbox: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An apt cache that has never been filled finds nothing: update once.
if ! apt-get install -y -q --no-install-recommends $missing; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
