#!/usr/bin/env bash
# Interposer benchmarks, side by side in one run (results: docs/benchmarks.md):
#  1. 5M clock_gettime calls: native, libfaketime, Marionette (symbol wrapper)
#  2. raw syscall(SYS_getpid): native, Marionette (seccomp trap), strace -f
#  3. python3 -c pass start-up: native vs Marionette
#  4. 20,000 4 KiB pwrites with an fsync every 16: native (real disk, real
#     fsync) vs Marionette (--disk: the simulated disk, in memory)
# Each figure is the best of $REPEAT runs; per-call costs subtract an N=0 run
# of the same command (process start-up, launcher, preload).
# Usage: bench/interpose_bench.sh BUILD_DIR   (after building
# marionette-launch, marionette_bench_clock, marionette_bench_getpid)
set -euo pipefail
build=${1:?usage: interpose_bench.sh BUILD_DIR}
launch=$build/launcher/marionette-launch
clock_bin=$(find "$build" -name marionette_bench_clock -type f | head -1)
getpid_bin=$(find "$build" -name marionette_bench_getpid -type f | head -1)
pwrite_bin=$(find "$build" -name marionette_bench_pwrite -type f | head -1)
repeat=${REPEAT:-5}
faketime_so=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

# best_ns CMD...: the smallest wall time of $repeat runs, in ns.
best_ns() {
  local best=0
  for _ in $(seq "$repeat"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    local d=$((t1 - t0))
    if [[ $best -eq 0 || $d -lt $best ]]; then best=$d; fi
  done
  echo "$best"
}

# per_call_ns N CMD...: (time(N) - time(0)) / N, where CMD takes N last.
per_call_ns() {
  local n=$1; shift
  local full empty
  full=$(best_ns "$@" "$n")
  empty=$(best_ns "$@" 0)
  awk -v f="$full" -v e="$empty" -v n="$n" 'BEGIN { printf "%.2f", (f - e) / n }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

n_clock=5000000
native=$(per_call_ns $n_clock "$clock_bin")
faketime=$(per_call_ns $n_clock env LD_PRELOAD=$faketime_so FAKETIME="+0 x1" "$clock_bin")
marionette=$(per_call_ns $n_clock "$launch" --quiet -- "$clock_bin")
echo "| clock_gettime x${n_clock} | ns/call | vs native |"
echo "|---|---|---|"
echo "| native (vDSO) | $native | 1.00 |"
echo "| libfaketime (FAKETIME='+0 x1') | $faketime | $(ratio "$faketime" "$native") |"
echo "| Marionette (symbol wrapper) | $marionette | $(ratio "$marionette" "$native") |"
echo

n_pid=200000
native=$(per_call_ns $n_pid "$getpid_bin")
marionette=$(per_call_ns $n_pid "$launch" --quiet -- "$getpid_bin")
n_strace=20000
strace_ns=$(per_call_ns $n_strace strace -f -o /dev/null "$getpid_bin")
echo "| raw syscall(SYS_getpid) | ns/call | vs native |"
echo "|---|---|---|"
echo "| native | $native | 1.00 |"
echo "| Marionette (seccomp SIGSYS trap) | $marionette | $(ratio "$marionette" "$native") |"
echo "| strace -f | $strace_ns | $(ratio "$strace_ns" "$native") |"
echo

python=$(python3 -c 'import sys; print(sys.executable)')
native=$(best_ns "$python" -c pass)
marionette=$(best_ns "$launch" --quiet -- "$python" -c pass)
echo "| python3 -c pass ($python) | ms | vs native |"
echo "|---|---|---|"
echo "| native | $(awk -v a="$native" 'BEGIN { printf "%.1f", a / 1e6 }') | 1.00 |"
echo "| Marionette (launcher + preload) | $(awk -v a="$marionette" 'BEGIN { printf "%.1f", a / 1e6 }') | $(ratio "$marionette" "$native") |"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/native" "$work/data"
pw_native=$(best_ns "$pwrite_bin" "$work/native")
pw_sim=$(best_ns "$launch" --seed 1 --quiet --disk "$work/data" -- "$pwrite_bin" "$work/data")
pw_sim0=$(best_ns "$launch" --seed 1 --quiet --disk "$work/data" -- "$pwrite_bin" "$work/data" 0)
echo
echo "| 20000 pwrite(4 KiB), fsync every 16 | ms | vs native |"
echo "|---|---|---|"
printf '| native (real disk, real fsync) | %.1f | 1.00 |\n' "$(echo "$pw_native / 1000000" | bc -l)"
printf '| Marionette --disk (whole run) | %.1f | %.2f |\n' "$(echo "$pw_sim / 1000000" | bc -l)" "$(echo "$pw_sim / $pw_native" | bc -l)"
printf '| Marionette --disk (minus an empty run) | %.1f | %.2f |\n' "$(echo "($pw_sim - $pw_sim0) / 1000000" | bc -l)" "$(echo "($pw_sim - $pw_sim0) / $pw_native" | bc -l)"
