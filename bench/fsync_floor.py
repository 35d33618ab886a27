#!/usr/bin/env python3
"""bench/fsync_floor.py: the durability floor of a disk, per message (issue 23).

  python3 bench/fsync_floor.py [DIR] [--rounds 500]

In a temporary directory under DIR (default /tmp; use the file system of the data directory),
times ROUNDS of each: appending 10 KB and fdatasync; a SQLite commit (WAL, synchronous=FULL, as
Rampart's store) of one 10 KB row; creating a 10 KB file and fsync (what Postfix's cleanup does
per message). Prints the median and p90 in milliseconds. Python standard library only.
"""
import argparse
import os
import sqlite3
import statistics
import tempfile
import time


def timed(rounds, f):
    t = []
    for i in range(rounds):
        a = time.perf_counter()
        f(i)
        t.append(time.perf_counter() - a)
    t.sort()
    return statistics.median(t) * 1e3, t[int(len(t) * 0.9)] * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", nargs="?", default="/tmp")
    p.add_argument("--rounds", type=int, default=500)
    a = p.parse_args()
    data = os.urandom(10240)
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        fd = os.open(os.path.join(d, "append"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def append(_):
            os.write(fd, data)
            os.fdatasync(fd)

        c = sqlite3.connect(os.path.join(d, "db"), isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB)")

        def commit(_):
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO b(data) VALUES (?)", (data,))
            c.execute("COMMIT")

        def create(i):
            f = os.open(os.path.join(d, f"m{i}"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(f, data)
            os.fsync(f)
            os.close(f)

        for label, f in [("append 10 KB + fdatasync", append),
                         ("SQLite WAL commit (synchronous=FULL) of a 10 KB row", commit),
                         ("create a 10 KB file + fsync", create)]:
            med, p90 = timed(a.rounds, f)
            print("%-52s median %.3f ms  p90 %.3f ms" % (label, med, p90))
        os.close(fd)
        c.close()


if __name__ == "__main__":
    main()
