#!/usr/bin/env bash
# Shared file mappings (docs/disk-model.md, "Shared file mappings"): a
# guest's MAP_SHARED stores reach the simulated file (read() sees them,
# pwrite()/write() are seen through the mapping), msync(MS_SYNC) survives
# every power loss while stores only written back may be lost; python3's
# sqlite3 in WAL mode with normal locking (it maps the -shm wal-index
# writable and shared), also through power losses (examples/sqlite-crash,
# mode wal-shared); LMDB (python3-lmdb) in both its modes; a second process
# mapping the same file is reported.
source "$(dirname "$0")/lib.sh"
launch=$1
guest=$2/marionette_guest_mmap_shared
example=$3
cd "$scratch"
mkdir data
# Outputs and traces go to $pending: python3 lists the directory of its
# script (here), which must look the same in every run.
o=$pending

# disk_run NAME SEED LAUNCHER-OPTIONS... -- CMD...: stdout into $o/NAME, a
# valid trace into $o/NAME.trace; the launcher must exit 0.
disk_run() {
  local name=$o/$1 seed=$2 code=0; shift 2
  "$launch" --quiet --wall-timeout 60s --seed "$seed" --disk data --trace "$name.trace" "$@" >"$name" 2>"$name.err" || code=$?
  [[ $code -eq 0 ]] || { cat "$name" "$name.err" >&2; fail "$name: exit $code"; }
  "$launch" --check-trace "$name.trace" >/dev/null 2>"$name.check" || { cat "$name.check" >&2; fail "$name: invalid trace"; }
}
# twice NAME OPTIONS...: seed 1 twice (same output and trace), seed 2 once.
twice() {
  local name=$1; shift
  disk_run "$name.1a" 1 "$@"
  disk_run "$name.1b" 1 "$@"
  disk_run "$name.2" 2 "$@"
  name=$o/$name
  cmp -s "$name.1a" "$name.1b" || { diff "$name.1a" "$name.1b" >&2; fail "$name: seed 1 twice gave different output"; }
  cmp -s "$name.1a.trace" "$name.1b.trace" || { diff "$name.1a.trace" "$name.1b.trace" | head >&2; fail "$name: seed 1 twice gave different traces"; }
}

# 1. Without a crash: every check of the guest passes, the exit writes the
# stores back, mremap and partial munmap keep the mapping tracked.
twice plain -- sh -c "$guest write data/f && $guest check data/f && $guest exit data/e && $guest show data/e && $guest remap data/r"
if grep -q FAILED $o/plain.1a; then cat $o/plain.1a >&2; fail "a check of the guest failed"; fi
grep -qx 'read: stored before exit' $o/plain.1a || { cat $o/plain.1a >&2; fail "the exit did not write the stores back"; }
grep -qx 'page 2: kept' $o/plain.1a || { cat $o/plain.1a >&2; fail "without a crash, page 2 was not kept"; }
expect_line $o/plain.1a.trace ' disk\.write .*'
if grep -q 'determinism\.escape' $o/plain.1a.trace; then grep 'determinism\.escape' $o/plain.1a.trace >&2; fail "an escape in the plain run"; fi

# 2. A power loss at 5 s (the guest sleeps from about 0 s to 10 s), half of
# the pending writes lost: the msync'ed page survives every seed; a page only
# written back is lost for some seed and kept for another.
crash() {  # crash NAME SEED
  rm -rf data && mkdir data
  disk_run "$1" "$2" --crash-at 5s --crash-lost-write-rate 50% --after-crash "$guest check data/f" -- "$guest" write data/f
}
for seed in 1 2 3 4 5 6 7 8; do
  crash "crash.$seed" "$seed"
  if grep -q FAILED "$o/crash.$seed"; then cat "$o/crash.$seed" >&2; fail "seed $seed: a check failed after the power loss"; fi
  grep -qx "the msync'ed page survives: ok" "$o/crash.$seed" || { cat "$o/crash.$seed" >&2; fail "seed $seed: no check ran after the crash"; }
  expect_line "$o/crash.$seed.trace" ' node\.crash '
