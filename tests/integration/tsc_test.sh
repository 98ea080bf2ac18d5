#!/usr/bin/env bash
# rdtsc/rdtscp on every host (docs/determinism.md, "The time-stamp counter"):
# whichever mechanism the launcher's probe picks (the kernel's trap, or
# rewriting the instructions where the trap has no effect), programs read
# the same virtual counter; rewriting is forced here so it is tested even
# where the trap works, and what cannot be rewritten is reported.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
rdtsc_guest=$guests/marionette_guest_rdtsc

# Rewriting, forced: seed 1 twice identical (output and trace), virtual
# values (one tick per virtual ns from 1000 s, plus an offset below 1 s).
export MARIONETTE_TSC=patch
deterministic patched "$rdtsc_guest"
expect_line "$scratch/patched.1a" '^rdtsc 1000[0-9]{9} rdtscp 1000[0-9]{9} aux 0 increasing 1$'
expect_line "$scratch/patched.1a" '^caught own segfault$'
expect_line "$scratch/patched.1a.trace" '^marionette\.trace .* tsc=patched( |$)'
# The guest's three sites (two inlined rdtsc, one rdtscp) and the loader's.
sites=$(grep -m1 -oE ' tsc\.patch at_ns=0 mappings=[0-9]+ sites=[0-9]+' "$scratch/patched.1a.trace" | grep -oE '[0-9]+$') \
  || fail "no tsc.patch event at start-up"
[[ $sites -ge 3 ]] || fail "only $sites rdtsc sites rewritten at start-up"

# The mechanism the probe picks gives the very same values.
unset MARIONETTE_TSC
under 1 "$scratch/auto" "$rdtsc_guest"
cmp -s "$scratch/patched.1a" "$scratch/auto" \
  || { diff "$scratch/patched.1a" "$scratch/auto" >&2 || true; fail "the probed mechanism and rewriting disagree"; }
expect_line "$scratch/auto.trace" '^marionette\.trace .* tsc=(trap|patched)( |$)'

# The trap, forced: the same values where it works, a usage error where
# the host accepts the prctl and ignores it.
code=0
MARIONETTE_TSC=trap "$launch" --quiet --seed 1 -- "$rdtsc_guest" >"$scratch/trap" 2>"$scratch/trap.err" || code=$?
if [[ $code -eq 0 ]]; then
  cmp -s "$scratch/patched.1a" "$scratch/trap" || fail "the trap and rewriting disagree"
else
  [[ $code -eq 2 ]] || { cat "$scratch/trap.err" >&2; fail "MARIONETTE_TSC=trap exited $code"; }
  expect_line "$scratch/trap.err" 'MARIONETTE_TSC=trap: on this host prctl\(PR_SET_TSC\) is accepted but rdtsc does not fault'
fi

# Bad input: an unknown mechanism is a usage error, before anything runs.
code=0
MARIONETTE_TSC=sometimes "$launch" --quiet --seed 1 -- "$rdtsc_guest" >"$scratch/bad" 2>"$scratch/bad.err" || code=$?
[[ $code -eq 2 ]] || fail "MARIONETTE_TSC=sometimes exited $code, expected 2"
expect_line "$scratch/bad.err" "MARIONETTE_TSC='sometimes': expected auto, trap, patch or off"
[[ ! -s $scratch/bad ]] || fail "the program ran despite the usage error"

# Off: an escape, said on stderr and in the header.
MARIONETTE_TSC=off "$launch" --quiet --seed 1 --trace "$scratch/off.trace" -- "$rdtsc_guest" >/dev/null 2>"$scratch/off.err"
expect_line "$scratch/off.err" 'MARIONETTE_TSC=off: rdtsc/rdtscp read the real time-stamp counter'
expect_line "$scratch/off.trace" '^marionette\.trace .* tsc=escape( |$)'

# Code loaded later and code written at run time, rewriting forced: a
# dlopen'ed library reads the virtual counter; JIT code and undecodable
# bytes are reported escapes, and the program runs to its end.
export MARIONETTE_TSC=patch
library=$guests/libmarionette_tsc_lib.so
same_for_one_seed escapes "$guests/marionette_guest_tsc_escapes" "$library"
cmp -s "$scratch/escapes.1a.trace" "$scratch/escapes.1b.trace" || fail "escapes: seed 1 twice gave different traces"
expect_line "$scratch/escapes.1a" '^dlopen_rdtsc 1000[0-9]{9} then 1000[0-9]{9}$'
expect_line "$scratch/escapes.1a" '^jit_ran 1$'
expect_line "$scratch/escapes.1a.trace" ' determinism\.escape at_ns=[0-9]+ source=rdtsc object=[^ ]*marionette_guest_tsc_escapes sites=1 reason=unproven '
expect_line "$scratch/escapes.1a.trace" ' determinism\.escape at_ns=[0-9]+ source=rdtsc object=anonymous sites=1 reason=not_from_a_file '
expect_line "$scratch/escapes.1a.err" 'rdtsc/rdtscp bytes in [^ ]*marionette_guest_tsc_escapes could not be rewritten \(unproven\)'
# The dlopen'ed library's site was rewritten when the loader announced it.
expect_line "$scratch/escapes.1a.trace" ' tsc\.patch at_ns=[1-9][0-9]* mappings=[0-9]+ sites=1 escapes=0 '
under 2 "$scratch/escapes.2" "$guests/marionette_guest_tsc_escapes" "$library"
cmp -s "$scratch/escapes.1a" "$scratch/escapes.2" && fail "escapes: seeds 1 and 2 gave the same counter"

# Real programs nobody here wrote run with their libraries rewritten
# (ld.so's and libc's rdtsc sites): python3 and sqlite3, same seed twice.
deterministic python_patched python3 -c 'import random, time; print(random.random(), time.monotonic())'
expect_line "$scratch/python_patched.1a.trace" ' tsc\.patch at_ns=0 mappings=[0-9]+ sites=[1-9]'
same_for_one_seed sqlite_patched sqlite3 :memory: 'select 1+1;'
expect_line "$scratch/sqlite_patched.1a" '^2$'
echo "tsc: all checks passed"
