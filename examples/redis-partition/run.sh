#!/usr/bin/env bash
# Runs the Redis partition scenario: ./run.sh LAUNCHER SEED [launcher options]
# Nodes: primary, replica (--replicaof primary), client and observer (they
# only sleep; redis-cli runs on them through the scenario's spawn).
set -euo pipefail
launch=$1
seed=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
# --dir: the node's TMPDIR, on its simulated disk (never the real cwd);
# --protected-mode no: clients come from other nodes, not loopback.
redis="redis-server --port 6379 --save '' --appendonly no --protected-mode no --dir /tmp/marionette-node-tmp --repl-diskless-sync-delay 0 --io-threads 4 --io-threads-do-reads yes"
exec "$launch" --seed "$seed" --wall-timeout 120s "$@" \
  --node primary="$redis" --node replica="$redis --replicaof primary 6379" \
  --node client='sleep 100000' --node observer='sleep 100000' \
  --scenario "$here/partition.scenario"
