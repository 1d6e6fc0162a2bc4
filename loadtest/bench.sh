#!/bin/sh
# bench.sh measures the serving figures of docs/results.md ("Serving
# throughput"): a trivial net/http handler, single JSON predictions, JSON
# batches of 1000 and gRPC batches of 1000, all with "lrsp loadtest" against
# servers on loopback (client and server on the same machine), for one or
# more lrsp binaries in the same run, and prints one table with ratios.
#
# Usage: loadtest/bench.sh [LRSP_BINARY ...]
#
# With no argument it builds ./cmd/lrsp into the work directory. Each
# binary serves its own copy of the same store, made with the first binary ("lrsp store
# random-model": 100k users, d = 100, r = k = 10, then "lrsp store import").
# The trivial handler is served by the first binary ("lrsp loadtest
# --trivial-server") and load-tested by each binary's own loadtest.
#
# Environment: USERS (100000), DUR (10s per measurement), ROUNDS (1: the
# rounds alternate between the binaries, and the table gives the mean of
# each measurement over them), CONNS_SINGLE (connections for single
# predictions, 16), CONNS_BATCH (4), WORK (a temporary directory, removed
# at the end unless given; a users.db in it is reused), PORT (18080, and
# the ports above it), PROFILE (set to 1 to write a CPU profile of each
# server into WORK; needs the hidden --cpu-profile of this lrsp), CPU (set
# to 1 to add the CPU time per prediction of the server, from
# /proc/PID/stat, and of the load generator, from /usr/bin/time, Linux
# only).
# The servers run with the defaults of "lrsp serve".
set -eu
USERS=${USERS:-100000}
DUR=${DUR:-10s}
CONNS_SINGLE=${CONNS_SINGLE:-16}
CONNS_BATCH=${CONNS_BATCH:-4}
PORT=${PORT:-18080}
ROUNDS=${ROUNDS:-1}
TPORT=$((PORT + 1))
keep=1
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d)
	keep=0
fi
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ "$keep" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ $# -eq 0 ]; then
	go build -o "$WORK/lrsp" ./cmd/lrsp
	set -- "$WORK/lrsp"
fi
first=$1
if [ ! -f "$WORK/users.db" ]; then
	"$first" store random-model --users "$USERS" --out "$WORK/m.lrsp" >/dev/null
	"$first" store import --model "$WORK/m.lrsp" --store "$WORK/users.db" >/dev/null
	rm -f "$WORK/m.lrsp"
fi
i=0
while [ "$i" -lt "$USERS" ]; do echo "u$i"; i=$((i + 1)); done >"$WORK/ids"

waitup() { # url
	n=0
	until curl -sf "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || { echo "bench.sh: $1 did not come up" >&2; exit 1; }
		sleep 0.1
	done
}

# cputime PID: the CPU seconds that process PID has used (0 without CPU=1).
cputime() {
	if [ "${CPU:-}" = 1 ]; then
		awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"
	else
		echo 0
	fi
}

# measure BIN NAME URL SERVERPID ARGS...: one loadtest, one line "name rps
# pps p50 p99 errors predictions server-cpu-seconds generator-cpu-seconds".
measure() {
	mbin=$1 name=$2 murl=$3 mpid=$4
	shift 4
	c0=$(cputime "$mpid")
	if [ "${CPU:-}" = 1 ]; then
		out=$(/usr/bin/time -f "%U %S" -o "$WORK/time" "$mbin" loadtest --url "$murl" --duration "$DUR" --json "$@")
		gen=$(awk 'END {print $1 + $2}' "$WORK/time")
	else
		out=$("$mbin" loadtest --url "$murl" --duration "$DUR" --json "$@")
		gen=0
	fi
	c1=$(cputime "$mpid")
	flat=$(echo "$out" | tr -d ' \n')
	echo "$flat" | sed 's/.*"predictions":\([0-9]*\).*"requests_per_second":\([0-9.e+]*\).*"predictions_per_second":\([0-9.e+]*\).*"p50_ms":\([0-9.e+-]*\).*"p99_ms":\([0-9.e+-]*\).*/\1 \2 \3 \4 \5/' |
		awk -v n="$name" -v e="$(echo "$flat" | sed 's/.*"errors":\([0-9]*\).*/\1/')" -v s="$(echo "$c1 $c0" | awk '{print $1 - $2}')" -v g="$gen" \
			'{printf "%s %.0f %.0f %.3f %.3f %s %s %s %s\n", n, $2, $3, $4, $5, e, $1, s, g}'
}

