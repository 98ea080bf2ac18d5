#!/usr/bin/python3
"""Checks what survived a power loss against the workload's acknowledgements.

Usage: check.py DB MODE   (run by marionette-launch --after-crash; the
workload's stdout is in the file named by $MARIONETTE_PROGRAM_OUTPUT)

Passes (exit 0) when the database is intact (`pragma integrity_check` is
`ok`), its rows are exactly 1..k, and every acknowledged row is present —
except in `full` mode, where SQLite documents that the last transaction
committed before a power loss may be rolled back (the journal's deletion is
not made durable: no directory fsync), so one missing acknowledged row is
allowed there. Prints one line with the verdict and the numbers.
"""
import os
import sqlite3
import sys


def main() -> int:
    path, mode = sys.argv[1], sys.argv[2]
    acked = 0
    with open(os.environ["MARIONETTE_PROGRAM_OUTPUT"]) as out:
        for line in out:
            if line.startswith("ack "):
                acked = int(line.split()[1])
    if not os.path.exists(path):
        # The database file itself did not survive (its creation was never
        # made durable): only acceptable if nothing was acknowledged.
        verdict = acked == 0
        print(f"{'PASS' if verdict else 'FAIL'} mode={mode} acked={acked} database=missing")
        return 0 if verdict else 1
    try:
        db = sqlite3.connect(path, isolation_level=None)
        if mode == "wal-full":
            # As the workload: no shared-memory index.
            db.execute("pragma locking_mode=exclusive")
        integrity = db.execute("pragma integrity_check").fetchone()[0]
        ids = [row[0] for row in db.execute("select id from t order by id")] if integrity == "ok" else []
    except sqlite3.DatabaseError as error:
        integrity, ids = f"error: {error}", []
    contiguous = ids == list(range(1, len(ids) + 1))
    allowed_loss = 1 if mode == "full" else 0
    durable = len(ids) >= acked - allowed_loss
    verdict = integrity == "ok" and contiguous and durable
    print(f"{'PASS' if verdict else 'FAIL'} mode={mode} acked={acked} rows={len(ids)} "
          f"integrity={integrity.replace(' ', '_')} contiguous={contiguous}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
