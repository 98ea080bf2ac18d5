#!/usr/bin/env bash
# The shim refuses every socket call aimed outside loopback and never passes
# it to the real kernel; loopback still reaches the kernel. The guest runs in
# an empty network namespace (only lo, brought up), so nothing could leave
# the machine even if the guard were broken: the trace lines prove it was the
# shim that refused.
source "$(dirname "$0")/lib.sh"
launch=$1
guests=$2
unshare --net true 2>/dev/null || { echo "network_guard: skipped (no network namespaces here)"; exit 0; }
for run in a b; do
  unshare --net sh -c "ip link set lo up && '$launch' --quiet --seed 5 --trace '$scratch/guard.$run.trace' -- '$guests/marionette_guest_network_guard'" \
    >"$scratch/guard.$run" 2>"$scratch/guard.$run.err" || { cat "$scratch/guard.$run.err" >&2; fail "the guard guest failed"; }
done
out="$scratch/guard.a"
expect_line "$out" '^connect 10\.0\.0\.5: Network is unreachable$'
expect_line "$out" '^sendto 192\.0\.2\.1: Network is unreachable$'
expect_line "$out" '^sendmsg 10\.0\.0\.2: Network is unreachable$'
expect_line "$out" '^raw sendto 10\.1\.2\.3: Network is unreachable$'
expect_line "$out" '^connect 127\.0\.0\.1:1: Connection refused$'
for call in connect sendto sendmsg; do
  grep -q "determinism.escape .*network=$call" "$scratch/guard.a.trace" \
    || { cat "$scratch/guard.a.trace" >&2; fail "no trace line for the refused $call"; }
done
refused=4
if ! grep -q '^no ipv6' "$out"; then
  expect_line "$out" '^connect fd00::5: Network is unreachable$'
  expect_line "$out" '^sendto 2001:db8::1: Network is unreachable$'
  expect_line "$out" '^sendto ::ffff:10\.0\.0\.2: Network is unreachable$'
  expect_line "$out" '^connect \[::1\]:1: Connection refused$'
  refused=7
fi
[[ $(grep -c " network=" "$scratch/guard.a.trace") -eq $refused ]] || fail "expected exactly $refused refused calls (loopback must pass)"
grep -q 'refused a network call to a non-loopback address' "$scratch/guard.a.err" || fail "no warning on stderr"
cmp -s "$scratch/guard.a.trace" "$scratch/guard.b.trace" || fail "seed 5 twice gave different traces"
echo "network_guard: ok"
