#!/usr/bin/env bash
# Processes under the scheduler: a guest covering fork/pipe/wait/kill/system/
# popen/posix_spawn, bash pipelines, a pipe larger than the kernel's buffer,
# sleeping children in virtual time and a deadlock report. Every run twice
# with one seed (same output and trace) and once with another.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"

run() {  # run NAME SEED -- command...: stdout in NAME.out, trace in NAME.trace
  local name=$1 seed=$2
  shift 3
  "$launch" --quiet --seed "$seed" --wall-timeout 60s --trace "$name.trace" -- "$@" >"$name.out" 2>"$name.err"
}

# The guest: every family of child-process calls.
for name in g1a g1b; do
  run $name 1 -- "$guests/marionette_guest_children" || { cat $name.err >&2; fail "children guest failed"; }
done
run g2 2 -- "$guests/marionette_guest_children" || { cat g2.err >&2; fail "children guest failed (seed 2)"; }
cmp -s g1a.out g1b.out || fail "children guest: one seed, different output"
cmp -s g1a.trace g1b.trace || fail "children guest: one seed, different traces"
! cmp -s g1a.out g2.out || fail "children guest: the seed does not reach the virtual pids"
expect_line g1a.out '^tick 2 from [0-9]+ \(parent [0-9]+\)$'
expect_line g1a.out '^parent [0-9]+ forked [0-9]+, reaped [0-9]+, exit 7, 0\.75 s virtual$'
expect_line g1a.out '^sleeper [0-9]+: signal 15$'
expect_line g1a.out '^system: exit 3$'
expect_line g1a.out '^popen read: from popen$'
expect_line g1a.out '^posix_spawnp [0-9]+: exit 5$'
# The child's pid as the child sees it is the pid fork returned.
forked=$(sed -nE 's/^parent [0-9]+ forked ([0-9]+),.*/\1/p' g1a.out)
parent=$(sed -nE 's/^parent ([0-9]+) forked.*/\1/p' g1a.out)
expect_line g1a.out "^tick 0 from $forked \\(parent $parent\\)$"
expect_line g1a.trace " process\\.fork at_ns=[0-9]+ parent=$parent child=$forked"
expect_line g1a.trace " process\\.signal_sent at_ns=[0-9]+ from=$parent to=[0-9]+ signal=15"
# How each process ended is in the trace: the child's _exit(7), the
# sleeper's SIGTERM, the launched guest's 0.
expect_line g1a.trace " process\\.end at_ns=[0-9]+ pid=$forked program=[a-z_]+ code=7"
expect_line g1a.trace " process\\.end at_ns=[0-9]+ pid=[0-9]+ program=[a-z_]+ signal=15"
expect_line g1a.trace " process\\.end at_ns=[0-9]+ pid=$parent program=marionette_guest_children code=0"

# bash pipelines: as deterministic as one program.
pipeline='seq 1 50 | sort -R | head -3; echo "shell $$"'
run p1a 4 -- bash -c "$pipeline" || fail "pipeline failed"
run p1b 4 -- bash -c "$pipeline" || fail "pipeline failed"
run p2 5 -- bash -c "$pipeline" || fail "pipeline failed (seed 5)"
cmp -s p1a.out p1b.out && cmp -s p1a.trace p1b.trace || fail "pipeline: one seed, different runs"
! cmp -s p1a.out p2.out || fail "pipeline: the seed does not matter"
[[ $(wc -l <p1a.out) -eq 4 ]] || fail "pipeline printed $(wc -l <p1a.out) lines"
"$launch" --verify --seed 4 -- bash -c "$pipeline" >/dev/null 2>verify.err || { cat verify.err >&2; fail "--verify failed on a pipeline"; }
grep -q 'verify: 2 runs identical' verify.err || fail "no verify confirmation for the pipeline"

# More than a pipe holds: the writer parks until the reader drains it.
run big 6 -- bash -c 'seq 1 200000 | tail -1' || { cat big.err >&2; fail "a large pipeline failed"; }
[[ $(cat big.out) == 200000 ]] || fail "large pipeline printed '$(cat big.out)'"

