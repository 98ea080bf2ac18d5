#!/usr/bin/env bash
# The demo run through the CLI: same seed -> byte-identical trace; another
# seed -> a different trace; both formats carry the same events and hash;
# --check-trace accepts what the launcher wrote.
source "$(dirname "$0")/lib.sh"
launch=$1

expect_exit 0 "$launch" --demo --seed 11 --trace "$scratch/a.trace"
expect_exit 0 "$launch" --demo --seed 11 --trace "$scratch/b.trace"
cmp -s "$scratch/a.trace" "$scratch/b.trace" || fail "same seed gave different traces"
expect_exit 0 "$launch" --demo --seed 12 --trace "$scratch/c.trace"
cmp -s "$scratch/a.trace" "$scratch/c.trace" && fail "seeds 11 and 12 gave identical traces"
head -1 "$scratch/a.trace" | grep -qx 'marionette.trace format=text version=1 seed=11 mode=demo' \
  || fail "unexpected header: $(head -1 "$scratch/a.trace")"

# The seed can be a git hash: its low 64 bits are the seed.
expect_exit 0 "$launch" --demo --seed 0123456789abcdef01234567000000000000000b --trace "$scratch/d.trace"
tail -n +2 "$scratch/d.trace" | cmp -s - <(tail -n +2 "$scratch/a.trace") || fail "git-hash seed ...0b is not seed 11"

# JSON Lines: same events, same hash.
expect_exit 0 "$launch" --demo --seed 11 --trace-format jsonl --trace "$scratch/a.jsonl"
expect_exit 0 "$launch" --check-trace "$scratch/a.trace"
hash_text=$(grep -o 'trace_hash=[0-9a-f]*' "$scratch/out")
events_text=$(grep -o '[0-9]* events' "$scratch/out")
expect_exit 0 "$launch" --check-trace "$scratch/a.jsonl"
expect_in "$scratch/out" "$hash_text"
expect_in "$scratch/out" "$events_text"
expect_in "$scratch/out" "valid jsonl trace, seed=11"

# --summary reports the same hash the checker computes from the file.
expect_exit 0 "$launch" --demo --seed 11 --trace "$scratch/e.trace" --summary
expect_in "$scratch/out" "$hash_text"
expect_in "$scratch/out" "/marionette-launch --demo --seed 11"
echo "launch_demo: ok"
