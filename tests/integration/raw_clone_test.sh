#!/usr/bin/env bash
# Threads made by a raw clone(2) with CLONE_THREAD, not by pthread_create
# (docs/processes.md, "Raw clones"): the shim performs the clone, and the
# new thread is scheduled from its first instruction like a pthread.
# Three threads from glibc's clone() wrapper, three from a bare `syscall`
# instruction making clone, three making clone3, each contending on a futex-based lock and sleeping while it
# holds it: one seed twice gives the same output and trace, another seed
# another order. pthread_create falling back to clone (clone3 refused by
# a filter) still schedules each thread once. A thread sharing its creator's TLS is refused: it runs
# unscheduled, and the trace says why.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
guest=$guests/marionette_guest_raw_clone
cd "$scratch"

for mode in clone syscall clone3; do
  deterministic "$mode" "$guest" "$mode"
  expect_line "$mode.1a" '^log( [0-2]){12}$'
  expect_line "$mode.1a" '^gettid in each thread is what clone returned: yes$'
  [[ $(grep -c ' thread\.start ' "$mode.1a.trace") -eq 3 ]] || { cat "$mode.1a.trace" >&2; fail "$mode: not 3 thread.start events"; }
  [[ $(grep -c ' thread\.end ' "$mode.1a.trace") -ge 3 ]] || fail "$mode: fewer than 3 thread.end events"
  [[ $mode == clone ]] || expect_line "$mode.1a" '^xmm1 and MXCSR as at the clone: yes$'
  if grep -q 'determinism\.escape' "$mode.1a.trace"; then
    grep 'determinism\.escape' "$mode.1a.trace" >&2
    fail "$mode: a raw clone's thread escaped the scheduler"
  fi
done

# pthread_create where clone3 fails with ENOSYS (a container's filter, here
# the program's own): glibc falls back to clone, which the shim traps; the
# threads are scheduled once each, by the pthread_create wrapper.
deterministic pthread "$guest" pthread
expect_line pthread.1a '^log( [0-2]){12}$'
[[ $(grep -c ' thread\.start ' pthread.1a.trace) -eq 3 ]] || { cat pthread.1a.trace >&2; fail "pthread: not 3 thread.start events"; }
if grep -q 'determinism\.escape' pthread.1a.trace; then grep 'determinism\.escape' pthread.1a.trace >&2; fail "pthread: a thread escaped"; fi

# The same with a program nobody here wrote: Python's threading, four
# threads putting into a queue.Queue, yielding between puts.
cat >threads.py <<'PY'
import os, queue, threading
items = queue.Queue()
def worker(i):
    for k in range(4):
        items.put((i, k))
        os.sched_yield()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads: t.start()
order = [items.get() for _ in range(16)]
for t in threads: t.join()
print("order", " ".join(f"{i}{k}" for i, k in order))
PY
deterministic python "$guest" no_clone3 /usr/bin/python3 threads.py
expect_line python.1a '^order( [0-3][0-3]){16}$'
[[ $(grep -c ' thread\.start ' python.1a.trace) -ge 4 ]] || { cat python.1a.trace >&2; fail "python: fewer than 4 thread.start events"; }
if grep -q 'determinism\.escape' python.1a.trace; then grep 'determinism\.escape' python.1a.trace >&2; fail "python: a thread escaped"; fi

# Clones that make processes: a fork-like clone still reaches the kernel
# (its child is adopted); a fork-like clone3 fails with ENOSYS, which
# glibc's posix_spawn and others answer by falling back to clone.
under 1 forks "$guest" forks
expect_line forks '^fork-like clone: child exit 7$'
expect_line forks '^fork-like clone3: Function not implemented$'

# Refused: no CLONE_SETTLS, so the new thread would share the shim's state
# with its creator. It runs (spinning, no system calls) outside the
# scheduler, with a warning and a determinism.escape naming the reason.
# The same for a TLS pointer into a block not of glibc's layout: the new
# thread reaches the program's code without the shim touching that block.
for mode in shared_tls foreign_tls; do
  under 1 "$mode" "$guest" "$mode"
  expect_line "$mode" "^made a thread with $mode\$"
  expect_line "$mode.trace" " determinism\\.escape at_ns=[0-9]+ thread=clone_$mode"
  expect_line "$mode.err" 'a thread made by a raw clone cannot be scheduled'
  ! grep -q ' thread\.start ' "$mode.trace" || fail "$mode: the refused thread was scheduled"
done
echo "PASS"
