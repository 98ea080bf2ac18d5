#!/usr/bin/env bash
# --verify: passes for a deterministic program (date; each guest's own test,
# guest_test.sh, runs it on that guest), and fails loudly for a guest that
# reads an escape (/proc/sys/kernel/random/uuid), naming the first diverging
# trace event.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2

"$launch" --verify --seed 9 -- date >/dev/null 2>"$scratch/err" || { cat "$scratch/err" >&2; fail "--verify failed for date"; }
grep -q 'verify: 2 runs identical' "$scratch/err" || fail "no verify confirmation for date"

code=0
"$launch" --verify --seed 9 -- "$guests/marionette_guest_escape" >/dev/null 2>"$scratch/err" || code=$?
[[ $code -eq 1 ]] || { cat "$scratch/err" >&2; fail "--verify on the escaping guest exited $code, expected 1"; }
# The length getrandom asks for comes from the escaped uuid: 1 in 16 runs
# pairs agree there, and then the output event differs instead.
grep -qE 'VERIFY FAILED: the two runs diverge at event [0-9]+' "$scratch/err" || { cat "$scratch/err" >&2; fail "no divergence report"; }
grep -qE '^  run 1: event=[0-9]+ (random\.getrandom|process\.output) ' "$scratch/err" || { cat "$scratch/err" >&2; fail "divergence does not name the event"; }
grep -qE '^  run 2: event=[0-9]+ (random\.getrandom|process\.output) ' "$scratch/err" || { cat "$scratch/err" >&2; fail "divergence does not name run 2's event"; }
