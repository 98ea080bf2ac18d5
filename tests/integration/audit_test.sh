#!/usr/bin/env bash
# --audit finds the rdtsc/rdtscp in our guest and states plainly what can
# and cannot be hidden on this machine.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2

"$launch" --audit "$guests/marionette_guest_rdtsc" >"$scratch/audit" 2>&1 || { cat "$scratch/audit" >&2; fail "--audit failed"; }
# The guest's own line: no syscall, one rdtsc per inlined use (2), one rdtscp.
expect_line "$scratch/audit" '^ +0 +2 +1 +0 +0 +0 +[^ ]*marionette_guest_rdtsc$'
expect_line "$scratch/audit" '^  rdtsc/rdtscp: [0-9]+ sites; trapped'
expect_line "$scratch/audit" 'libc\.so\.6 \(libc\)$'
expect_line "$scratch/audit" '^overall: '
code=0
"$launch" --audit /nonexistent/program >/dev/null 2>&1 || code=$?
[[ $code -eq 2 ]] || fail "--audit of a missing program exited $code, expected 2"

# A script is audited through its interpreter, and says so.
printf '#!/usr/bin/env sh\necho hi\n' >"$scratch/script.sh"
chmod +x "$scratch/script.sh"
"$launch" --audit "$scratch/script.sh" >"$scratch/audit" 2>&1 || { cat "$scratch/audit" >&2; fail "--audit of a script failed"; }
expect_line "$scratch/audit" 'is a script; auditing its interpreter /[^ ]*sh$'
expect_line "$scratch/audit" '^overall: '
