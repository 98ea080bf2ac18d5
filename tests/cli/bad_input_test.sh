#!/usr/bin/env bash
# Bad input gets a clear error naming the problem and the usage exit code (2);
# a corrupt trace is reported with its line number (exit 1).
source "$(dirname "$0")/lib.sh"
launch=$1

expect_exit 2 "$launch" --demo --seed banana
expect_in "$scratch/err" "invalid seed 'banana'"
expect_exit 2 "$launch" --demo --seed 18446744073709551616
expect_in "$scratch/err" "larger than 64 bits"
expect_exit 2 "$launch" --demo --trace-format xml
expect_exit 2 "$launch" --no-such-option
expect_exit 2 "$launch"
expect_in "$scratch/err" "nothing to run"
expect_exit 0 "$launch" --help
expect_in "$scratch/out" "--seed"

expect_exit 2 "$launch" --check-trace "$scratch/missing.trace"
expect_in "$scratch/err" "cannot open trace"

expect_exit 0 "$launch" --demo --seed 5 --trace "$scratch/good.trace"
# Renumber the third event: the checker must name line 4.
sed '4s/^event=2 /event=7 /' "$scratch/good.trace" >"$scratch/bad.trace"
expect_exit 1 "$launch" --check-trace "$scratch/bad.trace"
expect_in "$scratch/err" "trace line 4: event number 7 out of sequence (expected 2)"
# A bad escape in a value.
sed '3s/$/ note=%G1/' "$scratch/good.trace" >"$scratch/bad2.trace"
expect_exit 1 "$launch" --check-trace "$scratch/bad2.trace"
expect_in "$scratch/err" "trace line 3: value of 'note'"

# Sweep shards and results (docs/scale-out.md): each a usage error before
# any run (no per-seed log directory is announced).
unset MARIONETTE_SHARD MARIONETTE_SHARD_COUNT SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX CI_NODE_INDEX
no_run() { if grep -q 'per-seed logs' "$scratch/err"; then cat "$scratch/err" >&2; fail "a sweep ran: $*"; fi; }
expect_exit 2 "$launch" --seeds 1..9 --shard 0/3 -- true
expect_in "$scratch/err" "shard 0 of 3 does not exist"; no_run 0/3
expect_exit 2 "$launch" --seeds 1..9 --shard 4/3 -- true
expect_in "$scratch/err" "shard 4 of 3 does not exist"; no_run 4/3
expect_exit 2 "$launch" --seeds 1..9 --shard x -- true
expect_in "$scratch/err" "invalid --shard 'x' (expected K/N"
expect_exit 2 "$launch" --shard 1/3 -- true
expect_in "$scratch/err" "--shard needs --seeds A..B"
expect_exit 2 "$launch" --runs 9 --shard 1/3 -- true
expect_in "$scratch/err" "--shard needs --seeds A..B"
expect_exit 2 "$launch" --seeds 1..9 --shard env -- true
expect_in "$scratch/err" "no shard in the environment"
expect_exit 2 env JOB_COMPLETION_INDEX=1 "$launch" --seeds 1..9 --shard env -- true
expect_in "$scratch/err" "pass --shard-count N or set MARIONETTE_SHARD_COUNT"
expect_exit 2 env SLURM_ARRAY_TASK_ID=1 "$launch" --seeds 1..9 --shard env -- true
expect_in "$scratch/err" "neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX"
expect_exit 2 env MARIONETTE_SHARD=3 "$launch" --seeds 1..9 --shard env -- true
expect_in "$scratch/err" "MARIONETTE_SHARD: invalid --shard '3'"
expect_exit 2 "$launch" --seeds 1..9 --shard 1/3 --shard-count 3 -- true
expect_in "$scratch/err" "--shard-count goes with --shard env"
expect_exit 2 "$launch" --seeds 1..9 --results "$scratch/no/such/dir/r.jsonl" -- true
expect_in "$scratch/err" "no directory '$scratch/no/such/dir'"; no_run missing directory
expect_exit 2 "$launch" --seeds 1..9 --results "$scratch" -- true
expect_in "$scratch/err" "is a directory"; no_run results directory
expect_exit 2 "$launch" --results "$scratch/r.jsonl" -- true
expect_in "$scratch/err" "--results needs a sweep"
expect_exit 2 "$launch" --seeds 1..9 --progress loud -- true
expect_in "$scratch/err" "invalid --progress 'loud'"
expect_exit 2 "$launch" --merge-results "$scratch/none.jsonl"
expect_in "$scratch/err" "cannot read results file"
printf '{"seed":1}\n' >"$scratch/bad.jsonl"
expect_exit 2 "$launch" --merge-results "$scratch/bad.jsonl"
expect_in "$scratch/err" "bad.jsonl:1: not a results line: 'exit_code' is missing"
echo "bad_input: ok"