# Sleeping children: virtual time, the longest sleep decides the end.
run sleepers 7 -- bash -c 'sleep 100 & sleep 50 & wait; echo slept' || fail "sleeping children failed"
[[ $(cat sleepers.out) == slept ]] || fail "sleepers printed '$(cat sleepers.out)'"
expect_line sleepers.trace ' process\.end at_ns=100[0-9]{9} pid=[0-9]+ program=sleep'

# A shell loop over a command substitution, with a signal handler run while
# the shell waits (bash reaps children from its SIGCHLD handler too).
loop='trap "echo got-usr1" USR1; sleep 5 & p=$!; (sleep 1; kill -USR1 $$) & wait $p; for i in $(seq 1 3); do echo $i; sleep 0.1; done; echo done'
run loop1 9 -- bash -c "$loop" || { cat loop1.err >&2; fail "the shell loop failed"; }
run loop2 9 -- bash -c "$loop" || { cat loop2.err >&2; fail "the shell loop failed (second run)"; }
[[ $(cat loop1.out) == $'got-usr1\n1\n2\n3\ndone' ]] || { cat loop1.out >&2; fail "the shell loop printed the wrong lines"; }
cmp -s loop1.trace loop2.trace || fail "the shell loop: one seed, different traces"

# Timers on the virtual clock: a periodic timerfd through epoll (missed
# periods counted), alarm interrupting sleep, setitimer with pause.
run timers1 10 -- "$guests/marionette_guest_timers" || { cat timers1.err >&2; fail "the timers guest failed"; }
run timers2 10 -- "$guests/marionette_guest_timers" || { cat timers2.err >&2; fail "the timers guest failed (second run)"; }
cmp -s timers1.out timers2.out && cmp -s timers1.trace timers2.trace || fail "timers: one seed, different runs"
cat >timers.expected <<'EOT'
timerfd fired 1 at 0.250
timerfd fired 1 at 0.350
timerfd fired 2 at 0.600
timerfd fired 1 at 0.650
next expiry in 0.100, interval 0.100
alarm: 1 signal(s), sleep interrupted at 2.650 with 3 s left
itimer: 0.999999 s to go
itimer: 3 signals by 4.150
EOT
diff -u timers.expected timers1.out || fail "the timers guest saw other times"
run alarm 11 -- python3 -c 'import signal, time
t0 = time.monotonic()
signal.signal(signal.SIGALRM, lambda s, f: print("alarm at", round(time.monotonic() - t0, 3)))
signal.alarm(2)
time.sleep(5)
print("slept", round(time.monotonic() - t0, 3))' || fail "python3 with an alarm failed"
[[ $(cat alarm.out) == $'alarm at 2.0\nslept 5.0' ]] || { cat alarm.out >&2; fail "python3's alarm did not fire at 2 virtual seconds"; }

# A process that computes without blocking still gets its alarm on time:
# once its clock passes the next event in the run it yields to the
# scheduler (wire::SyscallReply::horizon_ns).
run busy 13 -- python3 -c 'import signal, time, sys
t0 = time.monotonic()
def on_alarm(*a):
    print("alarm after", round(time.monotonic() - t0, 3))
    sys.exit(0)
signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(1)
while True:
    time.monotonic()' || { cat busy.err >&2; fail "the busy loop with an alarm failed"; }
[[ $(cat busy.out) == "alarm after 1.0" ]] || { cat busy.out >&2; fail "a busy loop's alarm did not fire at 1 virtual second"; }

# SIGKILL between processes is complete before the sender goes on: the
# target's end comes next in the trace and a WNOHANG wait finds it, however
# long the kernel takes to tear the target down (the scheduler waits on its
# pidfd without a wall-clock limit; three runs, one trace).
kill9='import os, signal, time
pid = os.fork()
if pid == 0:
    time.sleep(100)
    os._exit(0)
