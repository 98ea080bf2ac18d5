#!/usr/bin/env bash
# A seed sweep of run.sh that prints every seed's check line:
#   ./sweep.sh LAUNCHER always|everysec A..B [launcher options]
# then the sweep's own report (failing seeds with their replay commands).
set -euo pipefail
launch=$1
mode=$2
seeds=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
report=$(mktemp "${TMPDIR:-/tmp}/marionette-redis-aof-sweep.XXXXXX")
trap 'rm -f "$report"' EXIT
code=0
"$here/run.sh" "$launch" "$mode" --seeds "$seeds" --jobs 2 "$@" >"$report" 2>&1 || code=$?
logs=$(sed -n 's/^marionette sweep: per-seed logs in //p' "$report")
if [[ -z $logs ]]; then cat "$report" >&2; exit "$code"; fi
for log in $(ls "$logs"/seed-*.log | sort -t- -k2 -n); do
  seed=${log##*/seed-}; seed=${seed%.log}
  echo "seed $seed: $(grep -h '^check: ' "$log" | grep -v '^check: within' | head -1 || echo 'check: did not run (see the log)')"
done
grep -v '^marionette sweep: [0-9]*/[0-9]* runs' "$report"
exit "$code"
