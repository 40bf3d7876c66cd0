#!/bin/bash
# cpusplit.sh: how a load run's CPU splits between the server and the load
# clients (bench/RESULTS.md, "The machine's two cores").
#
# usage: bench/cpusplit.sh SERVER_PID PORT OUT
#
# Start the server on 127.0.0.1:PORT first (ticker, or go run ./bench/raw).
# The bench runs 10,000 subscribers against it for 20 s; 12 s in, the
# machine's busy time (/proc/stat) and the server's (/proc/PID/stat) are
# read over 8 s, and the difference is the load clients' (nothing else may
# run). The bench's own report goes to OUT.txt.
set -euo pipefail
spid=$1 port=$2 out=$3
cd "$(dirname "$0")/.."
go build -o "$out.bench" ./bench
"$out.bench" --target "127.0.0.1:$port" --target-pid "$spid" --conns 10000 --rate 20000 \
	--duration 20s --ramp 2500 --out "$out" >"$out.txt" 2>&1 &
bp=$!
sleep 12
proc() { awk '{print $14+$15}' "/proc/$1/stat"; }
machine() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
m0=$(machine) s0=$(proc "$spid")
sleep 8
m1=$(machine) s1=$(proc "$spid")
wait "$bp"
hz=$(getconf CLK_TCK)
echo "over 8 s: machine busy $(((m1 - m0) * 100 / hz / 8)) %, server $(((s1 - s0) * 100 / hz / 8)) %, load clients $(((m1 - m0 - s1 + s0) * 100 / hz / 8)) % of one core"
grep -E '^\| (delivered messages/s|messages per server CPU-second) ' "$out.txt"
