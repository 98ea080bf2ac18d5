#!/usr/bin/env bash
# --crash-rate: a seeded power loss after any forwarded file call. A sweep
# over a few seeds of the SQLite example crashes at different points per
# seed, the check passes on every surviving disk, one seed twice gives the
# same trace; the option is validated like the other crash points.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
mkdir data

rate_run() {  # rate_run SEED NAME
  "$launch" --seed "$1" --disk data --latency-ns-min 50us --crash-rate 1% \
    --after-crash "/usr/bin/python3 $example/check.py data/db extra" --trace "$2.trace" \
    -- /usr/bin/python3 "$example/workload.py" data/db extra >"$2.out" 2>"$2.err" \
    || { cat "$2.err" >&2; fail "seed $1: the crash-rate run or its check failed"; }
  "$launch" --check-trace "$2.trace" >/dev/null || fail "seed $1: invalid trace"
  expect_line "$2.trace" '^marionette\.trace .* crash_rate=1%25'
  expect_line "$2.trace" ' coordinator\.crash_armed at_ns=0 rate=1/100$'
  expect_line "$2.trace" ' node\.crash '
  expect_line "$2.err" 'replay with: .* --crash-rate 1% '
}
points=()
for seed in 1 2 3 4; do
  rate_run "$seed" "r$seed"
  points+=("$(grep -m1 ' coordinator\.crash_point ' "r$seed.trace" | cut -d' ' -f1,3)")
done
[[ $(printf '%s\n' "${points[@]}" | sort -u | wc -l) -ge 3 ]] \
  || fail "four seeds crashed at fewer than three distinct points: ${points[*]}"
rate_run 2 again
cmp -s r2.trace again.trace || { diff r2.trace again.trace | head >&2; fail "seed 2 twice gave different traces"; }

# Validation: usage errors (exit 2) before anything runs.
usage() {  # usage WHAT ARGS...
  local what=$1 code=0; shift
  "$launch" "$@" -- true >u.out 2>&1 || code=$?
  [[ $code -eq 2 ]] || { cat u.out >&2; fail "$what: exit $code, expected 2"; }
}
usage "--crash-rate with --crash-at" --disk data --crash-rate 1% --crash-at 5ms
usage "a malformed --crash-rate" --disk data --crash-rate 140%
grep -q 'crash-rate' u.out || { cat u.out >&2; fail "the malformed rate is not named"; }
[[ -z $(ls -A data) ]] || fail "a run wrote the real data directory"
echo "crash_rate: ok"
