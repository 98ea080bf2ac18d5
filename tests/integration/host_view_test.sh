#!/usr/bin/env bash
# The host, copy-on-write (docs/disk-model.md, "The host view"): programs
# nobody here wrote (python3, sh, coreutils, sed) write, rename, delete and
# chmod files in their working directory and under hard-coded paths; the
# real file system stays byte-identical, the program sees its own changes,
# and one seed twice gives identical output and traces. --real-path lets a
# path through; a host FIFO is the real kernel's.
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

# Bad input: --real-path must name an absolute or existing path.
code=0
"$launch" --seed 1 --real-path '' -- /bin/true 2>err || code=$?
[[ $code -eq 2 ]] || fail "--real-path '' must exit 2 (got $code)"
echo "host view: ok"
