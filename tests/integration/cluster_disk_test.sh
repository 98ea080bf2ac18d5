#!/usr/bin/env bash
# Every node its own disk (docs/disk-model.md, "Clusters"): a power loss of
# one node of a cluster applies its disk's crash model. A key-value server
# nobody here tuned for us (examples/cluster-power-loss, python3) that
# fsyncs each write before acknowledging it loses none across the power
# loss, for every seed of a sweep; the same server without fsync is caught
# losing acknowledged writes. --disk in a cluster gives each node its own
# copy; --export-disk writes each node's; disk.corrupt_sector names a node.
source "$(dirname "$0")/lib.sh"
launch=$1
example=$2
cd "$scratch"
data_before=$(ls -A "$example/data")
rates=(--crash-lost-write-rate 30% --crash-torn-write-rate 10%)

# fsync before every acknowledgement: no seed loses an acknowledged write.
code=0
"$example/run.sh" "$launch" fsync --seeds 1..6 --jobs 2 "${rates[@]}" >fsync.out 2>&1 || code=$?
[[ $code -eq 0 ]] || { cat fsync.out >&2; fail "the fsync server lost acknowledged writes (sweep exit $code)"; }
expect_line fsync.out '6 runs, 6 passed, 0 failed'

# No fsync: the sweep finds seeds that lose acknowledged writes, and says so.
code=0
"$example/run.sh" "$launch" nofsync --seeds 1..6 --jobs 2 "${rates[@]}" >nofsync.out 2>&1 || code=$?
[[ $code -eq 1 ]] || { cat nofsync.out >&2; fail "the server without fsync lost nothing in 6 seeds (sweep exit $code)"; }
expect_line nofsync.out '6 runs, [0-5] passed, [1-6] failed'
failing=$(grep -oE '^  seed=[0-9]+' nofsync.out | head -1 | cut -d= -f2)
[[ -n $failing ]] || { cat nofsync.out >&2; fail "no failing seed listed"; }

# That seed, replayed twice: the same loss, the same trace; the power loss
# is reported with what the disk lost. Another seed crashes elsewhere.
for run in a b; do
  code=0
  "$example/run.sh" "$launch" nofsync --seed "$failing" "${rates[@]}" --trace "$pending/loss.$run.trace" \
    >"$pending/loss.$run" 2>"$pending/loss.$run.err" || code=$?
  [[ $code -eq 1 ]] || { cat "$pending/loss.$run.err" >&2; fail "seed $failing replayed: exit $code, expected 1"; }
done
"$example/run.sh" "$launch" nofsync --seed 1000 "${rates[@]}" --trace "$pending/other.trace" >/dev/null 2>&1 || true
mv "$pending"/* "$scratch"/
cmp -s loss.a loss.b || { diff loss.a loss.b >&2 || true; fail "seed $failing twice: different output"; }
cmp -s loss.a.trace loss.b.trace || { diff loss.a.trace loss.b.trace >&2 || true; fail "seed $failing twice: different traces"; }
expect_line loss.a '^client: survived [0-9]+ lost [1-9]'
# The server's kernel died without a word; the restarted node answers the
# client's retransmission with a reset: ECONNRESET, as on Linux, not EOF.
expect_line loss.a '^client: connection lost: Connection reset by peer$'
expect_line loss.a.err '^marionette: node server lost power at [0-9.]+ms: [0-9]+ unsynced writes \([0-9]+ landed, [1-9][0-9]* lost'
expect_line loss.a.trace ' control\.crash_random at_ns=0 node=server crash_at_ns=[0-9]+$'
expect_line loss.a.trace ' node\.crash at_ns=[0-9]+ node=server pending_writes=[1-9][0-9]* landed=[0-9]+ lost=[1-9]'
expect_line loss.a.trace ' node\.restart at_ns=[0-9]+ node=server incarnation=2'
crash_at() { grep -oE 'control\.crash_random .* crash_at_ns=[0-9]+' "$1" | grep -oE '[0-9]+$'; }
[[ $(crash_at loss.a.trace) != "$(crash_at other.trace)" ]] || fail "seeds $failing and 1000 crashed at the same time"
[[ $(ls -A "$example/data") == "$data_before" ]] || fail "the example's real data directory changed"

# --disk DIR in a cluster: each node starts from its own copy, sees only its
# own writes; --export-disk writes each node's durable state to DIR/NAME;
# DIR itself never changes.
mkdir shared
echo seed >shared/init.txt
code=0
"$launch" --quiet --seed 1 --disk shared --export-disk exported \
  --node a="sh -c 'echo from-a >$scratch/shared/a.txt; sync; sleep 1'" \
  --node b="sh -c 'sleep 0.5; ls $scratch/shared; echo from-b >$scratch/shared/b.txt; sync'" >copies.out 2>&1 || code=$?
[[ $code -eq 0 ]] || { cat copies.out >&2; fail "a cluster with --disk failed"; }
[[ $(cat copies.out) == "init.txt" ]] || { cat copies.out >&2; fail "node b saw another node's disk"; }
[[ $(cd exported && find . -type f | sort | tr '\n' ' ') == "./a/data/a.txt ./a/data/init.txt ./b/data/b.txt ./b/data/init.txt " ]] \
  || { (cd exported && find . | sort) >&2; fail "--export-disk in a cluster: unexpected files"; }
[[ $(ls shared) == "init.txt" ]] || fail "--disk in a cluster: the real directory changed"

# --disk NAME=DIR: that node's own directory, in place of the --disk DIR
# of the others (which it then sees through the host view, unchanged).
# disk.corrupt_sector on node b's copy leaves node a's view intact.
mkdir only-a
echo mine >only-a/f.txt
cat >corrupt.scn <<SCN
run 100ms
disk.corrupt_sector node=b path=$scratch/shared/init.txt offset=0
spawn look-a node=a -- cat $scratch/shared/init.txt $scratch/only-a/f.txt
expect exit look-a 0
expect output look-a contains seed
expect output look-a contains mine
spawn look-b node=b -- cat $scratch/shared/init.txt
SCN
code=0
"$launch" --seed 1 --disk shared --disk a="$scratch/only-a" --scenario corrupt.scn --trace corrupt.trace \
  --node a='sleep 1' --node b='sleep 1' >corrupt.out 2>corrupt.err || code=$?
[[ $code -eq 0 ]] || { cat corrupt.err >&2; fail "the corrupt_sector scenario failed (exit $code)"; }
expect_line corrupt.trace ' disk\.corrupt_sector at_ns=100000000 path=/data/init.txt offset=0 sector=0 status=ok'
[[ $(sed -n 3p corrupt.out) != seed ]] || { cat corrupt.out >&2; fail "node b's corrupted sector still reads 'seed'"; }
expect_line corrupt.trace '^marionette\.trace .* disk=shared disk=a%3D[^ ]*only-a'

# Bad input: a node name that does not exist, in --disk and in crash.
code=0
"$launch" --seed 1 --disk nosuch="$scratch/only-a" --node a='true' 2>bad.err || code=$?
[[ $code -eq 2 ]] || fail "--disk NAME=DIR with an unknown node: exit $code, expected 2"
printf 'crash nosuch\n' >bad.scn
code=0
"$launch" --seed 1 --scenario bad.scn --node a='sleep 1' 2>bad.err || code=$?
[[ $code -eq 2 ]] && grep -q "no node named 'nosuch'" bad.err || { cat bad.err >&2; fail "crash of an unknown node was not refused by name (exit $code)"; }
echo "cluster disks: ok"
