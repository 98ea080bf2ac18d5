#!/usr/bin/env bash
# Threads scheduled like processes (docs/processes.md, "Threads"), with
# programs nobody here wrote: Python's threading, C++ std::thread, RocksDB's
# db_bench with background flush and compaction threads on a simulated
# disk; then the edges: a thread spinning without system calls, thousands
# of threads, execve from a thread, fork from a multi-threaded process.
# Every run twice with one seed (identical output and trace), once with
# another where the seed decides something.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
edges=$guests/marionette_guest_thread_edges
cd "$scratch"

# 1. Python: four threads put into a queue.Queue, yielding between puts;
# the main thread joins a thread that sleeps an hour.
cat >threads.py <<'PY'
import os, queue, threading, time
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
start = time.monotonic()
sleeper = threading.Thread(target=time.sleep, args=(3600,))
sleeper.start(); sleeper.join()
print("joined an hour-long sleep after", round(time.monotonic() - start), "s")
PY
deterministic python /usr/bin/python3 threads.py
expect_line python.1a '^order( [0-3][0-3]){16}$'
expect_line python.1a '^joined an hour-long sleep after 3600 s$'
expect_line python.1a.trace ' thread\.start at_ns=[0-9]+ pid=[0-9]+ tid=[0-9]+ by=[0-9]+'
if grep -q 'determinism\.escape' python.1a.trace; then grep 'determinism\.escape' python.1a.trace >&2; fail "python: a scheduled run escaped"; fi

# 2. C++: std::thread workers, std::async, condition_variable::wait_for.
deterministic cpp "$guests/marionette_guest_threads_cpp"
expect_line cpp.1a '^log( [0-3]){16}$'
# The workers sleep 10-40 ms of virtual time; the 3 ms waits time out in between.
expect_line cpp.1a '^async 42 timed_out_waits [0-9]+ elapsed_ms 40$'

# 3. RocksDB (Debian's db_bench): fill, compact and read a database on the
# simulated disk; its flushes and compactions run on background threads.
command -v db_bench >/dev/null || fail "db_bench is not installed (scripts/deps.sh installs rocksdb-tools)"
rocks() {  # rocks NAME SEED: each run in the same directory (paths are traced)
  rm -rf rocks && mkdir -p rocks/disk
  local code=0
  (cd rocks && "$launch" --quiet --wall-timeout 60s --seed "$2" --disk disk --trace ../"$1.trace" -- \
    db_bench --benchmarks=fillrandom,compact,readrandom --num=5000 --db=disk/db --compression_type=none \
    --write_buffer_size=65536 --max_background_jobs=4 >../"$1.out" 2>../"$1.err") || code=$?
  [[ $code -eq 0 ]] || { cat "$1.err" >&2; fail "db_bench exited $code under marionette-launch"; }
  [[ -z $(ls -A rocks/disk) ]] || fail "db_bench wrote into the real directory behind --disk"
  # Its report carries wall-clock rates of the host: only the operations count.
  grep -E '^(fillrandom|compact|readrandom) ' "$1.out" | sed -E 's/ +: .* ([0-9]+) operations;.*/ \1/' >"$1.ops"
}
rocks rocks1a 1
rocks rocks1b 1
rocks rocks2 2
cmp -s rocks1a.trace rocks1b.trace || fail "db_bench: one seed, different traces"
! cmp -s rocks1a.trace rocks2.trace || fail "db_bench: the seed does not matter"
expect_line rocks1a.ops '^fillrandom 5000$'
expect_line rocks1a.ops '^readrandom 5000$'
[[ $(grep -c ' thread\.start ' rocks1a.trace) -ge 3 ]] || fail "db_bench: fewer than 3 threads scheduled"
expect_line rocks1a.trace ' disk\.fsync '

