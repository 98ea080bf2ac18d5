#!/usr/bin/env bash
# Sweeps split into shards (--shard), their --results JSON lines and the
# merge (--merge-results): three shards find exactly the failing seeds of
# the unsplit sweep, their results concatenate to the unsplit results
# (apart from wall times), the merged report groups the same failures, and
# --shard env reads the shard from Slurm, Kubernetes and MARIONETTE_SHARD.
# The program is dash and od, unmodified: a seeded byte from /dev/urandom
# makes about a quarter of the seeds exit 1 and a quarter abort.
source "$(dirname "$0")/lib.sh"
launch=$1
cd "$scratch"
unset MARIONETTE_SHARD MARIONETTE_SHARD_COUNT SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX \
  SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_STEP JOB_COMPLETION_INDEX CI_NODE_INDEX CI_NODE_TOTAL

program=(-- sh -c 'n=$(od -An -N1 -tu1 /dev/urandom); case $((n % 4)) in 0) exit 1 ;; 1) kill -ABRT $$ ;; esac; exit 0')
range=1..24

# sweep NAME OPTIONS...: a sweep of $range with NAME.out/.err; exit code in $code.
sweep() {
  local name=$1; shift
  code=0
  "$launch" --seeds "$range" --jobs 2 --wall-timeout 30s "$@" "${program[@]}" >"$name.out" 2>"$name.err" || code=$?
  rm -rf "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' "$name.err" | tail -1)"
}
failing() { sed -nE 's/^  seed=([0-9]+) .*/\1/p' "$1" | sort -n; }
# The report's failure table without the machine-local log paths.
table() { sed -nE '/^ \[|^  seed=|^    replay: /{s/ +log=.*//; s/ +$//; p}' "$1"; }
no_wall() { sed -E 's/"wall_time_ms":[0-9]+,//' "$@"; }

sweep all --results all.jsonl --progress lines
[[ $code -eq 1 ]] || { cat all.err >&2; fail "the unsplit sweep exited $code, expected 1"; }
[[ $(wc -l <all.jsonl) -eq 24 ]] || fail "all.jsonl has $(wc -l <all.jsonl) lines, expected 24"
failing all.err >all.failing
[[ $(wc -l <all.failing) -ge 3 ]] || { cat all.err >&2; fail "fewer than 3 failing seeds in $range"; }
# Both ways of failing occur and are grouped apart.
grep -qE '^ \[[0-9]+ seeds?\] fail, exit 1: program exited with status 1$' all.err || { cat all.err >&2; fail "no group of exit-1 failures"; }
grep -qE '^ \[[0-9]+ seeds?\] fail, exit 1: program killed by signal 6 \(ABRT\)$' all.err || { cat all.err >&2; fail "no group of aborts"; }
# Progress (not a terminal, --progress lines): runs/s, failures, an ETA.
grep -qE '^marionette sweep: [0-9]+/24 runs, [0-9]+ failed, [0-9.]+ runs/s, ETA [0-9hms?]+$' all.err \
  || { cat all.err >&2; fail "no progress line with an ETA"; }
grep -q $'\r' all.err && fail "a live progress line was written to a file"
# Every results line is complete, its verdict matches its exit code, and
# the replay command it names reproduces the seed's trace hash.
python3 - all.jsonl <<'PY' || fail "all.jsonl is not the expected JSON lines"
import json, sys
seeds = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert set(r) == {"seed", "verdict", "exit_code", "message", "virtual_duration_ns", "wall_time_ms", "events",
                      "trace_hash", "replay"}, r
    assert r["verdict"] == ("pass" if r["exit_code"] == 0 else "fail"), r
    assert r["events"] > 0 and r["virtual_duration_ns"] > 0 and len(r["trace_hash"]) == 16, r
    assert " --seed %d --quiet --wall-timeout 30s -- sh -c " % r["seed"] in r["replay"], r["replay"]
    assert r["replay"].endswith(" -- sh -c 'n=$(od -An -N1 -tu1 /dev/urandom); case $((n % 4)) in 0) exit 1 ;; "
                                "1) kill -ABRT $$ ;; esac; exit 0'"), r["replay"]
    seeds.append(r["seed"])
