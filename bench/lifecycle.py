#!/usr/bin/env python3
"""Storage lifecycle under load: relayed mail leaves the data directory as it found it.

Starts a Rampart (release binary) that relays for 127.0.0.0/8 and delivers everything for
sink.test to a small SMTP sink in this script (127.0.0.1:0, found through the test DNS as the MX
of sink.test), sends N messages (default 100,000) over a few connections, waits until the sink
has every one and `rampart queue list` is empty, then measures the data directory.

What is measured (bytes):
- before: the data directory once the server is up, before the first message;
- after:  the same once the queue has drained and the server has stopped;
- peak:   the largest data directory seen while sending and draining (sampled every 0.5 s);
- wal:    the largest `rampart.db-wal` seen while sending, and its size once idle;
- trace:  pages of the trace table and its indexes (sqlite's dbstat). AL-3.1 keeps one trace per
  message for `[trace] retention_days` (NC-2.4.3: at least 90), so the trace grows with every
  message by design; everything else must not.

It fails (exit 1) when the data directory, trace pages left out, grew by more than --bound-mib
(default 16 MiB), or when a message is missing at the sink, or rows or files are left behind.

    python3 bench/lifecycle.py --binary target/release/rampart --messages 100000
"""
import argparse
import os
import socket
import socketserver
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rampart_server import (  # noqa: E402
    DNS_RECORDS, DOMAIN, Rampart, TempDir, _toml_table, log, release_binary, wait_until)

SINK_DOMAIN = "sink.test"
# Relaying without authentication (from [relay] networks) is allowed only from our own domains
# (NC-2.1.7), so the application sending here uses one.
SENDER = f"app@{DOMAIN}"


