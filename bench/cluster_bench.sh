#!/usr/bin/env bash
# Benchmark: clusters under the launcher, side by side with native runs.
#   bench/cluster_bench.sh [BUILD_DIR] [ROUND_TRIPS]
# 1. Two processes ping-ponging 64-byte messages over TCP: natively over
#    loopback, and as two nodes of a Marionette cluster (simulated network,
#    100 us one-way latency, one scheduler). Round trips per wall second.
# 2. Three nodes that mostly sleep (a UDP heartbeat to each peer every
#    virtual second) through one virtual hour: wall time, and virtual
#    seconds per wall second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
count=${2:-20000}
guests=$build/tests/programs
launch=$build/launcher/marionette-launch
now() { date +%s.%N; }

port=$((20000 + RANDOM % 20000))
"$guests/marionette_guest_pingpong" serve "$port" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
start=$(now)
"$guests/marionette_guest_pingpong" ping 127.0.0.1 "$port" "$count" >/dev/null
native=$(echo "$(now) - $start" | bc -l)
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT

start=$(now)
"$launch" --seed 1 --quiet --node server="$guests/marionette_guest_pingpong serve 7000" \
  --node client="$guests/marionette_guest_pingpong ping server 7000 $count" >/dev/null
simulated=$(echo "$(now) - $start" | bc -l)

start=$(now)
"$launch" --seed 1 --quiet \
  --node a="$guests/marionette_guest_heartbeat 9000 3600 b c" \
  --node b="$guests/marionette_guest_heartbeat 9000 3600 a c" \
  --node c="$guests/marionette_guest_heartbeat 9000 3600 a b" >/dev/null
idle=$(echo "$(now) - $start" | bc -l)

printf 'ping-pong, %d round trips of 64 bytes\n' "$count"
printf '  native, loopback TCP:          %8.0f round trips/s  (%.3f s)\n' "$(echo "$count / $native" | bc -l)" "$native"
printf '  Marionette, 2-node cluster:    %8.0f round trips/s  (%.3f s, %.1fx native time)\n' \
  "$(echo "$count / $simulated" | bc -l)" "$simulated" "$(echo "$simulated / $native" | bc -l)"
printf 'idle 3-node cluster, 1 virtual hour of 1 s heartbeats (10800 datagrams)\n'
printf '  wall time:                     %8.3f s  = %.0f virtual s per wall s\n' "$idle" "$(echo "3600 / $idle" | bc -l)"
