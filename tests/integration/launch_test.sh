#!/usr/bin/env bash
# marionette-launch -- program: exit codes (0 ok, 1 the program failed or
# was killed, 2 usage, e.g. a missing program), the wall-clock guard, the
# replay line, and both trace formats carrying the same run.
source "$(dirname "$0")/lib.sh"
launch=$1

status() { local code=0; "$launch" "$@" >"$scratch/out" 2>"$scratch/err" || code=$?; echo "$code"; }

[[ $(status --seed 4 -- true) -eq 0 ]] || fail "true did not exit 0"
[[ $(status --seed 4 -- sh -c 'exit 3') -eq 1 ]] || fail "a failing program must give exit 1"
expect_line "$scratch/err" 'program exited with status 3'
expect_line "$scratch/err" '^marionette: replay with: /.*/marionette-launch --seed 4 -- sh -c .exit 3.$'
[[ $(status --seed 4 -- sh -c 'kill -SEGV $$') -eq 1 ]] || fail "a program killed by a signal must give exit 1"
expect_line "$scratch/err" 'killed by signal 11 \(SEGV\)'
[[ $(status --seed 4 -- /nonexistent/program) -eq 2 ]] || fail "a missing program must give exit 2"
expect_line "$scratch/err" "cannot execute '/nonexistent/program'"
# A program that really waits hits the guard: its open of a FIFO nobody
# writes blocks in the real kernel for good. The limit leaves ample time to
# start (a limit shorter than the start-up would kill the program before it
# waits and prove nothing); what proves the guard fired on a waiting program
# is that the program reached its wait and never got past it, died of
# SIGKILL no earlier than the limit, and the run says why.
started_ns=$(date +%s%N)
[[ $(status --seed 4 --wall-timeout 3s --trace "$scratch/guard.trace" -- \
       sh -c 'mkfifo "$0/f"; echo waiting; read x <"$0/f"; echo "read $x"' "$scratch") -eq 1 ]] \
  || fail "the wall-clock guard did not stop a blocked program"
elapsed_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
[[ $(cat "$scratch/out") == waiting ]] \
  || { cat "$scratch/out" >&2; fail "the program did not wait on its FIFO (killed before it got there, or got past it)"; }
(( elapsed_ms >= 3000 )) || fail "the program was stopped after $elapsed_ms ms, before the 3 s limit"
expect_line "$scratch/err" 'killed after the wall-clock limit \(3s\)'
expect_line "$scratch/guard.trace" ' process\.end at_ns=[0-9]+ pid=[0-9]+ program=sh signal=9$'
expect_line "$scratch/guard.trace" ' process\.timeout at_ns=[0-9]+ wall_timeout_ns=3000000000$'

"$launch" --quiet --seed 4 --trace "$scratch/t.text" -- date >/dev/null
"$launch" --quiet --seed 4 --trace-format jsonl --trace "$scratch/t.jsonl" -- date >/dev/null
"$launch" --check-trace "$scratch/t.text" >"$scratch/check.text" || fail "text trace does not validate"
"$launch" --check-trace "$scratch/t.jsonl" >"$scratch/check.jsonl" || fail "jsonl trace does not validate"
hash=$(grep -o 'trace_hash=[0-9a-f]*' "$scratch/check.text")
grep -q "$hash" "$scratch/check.jsonl" || fail "text and jsonl traces of one run differ ($hash)"
expect_line "$scratch/t.text" ' process\.exit at_ns=[0-9]+ code=0$'
expect_line "$scratch/t.text" ' process\.output at_ns=[0-9]+ stream=stdout bytes=29 hash=[0-9a-f]{16}$'

# Statically linked programs: refused with a clear message, directly (exit 2)
# and when a simulated process tries to exec one.
static_guest=$2/marionette_guest_static
[[ $(status --seed 4 -- "$static_guest") -eq 2 ]] || fail "a static program must be refused with exit 2"
expect_line "$scratch/err" 'is statically linked'
"$launch" --quiet --seed 4 --trace "$scratch/static.trace" -- sh -c '"$0"; echo status=$?' "$static_guest" \
  >"$scratch/out" 2>"$scratch/err" || true
expect_line "$scratch/out" '^status=126$'
expect_line "$scratch/err" 'refusing to exec the statically linked .*marionette_guest_static'
expect_line "$scratch/static.trace" ' determinism\.escape at_ns=[0-9]+ exec_static=.*marionette_guest_static( |$)'
