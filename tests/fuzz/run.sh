#!/bin/sh
# run.sh: run the libFuzzer targets; `make fuzz-run` and `make
# fuzz-regress` call it (see tests/fuzz/README.md).
#
#   run.sh run SECONDS TARGET...   fuzz each TARGET for SECONDS on a
#                                  scratch copy of its seed corpus
#   run.sh regress TARGET...       run every seed and every
#                                  regress/TARGET-* file once, no fuzzing
#
# TARGET is http, frame, utf8, config, conn, ws_rx, peers, bpwire, cookie,
# conn_tls, route, metrics, proxyproto or forwarded.  The source tree is
# only read: corpora are copied to a mktemp -d directory that is removed
# afterwards (FUZZ_KEEP=1 keeps it and says where).  Exit status: 0 if
# every target passed, 1 if any crashed, leaked, timed out or ran out of
# memory; the input that did it is saved in FUZZ_ARTIFACTS.
#
# Environment (the Makefile sets the first two):
#   FUZZ_BIN_DIR     where the fuzz_* binaries are     (tests/fuzz)
#   FUZZ_SRC_DIR     tests/fuzz of the source tree     (this script's dir)
#   FUZZ_TIMEOUT     seconds one input may take        (10)
#   FUZZ_RSS_MB      memory limit                      (2048)
#   FUZZ_JOBS        targets fuzzed at the same time   (1)
#   FUZZ_ARTIFACTS   where crashing inputs go          ($FUZZ_BIN_DIR/artifacts)
#   FUZZ_ARGS        more libFuzzer options, e.g. "-max_len=8192"

set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${FUZZ_SRC_DIR:-$here}
bin=${FUZZ_BIN_DIR:-tests/fuzz}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-1}
artifacts=${FUZZ_ARTIFACTS:-$bin/artifacts}
extra=${FUZZ_ARGS:-}
tmp=${TMPDIR:-/tmp}
workdirs=

usage() {
	echo "usage: $0 run SECONDS TARGET... | $0 regress TARGET..." >&2
	exit 2
}

cleanup() {
	for w in $workdirs; do
		rm -rf "$w"
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check_binary() {
	if [ ! -x "$bin/fuzz_$1" ]; then
		echo "$0: $bin/fuzz_$1 is missing: run 'make fuzz' first" >&2
		exit 1
	fi
	if [ ! -d "$src/corpus/$1" ]; then
		echo "$0: no corpus $src/corpus/$1" >&2
		exit 1
	fi
}

# The figures of a finished run: runs, exec/s, cov, ft, corpus.
summary() {
	log=$1
	done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' \
	    "$log" | tail -1)
	runs=$(grep '^stat::number_of_executed_units' "$log" | sed 's/.*: *//')
	eps=$(grep '^stat::average_exec_per_sec' "$log" | sed 's/.*: *//')
	rssmb=$(grep '^stat::peak_rss_mb' "$log" | sed 's/.*: *//')
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.*corp: \([^ ]*\).*/\1/p')
	echo "runs=${runs:-?} exec/s=${eps:-?} cov=${cov:-?} ft=${ft:-?}" \
	    "corpus=${corp:-?} peak_rss=${rssmb:-?}MB"
}

fuzz_one() {
	t=$1
	secs=$2
	w=$3
	dict=
	[ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
	mkdir -p "$w/corpus" "$artifacts" || return 1
	cp -R "$src/corpus/$t/." "$w/corpus/" && chmod -R u+w "$w/corpus" ||
	    return 1
	# The harnesses' own scratch files go in $w too (TMPDIR), so that
	# nothing is left behind in /tmp even when a target dies.
	# shellcheck disable=SC2086
	TMPDIR=$w "$bin/fuzz_$t" -max_total_time="$secs" -timeout="$timeout" \
	    -rss_limit_mb="$rss" -print_final_stats=1 \
	    -artifact_prefix="$artifacts/fuzz_$t-" $dict $extra \
	    "$w/corpus" >"$w/log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS fuzz_$t ${secs}s: $(summary "$w/log")" >"$w/result"
	else
		cp "$w/log" "$artifacts/fuzz_$t.log"
		{
			echo "FAIL fuzz_$t (exit $rc): $(summary "$w/log")"
			grep -E 'ERROR:|SUMMARY:|invariant failed|Test unit written|Base64:' \
			    "$w/log" | head -20 | sed 's/^/    /'
			echo "    full log: $artifacts/fuzz_$t.log"
		} >"$w/result"
	fi
	return $rc
}

run() {
	[ $# -ge 2 ] || usage
	secs=$1
	shift
	for t in "$@"; do
		check_binary "$t"
	done
	all=
	status=0
	set -- "$@"
	while [ $# -gt 0 ]; do
		batch=
		n=0
		while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
			w=$(mktemp -d "$tmp/wsd-fuzz-$1.XXXXXX") || exit 1
			workdirs="$workdirs $w"
			all="$all $1:$w"
			echo "fuzz_$1: ${secs}s ..."
			fuzz_one "$1" "$secs" "$w" &
			batch="$batch $!"
			n=$((n + 1))
			shift
		done
		for p in $batch; do
			wait "$p" || status=1
		done
	done
	for tw in $all; do
		cat "${tw#*:}/result"
	done
	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		echo "work directories (corpora, logs) kept:$workdirs"
		workdirs=
	fi
	return $status
}

regress() {
	[ $# -ge 1 ] || usage
	status=0
	for t in "$@"; do
		check_binary "$t"
	done
	w=$(mktemp -d "$tmp/wsd-fuzz-regress.XXXXXX") || exit 1
	workdirs="$workdirs $w"
	for t in "$@"; do
		set --
		for f in "$src/corpus/$t"/* "$src/regress/$t"-*; do
			[ -f "$f" ] && set -- "$@" "$f"
		done
		# shellcheck disable=SC2086
		if TMPDIR=$w "$bin/fuzz_$t" -timeout="$timeout" -rss_limit_mb="$rss" \
		    $extra "$@" >"$w/$t.log" 2>&1; then
			echo "PASS fuzz_$t: $# inputs"
		else
			status=1
			echo "FAIL fuzz_$t:"
			grep -E '^Running:|ERROR:|SUMMARY:|invariant failed' \
			    "$w/$t.log" | grep -B1 -E 'ERROR|SUMMARY|invariant' |
			    head -20 | sed 's/^/    /'
			mkdir -p "$artifacts" &&
			    cp "$w/$t.log" "$artifacts/fuzz_$t-regress.log" &&
			    echo "    full log: $artifacts/fuzz_$t-regress.log"
		fi
	done
	return $status
}

[ $# -ge 1 ] || usage
mode=$1
shift
case $mode in
run)	run "$@" ;;
regress) regress "$@" ;;
*)	usage ;;
esac
