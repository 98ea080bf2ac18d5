#!/usr/bin/env bash
# Crash points of one node in a cluster (docs/cli.md, "Clusters"):
# `after <n> <event> crash <node>` in a scenario counts that node's own
# disk and file events, and the --crash-* options name the node they
# crash (--crash-at server=20ms). The key-value server of
# examples/cluster-power-loss (python3) loses power right after its n-th
# write, is restarted, and its client checks what survived.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
mkdir shared

# --- after <n> disk.write crash <node>: the node's own writes -------------
# Node a writes 12 lines of 3-4 bytes before node b starts writing lines of
# 7 bytes; b must lose power right after its own 5th write (offset 28),
# not after the run's 5th.
writer_a="sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo a\$i >>$scratch/shared/a.txt; done; sleep 0.2; echo a-done >>$scratch/shared/a.txt'"
writer_b="sh -c 'sleep 0.1; for i in 1 2 3 4 5 6 7 8 9; do echo bbbbb\$i >>$scratch/shared/b.txt; done'"
printf 'after 5 disk.write crash b\nrun 2s\nexpect exit a 0\nexpect exit b -1\n' >own.scn
for run in a b; do
  code=0
  "$launch" --seed 1 --disk shared --scenario own.scn --trace "own.$run.trace" \
    --node a="$writer_a" --node b="$writer_b" >"own.$run.out" 2>"own.$run.err" || code=$?
  [[ $code -eq 0 ]] || { cat "own.$run.err" >&2; fail "after 5 disk.write crash b: exit $code"; }
done
cmp -s own.a.trace own.b.trace || { diff own.a.trace own.b.trace >&2 || true; fail "after ... crash: one seed, two traces"; }
before_crash() { awk '/ coordinator\.crash_point /{exit} / disk\.write /{print}' "$1"; }
[[ $(before_crash own.a.trace | grep -c ' len=7 ') -eq 5 ]] || { before_crash own.a.trace >&2; fail "b did not crash right after its 5th write"; }
[[ $(before_crash own.a.trace | grep -vc ' len=7 ') -ge 12 ]] || fail "node a's 12 writes did not come first (the test proves nothing)"
before_crash own.a.trace | tail -1 | grep -q ' offset=28 len=7 ' || fail "the last write before the crash is not b's 5th"
expect_line own.a.trace ' coordinator\.crash_armed at_ns=0 after_event=disk\.write count=5$'
expect_line own.a.trace ' node\.crash at_ns=[0-9]+ node=b '
expect_line own.a.err '^marionette: node b lost power at [0-9.]+ms'

# The example's server, crashed after its 12th write (each an appended
# key), restarted; without fsync and with 50% of unsynced writes lost, the
# client finds acknowledged keys gone; with fsync, none. Same seed twice:
# the same output and trace; another seed crashes at another time.
cat >after.scn <<'SCN'
after 12 disk.write crash server
run 300ms
restart server
run until idle
expect exit client 0
SCN
kv() {  # kv MODE SEED OUT
  local code=0
  "$launch" --seed "$2" --wall-timeout 60s --disk server="$example/data" --crash-lost-write-rate 50% \
    --scenario after.scn --trace "$3.trace" \
    --node server="/usr/bin/python3 $example/kv_server.py 7000 $1 $example/data" \
    --node client="/usr/bin/python3 $example/kv_client.py server 7000 100" >"$3" 2>"$3.err" || code=$?
  echo $code
}
[[ $(kv fsync 1 fsync.out) -eq 0 ]] || { cat fsync.out fsync.out.err >&2; fail "the fsync server lost an acknowledged key"; }
expect_line fsync.out '^client: survived [0-9]+ lost 0 '
[[ $(kv nofsync 1 nofsync.a) -eq 1 ]] || { cat nofsync.a nofsync.a.err >&2; fail "the server without fsync lost nothing"; }
[[ $(kv nofsync 1 nofsync.b) -eq 1 ]] || fail "seed 1 again: another verdict"
[[ $(kv nofsync 2 nofsync.c) -eq 1 ]] || fail "seed 2: the server without fsync lost nothing"
cmp -s nofsync.a nofsync.b || { diff nofsync.a nofsync.b >&2 || true; fail "kv seed 1 twice: different output"; }
cmp -s nofsync.a.trace nofsync.b.trace || fail "kv seed 1 twice: different traces"
expect_line nofsync.a '^client: survived [0-9]+ lost [1-9]'
expect_line nofsync.a.err 'lost power at [0-9.]+ms: 12 unsynced writes'
crash_time() { grep -oE ' node\.crash at_ns=[0-9]+' "$1" | head -1; }
[[ $(crash_time nofsync.a.trace) != "$(crash_time nofsync.c.trace)" ]] || fail "seeds 1 and 2 crashed at the same time"

