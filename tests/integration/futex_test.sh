#!/usr/bin/env bash
# The rest of futex(2) under the scheduler (docs/processes.md, "Threads"):
# futex_waitv on the virtual clock, priority-inheritance mutexes, futexes
# shared between processes through MAP_SHARED memory, /proc/self/task by
# virtual tid; then Python's multiprocessing lock between processes. Every
# run twice with one seed (identical output and trace), once with another
# where the seed decides something.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
futex=$guests/marionette_guest_futex
cd "$scratch"

no_escape() {  # no_escape TRACE: the run stayed inside the model
  if grep -q 'determinism\.escape' "$1"; then grep 'determinism\.escape' "$1" >&2; fail "$1: a scheduled run escaped"; fi
}

# 1. futex_waitv: a timeout of 2 s of virtual time, EAGAIN, and which of two
# racing wakers woke it (the seed's choice).
deterministic waitv "$futex" waitv
expect_line waitv.1a '^waitv timed out after 2000 ms$'
expect_line waitv.1a '^waitv on a changed word: EAGAIN$'
expect_line waitv.1a '^woken by( ([12]|changed)){8}$'
no_escape waitv.1a.trace

# 2. PI mutexes contended by four threads: every increment kept, the order
# the seed's; a timed lock times out on the virtual clock; a robust PI
# mutex whose owner died is EOWNERDEAD for the next.
deterministic pi "$futex" pi
expect_line pi.1a '^pi counter 100 \(expected 100\)$'
expect_line pi.1a '^pi order [a-d]{100}$'
expect_line pi.1a '^timedlock on a held PI mutex: ETIMEDOUT after 1000 ms$'
expect_line pi.1a '^robust PI lock after owner died: EOWNERDEAD$'
no_escape pi.1a.trace
# The lock was contended: it passed from thread to thread many times.
switches=$(sed -n 's/^pi order //p' pi.1a | fold -w1 | uniq | wc -l)
[[ $switches -ge 20 ]] || fail "pi: the lock changed hands only $switches times"

# 3. A process-shared mutex and condition variable in MAP_SHARED memory,
# anonymous or a memfd, between a parent and its forked child; a PI one.
for kind in anon memfd pi; do
  deterministic "pshared_$kind" "$futex" pshared "$kind"
  expect_line "pshared_$kind.1a" "^pshared $kind counter 40 \\(expected 40\\) child exit 0\$"
  expect_line "pshared_$kind.1a" "^pshared $kind order pcpcpcpcp[pc]{41}\$"
  no_escape "pshared_$kind.1a.trace"
done

# A process that ends holding a robust process-shared mutex: the kernel
# marks it FUTEX_OWNER_DIED, its waiter in the other process wakes.
same_for_one_seed orphan "$futex" orphan
expect_line orphan.1a '^robust shared lock after the owner process ended: EOWNERDEAD after 999 ms$'

# 4. /proc/self/task lists the tids gettid returns, and a thread's directory
# opens by the tid it knows.
same_for_one_seed task "$futex" task
expect_line task.1a '^task lists 3 threads, the tids of gettid$'
expect_line task.1a '^task/<tid>/stat of a thread: opened$'
# Python: threading.get_native_id (gettid) of each live thread is in
# os.listdir('/proc/self/task'), and /proc/self/task/<tid>/comm names it.
cat >task.py <<'PY'
import os, threading
ready, done, ids = threading.Barrier(4), threading.Event(), []
def worker():
    ids.append(threading.get_native_id())
    ready.wait(); done.wait()
threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads: t.start()
ready.wait()
listed = sorted(int(n) for n in os.listdir("/proc/self/task"))
print("listed", len(listed), "equal", listed == sorted(ids + [os.getpid()]))
print("comm", open(f"/proc/self/task/{ids[0]}/comm").read().strip() != "")
done.set()
for t in threads: t.join()
PY
same_for_one_seed task_python /usr/bin/python3 task.py
expect_line task_python.1a '^listed 4 equal True$'
expect_line task_python.1a '^comm True$'

# 5. Python's multiprocessing: a Lock (a POSIX semaphore in shared memory)
# and a shared Value between the parent and two forked children.
cat >shared.py <<'PY'
import multiprocessing as mp, os
def work(lock, total, log, name):
    for _ in range(20):
        with lock:
            seen = total.value
            os.sched_yield()
            total.value = seen + 1
            log.put(name)
        os.sched_yield()
if __name__ == "__main__":
    mp.set_start_method("fork")
    lock, total, log = mp.Lock(), mp.Value("i", 0, lock=False), mp.SimpleQueue()
    children = [mp.Process(target=work, args=(lock, total, log, n)) for n in "ab"]
    for c in children: c.start()
    work(lock, total, log, "m")
    for c in children: c.join()
    print("total", total.value, "order", "".join(log.get() for _ in range(60)))
PY
deterministic multiprocessing /usr/bin/python3 shared.py
expect_line multiprocessing.1a '^total 60 order [abm]{60}$'
# The processes took the lock from one another (a waiter in one process
# woken by an unlock in another), not one after another.
switches=$(sed -n 's/^total 60 order //p' multiprocessing.1a | fold -w1 | uniq | wc -l)
[[ $switches -ge 10 ]] || fail "multiprocessing: the lock changed hands only $switches times"
no_escape multiprocessing.1a.trace
echo "futex: ok"