"$first" loadtest --trivial-server "127.0.0.1:$TPORT" 2>/dev/null &
tpid=$!
pids="$pids $tpid"
waitup "http://127.0.0.1:$TPORT/"

results="$WORK/results"
: >"$results"
# One server per binary, all started before the first measurement, so that
# the rounds below can alternate between them.
b=0
for bin in "$@"; do
	b=$((b + 1))
	port=$((PORT + 1 + b))
	# A server locks its store: each gets its own copy.
	cp "$WORK/users.db" "$WORK/users-b$b.db"
	"$bin" serve --store "$WORK/users-b$b.db" --addr "127.0.0.1:$port" \
		${PROFILE:+--cpu-profile "$WORK/server-b$b.pprof"} 2>"$WORK/serve-b$b.log" &
	pids="$pids $!"
	eval "spid$b=$!"
	waitup "http://127.0.0.1:$port/readyz"
done
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	r=$((r + 1))
	b=0
	for bin in "$@"; do
		b=$((b + 1))
		surl="http://127.0.0.1:$((PORT + 1 + b))"
		spid=$(eval "echo \$spid$b")
		{
			measure "$bin" "b$b:trivial" "http://127.0.0.1:$TPORT" "$tpid" --protocol json --batch 1 --connections "$CONNS_SINGLE" --dim 100 --ids "$WORK/ids"
			measure "$bin" "b$b:json-single" "$surl" "$spid" --protocol json --batch 1 --connections "$CONNS_SINGLE"
			measure "$bin" "b$b:json-batch1000" "$surl" "$spid" --protocol json --batch 1000 --connections "$CONNS_BATCH"
			measure "$bin" "b$b:grpc-batch1000" "$surl" "$spid" --protocol grpc --batch 1000 --connections "$CONNS_BATCH"
		} >>"$results"
	done
done

echo "binaries:"
b=0
for bin in "$@"; do b=$((b + 1)); echo "  b$b = $bin"; done
echo "store: $USERS users, d = 100, r = k = 10; $DUR per measurement, mean of $ROUNDS round(s); single: $CONNS_SINGLE connections, batches: $CONNS_BATCH"
[ "${CPU:-}" != 1 ] || echo "server, client: CPU microseconds per prediction of the server and of the load generator (lrsp loadtest)"
awk -v cpu="${CPU:-}" '
{
	k = $1
	if (!(k in n)) order[++keys] = k
	n[k]++; rq[k] += $2; pr[k] += $3; p50[k] += $4; p99[k] += $5; er[k] += $6
	np[k] += $7; sc[k] += $8; gc[k] += $9
}
END {
	for (i = 1; i <= keys; i++) {
		k = order[i]
		split(k, p, ":"); bin = p[1]; what = p[2]
		rps[bin, what] = rq[k] / n[k]; pps[bin, what] = pr[k] / n[k]
	}
	if (cpu == 1) printf "%-22s %12s %14s %9s %9s %7s %9s %9s %s\n", "measurement", "requests/s", "predictions/s", "p50 ms", "p99 ms", "errors", "server", "client", "ratio"
	else printf "%-22s %12s %14s %9s %9s %7s %s\n", "measurement", "requests/s", "predictions/s", "p50 ms", "p99 ms", "errors", "ratio"
	for (i = 1; i <= keys; i++) {
		k = order[i]
		split(k, p, ":"); bin = p[1]; what = p[2]
		ratio = ""
		if (what == "json-single" && rps[bin, "trivial"] > 0) ratio = sprintf("%.2fx trivial (requests/s)", rps[bin, what] / rps[bin, "trivial"])
		if (what == "grpc-batch1000" && pps[bin, "json-batch1000"] > 0) ratio = sprintf("%.2fx json batch (predictions/s)", pps[bin, what] / pps[bin, "json-batch1000"])
		if (bin != "b1" && pps["b1", what] > 0) ratio = ratio sprintf("%s%.2fx b1", ratio == "" ? "" : "; ", pps[bin, what] / pps["b1", what])
		if (cpu == 1) printf "%-22s %12.0f %14.0f %9.3f %9.3f %7d %9.2f %9.2f %s\n", k, rq[k] / n[k], pr[k] / n[k], p50[k] / n[k], p99[k] / n[k], er[k],
			(np[k] > 0 ? 1e6 * sc[k] / np[k] : 0), (np[k] > 0 ? 1e6 * gc[k] / np[k] : 0), ratio
		else printf "%-22s %12.0f %14.0f %9.3f %9.3f %7d %s\n", k, rq[k] / n[k], pr[k] / n[k], p50[k] / n[k], p99[k] / n[k], er[k], ratio
	}
}' "$results"
