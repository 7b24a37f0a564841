#!/bin/sh
# make bench: run every tests/bench/*/run, or only the ones named in $1
# (BENCH="smtp-in other", spaces or commas).  A benchmark's run script exits
# 0 when it measured (whatever the figures), non-zero when something failed.
# LB_REPO=/other/tree benchmarks the programs built in that tree instead.
# SPDX-License-Identifier: ISC
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

names=$(echo "${1:-}" | tr ',' ' ')
if [ -z "$names" ]; then
	for d in tests/bench/*/; do
		[ -x "${d}run" ] && names="$names $(basename "$d")"
	done
fi
if [ -z "$names" ]; then
	echo "bench.sh: no tests/bench/*/run found" >&2
	exit 1
fi

fail=0
for n in $names; do
	run=tests/bench/$n/run
	if [ ! -x "$run" ]; then
		echo "bench.sh: tests/bench/$n/run: no such executable benchmark" >&2
		fail=1
		continue
	fi
	echo "== bench $n"
	if ! LB_REPO=${LB_REPO:-$REPO} "$run"; then
		echo "bench.sh: $n FAILED" >&2
		fail=1
	fi
done
exit $fail