done
cat "$o"/crash.? | grep '^page 2: ' | sort -u >$o/page2
grep -qx 'page 2: lost' $o/page2 || { cat $o/page2 >&2; fail "no seed lost the unsynced page 2"; }
grep -qx 'page 2: kept' $o/page2 || { cat $o/page2 >&2; fail "no seed kept the unsynced page 2"; }
crash crash.again 3
cmp -s "$o/crash.3" "$o/crash.again" || { diff "$o/crash.3" "$o/crash.again" >&2; fail "the crash of seed 3 twice gave different output"; }
cmp -s "$o/crash.3.trace" "$o/crash.again.trace" || { diff "$o/crash.3.trace" "$o/crash.again.trace" | head >&2; fail "the crash of seed 3 twice gave different traces"; }

# 3. SQLite in WAL mode, normal locking: two connections of one process
# share the -shm wal-index through the mapping. Before shared mappings this
# failed with "disk I/O error".
cat >wal.py <<'EOF'
import os, random, sqlite3, sys
path = sys.argv[1]
writer = sqlite3.connect(path)
print(writer.execute("pragma journal_mode=wal").fetchone()[0])
writer.execute("create table t(k integer primary key, v)")
reader = sqlite3.connect(path)
for i in range(60):
    with writer:
        writer.execute("insert into t(v) values (?)", (random.randrange(1000),))
    if i % 20 == 19:
        print(i + 1, reader.execute("select count(*), sum(v) from t").fetchone())
writer.execute("pragma wal_checkpoint(truncate)")
print("shm", os.path.exists(path + "-shm"), "integrity", reader.execute("pragma integrity_check").fetchone()[0])
reader.close()
writer.close()
EOF
twice wal -- python3 wal.py data/w.db
grep -qx 'wal' $o/wal.1a || { cat $o/wal.1a $o/wal.1a.err >&2; fail "sqlite did not switch to WAL"; }
grep -q '^60 (60, ' $o/wal.1a || { cat $o/wal.1a >&2; fail "the reader connection did not see 60 rows"; }
grep -qx 'shm True integrity ok' $o/wal.1a || { cat $o/wal.1a >&2; fail "WAL database not intact"; }
cmp -s $o/wal.1a $o/wal.2 && fail "seeds 1 and 2 gave the same sums (random() is seeded)"
if grep -q 'determinism\.escape' $o/wal.1a.trace; then grep 'determinism\.escape' $o/wal.1a.trace >&2; fail "an escape in the WAL run"; fi

# 4. The SQLite crash example in WAL mode with normal locking (wal-shared):
# power lost after the Nth disk write, half the pending writes lost, half
# the rest torn; every acknowledged row survives, the -shm index included
# in what the crash model may lose (SQLite rebuilds it).
mid=0
for seed in 1 2 3 4 5 6; do
  rm -rf data && mkdir data
  disk_run "wal-crash.$seed" "$seed" --latency-ns-min 50us --crash-lost-write-rate 50% --crash-torn-write-rate 50% \
    --crash-after "$((seed * 45)) disk.write" --after-crash "python3 $example/check.py data/db wal-shared" \
    -- python3 "$example/workload.py" data/db wal-shared
  expect_line "$o/wal-crash.$seed" '^PASS mode=wal-shared acked=[0-9]+ rows='
  grep -qE '^PASS mode=wal-shared acked=([1-9]|[1-3][0-9]) ' "$o/wal-crash.$seed" && mid=$((mid + 1))
done
[[ $mid -ge 3 ]] || { cat "$o"/wal-crash.? >&2; fail "fewer than three crashes fell between the first and the last acknowledgement"; }

