#!/usr/bin/env bash
# The SQLite crash-consistency example (examples/sqlite-crash): Debian's
# python3 + libsqlite3, unmodified, loses power at a seeded point with torn
# and lost unsynced writes; a check on the surviving disk compares what
# survived with what the client saw acknowledged. The sweeps must agree with
# what SQLite documents: EXTRA and WAL+FULL keep every acknowledged row;
# rollback-journal FULL never corrupts but may roll back the last
# acknowledged transaction (check.py allows exactly one); OFF loses
# acknowledged data, and the printed command replays the failure exactly.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
mkdir data

crash_run() {  # crash_run MODE LAUNCHER-OPTIONS...
  local mode=$1; shift
  "$launch" "$@" --disk data --latency-ns-min 50us --crash-lost-write-rate 50% --crash-torn-write-rate 50% \
    --crash-random-within 5ms..55ms --after-crash "python3 $example/check.py data/db $mode" \
    -- python3 "$example/workload.py" data/db "$mode"
}

for mode in extra full wal-full; do
  code=0
  crash_run "$mode" --seeds 1..12 --jobs 2 >"sweep-$mode.out" 2>&1 || code=$?
  [[ $code -eq 0 ]] || { cat "sweep-$mode.out" >&2; fail "mode $mode: the sweep found a failing seed"; }
  grep -q '12 runs, 12 passed, 0 failed' "sweep-$mode.out" || { cat "sweep-$mode.out" >&2; fail "mode $mode: sweep summary"; }
done

# FULL: among the seeds, the last acknowledged transaction is rolled back
# at least once (the documented hot-journal case), and never more than one.
log_dir=$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' sweep-full.out | tail -1)
grep -h '^PASS mode=full' "$log_dir"/*.log | awk '{split($3,a,"="); split($4,b,"="); print a[2]-b[2]}' | sort -u >full-losses
grep -qx 1 full-losses || { cat full-losses >&2; fail "mode full: no seed rolled back the last acknowledged transaction"; }
if grep -vqxE '0|1|-1' full-losses; then cat full-losses >&2; fail "mode full: more than one acknowledged row lost"; fi
rm -rf "$log_dir" "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' sweep-extra.out | tail -1)" \
  "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' sweep-wal-full.out | tail -1)"

# OFF: the sweep finds a failing seed; its printed replay command fails the
# same way with the same trace, twice.
code=0
crash_run off --seeds 1..12 --jobs 2 >sweep-off.out 2>&1 || code=$?
[[ $code -eq 1 ]] || { cat sweep-off.out >&2; fail "mode off: expected the sweep to find a failure (exit 1), got $code"; }
replay=$(grep -m1 '    replay: ' sweep-off.out | sed 's/^    replay: //')
[[ -n $replay ]] || fail "mode off: no replay command printed"
rm -rf "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' sweep-off.out | tail -1)"
for run in a b; do
  code=0
  # The launcher's own options go before the program's: right after the
  # launcher (the replay may start with `cd DIR &&`).
  eval "${replay/marionette-launch /marionette-launch --trace $PWD/off.$run.trace }" >"off.$run" 2>&1 || code=$?
  [[ $code -eq 1 ]] || { cat "off.$run" >&2; fail "the replayed seed did not fail (exit $code)"; }
done
grep -q '^FAIL mode=off' off.a || { cat off.a >&2; fail "the replay's check did not report the failure"; }
cmp -s off.a.trace off.b.trace || { diff off.a.trace off.b.trace | head >&2; fail "the replayed seed gave two different traces"; }
grep -q ' node.crash ' off.a.trace || fail "the trace does not record the power loss"
"$launch" --check-trace off.a.trace >/dev/null || fail "the replay's trace does not validate"
echo "sqlite_crash: ok"
