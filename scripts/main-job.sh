#!/usr/bin/env bash
# Builds Marionette and runs the main job: Debian's python3 + SQLite,
# unmodified, inserting rows in transactions on the simulated disk; the
# node loses power at a seeded point with torn and lost unsynced writes;
# a check on the surviving disk compares what survived with what the client
# saw committed (examples/sqlite-crash/README.md). Prints the verdict, the
# trace location and the command that replays the run. Installs missing
# Debian packages first.
#
#   scripts/main-job.sh                 # seed 42, synchronous=FULL
#   scripts/main-job.sh 7 off           # another seed, synchronous=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
seed=${1:-42}
mode=${2:-full}
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target marionette-launch marionette_preload
mkdir -p out/main-job/data
cd out/main-job
example=../../examples/sqlite-crash
exec ../../build/launcher/marionette-launch --seed "$seed" --summary --trace main-job.trace \
  --disk data --latency-ns-min 50us --crash-lost-write-rate 50% --crash-torn-write-rate 50% \
  --crash-random-within 5ms..55ms --after-crash "/usr/bin/python3 $example/check.py data/db $mode" \
  -- /usr/bin/python3 "$example/workload.py" data/db "$mode"
