#!/usr/bin/env bash
# What the launcher says is what happened (issue 16): a power loss that
# undoes renames says so (not "0 unsynced changes"); a failing check after
# a failing program names the check, not "program" twice; a node other
# than the client that cannot start is reported and does not decide the run.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
cd "$scratch"
mkdir data

# Three files created and renamed, never fsynced (nor their directory): a
# crash at the third rename undoes the names.
expect_exit 0 "$launch" --seed 1 --disk data --crash-after '3 disk.rename' \
  -- sh -c 'for i in 1 2 3 4; do echo x > data/t$i; mv data/t$i data/f$i; done'
expect_in "$scratch/err" "power loss: "
grep -Eq 'power loss: .*; [1-9][0-9]* directory entries undone' "$scratch/err" \
  || { cat "$scratch/err" >&2; fail "the power loss does not count the undone renames"; }

# A failing program, then a failing check: each named once.
expect_exit 1 "$launch" --seed 1 --disk data --crash-at 1h --after-crash 'sh -c "exit 4"' -- sh -c 'exit 3'
expect_in "$scratch/err" "program exited with status 3"
expect_in "$scratch/err" "check (--after-crash) exited with status 4"
[[ $(grep -c 'program exited' "$scratch/err") -eq 1 ]] || { cat "$scratch/err" >&2; fail "'program exited' printed more than once"; }

# A non-client node that cannot start: reported, the client decides (exit 0).
expect_exit 0 "$launch" --seed 1 --node broken=/nonexistent/server --node client=true
expect_in "$scratch/err" "node broken did not start"
# --verify in a cluster runs it twice and compares (it used to be ignored).
expect_exit 0 "$launch" --seed 2 --verify --node server="$guests/marionette_guest_echo_server 7000" \
  --node client="$guests/marionette_guest_echo_client server 7000 2"
expect_in "$scratch/err" "verify: 2 runs identical"
echo "messages: ok"
