#!/usr/bin/env bash
# A key-value log server and a client on two nodes; the server's node loses
# power mid-run: ./run.sh LAUNCHER fsync|nofsync [launcher options]
# (--seed N, --seeds A..B --jobs 2, --crash-lost-write-rate 30%, --trace ...).
set -euo pipefail
launch=$1
mode=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
# The server's log lives in data/ next to this script: with --disk
# server=DIR the server's node starts from a copy of it, and the real
# directory is never written (the node's writes land on its simulated disk).
data=$here/data
mkdir -p "$data"
exec "$launch" --wall-timeout 60s --disk server="$data" "$@" \
  --scenario "$here/crash.scenario" \
  --node server="/usr/bin/python3 $here/kv_server.py 7000 $mode $data" \
  --node client="/usr/bin/python3 $here/kv_client.py server 7000 100"
