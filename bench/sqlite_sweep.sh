#!/usr/bin/env bash
# Benchmark: a sweep of the SQLite crash scenario (examples/sqlite-crash)
# against running the same workload natively once, side by side.
#   bench/sqlite_sweep.sh [BUILD_DIR] [SEEDS] [JOBS]
# Prints: native wall time of one workload run (real disk, real fsync), and
# the sweep's runs per second and wall time per run under Marionette (each
# run = workload until the crash point + the check on the surviving disk).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
seeds=${2:-200}
jobs=${3:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir native data
start=$(date +%s.%N)
/usr/bin/python3 "$root/examples/sqlite-crash/workload.py" native/db full >/dev/null
native=$(echo "$(date +%s.%N) - $start" | bc -l)
start=$(date +%s.%N)
"$build/launcher/marionette-launch" --seeds "1..$seeds" --jobs "$jobs" --disk data --latency-ns-min 50us \
  --crash-lost-write-rate 50% --crash-torn-write-rate 50% --crash-random-within 5ms..55ms \
  --after-crash "/usr/bin/python3 $root/examples/sqlite-crash/check.py data/db full" \
  -- /usr/bin/python3 "$root/examples/sqlite-crash/workload.py" data/db full >sweep.out 2>&1
sweep=$(echo "$(date +%s.%N) - $start" | bc -l)
rm -rf "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' sweep.out | tail -1)"
printf 'native workload, once (real fsync):   %.3f s\n' "$native"
printf 'sweep of %d seeds, %d jobs:             %.2f s  = %.1f runs/s\n' "$seeds" "$jobs" "$sweep" "$(echo "$seeds / $sweep" | bc -l)"
printf 'wall time per simulated run (x jobs): %.3f s  = %.2fx the native run\n' \
  "$(echo "$sweep * $jobs / $seeds" | bc -l)" "$(echo "$sweep * $jobs / $seeds / $native" | bc -l)"
grep 'runs, ' sweep.out | tail -1