# 4. A thread spinning on an atomic flag without system calls, until another
# thread sets it: the spinner is preempted (not reproducible, and said so).
code=0
"$launch" --quiet --wall-timeout 30s --seed 1 --trace spin.trace -- "$edges" spin >spin.out 2>spin.err || code=$?
[[ $code -eq 0 ]] || { cat spin.err >&2; fail "the spinning program exited $code"; }
expect_line spin.out '^flag seen$'
# Whether the spinner ran first is the seed's choice: some seed of a few must
# preempt it.
preempted=0
for seed in 1 2 3 4 5 6; do
  "$launch" --quiet --wall-timeout 30s --seed "$seed" --trace "spin.$seed.trace" -- "$edges" spin >/dev/null 2>"spin.$seed.err"
  if grep -qE ' determinism\.escape at_ns=[0-9]+ source=preempt thread=[0-9]+' "spin.$seed.trace"; then
    preempted=1
    expect_line "spin.$seed.err" 'was preempted; this run is not reproducible from its seed'
    break
  fi
done
[[ $preempted -eq 1 ]] || fail "no seed of six made the spinner wait for a preemption"

# 5. Thousands of threads: 5000 created and joined one after another (as on
# Linux); 5000 alive at once stop at the documented limit with EAGAIN and a
# message, never a hang.
under_wall_timeout=180s under 1 many "$edges" many 5000
expect_line many '^created and joined 5000$'
# 4200 threads take 15-20 s alone here; the guard leaves room for a
# loaded CI machine (it catches hangs, it does not time the run).
under_wall_timeout=180s under 1 concurrent "$edges" concurrent 4200
expect_line concurrent '^created 4097 arrived 4097 first_error Resource temporarily unavailable$'
expect_line concurrent.err '^marionette: pthread_create: EAGAIN: this process has 4096 live scheduled threads'
expect_line concurrent.trace ' determinism\.escape at_ns=[0-9]+ thread=limit detail=4096'

# 6. execve from a thread other than the main one; fork from a process with
# two threads (the child has one, as on Linux).
same_for_one_seed exec "$edges" exec
expect_line exec.1a '^exec from a thread$'
same_for_one_seed fork "$edges" fork
expect_line fork.1a '^child threads after fork 1$'
expect_line fork.1a '^parent threads 2 child exit 0$'

# 7. Signals: pthread_kill wakes a thread parked in sigwait, kill(2) to the
# process wakes it again; sigtimedwait times out on the virtual clock.
same_for_one_seed signals "$edges" signals
expect_line signals.1a '^sigtimedwait EAGAIN after 5 s$'
expect_line signals.1a '^sigwait got SIGUSR1 then SIGUSR2$'
expect_line signals.1a.trace ' thread\.signal_sent at_ns=[0-9]+ pid=[0-9]+ from=[0-9]+ to=[0-9]+ signal=10'

# A thread that ends holding a robust mutex: its waiter gets EOWNERDEAD.
same_for_one_seed robust "$edges" robust
expect_line robust.1a '^robust lock after owner died: EOWNERDEAD$'

# A thread made through a pthread_create found by dlsym(RTLD_NEXT) (how
# jemalloc starts its background thread) is scheduled too; the program's
# other lookups keep their meaning.
same_for_one_seed dlsym "$edges" dlsym
expect_line dlsym.1a '^thread from a looked-up pthread_create set the flag: 1$'
expect_line dlsym.1a '^RTLD_NEXT from the program: after the program$'
expect_line dlsym.1a '^unknown symbol: NULL with dlerror$'
expect_line dlsym.1a.trace ' thread\.start at_ns=[0-9]+ pid=[0-9]+ tid=[0-9]+ by=[0-9]+'
if grep -q 'determinism\.escape' dlsym.1a.trace; then grep 'determinism\.escape' dlsym.1a.trace >&2; fail "dlsym: the looked-up thread ran unscheduled"; fi

# 8. A shell waiting for its background job (SIGCHLD wakes its sigsuspend):
# dash and bash, `wait` and `wait $!`.
for shell in /bin/dash /bin/bash; do
  same_for_one_seed wait "$shell" -c 'sleep 1 & wait; sleep 2 & wait $!; echo "waited $?"'
  expect_line wait.1a '^waited 0$'
done
echo "threads: ok"
