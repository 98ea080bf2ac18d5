#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite
# (unit, guest programs, integration with real programs, fuzz). Installs
# missing Debian packages first. This is exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DMARIONETTE_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300
