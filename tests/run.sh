#!/usr/bin/env bash
# Runs the cmocka unit tests and the integration tests and prints one
# closing line "check: N passed, N failed". Usage: tests/run.sh [unit|integration] [NAME-GLOB]
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
what=${1:-all}
glob=${2:-*}
passed=0 failed=0
failures=()
logdir=$B/test-logs
mkdir -p "$logdir"

count_tap() { # file -> adds ok / not ok lines
	local f=$1 ok nok
	ok=$(grep -c '^ok ' "$f" || true)
	nok=$(grep -c '^not ok ' "$f" || true)
	passed=$((passed + ok)); failed=$((failed + nok))
	[ "$nok" = 0 ] || failures+=("$(grep '^not ok ' "$f" | head -20)")
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in "$B"/tests/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		case "$n" in $glob) ;; *) continue ;; esac
		log=$logdir/$n.log
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1
		rc=$?
		count_tap "$log"
		if [ $rc != 0 ] && ! grep -q '^not ok ' "$log"; then
			failed=$((failed + 1)); failures+=("not ok - $n exited $rc (see $log)")
		fi
		echo "unit $n: rc=$rc, $(grep -c '^ok ' "$log") ok, $(grep -c '^not ok ' "$log") not ok"
	done
fi

if [ "$what" = all ] || [ "$what" = integration ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		n=$(basename "$t" .sh)
		case "$n" in $glob) ;; *) continue ;; esac
		log=$logdir/$n.log
		start=$(date +%s)
		B=$B timeout 900 bash "$t" >"$log" 2>&1
		rc=$?
		count_tap "$log"
		if [ $rc != 0 ] && ! grep -q '^not ok ' "$log"; then
			failed=$((failed + 1)); failures+=("not ok - $n exited $rc (see $log)")
		fi
		echo "integration $n: rc=$rc, $(grep -c '^ok ' "$log") ok, $(grep -c '^not ok ' "$log") not ok, $(( $(date +%s) - start ))s"
	done
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "--- failures:"
	printf '%s\n' "${failures[@]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
