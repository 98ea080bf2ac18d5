#!/usr/bin/env bash
# Live processes in scenarios and over the control socket: `run <duration>`
# leaves the node's command alive and paused, `kill` ends it, `restart`
# starts a new incarnation that the next `run` runs, and a crash armed with
# `at` fires in the middle of a run. Every scenario runs twice with one seed
# (identical traces) and once with another (a different trace).
source "$(dirname "$0")/lib.sh"
launch=$1
ctl=$2
cd "$scratch"
mkdir data
sleeper=$'import time\nfor i in range(10): print(i, flush=True); time.sleep(1)'

# ---- Over the socket: the replies say what runs.
"$launch" --seed 1 --disk data --control run.sock -- python3 -c "$sleeper" >sock.out 2>sock.err &
launcher=$!
for _ in $(seq 300); do [[ -S run.sock ]] && break; sleep 0.1; done
[[ -S run.sock ]] || { cat sock.err >&2; fail "the launcher never opened its control socket"; }
"$ctl" run.sock run 2s >r.run || fail "run 2s failed: $(cat r.run)"
grep -q 'running=true' r.run || fail "after run 2s the program is not running: $(cat r.run)"
grep -q 'now_ns=2000000000' r.run || fail "run 2s did not end at 2s: $(cat r.run)"
lines=$(wc -l <sock.out)
[[ $lines -ge 2 && $lines -le 3 ]] || { cat sock.out >&2; fail "after run 2s the program printed $lines lines, expected 2-3"; }
"$ctl" run.sock status >r.status || fail "status failed"
grep -q 'state=running' r.status || fail "status does not say running: $(cat r.status)"
"$ctl" run.sock restart >r.busy && fail "restart of a running node was accepted: $(cat r.busy)"
grep -q '^error state' r.busy || fail "restart of a running node: $(cat r.busy)"
"$ctl" run.sock kill >r.kill || fail "kill failed"
grep -q 'killed=1' r.kill || fail "kill did not report one process: $(cat r.kill)"
"$ctl" run.sock expect exit 137 >/dev/null || fail "the killed incarnation does not count as killed (137)"
"$ctl" run.sock restart >/dev/null || fail "restart after kill failed"
"$ctl" run.sock run until idle >r.idle || fail "run until idle failed"
grep -q 'running=false' r.idle && grep -q 'exit=0' r.idle || fail "run until idle: $(cat r.idle)"
"$ctl" run.sock expect exit 0 >/dev/null || fail "expect exit 0 failed after the second incarnation"
"$ctl" run.sock quit >/dev/null || fail "quit failed"
code=0
wait "$launcher" || code=$?
[[ $code -eq 0 ]] || { cat sock.err >&2; fail "the socket-driven launcher exited $code"; }
[[ $(wc -l <sock.out) -eq $((lines + 10)) ]] || { cat sock.out >&2; fail "the second incarnation did not print 10 lines"; }

# ---- The same as a scenario file, deterministic per seed.
cat >sleeper.scenario <<'EOS'
run 2s
expect output main contains 1
kill
restart
run until idle
expect exit 0
EOS
sleeper_run() {  # sleeper_run SEED NAME
  "$launch" --seed "$1" --disk data --scenario sleeper.scenario --trace "$2.trace" -- python3 -c "$sleeper" \
    >"$2.out" 2>"$2.err" || { cat "$2.err" >&2; fail "seed $1: the sleeper scenario failed"; }
  "$launch" --check-trace "$2.trace" >/dev/null || fail "seed $1: invalid sleeper trace"
}
sleeper_run 5 sa
sleeper_run 5 sb
sleeper_run 6 sc
cmp -s sa.trace sb.trace || { diff sa.trace sb.trace | head >&2; fail "seed 5 twice gave different sleeper traces"; }
cmp -s sa.trace sc.trace && fail "seeds 5 and 6 gave the same sleeper trace"
expect_line sa.trace ' process\.signal at_ns=2000000000 signal=9 name=KILL$'
expect_line sa.trace ' node\.kill at_ns=2000000000 killed=1$'
expect_line sa.trace ' process\.exit at_ns=1[12][0-9]{9} code=0$'
# Nothing of the first incarnation ended before the kill.
[[ $(grep -c ' process\.exit ' sa.trace) -eq 1 ]] || fail "the sleeper exited more than once"
first=$(grep -c . sa.out)
[[ $first -ge 12 && $first -le 13 ]] || { cat sa.out >&2; fail "the two incarnations printed $first lines, expected 2-3 + 10"; }

# ---- A power loss at 1500ms in the middle of a sqlite3 workload.
cat >loop.sh <<'EOS'
sqlite3 data/db "create table if not exists t(id integer primary key, payload text)"
i=0
while [ $i -lt 40 ]; do
  i=$((i+1))
  sqlite3 data/db "insert into t values($i, printf('%.3000c', 'x'))" || exit 1
  echo "ack $i"
  sleep 0.1
done
EOS
cat >crash.scenario <<'EOS'
disk.set_faults crash_lost_write_rate=50% crash_torn_write_rate=50%
at 1500ms crash
run until idle
restart
spawn integrity -- sqlite3 data/db "pragma integrity_check"
expect output integrity contains ok
spawn count -- sqlite3 data/db "select 'rows=' || count(*) from t"
EOS
crash_run() {  # crash_run SEED NAME
  "$launch" --seed "$1" --disk data --latency-ns-min 50us --scenario crash.scenario --trace "$2.trace" -- bash loop.sh \
    >"$2.out" 2>"$2.err" || { cat "$2.err" >&2; fail "seed $1: the sqlite crash scenario failed"; }
  "$launch" --check-trace "$2.trace" >/dev/null || fail "seed $1: invalid crash trace"
  expect_line "$2.trace" ' coordinator\.crash_point at_ns=1500000000 '
  expect_line "$2.trace" ' process\.crash at_ns=1500000000 reason=node_power_loss$'
  local acked rows
  acked=$(grep -c '^ack ' "$2.out")
  rows=$(sed -n 's/^rows=//p' "$2.out")
  [[ $acked -gt 0 && $acked -lt 40 ]] || { cat "$2.out" >&2; fail "seed $1: the crash was not in the middle ($acked acks)"; }
  # synchronous=FULL, rollback journal: the last acknowledged transaction
  # may roll back (examples/sqlite-crash/README.md), nothing earlier.
  [[ -n $rows && $rows -le $acked && $rows -ge $((acked - 1)) ]] \
    || { cat "$2.out" >&2; fail "seed $1: $acked acknowledged, $rows rows survived"; }
}
crash_run 1 ca
crash_run 1 cb
crash_run 2 cc
cmp -s ca.trace cb.trace || { diff ca.trace cb.trace | head >&2; fail "seed 1 twice gave different crash traces"; }
cmp -s ca.out cb.out || fail "seed 1 twice gave different outputs"
cmp -s ca.trace cc.trace && fail "seeds 1 and 2 gave the same crash trace"
[[ -z $(ls -A data) ]] || fail "a scenario wrote the real data directory"
echo "live: ok"
