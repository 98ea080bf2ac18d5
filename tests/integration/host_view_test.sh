#!/usr/bin/env bash
# The host, copy-on-write (docs/disk-model.md, "The host view"): programs
# nobody here wrote (python3, sh, coreutils, sed) write, rename, delete and
# chmod files in their working directory and under hard-coded paths; the
# real file system stays byte-identical, the program sees its own changes,
# and one seed twice gives identical output and traces. --real-path lets a
# path through; a host FIFO is the real kernel's. A power loss and a
# scenario need no --disk: the host view is the node's disk.
source "$(dirname "$0")/lib.sh"
launch=$1
work=$scratch/work
cd "$scratch"
mkdir -p "$work/sub"
echo "original" >"$work/keep.txt"
echo "to be deleted" >"$work/doomed.txt"
printf 'alpha\nbeta\n' >"$work/sub/edit.txt"
chmod 644 "$work/keep.txt"
hard=/tmp/marionette-host-view-hardcoded
rm -rf "$hard"

snapshot() {  # every path, mode, size and content hash under $work
  (cd "$work" && find . -printf '%p %m %s %y\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
before=$(snapshot)

cat >"$scratch/writer.py" <<'PY'
import os, stat
os.chdir("WORK")
with open("keep.txt", "a") as f: f.write("appended\n")
with open("new.log", "w") as f: f.write("written by the program\n")
os.unlink("doomed.txt")
os.rename("sub/edit.txt", "sub/moved.txt")
os.mkdir("made")
os.chmod("keep.txt", 0o600)
os.makedirs("HARD/deep", exist_ok=True)
with open("HARD/deep/state", "w") as f: f.write("hard-coded\n")
print("keep:", open("keep.txt").read().replace("\n", "|"))
print("listing:", sorted(os.listdir(".")), sorted(os.listdir("sub")))
print("doomed gone:", not os.path.exists("doomed.txt"))
print("mode:", oct(stat.S_IMODE(os.stat("keep.txt").st_mode)))
print("hard:", open("HARD/deep/state").read().strip())
st = os.stat("new.log")
print("new.log ino", st.st_ino, "mtime", st.st_mtime_ns)
PY
sed -i "s|WORK|$work|; s|HARD|$hard|g" "$scratch/writer.py"
same_for_one_seed python /usr/bin/python3 "$scratch/writer.py"
expect_line python.1a '^keep: original\|appended\|$'
expect_line python.1a "^listing: \['keep.txt', 'made', 'new.log', 'sub'\] \['moved.txt'\]$"
expect_line python.1a '^doomed gone: True$'
expect_line python.1a '^mode: 0o600$'
expect_line python.1a '^hard: hard-coded$'
[[ $(snapshot) == "$before" ]] || { diff <(echo "$before") <(snapshot) >&2; fail "python: the real working directory changed"; }
[[ ! -e $hard ]] || fail "python: a hard-coded path was created on the real file system"

# The shell and coreutils: sed -i (a temporary file renamed over the
# original), cp, mv, rm, touch, redirections under /tmp.
script="cd '$work' && sed -i s/alpha/ALPHA/ sub/edit.txt && cp keep.txt copy.txt && mv copy.txt moved.txt && rm keep.txt && touch stamp && mkdir -p $hard && echo x >$hard/f && cat sub/edit.txt && ls && ls $hard"
same_for_one_seed shell /bin/sh -c "$script"
[[ $(cat shell.1a) == $'ALPHA\nbeta\ndoomed.txt\nmoved.txt\nstamp\nsub\nf' ]] || { cat shell.1a >&2; fail "shell: unexpected view"; }
[[ $(snapshot) == "$before" ]] || { diff <(echo "$before") <(snapshot) >&2; fail "shell: the real working directory changed"; }
[[ ! -e $hard ]] || fail "shell: a hard-coded path was created on the real file system"

# Reading what the host has, unchanged, goes to the real kernel (no copy):
# python3 imports its standard library; sqlite3 reads a database file.
sqlite3 "$work/db.sqlite" 'create table t(x); insert into t values (41), (1);'
before=$(snapshot)
same_for_one_seed sqlite sqlite3 "$work/db.sqlite" 'select sum(x) from t; insert into t values (100); select sum(x) from t;'
[[ $(cat sqlite.1a) == $'42\n142' ]] || { cat sqlite.1a >&2; fail "sqlite3: unexpected sums"; }
[[ $(snapshot) == "$before" ]] || { diff <(echo "$before") <(snapshot) >&2; fail "sqlite3: the real database changed"; }
expect_line sqlite.1a.trace ' disk\.host_copy at_ns=[0-9]+ ino=[0-9]+ host=[^ ]*/db\.sqlite bytes=[0-9]+'

# --real-path: that path is the real file system's (an escape, on purpose).
mkdir "$scratch/results"
"$launch" --quiet --seed 1 --real-path "$scratch/results" -- /bin/sh -c "echo real >'$scratch/results/r.txt'; echo simulated >'$work/s.txt'" \
  || fail "--real-path run failed"
[[ $(cat "$scratch/results/r.txt") == real ]] || fail "--real-path: the file did not reach the real file system"
[[ ! -e $work/s.txt ]] || fail "--real-path: a path outside it reached the real file system"

# A FIFO on the host is the real kernel's: the program inside the run
# reaches a reader outside it. (It writes: a read that must wait would park
# in the scheduler, which sees no writer and reports a deadlock.)
mkfifo "$scratch/pipe"
timeout 30 cat "$scratch/pipe" >fifo.out &
reader=$!
"$launch" --quiet --seed 1 --wall-timeout 30s -- /bin/sh -c "echo 'through the fifo' >'$scratch/pipe'" || fail "writing a host FIFO failed"
wait "$reader" || fail "the reader outside the run failed"
[[ $(cat fifo.out) == "through the fifo" ]] || { cat fifo.out >&2; fail "host FIFO: wrong data"; }
[[ -p $scratch/pipe ]] || fail "host FIFO: it is no longer a FIFO"

# A power loss without --disk: the host view is the node's disk, so the
# crash model applies to it. The program makes durable.txt durable (file
# and directory fsynced), then writes volatile.txt without any sync and is
# cut off. The check after the crash sees only the durable file; the real
# directory never sees either. One seed twice gives the same trace.
mkdir "$scratch/power"
cat >"$scratch/power/w.py" <<'PY'
import os, time
with open("durable.txt", "w") as f:
    f.write("synced\n"); f.flush(); os.fsync(f.fileno())
d = os.open(".", os.O_RDONLY); os.fsync(d); os.close(d)
with open("volatile.txt", "w") as f:
    f.write("unsynced\n")
time.sleep(1)
print("never reached")
PY
power_before=$(cd "$scratch/power" && ls -A)
for run in 1a 1b; do
  (cd "$scratch/power" && "$launch" --seed 1 --wall-timeout 30s --trace "$pending/power.$run.trace" \
      --crash-at 500ms --after-crash "sh -c 'cat durable.txt; ls'" -- /usr/bin/python3 w.py) \
    >"$pending/power.$run" 2>"$pending/power.$run.err" \
    || { cat "$pending/power.$run.err" >&2; fail "power loss without --disk: the run failed"; }
done
mv "$pending"/power.* "$scratch"/
[[ $(cat power.1a) == $'synced\ndurable.txt\nw.py' ]] || { cat power.1a >&2; fail "power loss without --disk: unexpected files after the crash"; }
grep -q 'check after the crash: passed' power.1a.err || { cat power.1a.err >&2; fail "power loss without --disk: no check verdict"; }
expect_line power.1a.trace ' process\.crash at_ns=500000000 reason=node_power_loss$'
expect_line power.1a.trace ' disk\.crash at_ns=500000000 .* removed_inodes=1 namespace_lost=[1-9]'
cmp -s power.1a.trace power.1b.trace || fail "power loss without --disk: one seed twice gave different traces"
[[ $(cd "$scratch/power" && ls -A) == "$power_before" ]] || fail "power loss without --disk: the real directory changed"

# A scenario without --disk: the first incarnation runs w.py and loses
# power at 500 ms; the restarted node finds durable.txt and lists what
# survived.
cat >"$scratch/power.scn" <<'SCN'
at 500ms crash main
run until idle
expect exit main -1
restart
run until idle
expect exit main 0
SCN
boot='if [ -e durable.txt ]; then cat durable.txt; ls; else exec /usr/bin/python3 w.py; fi'
for run in 1a 1b; do
  (cd "$scratch/power" && "$launch" --seed 1 --wall-timeout 30s --trace "$pending/scn.$run.trace" \
      --scenario "$scratch/power.scn" -- /bin/sh -c "$boot") >"$pending/scn.$run" 2>"$pending/scn.$run.err" \
    || { cat "$pending/scn.$run.err" >&2; fail "scenario without --disk: the run failed"; }
done
mv "$pending"/scn.* "$scratch"/
[[ $(cat scn.1a) == $'synced\ndurable.txt\nw.py' ]] || { cat scn.1a scn.1a.err >&2; fail "scenario without --disk: unexpected files after the crash"; }
cmp -s scn.1a.trace scn.1b.trace || fail "scenario without --disk: one seed twice gave different traces"
[[ $(cd "$scratch/power" && ls -A) == "$power_before" ]] || fail "scenario without --disk: the real directory changed"

# Transfers larger than one message to the coordinator (16 MiB) are short
# counts, as POSIX allows, never EINVAL: Python's buffered I/O and
# coreutils loop on them; a 40 MiB file round-trips intact on the
# simulated disk and never reaches the host.
mkdir "$scratch/big"
cat >"$scratch/big.py" <<'PY'
import hashlib, os
data = bytes(range(256)) * (40 * 4096)
with open("big.bin", "wb") as f: f.write(data)
fd = os.open("big.bin", os.O_RDWR)
print("one read short:", 0 < len(os.read(fd, 40 << 20)) < (40 << 20))
print("one write short:", 0 < os.write(fd, data) < len(data))
print("writev short:", 0 < os.writev(fd, [data, b"x"]) < len(data))
os.close(fd)
with open("big.bin", "rb") as f: back = f.read(len(data))
print("intact:", hashlib.sha256(back).digest() == hashlib.sha256(data).digest())
PY
(cd "$scratch/big" && "$launch" --quiet --seed 1 -- /usr/bin/python3 "$scratch/big.py") >big.out 2>big.err \
  || { cat big.err >&2; fail "large transfers failed"; }
[[ $(cat big.out) == $'one read short: True\none write short: True\nwritev short: True\nintact: True' ]] \
  || { cat big.out big.err >&2; fail "large transfers: unexpected results"; }
(cd "$scratch/big" && "$launch" --quiet --seed 1 -- /bin/sh -c 'head -c 41943040 /dev/zero >z; cp z z2; cmp z z2 && wc -c <z2') >cp.out 2>cp.err \
  || { cat cp.err >&2; fail "cp of a 40 MiB file failed"; }
[[ $(cat cp.out) == 41943040 ]] || { cat cp.out >&2; fail "cp of a 40 MiB file: wrong size"; }
[[ -z $(ls -A "$scratch/big") ]] || fail "large transfers reached the host"

# Bad input: --real-path must name an absolute or existing path.
code=0
"$launch" --seed 1 --real-path '' -- /bin/true 2>err || code=$?
[[ $code -eq 2 ]] || fail "--real-path '' must exit 2 (got $code)"
echo "host view: ok"
