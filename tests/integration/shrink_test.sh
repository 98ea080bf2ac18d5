#!/usr/bin/env bash
# --shrink (docs/shrinking.md): a failing seed of the quorum register under
# 30% datagram loss shrinks from every drop that fired to the few that make
# the stale read; the scenario it writes replays the failure (twice the same
# trace; another seed is another run), shrinking is itself deterministic,
# and a scenario's own fault lines (partition, clog, connect failure) are
# shrunk with the recorded ones. Bad input is a usage error.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
example=$3
cd "$scratch"
replica="$guests/marionette_guest_quorum_replica 9000"
nodes=(--node r1="$replica" --node r2="$replica" --node r3="$replica" --node client="$guests/marionette_guest_quorum_client 1 20")
quorum=(--net 'drop_rate=30%' --wall-timeout 60s "${nodes[@]}")

# A failing seed (cluster_test.sh checks the sweep finds some).
seed=
for s in 1 2 3 4 5 6 7 8; do
  code=0
  "$launch" --seed "$s" --quiet "${quorum[@]}" >/dev/null 2>&1 || code=$?
  if [[ $code -eq 1 ]]; then seed=$s; break; fi
done
[[ -n $seed ]] || fail "no failing seed of the quorum register in 1..8"

for run in a b; do
  code=0
  "$launch" --seed "$seed" --shrink --shrink-out "shrunk.$run.scenario" "${quorum[@]}" >"s.$run.out" 2>"s.$run.err" || code=$?
  [[ $code -eq 1 ]] || { cat "s.$run.err" >&2; fail "--shrink exited $code, expected 1 (shrunk, still failing)"; }
done
before=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\1/p' s.a.err)
after=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\2/p' s.a.err)
[[ -n $before && -n $after ]] || fail "no 'shrink: faults=<before> -> <after>' line"
(( after >= 1 && after * 4 <= before )) || fail "shrink kept $after of $before faults, expected at most a quarter"
expect_line s.a.err '^shrink: faults=[0-9]+ -> [0-9]+ \(1-minimal'
expect_line s.a.err '^marionette shrink: run [0-9]+/200: [0-9]+ faults?: '
# Progress, then the same search and the same result every time.
cmp -s <(grep -v "^#" shrunk.a.scenario) <(grep -v "^#" shrunk.b.scenario) || fail "two shrinks of seed $seed wrote different scenarios"
# Three candidate runs at a time: the same search (progress lines, run
# count) and the same scenario; more runs launched (the ones run ahead).
code=0
"$launch" --seed "$seed" --shrink --shrink-jobs 3 --shrink-out shrunk.j3.scenario "${quorum[@]}" >s.j3.out 2>s.j3.err || code=$?
[[ $code -eq 1 ]] || { cat s.j3.err >&2; fail "--shrink --shrink-jobs 3 exited $code, expected 1"; }
cmp -s <(grep -v "^#" shrunk.a.scenario) <(grep -v "^#" shrunk.j3.scenario) || fail "--shrink-jobs 3 wrote another scenario"
cmp -s <(grep '^marionette shrink: run ' s.a.err) <(grep '^marionette shrink: run ' s.j3.err) \
  || { diff <(grep '^marionette shrink: run ' s.a.err) <(grep '^marionette shrink: run ' s.j3.err) >&2; fail "--shrink-jobs 3 searched differently"; }