time.sleep(1)
os.kill(pid, signal.SIGKILL)
got, status = os.waitpid(pid, os.WNOHANG)
print(got == pid, os.WIFSIGNALED(status) and os.WTERMSIG(status))'
# (python3 -c lists its working directory: the runs use one that does not
# fill up with their own outputs.)
mkdir quiet
for name in kill9a kill9b kill9c; do
  (cd quiet && run ../$name 14 -- python3 -c "$kill9") || { cat $name.err >&2; fail "python3 killing its child failed"; }
  [[ $(cat $name.out) == "True 9" ]] || { cat $name.out >&2; fail "WNOHANG right after SIGKILL did not find the child"; }
done
cmp -s kill9a.trace kill9b.trace && cmp -s kill9a.trace kill9c.trace || fail "SIGKILL: one seed, different traces"
grep -A1 ' process\.signal_sent .* signal=9$' kill9a.trace | tail -1 | grep -qE ' process\.end at_ns=1[0-9]{9} pid=[0-9]+ program=python3 signal=9$' \
  || { cat kill9a.trace >&2; fail "the killed child's end does not follow the SIGKILL"; }

# A child started with an emptied environment stays under simulation: the
# shim puts LD_PRELOAD and MARIONETTE_* back into its execve.
run envi 12 -- sh -c 'env -i /usr/bin/python3 -c "import os, time; print(os.getpid(), int(time.time()))"' \
  || { cat envi.err >&2; fail "env -i python3 failed"; }
read -r envi_pid envi_time <envi.out
[[ $envi_time -lt 1767312000 ]] || fail "env -i python3 saw the real clock ($envi_time)"
expect_line envi.trace " process\.exec at_ns=[0-9]+ pid=$envi_pid program=python3"

# A deadlock: the program reads a pipe only it could write.
code=0
run dead 8 -- python3 -c 'import os; r, w = os.pipe(); os.read(r, 1)' || code=$?
[[ $code -eq 1 ]] || { cat dead.err >&2; fail "a deadlocked run exited $code, expected 1"; }
grep -q 'DEADLOCK: every process is blocked' dead.err || { cat dead.err >&2; fail "no deadlock report"; }
grep -qE 'pid [0-9]+ \(python3\) waits: read descriptors=1' dead.err || { cat dead.err >&2; fail "the report does not say what python3 waits for"; }
expect_line dead.trace ' scheduler\.deadlock at_ns=[0-9]+ processes=1 launched_alive=yes'
expect_line dead.trace ' process\.deadlock '
# popen (libc's, through ctypes): the 257th open stream fails with EMFILE
# before anything starts, every pclose returns its child's status, and a
# closed stream's entry serves again.
cat >"$scratch/popen.py" <<'PY'
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.popen.restype = ctypes.c_void_p
libc.popen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.pclose.argtypes = [ctypes.c_void_p]
streams = []
while len(streams) <= 300:
    s = libc.popen(b"exit 3", b"r")
    if not s:
        print("popen failed after", len(streams), "errno", ctypes.get_errno())
        break
    streams.append(s)
print("statuses:", sorted(set(libc.pclose(s) >> 8 for s in streams)))
s = libc.popen(b"exit 4", b"r")
print("again:", bool(s), libc.pclose(s) >> 8)
PY
"$launch" --quiet --seed 1 --trace popen.trace -- /usr/bin/python3 "$scratch/popen.py" >popen.out 2>popen.err || { cat popen.err >&2; fail "the popen program failed"; }
[[ $(cat popen.out) == $'popen failed after 256 errno 24\nstatuses: [3]\nagain: True 4' ]] || { cat popen.out >&2; fail "popen limit: unexpected output"; }
for t in g1a.trace p1a.trace big.trace sleepers.trace kill9a.trace dead.trace popen.trace; do
  "$launch" --check-trace "$t" >/dev/null || fail "invalid trace $t"
done
echo "processes: ok"
