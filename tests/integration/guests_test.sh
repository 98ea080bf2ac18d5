#!/usr/bin/env bash
# Our guest programs (tests/programs/), each covering one family of
# simulated calls: same seed -> same output and trace; another seed ->
# different output where the seed matters (randomness, identity).
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2

same_for_one_seed time "$guests/marionette_guest_time"
expect_line "$scratch/time.1a" '^realtime 1767225600\.'
expect_line "$scratch/time.1a" '^raw_monotonic 1000\.'                # the raw syscall was trapped
expect_line "$scratch/time.1a" '^timespec_get 1767225600$'            # libc's vDSO pointer redirected
expect_line "$scratch/time.1a" '^after_sleep_100s 1100\.'
expect_line "$scratch/time.1a" '^after_select_poll_4s 1104\.'
expect_line "$scratch/time.1a" '^after_abs_sleep_1h 4704\.'
expect_line "$scratch/time.1a" '^busy_wait_1ms_spins [0-9]+$'
expect_line "$scratch/time.1a" '^date 2026-01-01T01:01:44Z$'

deterministic random "$guests/marionette_guest_random"
for source in getrandom raw_getrandom getentropy urandom_read random_fread at_random; do
  expect_line "$scratch/random.1a" "^$source [0-9a-f]{32}$"
done
# Each source reads the next bytes of the stream: no two lines repeat.
[[ $(cut -d' ' -f2 "$scratch/random.1a" | sort | uniq -d | wc -l) -eq 0 ]] || fail "random sources repeated bytes"

deterministic identity "$guests/marionette_guest_identity"
expect_line "$scratch/identity.1a" '^nodename node0 hostname node0$'
expect_line "$scratch/identity.1a" '^kill_self 0$'
expect_line "$scratch/identity.1a" '^cpu 0 node 0 sched_getcpu 0$'
pid_line=$(grep '^pid' "$scratch/identity.1a")
pid=$(cut -d' ' -f2 <<<"$pid_line")
expect_line "$scratch/identity.1a" "^raw_pid $pid raw_tid $pid\$"  # raw syscalls agree with libc

same_for_one_seed rdtsc "$guests/marionette_guest_rdtsc"
expect_line "$scratch/rdtsc.1a" '^rdtsc 1000[0-9]{9} rdtscp 1000[0-9]{9} aux 0 increasing 1$'
expect_line "$scratch/rdtsc.1a" '^caught own segfault$'

# A program that blocks all signals and ignores SIGSYS/SIGSEGV cannot switch
# the trap off; it still sees its own settings.
deterministic signals "$guests/marionette_guest_signals"
expect_line "$scratch/signals.1a" '^sigsys_ignored 1 sigint_blocked 1$'
expect_line "$scratch/signals.1a" '^raw_pid_matches 1$'
expect_line "$scratch/signals.1a" '^rdtsc_virtual 1$'

# Threads are reported: not deterministic yet, and said so.
under 1 "$scratch/threads" "$guests/marionette_guest_threads"
expect_line "$scratch/threads" '^thread_tid_is_pid_plus_1 1$'
expect_line "$scratch/threads.err" 'thread interleaving is not deterministic yet'
expect_line "$scratch/threads.trace" ' thread\.create at_ns=[0-9]+ count=1 '