class Sink(socketserver.ThreadingTCPServer):
    """Just enough SMTP to accept mail: counts the messages it is given."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.count = 0
        self.lock = threading.Lock()


class SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        w = self.wfile
        w.write(b"220 sink.test ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                w.write(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                w.write(b"354 go ahead\r\n")
                while True:
                    d = self.rfile.readline()
                    if not d or d == b".\r\n":
                        break
                with self.server.lock:
                    self.server.count += 1
                w.write(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                w.write(b"221 bye\r\n")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                w.write(b"250 ok\r\n")


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def wal_size(data_dir):
    try:
        return os.path.getsize(os.path.join(data_dir, "rampart.db-wal"))
    except OSError:
        return 0


def trace_bytes(data_dir):
    """Bytes of the pages holding the trace table and its indexes."""
    c = sqlite3.connect(f"file:{os.path.join(data_dir, 'rampart.db')}?mode=ro", uri=True)
    try:
        return c.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                         "WHERE name = 'trace' OR name LIKE 'trace_%'").fetchone()[0]
    finally:
        c.close()


def leftovers(data_dir):
    c = sqlite3.connect(f"file:{os.path.join(data_dir, 'rampart.db')}?mode=ro", uri=True)
    try:
        rows = {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("messages", "message_bodies", "queue")}
    finally:
        c.close()
    rows["files"] = len(os.listdir(os.path.join(data_dir, "messages")))
    return rows


def free_bytes(data_dir):
    """Pages freed by removal and kept in the file for reuse (SQLite does not shrink it)."""
    c = sqlite3.connect(f"file:{os.path.join(data_dir, 'rampart.db')}?mode=ro", uri=True)
    try:
        return (c.execute("PRAGMA freelist_count").fetchone()[0]
                * c.execute("PRAGMA page_size").fetchone()[0])
    finally:
        c.close()


def message(i, size):
    body = ("x" * 76 + "\r\n") * max(1, size // 78)
    return (f"From: <{SENDER}>\r\nTo: <r{i % 100}@{SINK_DOMAIN}>\r\n"
            f"Subject: lifecycle {i}\r\nMessage-ID: <lifecycle.{i}@{DOMAIN}>\r\n"
            f"Date: Thu, 03 Dec 2026 00:00:00 +0000\r\n\r\n{body}").encode()


def send(port, first, count, size, per_session, errors, watch):
    """Sends messages first..first+count over raw SMTP, `per_session` per connection."""
    i = first
    end = first + count
    while i < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            f = s.makefile("rb")

            def reply():
                while True:
                    line = f.readline()
                    if not line:
                        raise ConnectionError("closed")
                    if line[3:4] != b"-":
                        return int(line[:3])

            reply()
            s.sendall(b"EHLO app.example.test\r\n")
            reply()
            n = 0
            while i < end and n < per_session:
                s.sendall(f"MAIL FROM:<{SENDER}>\r\n".encode())
                code = reply()
                if code != 250:
                    raise ConnectionError(f"MAIL refused: {code}")
                s.sendall(f"RCPT TO:<r{i % 100}@{SINK_DOMAIN}>\r\n".encode())
                code = reply()
                if code != 250:
                    raise ConnectionError(f"RCPT refused: {code}")
                s.sendall(b"DATA\r\n")
                if reply() != 354:
                    raise ConnectionError("DATA refused")
                s.sendall(message(i, size) + b".\r\n")
                code = reply()
                if code != 250:
                    errors.append(f"message {i}: {code}")
                i += 1
                n += 1
                watch()
            s.sendall(b"QUIT\r\n")
            s.close()
        except (OSError, ConnectionError) as e:
            errors.append(f"message {i}: {e}")
            if len(errors) < 3:
                log(f"send error: {e}")
            i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", help="rampart release binary (default: build it)")
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=2000, help="approximate message size (bytes)")
    ap.add_argument("--connections", type=int, default=4, help="concurrent sending connections")
    ap.add_argument("--bound-mib", type=float, default=16.0,
                    help="allowed growth of the data directory, trace left out (MiB)")
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    a = ap.parse_args()
    binary = release_binary(a.binary)

    sink = Sink()
    sink_port = sink.server_address[1]
    threading.Thread(target=sink.serve_forever, daemon=True).start()

    records = DNS_RECORDS + f'{DOMAIN} TXT "v=spf1 ip4:127.0.0.0/8 -all"\n'
    records += f"{SINK_DOMAIN} MX 10 mx.{SINK_DOMAIN}\nmx.{SINK_DOMAIN} A 127.0.0.1\n"
    lots = 100_000_000
    rate_limits = "".join(
        _toml_table("rate_limit", {"scope": scope, "what": what, "limit": lots,
                                   "window_secs": 3600}, array=True)
        for scope, what in (("ip", "messages"), ("ip", "connections"), ("domain", "messages"),
                            ("global", "messages")))
    with TempDir("rampart-lifecycle") as tmp:
        server = Rampart(binary, tmp, dns_records=records,
                         limits={"max_connections_per_ip": 1000},
                         checks_disabled=("antivirus", "external"),
                         tables={"relay": {"networks": ["127.0.0.0/8"]},
                                 "delivery": {"port": sink_port, "retry_secs": [1],
                                              "timeout_secs": 30}})
        server._config_text += rate_limits
        with open(server.config, "a") as f:
            f.write(rate_limits)
        try:
            server.setup()
            server.start()
            before = dir_size(server.data_dir)
            trace_before = trace_bytes(server.data_dir)
            log(f"data directory at start: {before} bytes; sending {a.messages} messages "
                f"of ~{a.size} bytes over {a.connections} connections to a sink on port {sink_port}")
            errors = []
            wal_peak = [0]
            dir_peak = [before]
            last_look = [0.0]

            def look():
                wal_peak[0] = max(wal_peak[0], wal_size(server.data_dir))
                dir_peak[0] = max(dir_peak[0], dir_size(server.data_dir))

            def watch():
                now = time.monotonic()
                with server_lock:
                    if now - last_look[0] > 0.5:
                        last_look[0] = now
                        look()

            server_lock = threading.Lock()
            t0 = time.monotonic()
            share = a.messages // a.connections
            threads = []
            for k in range(a.connections):
                n = share if k < a.connections - 1 else a.messages - share * (a.connections - 1)
                t = threading.Thread(target=send, args=(server.port, k * share, n, a.size, 900,
                                                        errors, watch))
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            sent = time.monotonic() - t0
            log(f"sent in {sent:.0f} s ({a.messages / sent:.0f} msg/s); {len(errors)} errors")

            def drained():
                look()
                return sink.count >= a.messages - len(errors) and not server.cli("queue", "list")

            if not wait_until(drained, a.drain_timeout, 0.5):
                log(f"queue did not drain: the sink has {sink.count}")
            total = time.monotonic() - t0
            # Idle now: the checkpoint thread empties the WAL within a second or two.
            wait_until(lambda: wal_size(server.data_dir) == 0, 10, 0.2)
            wal_idle = wal_size(server.data_dir)
            server.stop()
            after = dir_size(server.data_dir)
            trace_after = trace_bytes(server.data_dir)
            left = leftovers(server.data_dir)
            free = free_bytes(server.data_dir)
        finally:
            server.close()
            sink.shutdown()

    growth = (after - trace_after) - (before - trace_before)
    bound = int(a.bound_mib * 1024 * 1024)
    print(f"messages sent:              {a.messages} ({len(errors)} errors), received by the "
          f"sink: {sink.count}, in {total:.0f} s")
    print(f"data directory before:      {before} bytes")
    print(f"data directory at its peak: {dir_peak[0]} bytes")
    print(f"data directory after:       {after} bytes (trace pages {trace_after}, "
          f"were {trace_before})")
    print(f"growth without the trace:   {growth} bytes (bound {bound})")
    print(f"free pages for reuse:       {free} bytes (the backlog at its peak)")
    print(f"WAL: largest seen {wal_peak[0]} bytes; once idle {wal_idle} bytes")
    print(f"left behind:                {left}")
    ok = (growth <= bound and not errors and sink.count >= a.messages
          and not any(left.values()))
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
