#!/usr/bin/env bash
# Shrink a failing seed of the quorum register to the faults it needs, then
# replay the written scenario (README.md). Usage:
#   run.sh LAUNCHER GUEST_DIR [SEED] [OUT]
# GUEST_DIR holds marionette_guest_quorum_replica and _client (build/tests/programs).
# Exits 1 when the seed fails and was shrunk (the replay fails the same way),
# 0 when the seed passes (nothing to shrink), 2 on bad usage.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 LAUNCHER GUEST_DIR [SEED] [OUT]" >&2; exit 2; }
launch=$(realpath "$1")
guests=$(realpath "$2")
seed=${3:-2}
out=${4:-quorum-shrunk-$seed.scenario}
replica="$guests/marionette_guest_quorum_replica 9000"
# Three replicas and a client with a write quorum of 1 (the bug) under 30%
# datagram loss.
run=(--seed "$seed" --wall-timeout 60s --net 'drop_rate=30%'
     --node r1="$replica" --node r2="$replica" --node r3="$replica"
     --node client="$guests/marionette_guest_quorum_client 1 20")
code=0
"$launch" "${run[@]}" --shrink --shrink-out "$out" || code=$?
[[ $code -eq 1 ]] || exit "$code"
echo "--- replaying $out" >&2
"$launch" "${run[@]}" --scenario "$out"
