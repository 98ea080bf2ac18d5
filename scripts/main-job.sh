#!/usr/bin/env bash
# Builds Marionette and runs the main job: a program under deterministic
# simulation with a fault scenario, printing the result and where the trace
# is. Installs missing Debian packages first. Extra arguments are passed to
# marionette-launch (e.g. --seed 7).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target marionette-launch
mkdir -p out
exec ./build/launcher/marionette-launch --demo --seed 42 --trace out/main-job.trace --summary "$@"