assert seeds == list(range(1, 25)), seeds
PY
seed=$(head -1 all.failing)
replay=$(python3 -c 'import json, sys
for line in open("all.jsonl"):
    r = json.loads(line)
    if r["seed"] == int(sys.argv[1]): print(r["replay"])' "$seed")
replay_code=0
eval "$replay" >replay.out 2>replay.err || replay_code=$?
[[ $replay_code -eq 1 ]] || { cat replay.err >&2; fail "the replay of seed $seed exited $replay_code"; }
hash=$(python3 -c 'import json, sys
for line in open("all.jsonl"):
    r = json.loads(line)
    if r["seed"] == int(sys.argv[1]): print(r["trace_hash"], r["events"])' "$seed")
grep -q "marionette: seed=$seed events=${hash#* } trace_hash=${hash% *}" replay.err \
  || { cat replay.err >&2; fail "the replay of seed $seed did not give events=${hash#* } trace_hash=${hash% *}"; }

# Three shards: the same failing seeds; the results concatenate to the unsplit ones.
for k in 1 2 3; do
  sweep "s$k" --shard "$k/3" --results "s$k.jsonl"
  [[ $code -le 1 ]] || { cat "s$k.err" >&2; fail "shard $k/3 exited $code"; }
  grep -q "^marionette sweep: shard $k/3 of --seeds $range: 8 seeds, $((8 * k - 7))\.\.$((8 * k))$" "s$k.err" \
    || { cat "s$k.err" >&2; fail "shard $k/3 did not announce seeds $((8 * k - 7))..$((8 * k))"; }
done
cat s1.err s2.err s3.err >shards.err
failing shards.err >shards.failing
diff all.failing shards.failing >&2 || fail "the shards' failing seeds differ from the unsplit sweep's"
cat s1.jsonl s2.jsonl s3.jsonl >shards.jsonl
diff <(no_wall all.jsonl) <(no_wall shards.jsonl) >&2 || fail "the shards' results differ from the unsplit results"

# The merge prints the unsplit sweep's report (and exits as it did).
code=0
"$launch" --merge-results s1.jsonl s2.jsonl s3.jsonl --seeds "$range" >merge.out 2>merge.err || code=$?
[[ $code -eq 1 ]] || { cat merge.err >&2; fail "the merge exited $code, expected 1 as the sweep"; }
grep -qE "^marionette sweep: 24 runs, $((24 - $(wc -l <all.failing))) passed, $(wc -l <all.failing) failed \(merged from 3 results files" merge.out \
  || { cat merge.out >&2; fail "the merge's totals"; }
diff <(table all.err) <(table merge.out) >&2 || fail "the merged failure table differs from the unsplit sweep's"
# Duplicates (a shard given twice) and missing seeds (a shard lost) are errors.
code=0
"$launch" --merge-results shards.jsonl s2.jsonl >dup.out 2>dup.err || code=$?
[[ $code -eq 2 ]] || fail "merging a shard twice exited $code, expected 2"
grep -q '^marionette sweep: 8 duplicate seeds' dup.out || { cat dup.out >&2; fail "duplicates not reported"; }
grep -q "^  seed 9 in shards.jsonl:9 and s2.jsonl:1$" dup.out || { cat dup.out >&2; fail "duplicate seed 9 not located"; }
code=0
"$launch" --merge-results s1.jsonl s3.jsonl --seeds "$range" >gap.out 2>gap.err || code=$?
[[ $code -eq 2 ]] || fail "merging without shard 2 exited $code, expected 2"
grep -q '^marionette sweep: 8 seeds of the range missing (a shard not run or not finished): 9 10 11 12 13 14 15 16$' gap.out \
  || { cat gap.out >&2; fail "missing seeds not reported"; }

# --shard env: the same slices from each batch system's variables.
env_sweep() {  # env_sweep NAME K VAR=VALUE... -- OPTIONS...
  local name=$1 k=$2; shift 2
  local vars=()
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  code=0
  env "${vars[@]}" "$launch" --seeds "$range" --jobs 2 --wall-timeout 30s --shard env "$@" --results "$name.jsonl" \
    "${program[@]}" >"$name.out" 2>"$name.err" || code=$?
  rm -rf "$(grep -o '/tmp/marionette-sweep\.[A-Za-z0-9]*' "$name.err" | tail -1)"
  [[ $code -le 1 ]] || { cat "$name.err" >&2; fail "$name exited $code"; }
  diff <(no_wall "s$k.jsonl") <(no_wall "$name.jsonl") >&2 || fail "$name did not run shard $k/3"
}
env_sweep marionette 2 MARIONETTE_SHARD=2/3 --
env_sweep slurm 2 SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 --
env_sweep slurm_count 3 SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 --
env_sweep k8s_flag 3 JOB_COMPLETION_INDEX=2 -- --shard-count 3
env_sweep k8s_var 1 JOB_COMPLETION_INDEX=0 MARIONETTE_SHARD_COUNT=3 --
env_sweep gitlab 1 CI_NODE_INDEX=1 CI_NODE_TOTAL=3 --

# --results - writes the lines to standard output and nothing else there.
sweep stdout --shard 1/3 --results -
diff <(no_wall s1.jsonl) <(no_wall stdout.out) >&2 || fail "--results - did not write shard 1's lines to stdout"
echo "sweep_shard: ok"
