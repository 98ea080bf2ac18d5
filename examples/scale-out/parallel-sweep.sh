#!/usr/bin/env bash
# A Marionette sweep over several hosts with GNU parallel and ssh:
#
#   parallel-sweep.sh HOSTS SHARDS SEEDS -- PROGRAM ARGS... >results.jsonl
#   marionette-launch --merge-results results.jsonl --seeds SEEDS
#
# HOSTS is GNU parallel's --sshlogin list ("alice@h1,h2,h3"; ":" is this
# machine). Every host needs marionette-launch on its PATH (or set
# MARIONETTE_LAUNCH to its path, the same on every host) and the program at
# the same path. SHARDS shards (more than hosts, for balance) are handed
# out one at a time per host; each uses all of its host's CPUs. Each shard
# writes its JSON lines to standard output, which parallel brings back;
# --keep-order puts them in shard order, so results.jsonl is what one
# machine's `--results` would hold. Shard reports go to stderr.
set -euo pipefail
if [[ $# -lt 5 || $4 != -- ]]; then
  echo "usage: $0 HOSTS SHARDS SEEDS -- PROGRAM ARGS..." >&2
  exit 2
fi
hosts=$1 shards=$2 seeds=$3
shift 4
launch=${MARIONETTE_LAUNCH:-marionette-launch}
# GNU parallel runs every command with $SHELL; without it (cron, `env -i`,
# some CI runners) it runs nothing and still exits 0.
export SHELL=${SHELL:-/bin/sh}
parallel --quote --sshlogin "$hosts" --jobs 1 --keep-order --halt never \
  "$launch" --seeds "$seeds" --shard "{}/$shards" --jobs 0 --progress off --results - -- "$@" \
  ::: $(seq 1 "$shards")
