#!/usr/bin/env bash
# marionette-ctl as the README uses it (issue 16): one quoted argument is a
# whole command line (`'run until idle'`), the same as unquoted words;
# replies are printed decoded (a trace.read's trace as its own lines, a
# message with spaces as spaces), and --raw prints the wire form.
source "$(dirname "$0")/lib.sh"
launch=$1
ctl=$2
cd "$scratch"
mkdir data

"$launch" --seed 3 --disk data --control run.sock -- sh -c 'echo "hello world" > data/greeting' >run.out 2>run.err &
launcher=$!
for _ in $(seq 300); do [[ -S run.sock ]] && break; sleep 0.1; done
[[ -S run.sock ]] || { cat run.err >&2; fail "the launcher never opened its control socket"; }

expect_exit 0 "$ctl" run.sock 'run until idle'
expect_in "$scratch/out" "ok "
expect_in "$scratch/out" "running=false"
expect_exit 0 "$ctl" run.sock status
words_reply=$(cat "$scratch/out")
expect_exit 0 "$ctl" run.sock 'status'
[[ $(cat "$scratch/out") == "$words_reply" ]] || fail "'status' as one argument and as a word differ"

# trace.read: decoded, the trace's events one per line.
expect_exit 0 "$ctl" run.sock trace.read
head -1 "$scratch/out" | grep -q '^ok events=[0-9]*$' || { cat "$scratch/out" >&2; fail "trace.read's first line"; }
grep -q '^trace:$' "$scratch/out" || { cat "$scratch/out" >&2; fail "trace.read's trace is not its own block"; }
grep -q '^event=[0-9]* ' "$scratch/out" || { cat "$scratch/out" >&2; fail "trace.read's events are not one per line"; }
grep -q '%0A' "$scratch/out" && fail "trace.read output is still %-escaped"
expect_exit 0 "$ctl" --raw run.sock trace.read
[[ $(wc -l <"$scratch/out") -eq 1 ]] && grep -q '%0A' "$scratch/out" || fail "--raw does not keep the wire form"

# An error reply: its message decoded.
expect_exit 1 "$ctl" run.sock 'expect exit nosuch 0'
grep -q '^error [a-z_]* .* ' "$scratch/out" || { cat "$scratch/out" >&2; fail "an error message is not decoded"; }
grep -q '%20' "$scratch/out" && fail "the error message is still %-escaped"

expect_exit 0 "$ctl" --version
expect_in "$scratch/out" "marionette-ctl "
"$ctl" run.sock quit >/dev/null || fail "quit failed"
code=0
wait "$launcher" || code=$?
[[ $code -eq 0 ]] || { cat run.err >&2; fail "the launcher exited $code"; }
echo "ctl: ok"
