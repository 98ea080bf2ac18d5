#!/usr/bin/env bash
# marionette_record under the launcher: a program's own events land in the
# run's trace at their virtual time; malformed calls return -1 and record
# nothing; without Marionette the weak symbol is absent and the program runs.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
guest="$guests/marionette_guest_recorder"
[[ $("$guest") == "no recorder" ]] || fail "the guest needs Marionette to run"
for run in a b; do
  "$launch" --quiet --seed 6 --trace "$scratch/r.$run.trace" -- "$guest" >"$scratch/r.$run" 2>&1 || fail "the guest failed"
done
cat >"$scratch/expected" <<'EOT'
plain 0
no fields 0
bad name -1
bad escape -1
reserved key -1
raw space -1
EOT
diff -u "$scratch/expected" "$scratch/r.a" || fail "unexpected return values"
grep -qE '^event=[0-9]+ register\.write at_ns=[0-9]+ version=3 note=hello%20world pid=[0-9]+$' "$scratch/r.a.trace" \
  || { cat "$scratch/r.a.trace" >&2; fail "the recorded event is not in the trace"; }
grep -qE '^event=[0-9]+ register\.commit at_ns=[0-9]+ pid=[0-9]+$' "$scratch/r.a.trace" || fail "the event without fields is missing"
[[ $(grep -c ' register\.' "$scratch/r.a.trace") -eq 2 ]] || fail "a malformed call recorded something"
cmp -s "$scratch/r.a.trace" "$scratch/r.b.trace" || fail "seed 6 twice gave different traces"
"$launch" --check-trace "$scratch/r.a.trace" >/dev/null || fail "invalid trace"
echo "recorder: ok"
