#!/bin/sh
# make fuzz: build every tests/fuzz/fuzz_*.c with clang + libFuzzer + ASan/UBSan
# and run each for SECONDS (default 60) on its seed corpus.
# scripts/fuzz.sh SECONDS NAME...  runs only fuzz_NAME (e.g. imap_cmd).
# FUZZ_TARGET=name (fuzz_name.c) runs just that one.
# SPDX-License-Identifier: ISC
set -eu
SECONDS_EACH=${1:-60}
if [ $# -gt 0 ]; then shift; fi
ONLY="$*"
LB_EXTRA_PKGS="clang libclang-rt-14-dev" scripts/deps.sh
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -D_GNU_SOURCE -std=c11"
LIBS="-lssl -lcrypto -lsasl2 -llmdb -lsodium -lev -lcares -lz -lm -pthread"
# common/ once, as a library every target links (instrumented for the
# fuzzer's coverage, without its main): not once per target.
LIBCFLAGS=$(echo "$CFLAGS" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/')
mkdir -p "$OUT/obj"
for c in common/*.c; do
	o="$OUT/obj/$(basename "$c" .c).o"
	if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find common -name '*.h' -newer "$o" | head -1)" ]; then
		clang $LIBCFLAGS -c -o "$o" "$c" &
		# two at a time: the machines are small
		[ $(jobs -p | wc -l) -lt 2 ] || wait -n 2>/dev/null || wait
	fi
done
wait
rm -f "$OUT/libcommon-fuzz.a"
ar rcs "$OUT/libcommon-fuzz.a" "$OUT"/obj/*.o
COMMON="$OUT/libcommon-fuzz.a"
fail=0
for src in tests/fuzz/fuzz_${FUZZ_TARGET:-*}.c; do
	name=$(basename "$src" .c)
	target=${name#fuzz_}
	if [ -n "$ONLY" ]; then
		case " $ONLY " in *" $target "*) ;; *) continue ;; esac
	fi
	echo "== $name"
	# A target outside common/ names its other sources in a comment:
	#   /* fuzz-sources: common/smtp_data.c */
	extra=$(sed -n 's|.*fuzz-sources: *\(.*\) \*/.*|\1|p' "$src")
	clang $CFLAGS -o "$OUT/$name" "$src" $extra $COMMON $LIBS
	corpus="$OUT/corpus-$target"
	mkdir -p "$corpus"
	seeds=tests/fuzz/corpus/$target
	[ -d "$seeds" ] || seeds=
	dict=tests/fuzz/dict/$target.dict
	dictarg=
	[ -f "$dict" ] && dictarg="-dict=$dict"
	if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -print_final_stats=0 \
	    -artifact_prefix="$OUT/$name-" $dictarg "$corpus" $seeds \
	    > "$OUT/$name.log" 2>&1; then
		echo "FAIL: $name (see $OUT/$name.log)"
		tail -40 "$OUT/$name.log"
		fail=1
	else
		grep -E '^Done|#[0-9]+.*DONE' "$OUT/$name.log" | tail -1 || true
	fi
done
exit $fail
