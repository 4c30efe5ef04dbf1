# Sourced by integration tests: TAP output helpers and paths.
# Each check prints "ok - NAME" or "not ok - NAME"; tests/run.sh counts them.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-build}
BIN=$TOP/$B/bin
export PATH=$BIN:$PATH
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
T=$(mktemp -d /tmp/rfs-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
_failed=0

ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; _failed=1; }

# check NAME CMD...: CMD must succeed.
check() {
	local name=$1; shift
	if "$@" >"$T/.out" 2>&1; then ok "$name"; else
		not_ok "$name"; sed 's/^/#   /' "$T/.out" | tail -20; fi
}

# check_fails NAME REGEX CMD...: CMD must exit non-zero (not by a signal or
# a sanitizer), print exactly one line on stderr matching REGEX. The exit
# code is left in CHECK_RC.
check_fails() {
	local name=$1 re=$2; shift 2
	"$@" >"$T/.out" 2>"$T/.err"
	local rc=$?
	CHECK_RC=$rc
	if [ $rc = 0 ]; then not_ok "$name (exit 0)"; sed 's/^/#   /' "$T/.err" | tail -5; return; fi
	if [ $rc -ge 126 ]; then not_ok "$name (exit $rc: crash?)"; sed 's/^/#   /' "$T/.err" | tail -20; return; fi
	if grep -q -E 'Sanitizer|runtime error' "$T/.err"; then not_ok "$name (sanitizer)"; sed 's/^/#   /' "$T/.err" | tail -20; return; fi
	if ! grep -q -E -- "$re" "$T/.err"; then not_ok "$name (message does not match /$re/)"; sed 's/^/#   /' "$T/.err" | tail -5; return; fi
	if [ "$(wc -l <"$T/.err")" -gt 1 ]; then not_ok "$name (more than one line on stderr)"; sed 's/^/#   /' "$T/.err" | tail -5; return; fi
	ok "$name"
}

# check_eq NAME A B
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: '$2' != '$3'"; fi; }

# waits_for_lock LOCKPATH CMD...: CMD, started while another process holds
# an exclusive flock on LOCKPATH for 1.5 s, succeeds and takes at least 1 s.
waits_for_lock() {
	local l=$1 t0; shift
	flock "$l" sleep 1.5 & sleep 0.3
	t0=$(date +%s%N)
	"$@" >/dev/null || return 1
	wait
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 1000 ]
}

finish() { exit $_failed; }
