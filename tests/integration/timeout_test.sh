#!/usr/bin/env bash
# --timeout: a virtual time limit. python3 sleeping an hour under a 10 s limit
# stops at exactly 10 virtual seconds (status 124, launcher exit 1), says so,
# costs no wall time, and is deterministic per seed.
source "$(dirname "$0")/lib.sh"
launch=$1
for run in a b; do
  code=0
  "$launch" --seed 4 --timeout 10s --wall-timeout 20s --trace "$scratch/t.$run.trace" -- \
    python3 -c 'import time; print("before", flush=True); time.sleep(3600); print("after")' >"$scratch/t.$run" 2>"$scratch/t.$run.err" || code=$?
  [[ $code -eq 1 ]] || { cat "$scratch/t.$run.err" >&2; fail "expected exit 1 at the time limit, got $code"; }
done
[[ $(cat "$scratch/t.a") == before ]] || fail "the program ran past the limit: $(cat "$scratch/t.a")"
grep -q 'stopped at the virtual time limit (--timeout 10s)' "$scratch/t.a.err" || { cat "$scratch/t.a.err" >&2; fail "no message"; }
grep -q ' process.virtual_timeout at_ns=10000000000 ' "$scratch/t.a.trace" || fail "the limit is not at 10 s in the trace"
grep -q ' process.exit .*code=124' "$scratch/t.a.trace" || fail "exit status 124 not traced"
cmp -s "$scratch/t.a.trace" "$scratch/t.b.trace" || fail "seed 4 twice gave different traces"
"$launch" --check-trace "$scratch/t.a.trace" >/dev/null || fail "invalid trace"
code=0
"$launch" --timeout soon -- true 2>"$scratch/bad.err" || code=$?
[[ $code -eq 2 ]] && grep -q "invalid duration 'soon'" "$scratch/bad.err" || fail "a bad --timeout was not a usage error"
echo "timeout: ok"
