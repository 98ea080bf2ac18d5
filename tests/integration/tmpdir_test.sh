#!/usr/bin/env bash
# The simulated TMPDIR is one fixed name for every run
# (/tmp/marionette-node-tmp, launcher/node.hpp), so a program sees the same
# value in every run. It is only a name: each run's files there live on that
# run's own simulated disk, in the launcher's memory, and nothing is created
# at that path on the real file system. Two runs at the same time writing
# the same file name there each see only their own, and the real path exists
# neither while they run nor after.
source "$(dirname "$0")/lib.sh"
launch=$1
real=/tmp/marionette-node-tmp

absent() {  # absent WHEN: the real path does not exist
  [[ ! -e $real ]] || fail "$real exists on the real file system $1 (calls Marionette does not simulate would reach it, and every run would share it)"
}
absent "before the runs"

# Run A writes its file, then waits in the open of a FIFO (a real one,
# outside TMPDIR) until this script opens it too, before it reads the file
# back; run B, meanwhile, uses the same names with other contents. (Opens,
# not reads: an open of a FIFO blocks in the real kernel, while a read that
# must wait parks in the scheduler, which may call it a deadlock.)
mkfifo "$scratch/ready" "$scratch/go"
"$launch" --quiet --seed 1 --wall-timeout 60s -- sh -c \
  'echo "$TMPDIR"; echo A >"$TMPDIR/shared"; mkdir "$TMPDIR/only-a"; : >"$0/ready"; : <"$0/go"; cat "$TMPDIR/shared"; ls "$TMPDIR"' \
  "$scratch" >"$scratch/a.out" 2>"$scratch/a.err" &
a_pid=$!
timeout 30 sh -c ': <"$1"' sh "$scratch/ready" || { cat "$scratch/a.err" >&2; fail "run A did not get to its wait"; }
absent "while run A uses it"
under 2 "$scratch/b.out" sh -c 'echo "$TMPDIR"; ls "$TMPDIR"; echo B >"$TMPDIR/shared"; cat "$TMPDIR/shared"'
absent "after run B, with run A still running"
timeout 30 sh -c ': >"$1"' sh "$scratch/go" || { cat "$scratch/a.err" >&2; fail "run A did not get past its wait"; }
wait "$a_pid" || { cat "$scratch/a.err" >&2; fail "run A failed"; }
absent "after both runs"

# B saw an empty TMPDIR and its own file; A read back its own file and saw
# only its own names. Both saw the same TMPDIR.
[[ $(cat "$scratch/b.out") == "$real"$'\nB' ]] || { cat "$scratch/b.out" >&2; fail "run B saw another run's files"; }
[[ $(cat "$scratch/a.out") == "$real"$'\nA\nonly-a\nshared' ]] || { cat "$scratch/a.out" >&2; fail "run A saw another run's files"; }
