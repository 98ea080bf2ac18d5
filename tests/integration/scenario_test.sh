#!/usr/bin/env bash
# Scenario files drive a run (--scenario): the SQLite example's crash
# scenario passes and is deterministic per seed; a failing expectation exits 1
# naming its line; a malformed file exits 2 listing every bad line before
# anything runs; the real data directory is never written.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
mkdir data

scenario_run() {  # scenario_run SEED SCENARIO TRACE
  "$launch" --seed "$1" --disk data --latency-ns-min 50us --scenario "$2" --trace "$3" \
    -- python3 "$example/workload.py" data/db extra
}

for run in a b; do
  scenario_run 3 "$example/crash.scenario" "s.$run.trace" >"s.$run" 2>&1 || { cat "s.$run" >&2; fail "the crash scenario failed"; }
done
grep -q "scenario .*crash.scenario: ok" s.a || { cat s.a >&2; fail "no ok verdict"; }
cmp -s s.a.trace s.b.trace || { diff s.a.trace s.b.trace | head >&2; fail "seed 3 twice gave different scenario traces"; }
"$launch" --check-trace s.a.trace >/dev/null || fail "the scenario trace does not validate"
grep -q ' node.crash ' s.a.trace || fail "the scenario did not crash the node"
grep -q ' control.command .*line=10 ' s.a.trace || fail "the scenario's steps are not traced with their lines"
scenario_run 4 "$example/crash.scenario" s.4.trace >/dev/null 2>&1 || fail "seed 4 failed"
cmp -s s.a.trace s.4.trace && fail "seeds 3 and 4 gave the same scenario trace"
[[ -z $(ls -A data) ]] || fail "the scenario wrote the real data directory"

# A failing expectation: exit 1, the line named.
cat >expect.scenario <<'EOS'
run until idle
spawn count -- sqlite3 data/db "select count(*) from t"
expect output count contains 41
EOS
code=0
scenario_run 1 expect.scenario e.trace >e.out 2>&1 || code=$?
[[ $code -eq 1 ]] || { cat e.out >&2; fail "a failed expectation exited $code, expected 1"; }
grep -q 'expect.scenario:3' e.out || { cat e.out >&2; fail "the failing line is not named"; }

# Malformed: every bad line reported, nothing runs, exit 2.
printf 'run until idle\ncrsh\ndisk.set_faults crash_lost_write_rate=140%%\n' >bad.scenario
code=0
scenario_run 1 bad.scenario bad.trace >bad.out 2>&1 || code=$?
[[ $code -eq 2 ]] || { cat bad.out >&2; fail "a malformed scenario exited $code, expected 2"; }
grep -q 'bad.scenario:2' bad.out && grep -q 'bad.scenario:3' bad.out || { cat bad.out >&2; fail "not every bad line was reported"; }
[[ ! -e bad.trace ]] || fail "a malformed scenario started a run"
echo "scenario: ok"
