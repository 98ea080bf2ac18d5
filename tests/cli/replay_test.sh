#!/usr/bin/env bash
# Every kind of run prints a replay command that runs as printed (issue 16):
# pasted into a shell from another directory, it reproduces the trace hash.
# Kinds: a single program on a relative --disk, a cluster, a scenario run, and
# a failing seed of a sweep. The launcher is named by its absolute path (it
# is not on PATH here), every argument is quoted, and `cd DIR &&` comes first
# where relative paths matter.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"
mkdir data work
echo hello >data/in.txt

# replay_of FILE: the command after "replay with: " (the last one).
replay_of() { sed -n 's/^marionette\( sweep\)\{0,1\}: replay with: //p' "$1" | tail -1 | sed 's/  (and send .*//'; }
hash_of() { sed -n 's/.*trace_hash=\([0-9a-f]*\).*/\1/p' "$1" | tail -1; }

# check_replay NAME: NAME.err holds a run's stderr; its replay command, run
# by bash from /, gives the same trace hash.
check_replay() {
  local replay hash again
  replay=$(replay_of "$1.err")
  hash=$(hash_of "$1.err")
  [[ -n $replay && -n $hash ]] || { cat "$1.err" >&2; fail "$1: no replay command or trace hash printed"; }
  [[ $replay == *"$launch"* || $replay == *"$(realpath "$launch")"* ]] || fail "$1: the replay does not name the launcher: $replay"
  (cd / && bash -c "$replay") >"$1.replay.out" 2>"$1.replay.err" || true
  again=$(hash_of "$1.replay.err")
  [[ $again == "$hash" ]] || { echo "replay: $replay" >&2; cat "$1.replay.err" >&2; fail "$1: the replay gave trace hash '$again', expected $hash"; }
}

# A single program: relative --disk, an argument with spaces and quotes.
"$launch" --seed 9 --disk data --trace single.trace -- sh -c "cat data/in.txt; echo \"it's  spaced\" > data/out.txt" \
  >single.out 2>single.err || { cat single.err >&2; fail "the single run failed"; }
grep -q "replay with: cd '\{0,1\}$scratch'\{0,1\} && " single.err || { cat single.err >&2; fail "no cd before a replay with a relative --disk"; }
grep -q -- "--trace" <(replay_of single.err) && fail "the replay rewrites the run's trace file"
check_replay single

# A cluster.
"$launch" --seed 4 --node server="$guests/marionette_guest_echo_server 7000" \
  --node client="$guests/marionette_guest_echo_client server 7000 2" >cluster.out 2>cluster.err \
  || { cat cluster.err >&2; fail "the cluster run failed"; }
check_replay cluster

# A scenario run (relative scenario file).
printf 'run 5ms\nrun until idle\n' >steps.scenario
"$launch" --seed 5 --disk data --scenario steps.scenario -- sh -c 'echo x > data/y' >scenario.out 2>scenario.err \
  || { cat scenario.err >&2; fail "the scenario run failed"; }
check_replay scenario

# A sweep: every seed fails; the replay of one failing seed reproduces the
# trace hash in that seed's log, and the sweep's own replay runs it again.
code=0
"$launch" --seeds 1..2 --jobs 1 --disk data -- sh -c 'cat data/in.txt; exit 1' >sweep.out 2>sweep.err || code=$?
[[ $code -eq 1 ]] || { cat sweep.err >&2; fail "the sweep exited $code, expected 1"; }
seed_replay=$(sed -n 's/^    replay: //p' sweep.err | head -1)
log=$(sed -n 's/.*seed=1 .*log=\(.*\)$/\1/p' sweep.err)
[[ -n $seed_replay && -f $log ]] || { cat sweep.err >&2; fail "no replay or log for seed 1"; }
(cd / && bash -c "$seed_replay") >seed.out 2>seed.err || true
[[ $(hash_of seed.err) == "$(hash_of "$log")" && -n $(hash_of seed.err) ]] \
  || { cat "$log" seed.err >&2; fail "the failing seed's replay gave another trace hash"; }
whole=$(replay_of sweep.err)
[[ $whole == *"--seeds 1..2"* ]] || fail "the sweep's replay does not repeat --seeds: $whole"
code=0
(cd / && bash -c "$whole") >/dev/null 2>whole.err || code=$?
[[ $code -eq 1 ]] && grep -q "2 runs, 0 passed, 2 failed" whole.err || { cat whole.err >&2; fail "the sweep's replay did not run the sweep"; }
echo "replay: ok"
