#!/bin/sh
# The socket snapshot and the held_by of EADDRINUSE against real sockets, in
# the qemu guests (run by tools/vm-init after the scenarios). POSIX sh for
# busybox. It only records; tests/check_snapshot.py judges on the host.
#
#   snapshot.sh V6TRACE HOLDER OUTDIR MODES      MODES: comma-separated attach modes
#
# OUTDIR gets, for the guest's namespace (main/) and for a new network
# namespace where net.ipv6.bindv6only=1 (ns1/):
#   hold.jsonl       what `holder hold` holds (inode, address, port, v6only)
#   proc.before/ proc.after/   /proc/net/{tcp,tcp6,udp,udp6} around the snapshot
#   snap.json snap.err snap.rc   v6trace --snapshot --json
#   snap.txt snap.txt.rc         v6trace --snapshot (text)
#   bindv6only                   the namespace's net.ipv6.bindv6only
# and per MODE and CASE, heldby/MODE/CASE/: holder.jsonl (the live holder),
# trace.out trace.err trace.rc (v6trace --mode MODE --json -- holder bind ...,
# whose failing bind's record must name the holder), and for the first mode
# text.out text.rc (the same in text).
set -u
V6TRACE=$1 HOLDER=$2 OUT=$3 MODES=$4
TIMEOUT=${SNAPSHOT_TIMEOUT:-60}

# wait_for FILE PATTERN: until a line of FILE matches, or TIMEOUT seconds pass
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt $((TIMEOUT * 20)) ]; then
			echo "snapshot: timed out waiting for '$2' in $1" >&2
			return 1
		fi
		sleep 0.05
	done
}

proc_net() {
	mkdir -p "$1"
	for t in tcp tcp6 udp udp6; do
		cat "/proc/net/$t" > "$1/$t" 2>/dev/null
	done
}

# snapshot DIR: holder hold, then v6trace --snapshot (JSON, text) in this namespace
snapshot() {
	d=$1
	mkdir -p "$d"
	cat /proc/sys/net/ipv6/bindv6only > "$d/bindv6only"
	"$HOLDER" hold > "$d/hold.jsonl" 2> "$d/hold.err" &
	h=$!
	if wait_for "$d/hold.jsonl" '"ready"'; then
		proc_net "$d/proc.before"
		"$V6TRACE" --snapshot --json > "$d/snap.json" 2> "$d/snap.err"
		echo "$?" > "$d/snap.rc"
		proc_net "$d/proc.after"
		"$V6TRACE" --snapshot > "$d/snap.txt" 2>> "$d/snap.err"
		echo "$?" > "$d/snap.txt.rc"
	fi
	kill -TERM "$h"
	wait "$h"
}

if [ "${5:-}" = netns ]; then # the second half, inside `unshare -n`
	ip link set lo up
	echo 1 > /proc/sys/net/ipv6/bindv6only
	snapshot "$OUT/ns1"
	exit 0
fi

mkdir -p "$OUT"
snapshot "$OUT/main"
unshare -n sh "$0" "$V6TRACE" "$HOLDER" "$OUT" "$MODES" netns > "$OUT/ns1.log" 2>&1
echo "$?" > "$OUT/ns1.rc"

# heldby MODE CASE HOLDER-ARGS -- LOSER-ARGS (PORT is replaced by the holder's port)
heldby() {
	mode=$1 case=$2
	shift 2
	d=$OUT/heldby/$mode/$case
	mkdir -p "$d"
	hargs=""
	while [ "$1" != -- ]; do
		hargs="$hargs $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	"$HOLDER" listen $hargs > "$d/holder.jsonl" 2> "$d/holder.err" &
	h=$!
	if wait_for "$d/holder.jsonl" '"ready"'; then
		port=$(sed -n 's/.*"local_port":\([0-9]*\).*/\1/p' "$d/holder.jsonl")
		largs=$(echo "$*" | sed "s/PORT/$port/")
		# shellcheck disable=SC2086
		"$V6TRACE" --mode "$mode" --json -- "$HOLDER" bind $largs > "$d/trace.out" \
			2> "$d/trace.err"
		echo "$?" > "$d/trace.rc"
		if [ "$mode" = "$first" ]; then
			# shellcheck disable=SC2086
			"$V6TRACE" --mode "$mode" -- "$HOLDER" bind $largs > "$d/text.out" \
				2> "$d/text.err"
			echo "$?" > "$d/text.rc"
		fi
	fi
	kill -TERM "$h"
	wait "$h"
}

first=${MODES%%,*}
for mode in $(echo "$MODES" | tr , ' '); do
	echo "v6t-guest: held_by in $mode mode" > /dev/ttyS0 2>/dev/null
	# a dual-stack [::]:P holds 0.0.0.0:P, and a 0.0.0.0:P holds a dual-stack [::]:P
	heldby "$mode" tcp_dual_v4 tcp inet6 :: 0 -- tcp inet 0.0.0.0 PORT
	heldby "$mode" tcp_v4_dual tcp inet 0.0.0.0 -- tcp inet6 :: PORT 0
	heldby "$mode" udp_dual_v4 udp inet6 :: 0 -- udp inet 0.0.0.0 PORT
done
