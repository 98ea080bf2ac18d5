#!/usr/bin/env bash
# Redis (Debian's redis-server, unmodified) with appendonly on; the primary
# loses power during a partition, is restarted on what its disk kept, and a
# check counts the acknowledged writes that survived:
#   ./run.sh LAUNCHER always|everysec [launcher options: --seed N, --seeds A..B --jobs 2,
#            --crash-lost-write-rate 50%, --metadata lenient, --trace FILE, ...]
set -euo pipefail
launch=$(realpath "$1")
mode=$2
shift 2
case $mode in always|everysec) ;; *) echo "run.sh: the mode is always or everysec, not '$mode'" >&2; exit 2 ;; esac
# Relative paths (data/, the scripts, the scenario): the replay command the
# launcher prints starts with `cd` to this folder.
cd "$(dirname "$0")"
common="--port 6379 --protected-mode no --save '' --repl-diskless-sync-delay 0"
exec "$launch" --wall-timeout 120s --disk primary=data "$@" \
  --node primary="redis-server $common --appendonly yes --appendfsync $mode --dir data" \
  --node replica="redis-server $common --appendonly no --dir /tmp/marionette-node-tmp --replicaof primary 6379" \
  --node writer="/usr/bin/python3 writer.py primary 6379 /tmp/marionette-node-tmp/acked" \
  --scenario crash.scenario
