#!/usr/bin/env bash
# Unmodified programs on the simulated disk (--disk DIR): sqlite3 builds a
# database, python3 and coreutils read and write files; the real directory
# and the real /tmp are never written; the same seed gives the same trace;
# --export-disk writes the durable state, which the real sqlite3 then reads.
source "$(dirname "$0")/lib.sh"
launch=$1

fingerprint() { (cd "$1" && find . -printf '%p %s %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }

mkdir -p "$scratch/data"
echo "imported line" >"$scratch/data/seed.txt"
before=$(fingerprint "$scratch/data")
cd "$scratch"

# sqlite3 (Debian's) creates, fills and checks a database on the simulated disk.
sql='create table t(x); begin; insert into t values(1),(2),(3); commit; select sum(x) from t; pragma integrity_check;'
for run in a b; do
  "$launch" --quiet --seed 7 --disk data --trace "sqlite.$run.trace" -- sqlite3 data/test.db "$sql" >"sqlite.$run" 2>"sqlite.$run.err" \
    || { cat "sqlite.$run.err" >&2; fail "sqlite3 failed under --disk"; }
done
[[ $(cat sqlite.a) == $'6\nok' ]] || fail "sqlite3 printed '$(cat sqlite.a)', expected 6 and ok"
cmp -s sqlite.a.trace sqlite.b.trace || { diff sqlite.a.trace sqlite.b.trace >&2 || true; fail "sqlite3: seed 7 twice gave different traces"; }
grep -q ' disk.fsync ' sqlite.a.trace || fail "sqlite3's fsyncs did not reach the disk model"
grep -q ' fs.open .*path=.*/data/test.db' sqlite.a.trace || fail "sqlite3 did not open data/test.db through the simulated file layer"
[[ $(fingerprint "$scratch/data") == "$before" ]] || fail "the real data directory changed under --disk"

# Disk latency jitter comes from the seed: another seed, another trace.
"$launch" --quiet --seed 7 --disk data --latency-ns-jitter 1ms --trace j7.trace -- sqlite3 data/test.db "$sql" >/dev/null
"$launch" --quiet --seed 8 --disk data --latency-ns-jitter 1ms --trace j8.trace -- sqlite3 data/test.db "$sql" >/dev/null
cmp -s j7.trace j8.trace && fail "seeds 7 and 8 gave identical traces with disk latency jitter"

# The durable state can be exported and read by the real sqlite3 outside the
# simulation. In strict metadata mode (the default) SQLite's rollback
# journal mode never fsyncs the directory after deleting the journal, so
# the journal of the last transaction is still there in the durable state:
# SQLite documents that such a "hot journal" rolls the transaction back
# after a power loss. The real sqlite3 does exactly that on the export.
"$launch" --quiet --seed 7 --disk data --export-disk strict -- sqlite3 data/test.db "$sql" >/dev/null 2>export.err \
  || { cat export.err >&2; fail "export run failed"; }
[[ -s strict/data/test.db-journal ]] || fail "strict mode: expected the last transaction's journal in the durable state"
[[ $(sqlite3 strict/data/test.db 'select count(*) from t;') == 0 ]] || fail "strict mode: the hot journal did not roll the insert back"
# With namespace changes durable at once, the journal's deletion is durable
# and every committed row survives.
"$launch" --quiet --seed 7 --disk data --metadata lenient --export-disk lenient -- sqlite3 data/test.db "$sql" >/dev/null
[[ ! -e lenient/data/test.db-journal ]] || fail "lenient mode: the deleted journal came back"
[[ $(sqlite3 lenient/data/test.db 'select sum(x) from t;') == 6 ]] || fail "lenient mode: the exported database does not hold the rows"
[[ $(cat lenient/data/seed.txt) == "imported line" ]] || fail "the imported file is missing from the export"

# python3: files inside the disk and in /tmp are simulated; the imported file is readable.
marker="marionette-disk-test-$$-$RANDOM"
"$launch" --quiet --seed 3 --disk data -- python3 -c "
import os
print(open('data/seed.txt').read().strip())
with open('data/new.txt', 'w') as f: f.write('x' * 10000)
os.rename('data/new.txt', 'data/renamed.txt')
print(os.path.getsize('data/renamed.txt'), sorted(os.listdir('data')))
import tempfile
path = os.path.join(tempfile.gettempdir(), '$marker')
open(path, 'w').write('simulated')
print(open(path).read())
print(tempfile.gettempdir())
" >py.out 2>py.err || { cat py.err >&2; fail "python3 under --disk failed"; }
expect_line py.out '^imported line$'
expect_line py.out "^10000 \['renamed.txt', 'seed.txt'\]$"
expect_line py.out '^simulated$'
expect_line py.out '^/tmp/marionette-node-tmp$'
[[ ! -e /tmp/marionette-node-tmp/$marker && ! -e /tmp/$marker ]] || fail "python3 wrote a real temporary file"
[[ $(fingerprint "$scratch/data") == "$before" ]] || fail "python3 changed the real data directory"

# sh's own redirections and builtins reach the simulated disk.
"$launch" --quiet --seed 3 --disk data -- sh -c 'read line <data/seed.txt; echo "$line"; echo added >data/more.txt; read x <data/more.txt; echo "$x"' \
  >sh.out 2>sh.err || { cat sh.err >&2; fail "sh under --disk failed"; }
[[ $(cat sh.out) == $'imported line\nadded' ]] || { cat sh.out >&2; fail "sh did not read and write the simulated disk"; }
# Forked children (cat, tee, run by sh) are simulated processes too: they
# read and write the simulated disk, never the real directory.
"$launch" --quiet --seed 3 --disk data -- \
  sh -c 'cat data/seed.txt; echo via-child | tee data/child.txt >/dev/null; cat data/child.txt' >child.out 2>child.err \
  || { cat child.err >&2; fail "forked children under --disk failed"; }
[[ $(cat child.out) == $'imported line\nvia-child' ]] || { cat child.out child.err >&2; fail "a forked child did not use the simulated disk"; }
[[ ! -e data/child.txt ]] || fail "a forked child wrote the real data directory"
[[ $(fingerprint "$scratch/data") == "$before" ]] || fail "sh changed the real data directory"

# mmap of a simulated file: a private mapping is a copy of the simulated
# bytes; shared ones map the file's memfd, whose stores reach the simulated
# file (read() sees them after flush/msync) and which every shared mapping
# of the file sees (docs/disk-model.md, "Shared file mappings";
# mmap_shared_test.sh covers the crash model).
"$launch" --quiet --seed 3 --disk data --trace mmap.trace -- python3 -c '
import mmap
f = open("data/seed.txt", "r+b")
r = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
print(r[:13].decode())
p = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
p[0:1] = b"I"
print(p[:13].decode())
w = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
w[0:1] = b"J"
w.flush()
print(r[:13].decode())
f.seek(0)
print(f.read(13).decode())' >mmap.out 2>mmap.err || { cat mmap.err >&2; fail "mmap under --disk failed"; }
[[ $(cat mmap.out) == $'imported line\nImported line\nJmported line\nJmported line' ]] || { cat mmap.out >&2; fail "mmap of a simulated file misbehaved"; }
if grep -q 'determinism\.escape' mmap.trace; then grep 'determinism\.escape' mmap.trace >&2; fail "an escape in the mmap run"; fi
[[ $(fingerprint "$scratch/data") == "$before" ]] || fail "mmap changed the real data directory"

# Disk options are checked before anything runs.
code=0
"$launch" --seed 1 --disk data --crash-torn-write-rate 140% -- true 2>bad.err || code=$?
[[ $code -eq 2 ]] || fail "a bad disk rate exited $code, expected 2"
grep -q "invalid rate '140%'" bad.err || { cat bad.err >&2; fail "the bad rate is not named"; }
# Every run has a simulated disk (the host view), so its options apply without --disk:
# the option is accepted and recorded in the trace's header.
"$launch" --seed 1 --trace nodisk.trace --crash-torn-write-rate 20% -- true 2>nodisk.err \
    || { cat nodisk.err >&2; fail "a disk option without --disk was refused"; }
grep -q ' crash_torn_write_rate=20%25' nodisk.trace || { head -5 nodisk.trace >&2; fail "the disk option is not in the trace header"; }
echo "disk: ok"
