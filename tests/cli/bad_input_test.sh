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
echo "bad_input: ok"
