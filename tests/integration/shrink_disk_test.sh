#!/usr/bin/env bash
# --shrink with disk faults (docs/shrinking.md): the python3 key-value
# server of examples/cluster-power-loss acknowledges writes it never
# fsyncs; a seed whose power loss loses acknowledged keys shrinks from
# every unsynced change the crash lost or tore to the one or few that lose
# an acknowledged key, plus the crash, moved as early as it still fails.
# The written scenario replays the failure (twice the same trace; another
# seed is another run) with only the forced disk faults.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
rates=(--crash-lost-write-rate 30% --crash-torn-write-rate 10%)

seed=
for s in 1 2 3 4 5 6; do
  code=0
  "$example/run.sh" "$launch" nofsync --seed "$s" --quiet "${rates[@]}" >/dev/null 2>&1 || code=$?
  if [[ $code -eq 1 ]]; then seed=$s; break; fi
done
[[ -n $seed ]] || fail "the server without fsync lost nothing on seeds 1..6"

code=0
"$example/run.sh" "$launch" nofsync --seed "$seed" "${rates[@]}" --shrink --shrink-jobs 2 --shrink-out shrunk.scenario \
  >s.out 2>s.err || code=$?
[[ $code -eq 1 ]] || { cat s.err >&2; fail "--shrink exited $code, expected 1"; }
expect_line s.err '^marionette shrink: seed [0-9]+ fails \(failed expect exit client 0\); [0-9]+ faults to shrink: [0-9]+ recorded, 1 in the scenario$'
before=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\1/p' s.err)
after=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\2/p' s.err)
[[ -n $before && -n $after ]] || { cat s.err >&2; fail "no 'shrink: faults=<before> -> <after>' line"; }
(( after >= 2 && after * 2 <= before )) || { cat s.err >&2; fail "shrink kept $after of $before faults"; }
expect_line s.err '^shrink: faults=[0-9]+ -> [0-9]+ \(1-minimal'
# What is kept: disk decisions of the server's first power loss, and the
# crash, now at a fixed time (the `crash random within` it was).
disk_lines=$(grep -cE '^disk\.force (lost|torn) server 1 [0-9]+( [01]+)? ' shrunk.scenario || true)
(( disk_lines >= 1 && disk_lines == after - 1 )) || { cat shrunk.scenario >&2; fail "expected $((after - 1)) forced disk decisions"; }
expect_line shrunk.scenario '^disk\.force only$'
expect_line shrunk.scenario '^net\.force only$'
expect_line shrunk.scenario '^at [0-9]+(ms|us|ns) crash server$'
! grep -q '^crash random' shrunk.scenario || fail "the crash random line was not written as a fixed time"
expect_line shrunk.scenario '^restart server$'
# The crash time written is the one the bisection reports, if it moved.
if grep -q '^shrink: crash moved earlier' s.err; then
  to=$(sed -nE 's/^shrink: crash moved earlier: server from [0-9a-z]+ to ([0-9a-z]+)$/\1/p' s.err)
  expect_line shrunk.scenario "^at $to crash server$"
fi

# The replay: the same failure, twice the same trace, only forced faults.
replay=(--wall-timeout 60s --disk server="$example/data" "${rates[@]}"
  --node server="/usr/bin/python3 $example/kv_server.py 7000 nofsync $example/data"
  --node client="/usr/bin/python3 $example/kv_client.py server 7000 100")
for run in a b; do
  code=0
  "$launch" --seed "$seed" "${replay[@]}" --scenario shrunk.scenario --trace "r.$run.trace" >"r.$run.out" 2>"r.$run.err" || code=$?
  [[ $code -eq 1 ]] || { cat "r.$run.err" >&2; fail "the shrunk scenario exited $code, expected 1"; }
done
cmp -s r.a.trace r.b.trace || fail "the shrunk scenario replayed twice gave different traces"
expect_line r.a.out '^client: survived [0-9]+ lost [1-9][0-9]* '
expect_line r.a.err "expect exit client 0: error expect_failed 'client' exited 1, expected 0"
failed_changes=$(grep -cE ' disk\.crash_write .*result=(lost|torn)' r.a.trace || true)
[[ $failed_changes -eq $disk_lines ]] || fail "the replay lost or tore $failed_changes changes, the scenario forces $disk_lines"
! grep -q 'disk\.force_unmatched' r.a.trace || fail "a forced crash decision did not match its change"
# Without its forced disk decisions, the same crash loses nothing acknowledged.
grep -vE '^disk\.force (lost|torn) ' shrunk.scenario >without.scenario
code=0
"$launch" --seed "$seed" "${replay[@]}" --scenario without.scenario >w.out 2>w.err || code=$?
[[ $code -eq 0 ]] || { cat w.out w.err >&2; fail "without its forced disk decisions the scenario exited $code, expected 0"; }
# The same forced decisions under another seed are another run.
"$launch" --seed $((seed + 100)) "${replay[@]}" --scenario shrunk.scenario --trace other.trace >/dev/null 2>&1 || true
! cmp -s r.a.trace other.trace || fail "the seed does not matter to the shrunk scenario"

# A bad disk.force line is refused.
code=0
"$launch" --seed "$seed" "${replay[@]}" --scenario <(echo 'disk.force lose server 1 3') >bad.out 2>bad.err || code=$?
[[ $code -eq 2 ]] || { cat bad.err >&2; fail "a misspelt disk.force exited $code, expected 2"; }
expect_line bad.err "unknown forced disk fault 'lose'"
echo "shrink_disk: ok (seed $seed: $before -> $after faults)"
