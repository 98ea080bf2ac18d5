#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite
# (unit, guest programs, integration with real programs, fuzz). Installs
# missing Debian packages first. Then builds the models and the coordinator
# with UBSan and runs their unit tests again. This is exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DMARIONETTE_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

# UBSan over the models and the coordinator: sim/ (disk, net, vfs) and
# coordinator/ with their unit tests, in their own build directory; not the
# preload .so, not the integration tests (docs/architecture.md, "Checks on
# the code"). The first report fails the test (-fno-sanitize-recover).
cmake -S . -B build-ubsan -G Ninja -DMARIONETTE_WERROR=ON -DMARIONETTE_SANITIZE=ON \
  -DMARIONETTE_SANITIZERS=undefined >/dev/null
cmake --build build-ubsan -j "$jobs" --target marionette_disk_tests marionette_net_tests marionette_vfs_tests \
  marionette_coordinator_tests
UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-ubsan --output-on-failure -j "$jobs" --timeout 300 \
  -R '^(disk|net|vfs|coordinator)/'
