#!/bin/sh
# Runs every tracer scenario against real sockets and keeps the raw results.
# POSIX sh: the same script runs on the host (tests/integration.py) and in the
# busybox guests of the qemu kernel matrix (tools/vm-run), so both test the same
# things; tests/check.py judges the results.
#
#   scenarios.sh V6TRACE WORKLOAD OUTDIR MODE
#
# The io_uring scenarios run too when an `uring` program stands beside the
# workload (tests/uring.c): their records go to facts.jsonl with the rest.
#
# OUTDIR gets: json.out (v6trace --json), text.out (v6trace --all-connects, text),
# pfilter.out (v6trace --json -p A), sfilter.out (-6 --stack dual),
# mapped.out (--mapped --comm workload), facts.jsonl (what the workload did),
# pfilter_a.jsonl / pfilter_b.jsonl, *.err, and rc (tracer exit codes); then
# for `v6trace -- sh -c ...`: cmd.out, cmd_facts.jsonl (the shell's
# grandchild), cmd_sibling.jsonl (a process outside the tree), cmd.rc.
set -u
V6TRACE=$1 WORKLOAD=$2 OUT=$3 MODE=$4
TIMEOUT=${SCENARIO_TIMEOUT:-60}

mkdir -p "$OUT"
rm -f "$OUT"/* 2>/dev/null

# A real server nobody here wrote: busybox httpd on [::]:P (dual-stack), one
# IPv4 and one IPv6 client (busybox wget). httpd.facts: its pid, the port,
# each client's exit status; httpd.proc: its /proc/net/tcp6 line (the kernel's
# word that it listens on ::). Skipped, and said, where there is no busybox.
httpd_scenario() {
	if ! command -v busybox > /dev/null 2>&1; then
		echo "no busybox" > "$OUT/httpd.skip"
		return
	fi
	port=$((18000 + $$ % 1000))
	hexport=$(printf '%04X' "$port")
	mkdir -p "$OUT/www" && echo v6trace > "$OUT/www/index.html"
	busybox httpd -f -p "$port" -h "$OUT/www" &
	httpd=$!
	i=0
	while ! grep -q "^ *[0-9]*: 0*:$hexport 0*:0000 0A " /proc/net/tcp6 && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep "^ *[0-9]*: 0*:$hexport 0*:0000 0A " /proc/net/tcp6 > "$OUT/httpd.proc"
	busybox wget -q -O /dev/null "http://127.0.0.1:$port/"
	rc4=$?
	busybox wget -q -O /dev/null "http://[::1]:$port/"
	rc6=$?
	kill "$httpd"
	wait "$httpd" 2> /dev/null
	echo "$httpd $port $rc4 $rc6" > "$OUT/httpd.facts"
}

# wait_for FILE PATTERN: until a line of FILE matches, or TIMEOUT seconds pass
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt $((TIMEOUT * 20)) ]; then
			echo "scenarios: timed out waiting for '$2' in $1" >&2
			return 1
		fi
		sleep 0.05
	done
}

"$WORKLOAD" wait-bind "$OUT/go" > "$OUT/pfilter_a.jsonl" &
A=$!
"$WORKLOAD" wait-bind "$OUT/go" > "$OUT/pfilter_b.jsonl" &
B=$!

"$V6TRACE" --mode "$MODE" --json > "$OUT/json.out" 2> "$OUT/json.err" &
T_JSON=$!
"$V6TRACE" --mode "$MODE" --all-connects > "$OUT/text.out" 2> "$OUT/text.err" &
T_TEXT=$!
"$V6TRACE" --mode "$MODE" --json -p "$A" > "$OUT/pfilter.out" 2> "$OUT/pfilter.err" &
T_PID=$!
"$V6TRACE" --mode "$MODE" --json -6 --stack dual > "$OUT/sfilter.out" 2> "$OUT/sfilter.err" &
T_STACK=$!
"$V6TRACE" --mode "$MODE" --json --mapped --comm workload > "$OUT/mapped.out" \
	2> "$OUT/mapped.err" &
T_MAPPED=$!

ok=1
wait_for "$OUT/json.out" '"event":"start"' || ok=0
wait_for "$OUT/text.out" '^PID' || ok=0
wait_for "$OUT/pfilter.out" '"event":"start"' || ok=0
wait_for "$OUT/sfilter.out" '"event":"start"' || ok=0
wait_for "$OUT/mapped.out" '"event":"start"' || ok=0

if [ "$ok" = 1 ]; then
	"$WORKLOAD" all > "$OUT/facts.jsonl" 2> "$OUT/workload.err"
	echo "workload all $?" > "$OUT/workload.rc"
	"$WORKLOAD" hostile >> "$OUT/facts.jsonl" 2>> "$OUT/workload.err"
	echo "workload hostile $?" >> "$OUT/workload.rc"
	URING=$(dirname "$WORKLOAD")/uring
	if [ -x "$URING" ]; then
		"$URING" all >> "$OUT/facts.jsonl" 2>> "$OUT/workload.err"
		echo "uring all $?" >> "$OUT/workload.rc"
	fi
	httpd_scenario
fi
touch "$OUT/go"
wait "$A" "$B"

kill -INT "$T_JSON" "$T_TEXT" "$T_PID" "$T_STACK" "$T_MAPPED"
wait "$T_JSON"; echo "json $?" > "$OUT/rc"
wait "$T_TEXT"; echo "text $?" >> "$OUT/rc"
wait "$T_PID"; echo "pfilter $?" >> "$OUT/rc"
wait "$T_STACK"; echo "sfilter $?" >> "$OUT/rc"
wait "$T_MAPPED"; echo "mapped $?" >> "$OUT/rc"

# Deploy tracing: a shell whose child forks the binder; a sibling outside the
# tree binds while the command still runs (it waits for the sibling's record);
# a daemon the shell leaves behind binds 0.3 s after the shell has exited
# (followed for --linger's default 2 s).
"$WORKLOAD" wait-bind "$OUT/go_cmd" > "$OUT/cmd_sibling.jsonl" &
S=$!
"$V6TRACE" --mode "$MODE" --json -- sh -c "'$WORKLOAD' fork-bind > '$OUT/cmd_facts.jsonl'
	'$WORKLOAD' wait-bind '$OUT/go_late' > '$OUT/cmd_late.jsonl' &
	(sleep 0.3; touch '$OUT/go_late') &
	touch '$OUT/go_cmd'
	i=0
	while [ ! -s '$OUT/cmd_sibling.jsonl' ] && [ \$i -lt $((TIMEOUT * 20)) ]; do
		sleep 0.05; i=\$((i + 1))
	done
	exit 5" > "$OUT/cmd.out" 2> "$OUT/cmd.err"
echo "$?" > "$OUT/cmd.rc"
wait "$S"
echo "$MODE" > "$OUT/mode"
