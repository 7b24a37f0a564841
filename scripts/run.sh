#!/bin/sh
# make run: a ready demo instance in the foreground (ports = standard + 10000).
# SPDX-License-Identifier: ISC
set -eu
B=${1:?build dir}
DEMO=${LB_DEMO_DIR:-$(dirname "$B")/demo}
OFFSET=${LB_PORT_OFFSET:-10000}

if [ ! -f "$DEMO/letterbox.conf" ]; then
	"$B/letterbox" init "$DEMO" --domain example.test --port-offset "$OFFSET"
fi
echo "letterbox: demo instance in $DEMO"
echo "letterbox: demo login: demo@example.test password: $(cat "$DEMO/demo-password")"
echo "letterbox: admin CLI: $B/letterbox -c $DEMO/letterbox.conf user list"
echo "letterbox: stop with Ctrl-C"
exec "$B/letterboxd" -c "$DEMO/letterbox.conf"
