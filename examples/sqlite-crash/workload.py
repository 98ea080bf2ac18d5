#!/usr/bin/python3
"""A SQLite client that acknowledges each committed transaction.

Usage: workload.py DB MODE [TRANSACTIONS]

MODE picks the durability settings SQLite documents:
  extra     rollback journal, synchronous=EXTRA
  full      rollback journal, synchronous=FULL (the default)
  off       rollback journal, synchronous=OFF
  wal-full  write-ahead log, synchronous=FULL, exclusive locking (no shared
            memory file)
  wal-shared  write-ahead log, synchronous=FULL, normal locking: the -shm
            wal-index is a writable shared mapping of a simulated file

After each COMMIT returns, the client prints `ack <n>`: row n is committed as
far as the client knows. check.py compares what survives a power loss with
these acknowledgements. Runs unmodified on Debian's python3 and libsqlite3.
"""
import sqlite3
import sys

MODES = {
    "extra": ("delete", "extra", "normal"),
    "full": ("delete", "full", "normal"),
    "off": ("delete", "off", "normal"),
    "wal-full": ("wal", "full", "exclusive"),
    "wal-shared": ("wal", "full", "normal"),
}


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] not in MODES:
        print(f"usage: {sys.argv[0]} DB {{{'|'.join(MODES)}}} [TRANSACTIONS]", file=sys.stderr)
        return 2
    path, mode = sys.argv[1], sys.argv[2]
    transactions = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    journal, synchronous, locking = MODES[mode]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"pragma locking_mode={locking}")
    db.execute(f"pragma journal_mode={journal}")
    db.execute(f"pragma synchronous={synchronous}")
    db.execute("create table if not exists t(id integer primary key, payload text not null)")
    for n in range(1, transactions + 1):
        db.execute("begin")
        # A payload that spans sectors, so torn writes have something to tear.
        db.execute("insert into t values(?, ?)", (n, f"row {n} " + "x" * 3000))
        db.execute("commit")
        print(f"ack {n}", flush=True)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