# 5. LMDB (Debian's python3-lmdb): its lock file is a writable shared
# mapping; by default it writes pages with pwrite and reads them through a
# read-only shared mapping, with writemap=True it stores into the mapping and
# msyncs. Both work, twice alike; both keep every acknowledged transaction
# through power losses. Before shared mappings, lmdb.open failed (ENODEV).
cat >lmdb_run.py <<'EOF'
import lmdb, os, random, sys
path, writemap = sys.argv[1], sys.argv[2] == "writemap"
# LMDB never syncs the directory holding data.mdb: done once here, so the
# file's name survives a power loss (the strict metadata model).
lmdb.open(path, map_size=1 << 20, writemap=writemap).close()
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
env = lmdb.open(path, map_size=1 << 20, writemap=writemap)
for n in range(1, 31):
    with env.begin(write=True) as txn:
        txn.put(b"%04d" % n, b"row %d %d " % (n, random.randrange(1000)) + b"x" * 3000)
    print("ack", n, flush=True)
with env.begin() as txn:
    print("entries", env.stat()["entries"], "sum", sum(int(v.split()[2]) for _, v in txn.cursor()))
EOF
cat >lmdb_check.py <<'EOF'
import lmdb, os, sys
acked = 0
for line in open(os.environ["MARIONETTE_PROGRAM_OUTPUT"]):
    if line.startswith("ack "):
        acked = int(line.split()[1])
env = lmdb.open(sys.argv[1], map_size=1 << 20, readonly=True, lock=False)
with env.begin() as txn:
    keys = [int(k) for k, v in txn.cursor() if v.startswith(b"row %d " % int(k))]
ok = keys == list(range(1, len(keys) + 1)) and len(keys) >= acked
print("PASS" if ok else "FAIL", "acked=%d rows=%d" % (acked, len(keys)))
sys.exit(0 if ok else 1)
EOF
for mode in plain writemap; do
  rm -rf data && mkdir data data/db
  twice "lmdb-$mode" -- python3 lmdb_run.py data/db "$mode"
  grep -q '^entries 30 sum ' "$o/lmdb-$mode.1a" || { cat "$o/lmdb-$mode.1a" "$o/lmdb-$mode.1a.err" >&2; fail "lmdb $mode"; }
  cmp -s "$o/lmdb-$mode.1a" "$o/lmdb-$mode.2" && fail "lmdb $mode: seeds 1 and 2 gave the same sums"
  for seed in 1 2 3 4; do
    rm -rf data && mkdir data data/db
    disk_run "lmdb-crash-$mode.$seed" "$seed" --crash-lost-write-rate 50% --crash-torn-write-rate 50% \
      --crash-after "$((seed * 15)) disk.write" --after-crash "python3 lmdb_check.py data/db" -- python3 lmdb_run.py data/db "$mode"
    expect_line "$o/lmdb-crash-$mode.$seed" '^PASS acked=([1-9]|[12][0-9]) rows='
  done
done

# 6. A program that closes every descriptor (daemons, subprocess children)
# leaves the mapping's own descriptors, memfd and marker alone: its later
# stores still reach the file.
disk_run closeall 1 -- python3 -c '
import mmap, os
fd = os.open("data/c", os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
os.close(fd)
os.closerange(3, 65536)
m[0:3] = b"abc"
m.flush()
print(os.pread(os.open("data/c", os.O_RDONLY), 3, 0))'
grep -qx "b'abc'" "$o/closeall" || { cat "$o/closeall" "$o/closeall.err" >&2; fail "closing every descriptor lost the mapping's stores"; }

# 7. A second process mapping the same file shared: a warning and an escape.
cat >two.py <<'EOF'
import mmap, subprocess, sys
f = open("data/two", "w+b")
f.write(b"x" * 4096)
f.flush()
m = mmap.mmap(f.fileno(), 4096)
m[0:5] = b"first"
subprocess.run([sys.executable, "-c",
    "import mmap; f = open('data/two', 'r+b'); m = mmap.mmap(f.fileno(), 4096); print(m[0:5])"], check=True)
EOF
disk_run two 1 -- python3 two.py
grep -q 'two processes map the same simulated file shared' $o/two.err || { cat $o/two.err >&2; fail "no warning for two processes"; }
expect_line $o/two.trace ' determinism\.escape .*mmap=shared_across_processes'
echo "mmap_shared: ok"
