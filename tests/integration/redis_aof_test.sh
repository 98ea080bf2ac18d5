#!/usr/bin/env bash
# Redis (Debian's redis-server, unmodified) with its append-only file on the
# primary node's simulated disk; the primary loses power at a seeded time
# during a partition and is restarted on what its disk kept
# (examples/redis-aof). On an ext4-like disk (namespace changes durable at
# once, the unsynced tail lost in order) Redis keeps its documented
# promises: `appendfsync always` loses no acknowledged write, `everysec`
# loses at most about a second of them. Under the POSIX-strict namespace
# model every seed loses everything: Redis never fsyncs the directory that
# holds appendonlydir/. One seed twice: identical traces.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/deps.sh installs it)"
cd "$scratch"
data_before=$(ls -A "$example/data")
ext4_like=(--crash-lost-write-rate 50% --crash-reorder-writes false --metadata lenient)

# always: no seed loses an acknowledged write; every seed's check is printed.
"$example/sweep.sh" "$launch" always 1..4 "${ext4_like[@]}" >always.out 2>&1 || { cat always.out >&2; fail "appendfsync always lost acknowledged writes"; }
[[ $(grep -cE '^seed [0-9]+: check: appendfsync always: [1-9][0-9]* acknowledged, 0 lost$' always.out) -eq 4 ]] \
  || { cat always.out >&2; fail "appendfsync always: not every seed's check shows 0 lost"; }

# everysec: seeds lose acknowledged writes, all within about a second.
"$example/sweep.sh" "$launch" everysec 1..4 "${ext4_like[@]}" >everysec.out 2>&1 || { cat everysec.out >&2; fail "appendfsync everysec lost more than its guarantee"; }
grep -qE '^seed [0-9]+: check: appendfsync everysec: [0-9]+ acknowledged, [1-9][0-9]* lost \(the oldest lost was acknowledged [0-9]+ ms' everysec.out \
  || { cat everysec.out >&2; fail "appendfsync everysec lost nothing in 4 seeds with 50% of unsynced writes lost"; }

# One seed twice: the same trace, the same loss. Another seed crashes at
# another time.
for run in a b; do
  "$example/run.sh" "$launch" everysec --seed 3 "${ext4_like[@]}" --trace "$scratch/e.$run.trace" >"e.$run.out" 2>"e.$run.err" \
    || { cat "e.$run.err" >&2; fail "seed 3 failed"; }
done
"$example/run.sh" "$launch" everysec --seed 4 "${ext4_like[@]}" --trace "$scratch/f.trace" >f.out 2>f.err || true
cmp -s e.a.trace e.b.trace || { diff e.a.trace e.b.trace | head >&2 || true; fail "redis-aof: one seed, different traces"; }
# The launcher forwards the nodes' output in the order they ran
# (docs/determinism.md): the combined output is the same, line for line.
cmp -s e.a.out e.b.out || { diff e.a.out e.b.out | head >&2 || true; fail "redis-aof: one seed, different output"; }
! cmp -s e.a.trace f.trace || fail "redis-aof: the seed does not matter"
expect_line e.a.err '^marionette: node primary lost power at [0-9.]+ms: [0-9]+ unsynced writes'
expect_line e.a.trace ' node\.crash at_ns=[0-9]+ node=primary '
expect_line e.a.trace ' node\.restart at_ns=5000000000 node=primary incarnation=2'

# POSIX-strict namespace durability (the default): appendonlydir/ was made
# with mkdir and never made durable in its parent, so the power loss takes
# the whole AOF with it; the check fails and says how much was lost.
code=0
"$example/run.sh" "$launch" always --seed 1 --trace "$scratch/strict.trace" >strict.out 2>strict.err || code=$?
[[ $code -eq 1 ]] || { cat strict.err >&2; fail "strict namespace: exit $code, expected 1"; }
expect_line strict.out '^check: appendfsync always: ([0-9]+) acknowledged, \1 lost'
expect_line strict.err 'lost power at .*; [1-9][0-9]* directory entries undone'
expect_line strict.trace ' disk\.mkdir at_ns=[0-9]+ path=/data/appendonlydir '
[[ $(ls -A "$example/data") == "$data_before" ]] || fail "the example's real data directory changed"
echo "redis aof: ok"
