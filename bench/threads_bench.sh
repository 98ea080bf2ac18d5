#!/usr/bin/env bash
# Issue 14's benchmark (threads scheduled): multi-threaded programs natively
# and under marionette-launch, side by side. Run by hand, not a test
# (results: docs/benchmarks.md, "Threads (issue 14)").
#
#   bench/threads_bench.sh BUILD_DIR      (after `ninja -C BUILD_DIR`)
#
# Rows:
#  1. Four threads pass a token round a ring 10,000 times (a futex wake and
#     a futex wait per pass), then take one mutex 10,000 times each
#     (bench/threads_handoff.c).
#  2. Python: four threads put 5,000 items each into a queue.Queue that the
#     main thread empties.
#  3. RocksDB's db_bench (Debian's rocksdb-tools): fillrandom of 20,000 keys
#     with background flush and compaction threads (native: the real disk;
#     Marionette: --disk).
#  4. time.sleep(3600) in a Python thread the main thread joins: Marionette
#     only (target: under a second of wall time).
# Every figure is the median of $REPEAT runs (default 5).
set -euo pipefail
build=$(cd "${1:?usage: threads_bench.sh BUILD_DIR}" && pwd)
launch=$build/launcher/marionette-launch
repeat=${REPEAT:-5}
stat=${STAT:-median}
python=${PYTHON:-/usr/bin/python3}
handoff=$(find "$build" -name marionette_bench_threads_handoff -type f -perm -u+x | head -1)
[[ -n $handoff ]] || { echo "threads_bench: marionette_bench_threads_handoff not built in $build" >&2; exit 2; }
command -v db_bench >/dev/null || { echo "threads_bench: db_bench missing (apt-get install rocksdb-tools)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/bench_lib.sh"

cat >"$work/threads_queue.py" <<'PY'
import queue, threading
items = queue.Queue()
def worker():
    for k in range(5000): items.put(k)
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for _ in range(20000): items.get()
for t in threads: t.join()
PY
cat >"$work/sleep.py" <<'PY'
import threading, time
t = threading.Thread(target=time.sleep, args=(3600,))
t.start(); t.join()
PY

echo "Issue 14 side by side: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), REPEAT=$repeat, STAT=$stat"
echo
echo "| workload | native s | Marionette s | ratio |"
echo "|---|---|---|---|"
row() {  # row LABEL NATIVE_US SIM_US
  echo "| $1 | $(calc %.3f "$2 / 1e6") | $(calc %.3f "$3 / 1e6") | $(calc %.1f "$3 / $2")x |"
}
row "4 threads: 10,000 token passes round a ring + 4 x 10,000 contended locks" \
  "$(figure_us "$handoff" 10000)" "$(figure_us "$launch" --seed 1 --quiet -- "$handoff" 10000)"
row "Python: 4 threads x 5,000 queue.Queue puts, main thread gets" \
  "$(figure_us "$python" "$work/threads_queue.py")" "$(figure_us "$launch" --seed 1 --quiet -- "$python" "$work/threads_queue.py")"
mkdir -p "$work/native" "$work/disk"
rocks=(db_bench --benchmarks=fillrandom --num=20000 --compression_type=none --write_buffer_size=262144 --max_background_jobs=4)
native=$(figure_us "${rocks[@]}" --db="$work/native/db")
sim=$(cd "$work" && figure_us "$launch" --seed 1 --quiet --disk disk -- "${rocks[@]}" --db=disk/db)
row "RocksDB db_bench fillrandom 20,000 keys, background flush/compaction (native: real disk; Marionette: --disk)" "$native" "$sim"
sleep_us=$(figure_us "$launch" --seed 1 --quiet -- "$python" "$work/sleep.py")
echo "| time.sleep(3600) in a joined Python thread | 3600 (virtual) | $(calc %.3f "$sleep_us / 1e6") | target < 1 s: $(verdict "$sleep_us < 1000000") |"
