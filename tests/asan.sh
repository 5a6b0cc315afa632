#!/bin/bash
# The tracer built with ASan and UBSan (.output/asan/v6trace), run end to end as
# root: every report of either sanitizer fails the run. Without --e2e, the unit
# tests under both sanitizers first. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
A=.output/asan
OUT=tests/.out/asan
mkdir -p "$OUT"
# A report ends the process with its own status, and says so on stderr
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:exitcode=99
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
passed=0
failed=0

count() { # count NAME STATUS [DETAIL]
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok     asan: $1"
	else
		failed=$((failed + 1))
		echo "FAILED asan: $1${3:+: $3}"
	fi
}

# clean STDERR-FILE: no sanitizer said anything
clean() {
	! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$1"
}

if [ "${1:-}" != "--e2e" ]; then
	$A/unit_tests >"$OUT/unit.out" 2>"$OUT/unit.err"
	rc=$?
	clean "$OUT/unit.err" && [ "$rc" -eq 0 ]
	count "unit tests: pass, no sanitizer report" $? "rc $rc, $(grep -m1 -E 'runtime error|Sanitizer' "$OUT/unit.err")"
fi
if [ "$(id -u)" -ne 0 ]; then
	count "end-to-end runs need root (sudo make test-asan)" 1
	echo "$passed passed, $failed failed"
	exit 1
fi

# run NAME EXPECTED-RC ARGS...: v6trace under both sanitizers
run() {
	local name=$1 want=$2 rc
	shift 2
	$A/v6trace "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
	rc=$?
	clean "$OUT/$name.err" && [ "$rc" -eq "$want" ]
	count "v6trace $* (exit $want, no sanitizer report)" $? \
		"rc $rc, $(grep -m1 -E 'runtime error|Sanitizer' "$OUT/$name.err")"
}

run trace 0 --json --all-connects --with-snapshot -- .output/tests/workload all
lines=$(grep -c '"event":"connect"' "$OUT/trace.out")
[ "$lines" -ge 3 ]
count "the traced workload's connects are in the record ($lines)" $?
run text 0 --all-connects -- .output/tests/workload all
# --metrics-file: the listing rounds of the event loop (every second, for 2.5 s),
# a listener in a namespace of its own among them, and the writes
# and --metrics-listen: its server (a child, sanitized too) scraped meanwhile
rm -f "$OUT/v6trace.prom" "$OUT/scraped.prom"
http=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run metrics 0 --json --metrics-file "$OUT/v6trace.prom" --metrics-listen "127.0.0.1:$http" \
	--metrics-interval 1 -- sh -c \
	'.output/tests/workload all >/dev/null; unshare -n python3 -c "import socket, time; s = socket.socket(socket.AF_INET6); s.bind((\"::\", 0)); s.listen(); time.sleep(2.5)"; python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(\"http://127.0.0.1:$0/metrics\").read().decode())" >'"$OUT/scraped.prom" "$http"
grep -q '^v6trace_netns_listed 1$' "$OUT/v6trace.prom" &&
	grep -q '^v6trace_listener_sockets{' "$OUT/v6trace.prom"
count "the metrics file was written, at exit too (the namespace gone)" $?
grep -q '^v6trace_listener_sockets{' "$OUT/scraped.prom" && ! grep -q 'HTTP server' "$OUT/metrics.err"
count "the metrics were scraped over HTTP, and the server ended cleanly" $?
run snapshot 0 --snapshot
run snapshot-json 0 --snapshot --json
# a namespace with no socket at all: empty lists everywhere
ns=v6t-asan-$$
ip netns add "$ns"
run snapshot-empty 0 --snapshot --netns "/run/netns/$ns"
ip netns del "$ns"
# a COMMAND that exists but cannot run: the report of a run with no events
printf 'not a program\n' >"$OUT/not-executable"
chmod 0644 "$OUT/not-executable"
run cannot-start 126 --json -- "$OUT/not-executable"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