# --- --crash-* NODE=... without a scenario ---------------------------------
# The node stays down; the client (node c) decides the run.
slow_writer="sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo \$i >>$scratch/shared/w.txt; sleep 0.01; done'"
crash_run() {  # crash_run OUT OPTION...
  local out=$1 code=0; shift
  "$launch" --seed 3 --disk shared "$@" --trace "$out.trace" \
    --node w="$slow_writer" --node c="sh -c 'sleep 1; echo client-done'" >"$out" 2>"$out.err" || code=$?
  echo $code
}
n=0
for option in "--crash-after=w=4 disk.write" --crash-at=w=35ms --crash-random-within=w=10ms..90ms --crash-rate=w=20%; do
  name=opt$((++n))
  [[ $(crash_run $name.a "$option") -eq 0 ]] || { cat $name.a.err >&2; fail "$option: the client's run failed"; }
  [[ $(crash_run $name.b "$option") -eq 0 ]] || fail "$option: the second run failed"
  cmp -s $name.a.trace $name.b.trace || fail "$option: one seed, two traces"
  expect_line $name.a.err '^marionette: node w lost power at [0-9.]+ms'
  expect_line $name.a.trace ' node\.crash at_ns=[0-9]+ node=w '
  expect_line $name.a.trace "^marionette\\.trace .* crash=--crash-"
  [[ $(cat $name.a) == client-done ]] || fail "$option: the client did not finish"
done
# --crash-after: the crash follows w's 4th write (4 lines of 2 bytes).
[[ $(before_crash opt1.a.trace | grep -c ' disk\.write ') -eq 4 ]] || fail "--crash-after w=4: not after the 4th write"
expect_line opt2.a.trace ' node\.crash at_ns=35000000 node=w '

# A crash point the run never reaches is said, and --require-crash fails.
[[ $(crash_run never "--crash-after=w=500 disk.write") -eq 0 ]] || fail "an unreached crash point failed the run"
expect_line never.err "^marionette: crash point not reached: --crash-after 'w=500 disk.write'$"
[[ $(crash_run never2 "--crash-after=w=500 disk.write" --require-crash) -eq 1 ]] || fail "--require-crash: the unreached point passed"
expect_line never2.err 'crash point not reached: .*; --require-crash makes this a failure'

# --- bad input: exit 2, a message that says what to write -----------------
bad() {  # bad PATTERN OPTION...
  local pattern=$1 code=0; shift
  "$launch" --seed 1 "$@" --node w='true' --node c='true' >bad.out 2>bad.err || code=$?
  [[ $code -eq 2 ]] || { cat bad.err >&2; fail "'$*': exit $code, expected 2"; }
  grep -qE -- "$pattern" bad.err || { cat bad.err >&2; fail "'$*': the message does not match '$pattern'"; }
}
bad "--crash-at '20ms' in a cluster names the node that loses power: --crash-at w=20ms" --crash-at 20ms
bad "no node named 'nosuch'" --crash-at nosuch=20ms
bad "in a cluster it counts the events of the node's disk and files" --crash-after 'w=3 process.end'
bad "give at most one of" --crash-at w=20ms --crash-rate w=1%
bad "does not apply to a cluster run .*--after-crash|--after-crash does not apply" --crash-at w=20ms --after-crash true
printf 'run 1ms\n' >ok.scn
bad "does not apply to a run driven by --scenario" --crash-at w=20ms --scenario ok.scn
bad "--require-crash needs a crash point" --require-crash
# The scenario line is checked when it runs: its error names the line.
for line in 'after 3 net.send crash w' 'after 3 disk.write kill w'; do
  printf '%s\nrun 1s\n' "$line" >bad.scn
  code=0
  "$launch" --seed 1 --scenario bad.scn --node w='true' --node c='true' >bad.out 2>bad.err || code=$?
  [[ $code -eq 1 ]] && grep -q "bad.scn:1: $line: error" bad.err || { cat bad.err >&2; fail "'$line': not refused (exit $code)"; }
done
# A node the scenario names must exist: exit 2 before anything runs.
printf 'run 1ms\nafter 3 disk.write crash nosuch\n' >bad.scn
code=0
"$launch" --seed 1 --scenario bad.scn --trace nosuch.trace --node w='true' --node c='true' >bad.out 2>bad.err || code=$?
[[ $code -eq 2 ]] || { cat bad.err >&2; fail "a scenario naming no node: exit $code, expected 2"; }
expect_line bad.err "bad\.scn:2: after 3 disk\.write crash nosuch: no node named 'nosuch' \(the nodes: w, c\)"
[[ ! -s nosuch.trace ]] || fail "the refused scenario ran (it wrote a trace)"
echo "cluster crash points: ok"
