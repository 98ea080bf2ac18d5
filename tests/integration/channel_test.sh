#!/usr/bin/env bash
# The shared-memory channel between each process and the coordinator
# (include/marionette/channel.hpp, docs/architecture.md "The channel"):
#  1. forwarded calls travel through it (the --summary says how many, and
#     that none went over the socket), deterministically;
#  2. a coordinator that dies never leaves a guest behind: a guest parked in
#     the scheduler and a guest in the middle of a stream of forwarded calls
#     both exit within a second of the launcher's SIGKILL;
#  3. a guest that scribbles over its own channel makes the run fail with
#     exit 3 and a message naming the process, and nothing hangs.
source "$(dirname "$0")/lib.sh"
launch=$1
guest=$2/marionette_guest_channel

# 1. Through the channel, and deterministic.
same_for_one_seed calls "$guest" calls 2000
expect_line "$scratch/calls.1a" '^calls 2000 size 1$'
"$launch" --seed 1 --summary --wall-timeout 30s -- "$guest" calls 2000 >"$scratch/summary.out" 2>"$scratch/summary.err" \
  || { cat "$scratch/summary.err" >&2; fail "the summary run failed"; }
# glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH): 2001 on the simulated
# file were forwarded, and one on stdout (printf's) was not; one of the two
# writes went to the simulated file. None of them went by socket.
expect_line "$scratch/summary.err" '^    newfstatat +2002 +2001 +0$'
expect_line "$scratch/summary.err" '^    write +2 +1 +0$'
expect_line "$scratch/summary.err" '^  transport: [0-9]+ requests through shared memory'

# A read that must wait parks with its descriptor named, not sent: the
# coordinator takes its own copy (pidfd_getfd, which needs ptrace rights over
# its descendants: Yama's ptrace_scope 0 or 1), so the block uses the
# channel too. A 2-node ping-pong of 200 round trips: 400 reads forwarded,
# none by socket, and the same trace twice.
pingpong=$2/marionette_guest_pingpong
for run in a b; do
  "$launch" --seed 1 --summary --wall-timeout 30s --trace "$scratch/pingpong.$run.trace" \
    --node server="$pingpong serve 7000" --node client="$pingpong ping server 7000 200" \
    >"$scratch/pingpong.$run.out" 2>"$scratch/pingpong.$run.err" \
    || { cat "$scratch/pingpong.$run.err" >&2; fail "the ping-pong cluster failed"; }
done
cmp -s "$scratch/pingpong.a.trace" "$scratch/pingpong.b.trace" || fail "ping-pong: seed 1 twice gave different traces"
scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
if ((scope <= 1)); then
  expect_line "$scratch/pingpong.a.err" '^    read +400 +400 +0$'
else
  expect_line "$scratch/pingpong.a.err" '^    read +400 +400 +400$'
fi

# gone PID: the process has ended (no such process, or a zombie nobody reaped).
gone() { [[ ! -e /proc/$1/stat ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

# 2. The coordinator dies under a guest waiting in MODE; the guest must exit
# within a second. In `park` mode the guest's child computes forever without
# a call (it never talks to the coordinator, so nothing tells it): this
# script ends it, by pid, after the check.
coordinator_dies_under() {
  local mode=$1 word=$2
  "$launch" --quiet --seed 1 --wall-timeout 60s -- "$guest" "$mode" 2>"$scratch/$mode.err" >/dev/null &
  local launcher=$!
  local child="" grandchild=""
  for _ in $(seq 300); do
    if grep -q "^$word\$" "$scratch/$mode.err" 2>/dev/null; then
      child=$(pgrep -P "$launcher" | head -1 || true)
      [[ -n $child ]] && break
    fi
    sleep 0.05
  done
  [[ -n $child ]] || { kill -9 "$launcher"; cat "$scratch/$mode.err" >&2; fail "$mode: the guest never said '$word'"; }
  grandchild=$(pgrep -P "$child" | head -1 || true)
  sleep 0.2  # well inside its wait or its stream of calls
  kill -9 "$launcher"
  wait "$launcher" 2>/dev/null || true
  local waited=0
  while ! gone "$child" && ((waited < 20)); do
    sleep 0.05
    waited=$((waited + 1))
  done
  [[ -n $grandchild ]] && kill -9 "$grandchild" 2>/dev/null
  if ! gone "$child"; then
    kill -9 "$child" 2>/dev/null || true
    fail "$mode: the guest (pid $child) was still alive 1 s after its coordinator died"
  fi
  # (Its farewell on stderr went to the dead launcher's pipe: nothing to read.)
}
coordinator_dies_under park parked
coordinator_dies_under busy busy

# 3. A scribbled channel: exit 3, a clear message, and no hang.
code=0
timeout 30 "$launch" --seed 1 --wall-timeout 20s -- "$guest" scribble >"$scratch/scribble.out" 2>"$scratch/scribble.err" || code=$?
[[ $code -eq 3 ]] || { cat "$scratch/scribble.err" >&2; fail "a scribbled channel made the launcher exit $code, not 3"; }
expect_line "$scratch/scribble.err" '^marionette-launch: the run is invalid: process [0-9]+ \(marionette_guest_channel\) broke its channel to the coordinator: (its channel.s request number jumped from [0-9]+ to [0-9]+|it posted a request before the previous one was answered)$'
if grep -q "scribbled and went on" "$scratch/scribble.out"; then fail "the scribbling guest went on as if nothing happened"; fi
echo "channel: ok"