runs1=$(sed -nE 's/^marionette shrink: ([0-9]+) runs in .* \(([0-9]+) launched, 1 at a time\).*/\1 \2/p' s.a.err)
runs3=$(sed -nE 's/^marionette shrink: ([0-9]+) runs in .* \(([0-9]+) launched, 3 at a time\).*/\1 \2/p' s.j3.err)
[[ -n $runs1 && -n $runs3 && ${runs1% *} == "${runs3% *}" && ${runs1#* } -eq ${runs1% *} && ${runs3#* } -gt ${runs3% *} ]] \
  || fail "runs (launched): $runs1 with one job, $runs3 with three"
[[ $(grep -c '^net\.force drop ' shrunk.a.scenario) -eq $after ]] || fail "the scenario does not hold the $after kept drops"
expect_line shrunk.a.scenario '^net\.force only$'
expect_line shrunk.a.scenario '^run until exit client$'
expect_line shrunk.a.scenario '^expect exit client 0$'
expect_line shrunk.a.scenario "^# It replaces the run's --scenario; replay: .*--seed $seed .*--scenario /"

# The replay: the same failure, with only the kept faults, twice identical.
for run in a b; do
  code=0
  "$launch" --seed "$seed" "${quorum[@]}" --scenario shrunk.a.scenario --trace "r.$run.trace" >"r.$run.out" 2>"r.$run.err" || code=$?
  [[ $code -eq 1 ]] || { cat "r.$run.err" >&2; fail "the shrunk scenario exited $code, expected 1"; }
done
cmp -s r.a.trace r.b.trace || fail "the shrunk scenario replayed twice gave different traces"
expect_line r.a.out '^STALE read: wrote version [0-9]+, a majority read returned [0-9]+$'
expect_line r.a.err "expect exit client 0: error expect_failed 'client' exited 1, expected 0"
[[ $(grep -c ' net\.drop .*reason=forced' r.a.trace) -eq $after ]] || fail "the replay did not drop exactly the $after kept packets"
! grep -q 'reason=send_drop' r.a.trace || fail "a random drop fired under 'net.force only'"
# The same forced drops under another seed are another run (other latencies).
"$launch" --seed $((seed + 100)) "${quorum[@]}" --scenario shrunk.a.scenario --trace other.trace >/dev/null 2>&1 || true
! cmp -s r.a.trace other.trace || fail "the seed does not matter to the shrunk scenario"

# The example script: shrink, then the replay fails with the stale read.
code=0
"$example/run.sh" "$launch" "$guests" "$seed" ex.scenario >ex.out 2>ex.err || code=$?
[[ $code -eq 1 ]] || { cat ex.err >&2; fail "examples/quorum-shrink/run.sh exited $code, expected 1"; }
expect_line ex.err "^shrink: faults=$before -> $after "
expect_line ex.out '^STALE read: wrote version [0-9]+, a majority read returned [0-9]+$'

# A scenario's own fault lines are candidates too: the clog and the connect
# failure go, the partition that the failure needs stays.
cat >part.scenario <<'SCENARIO'
# Loss everywhere, a clog, a connect failure and a short partition.
net.set_lossiness drop_rate=20%
at 2ms net.clog r2 r3 500ms
at 5ms net.partition client,r1 r2,r3
at 8ms net.fail_connect client r3 on
at 30ms net.heal
run until exit client
expect exit client 0
SCENARIO
pseed=
for s in 1 2 3 4 5 6; do
  code=0
  "$launch" --seed "$s" --quiet --wall-timeout 60s "${nodes[@]}" --scenario part.scenario >/dev/null 2>&1 || code=$?
  if [[ $code -eq 1 ]]; then pseed=$s; break; fi
done
[[ -n $pseed ]] || fail "the partition scenario fails on no seed of 1..6"
code=0
"$launch" --seed "$pseed" --shrink --shrink-out part.shrunk --wall-timeout 60s "${nodes[@]}" --scenario part.scenario \
  >p.out 2>p.err || code=$?
[[ $code -eq 1 ]] || { cat p.err >&2; fail "shrinking the partition scenario exited $code"; }
expect_line p.err '^marionette shrink: seed [0-9]+ fails \(client exit=1 \| failed expect exit client 0\); [0-9]+ faults to shrink: [0-9]+ recorded, 3 in the scenario$'
pbefore=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\1/p' p.err)
pafter=$(sed -nE 's/^shrink: faults=([0-9]+) -> ([0-9]+) .*/\2/p' p.err)
(( pafter >= 1 && pafter * 3 <= pbefore )) || fail "the partition scenario kept $pafter of $pbefore faults"
# The scenario's other lines stay, in their order.
[[ $(grep -vE '^#|^net\.force |^disk\.force only$|^at [0-9]+ms net\.(clog|partition|fail_connect) ' part.shrunk) == \
   $'net.set_lossiness drop_rate=20%\nat 30ms net.heal\nrun until exit client\nexpect exit client 0' ]] \
  || { cat part.shrunk >&2; fail "the shrunk scenario lost or reordered the original's other lines"; }
# It fails as the original did; without any one of its faults it does not
# (1-minimal, checked here independently of the search).
fails_same() {
  local code=0
  "$launch" --seed "$pseed" --wall-timeout 60s "${nodes[@]}" --scenario "$1" >/dev/null 2>fs.err || code=$?
  [[ $code -eq 1 ]] && grep -q "expect exit client 0: error expect_failed 'client' exited 1, expected 0" fs.err
}
fails_same part.shrunk || fail "the shrunk partition scenario does not fail as the original did"
kept=0
while IFS= read -r n; do
  sed "${n}d" part.shrunk >without.scenario
  ! fails_same without.scenario || fail "part.shrunk still fails without its line $n: $(sed -n "${n}p" part.shrunk)"
  kept=$((kept + 1))
done < <(grep -nE '^net\.force (drop|duplicate|clog|reset|partial_write|partition|heal) |^at [0-9]+ms net\.(clog|partition|fail_connect) ' part.shrunk | cut -d: -f1)
[[ $kept -eq $pafter ]] || fail "part.shrunk holds $kept fault lines, the report says $pafter"
# Shrinking a shrunk scenario keeps it as it is (nothing more to remove).
"$launch" --seed "$pseed" --shrink --shrink-out part.again --wall-timeout 60s "${nodes[@]}" --scenario part.shrunk \
  >/dev/null 2>again.err || true
expect_line again.err "^shrink: faults=([0-9]+) -> \\1 "

# Nothing to shrink, and bad input.
code=0
"$launch" --seed 1 --shrink --wall-timeout 60s --node r1="$replica" --node r2="$replica" --node r3="$replica" \
  --node client="$guests/marionette_guest_quorum_client 2 20" >pass.out 2>pass.err || code=$?
[[ $code -eq 0 ]] || { cat pass.err >&2; fail "--shrink on a passing run exited $code, expected 0"; }
expect_line pass.err '^marionette shrink: nothing to shrink: the run passes'
bad() {
  local expect=$1; shift
  code=0
  "$launch" "$@" >bad.out 2>bad.err || code=$?
  [[ $code -eq 2 ]] || { cat bad.err >&2; fail "'$*' exited $code, expected 2"; }
  grep -qE "$expect" bad.err || { cat bad.err >&2; fail "'$*': no message matching '$expect'"; }
}
bad 'works on cluster runs' --shrink -- true
bad 'one failing seed' --shrink --seeds 1..3 "${quorum[@]}"
bad 'invalid --shrink-budget' --shrink --shrink-budget 0 "${quorum[@]}"
bad 'invalid --shrink-budget' --shrink --shrink-budget many "${quorum[@]}"
bad 'goes with --shrink' --shrink-out x.scenario "${quorum[@]}"
bad 'goes with --shrink' --shrink-budget 5 "${quorum[@]}"
bad 'goes with --shrink' --shrink-jobs 2 "${quorum[@]}"
bad 'invalid --shrink-jobs' --shrink --shrink-jobs 0 "${quorum[@]}"
bad 'invalid --shrink-jobs' --shrink --shrink-jobs two "${quorum[@]}"
bad 'no directory' --shrink --shrink-out /nonexistent/dir/x.scenario "${quorum[@]}"
bad 'is a directory' --shrink --shrink-out . "${quorum[@]}"
bad 'does not go with --verify' --shrink --verify "${quorum[@]}"
bad 'unknown forced fault' --seed 1 "${quorum[@]}" --scenario <(echo 'net.force dorp r1 r2 3')
bad 'counts from 1' --seed 1 "${quorum[@]}" --scenario <(echo 'net.force drop r1 r2 0')
[[ ! -e x.scenario ]] || fail "a refused --shrink wrote its scenario"
echo "shrink: ok (seed $seed: $before -> $after faults)"
