#!/usr/bin/env bash
# guest_test.sh LAUNCH GUESTS NAME: one of our guest programs
# (tests/programs/NAME.c), each covering one family of simulated calls. Seed
# 1 twice gives the same output and trace; seed 2 gives different output
# where the seed matters (randomness, identity); then the guest's own
# expectations and --verify (all but threads). One CTest per guest
# (integration/guest/NAME), so one guest's failure hides no other's.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
name=$3
guest="$guests/marionette_guest_$name"
[[ -x $guest ]] || fail "no guest program '$guest'"

# --verify runs the guest twice itself and compares the traces.
verify() {
  "$launch" --verify --seed 9 -- "$guest" >/dev/null 2>"$scratch/verify.err" \
    || { cat "$scratch/verify.err" >&2; fail "--verify failed for the $name guest"; }
  grep -q 'verify: 2 runs identical' "$scratch/verify.err" || fail "no verify confirmation for $name"
}

case $name in
  time)
    same_for_one_seed time "$guest"
    expect_line "$scratch/time.1a" '^realtime 1767225600\.'
    expect_line "$scratch/time.1a" '^raw_monotonic 1000\.'                # the raw syscall was trapped
    expect_line "$scratch/time.1a" '^timespec_get 1767225600$'            # libc's vDSO pointer redirected
    expect_line "$scratch/time.1a" '^after_sleep_100s 1100\.'
    expect_line "$scratch/time.1a" '^after_select_poll_4s 1104\.'
    expect_line "$scratch/time.1a" '^after_abs_sleep_1h 4704\.'
    expect_line "$scratch/time.1a" '^busy_wait_1ms_spins [0-9]+$'
    expect_line "$scratch/time.1a" '^date 2026-01-01T01:01:44Z$'
    # The clocks do not depend on the seed at all.
    cmp -s "$scratch/time.1a" "$scratch/time.2" \
      || { diff "$scratch/time.1a" "$scratch/time.2" >&2 || true; fail "time: seeds 1 and 2 read different clocks"; }
    verify
    ;;
  random)
    deterministic random "$guest"
    for source in getrandom raw_getrandom getentropy urandom_read random_fread at_random; do
      expect_line "$scratch/random.1a" "^$source [0-9a-f]{32}$"
    done
    # Each source reads the next bytes of the stream: no two lines repeat.
    [[ $(cut -d' ' -f2 "$scratch/random.1a" | sort | uniq -d | wc -l) -eq 0 ]] || fail "random sources repeated bytes"
    verify
    ;;
  identity)
    deterministic identity "$guest"
    expect_line "$scratch/identity.1a" '^nodename node0 hostname node0$'
    expect_line "$scratch/identity.1a" '^kill_self 0$'
    expect_line "$scratch/identity.1a" '^cpu 0 node 0 sched_getcpu 0$'
    pid_line=$(grep '^pid' "$scratch/identity.1a")
    pid=$(cut -d' ' -f2 <<<"$pid_line")
    expect_line "$scratch/identity.1a" "^raw_pid $pid raw_tid $pid\$"  # raw syscalls agree with libc
    verify
    ;;
  rdtsc)
    same_for_one_seed rdtsc "$guest"
    expect_line "$scratch/rdtsc.1a" '^rdtsc 1000[0-9]{9} rdtscp 1000[0-9]{9} aux 0 increasing 1$'
    expect_line "$scratch/rdtsc.1a" '^caught own segfault$'
    verify
    ;;
  signals)
    # A program that blocks all signals and ignores SIGSYS/SIGSEGV cannot
    # switch the trap off; it still sees its own settings.
    deterministic signals "$guest"
    expect_line "$scratch/signals.1a" '^sigsys_ignored 1 sigint_blocked 1$'
    expect_line "$scratch/signals.1a" '^raw_pid_matches 1$'
    expect_line "$scratch/signals.1a" '^rdtsc_virtual 1$'
    expect_line "$scratch/signals.1a" '^trap_keeps_registers 1$'
    expect_line "$scratch/signals.1a" '^raw_sigprocmask_applies 1$'
    verify
    ;;
  threads)
    # Threads are scheduled: the interleaving is the seed's (docs/processes.md).
    deterministic threads "$guest"
    expect_line "$scratch/threads.1a" '^order [A-D]{20}$'
    expect_line "$scratch/threads.1a" '^first_thread_tid_is_pid_plus_1 1$'
    expect_line "$scratch/threads.1a" '^timed_waits cond=ETIMEDOUT sem=ETIMEDOUT mutex=ETIMEDOUT after_s=6$'
    expect_line "$scratch/threads.1a" '^joined_hour_sleeper after_s=3600$'
    expect_line "$scratch/threads.1a.trace" ' thread\.start at_ns=[0-9]+ pid=[0-9]+ tid=[0-9]+ by=[0-9]+'
    expect_line "$scratch/threads.1a.trace" ' thread\.end at_ns=[0-9]+ pid=[0-9]+ tid=[0-9]+'
    if grep -q 'not deterministic' "$scratch/threads.1a.err"; then fail "threads: a scheduled thread was reported as unscheduled"; fi
    if grep -q 'determinism\.escape' "$scratch/threads.1a.trace"; then fail "threads: the run escaped the model"; fi
    verify
    ;;
  *)
    fail "guest_test.sh has no expectations for the guest '$name'"
    ;;
esac
echo "guest $name: ok"
