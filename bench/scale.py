#!/usr/bin/env python3
"""bench/scale.py: memory and connection scale of one Rampart process.

  bench/scale.py                 10,000 connections idle after EHLO, then 1,000 mid-transaction
  bench/scale.py --quick         1,000 and 100 (the CI form, about 10 s)
  bench/scale.py --idle 18000 --mid 5000 --binary path/to/rampart

Each phase starts a fresh release Rampart (built with cargo if needed) on 127.0.0.1:0 with a
temporary data directory, and reads its VmRSS (/proc/PID/status) once it is listening.

1. idle: opens N connections, reads each greeting, sends EHLO, waits for the whole reply and
   holds the connection. RSS per idle connection = (RSS holding them - RSS before) / N.
2. mid-transaction: M connections each send EHLO, MAIL, RCPT and DATA, then part of a message
   body (BODY_SENT bytes, no end), and hold there. Same measure per connection.

In both phases a fresh client (Python's smtplib) must still get a message accepted while the
connections are held, every held connection must still be open when it is measured (no reply, no
close), and the server must be alive. The connections are then closed and the server must notice:
its descriptor count returns to what it was before. Exit status 1 when any of that fails.

Connections come from several loopback source addresses (127.0.1.1, 127.0.1.2, ...), at most
PER_SOURCE from each, so that neither the ephemeral ports of one address nor the per-address limit
(set to the connection count here anyway) is what gets measured. RLIMIT_NOFILE is raised to the
hard limit (the server inherits it); the run refuses to start when that is too low.

Python 3 standard library only. Everything started is stopped and the temporary directories are
removed on exit, failure or Ctrl-C included (KEEP_TMP=1 keeps them).
"""
import argparse
import errno
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rampart_server import (  # noqa: E402
    DOMAIN, SENDER, USER, Rampart, TempDir, exit_cleanly_on_sigterm, log, open_fds, raise_nofile,
    release_binary, send_message, wait_until)

PER_SOURCE = 1000
CONNECTING_AT_ONCE = 500
BODY_SENT = 4096
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the source port at connect(), not at bind()


class Conn:
    """One client connection driven by `Driver` through a script of (send, expected code)."""
    __slots__ = ("sock", "script", "step", "buf", "done", "error", "sent_at")

    def __init__(self, sock, script):
        self.sock = sock
        self.script = script
        self.step = 0
        self.buf = b""
        self.done = False
        self.error = None
        self.sent_at = time.monotonic()


def idle_script(i):
    return [(None, b"220"), (f"EHLO client{i}.remote.test\r\n".encode(), b"250")]


def mid_transaction_script(i):
    body = (f"From: <{SENDER}>\r\nTo: <{USER}>\r\nSubject: held {i}\r\n"
            f"Message-ID: <held.{i}@remote.test>\r\n\r\n").encode()
    filler = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890123\r\n"
    body += filler * ((BODY_SENT - len(body)) // len(filler) + 1)
    return idle_script(i) + [
        (f"MAIL FROM:<{SENDER}>\r\n".encode(), b"250"),
        (f"RCPT TO:<{USER}>\r\n".encode(), b"250"),
        (b"DATA\r\n", b"354"),
        (body[:BODY_SENT], None),  # part of the body, no end: the transaction stays open
    ]


def complete_reply(buf):
    """(reply, rest) if `buf` starts with a complete SMTP reply (its last line has a space or
    nothing after the code), else (None, buf)."""
    start = 0
    while True:
        end = buf.find(b"\r\n", start)
        if end < 0:
            return None, buf
        line = buf[start:end]
        if len(line) < 4 or line[3:4] != b"-":
            return buf[:end + 2], buf[end + 2:]
        start = end + 2


class Driver:
    """Opens connections without blocking and walks each through its script."""

    def __init__(self, port, sources):
        self.port = port
        self.sources = sources
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.errors = {}

    def fail(self, c, why):
        c.error = why
        self.errors[why] = self.errors.get(why, 0) + 1
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def open(self, i, script):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((self.sources[i // PER_SOURCE], 0))
        s.setblocking(False)
        c = Conn(s, script)
        self.conns.append(c)
        rc = s.connect_ex(("127.0.0.1", self.port))
        if rc not in (0, errno.EINPROGRESS):
            self.fail(c, f"connect: {errno.errorcode.get(rc, rc)}")
            return
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def advance(self, c):
        """Sends what follows the step just completed; marks the connection done at the end."""
        while True:
            c.step += 1
            if c.step >= len(c.script):
                c.done = True
                return
            data, expect = c.script[c.step]
            if data:
                try:
                    c.sock.send(data)  # a few KB at most: fits the socket buffer
                except OSError as e:
                    self.fail(c, f"send: {e.strerror or e}")
                    return
            if expect is not None:
                c.sent_at = time.monotonic()
                return

    def on_event(self, c, mask):
        if mask & selectors.EVENT_WRITE:  # connect finished
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail(c, f"connect: {os.strerror(err)}")
                return
            self.sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        try:
            data = c.sock.recv(65536)
        except OSError as e:
            self.fail(c, f"recv: {e.strerror or e}")
            return
        if not data:
            self.fail(c, "closed by server" + (" while held" if c.done else ""))
            return
        if c.done:
            self.fail(c, "unexpected reply while held: " + data[:60].decode(errors="replace"))
            return
        c.buf += data
        while not c.done and c.error is None:
            reply, c.buf = complete_reply(c.buf)
            if reply is None:
                return
            expect = c.script[c.step][1]
            if not reply.startswith(expect):
                first = reply.split(b"\r\n")[0].decode(errors="replace")
                self.fail(c, f"step {c.step}: expected {expect.decode()}, got {first[:60]}")
                return
            self.advance(c)

    def run(self, n, make_script, deadline):
        """Opens n connections (at most CONNECTING_AT_ONCE unfinished at a time) and drives them
        until every one is held or failed, or the deadline passes."""
        opened = 0
        while time.monotonic() < deadline:
            pending = sum(1 for c in self.conns if not c.done and c.error is None)
            while opened < n and pending < CONNECTING_AT_ONCE:
                self.open(opened, make_script(opened))
                opened += 1
                pending += 1
            if opened == n and pending == 0:
                return True
            for key, mask in self.sel.select(timeout=0.2):
                self.on_event(key.data, mask)
        for c in self.conns:
            if not c.done and c.error is None:
                self.fail(c, f"not held by the deadline (stuck at step {c.step})")
        return False

    def watch(self, seconds):
        """Serves events for a while: a held connection that hears anything is an error."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for key, mask in self.sel.select(timeout=0.1):
                self.on_event(key.data, mask)

    def held(self):
        return sum(1 for c in self.conns if c.done and c.error is None)

    def close_all(self):
        for c in self.conns:
            if c.error is None:
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        self.sel.close()


def phase(binary, name, n, make_script, timeout, probe_id):
    """Runs one phase on a fresh server; returns a result dict."""
    r = {"phase": name, "conns": n, "held": 0, "errors": {}, "probe": "-", "ok": False}
    with TempDir("rampart-scale") as tmp:
        server = Rampart(binary, tmp,
                         limits={"max_connections": n + 1000, "max_connections_per_ip": n + 1000},
                         # Nothing may time out while we measure.
                         timeouts={"command_secs": 3600, "data_secs": 3600})
        server.setup()
        driver = None
        try:
            server.start()
            # A first message warms the store and the checks, so their one-off allocations are
            # not charged to the connections.
            warm = send_message(server.port, f"warm.{probe_id}@remote.test")
            if warm[0] != 250:
                raise RuntimeError(f"warm-up message refused: {warm}")
            time.sleep(0.5)  # let the allocator settle after start-up (nothing to poll for)
            r["rss_before"] = server.rss_kb()
            fds_before = open_fds(server.pid)
            sources = [f"127.0.1.{k + 1}" for k in range((n + PER_SOURCE - 1) // PER_SOURCE)]
            driver = Driver(server.port, sources)
            t0 = time.monotonic()
            driver.run(n, make_script, t0 + timeout)
            r["setup_s"] = time.monotonic() - t0
            driver.watch(1.0)  # held connections must stay quiet; lets RSS settle
            r["rss_held"] = server.rss_kb()
            r["fds_held"] = open_fds(server.pid) - fds_before
            t1 = time.monotonic()
            code, text = send_message(server.port, f"{probe_id}@remote.test",
                                      source_ip="127.0.0.1")
            r["probe"] = f"{code} in {time.monotonic() - t1:.2f}s"
            r["probe_ok"] = code == 250
            if code != 250:
                log(f"{name}: the fresh client got {code} {text}")
            driver.watch(0.5)
            r["held"] = driver.held()
            r["errors"] = dict(driver.errors)
            r["alive"] = server.alive()
            # The server must notice every close and free the sessions.
            driver.close_all()
            driver = None
            back = wait_until(lambda: (open_fds(server.pid) or 0) <= fds_before + 2, 60, 0.2)
            r["released"] = bool(back)
            r["rss_closed"] = server.rss_kb()
            r["ok"] = (r["held"] == n and not r["errors"] and r["probe_ok"] and r["alive"]
                       and r["released"])
        except Exception as e:  # reported in the table, not a traceback
            r["errors"]["exception: " + str(e)[:200]] = 1
        finally:
            if driver:
                driver.close_all()
            server.close()
    return r


def fmt_mb(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--idle", type=int, default=10000, help="connections idle after EHLO")
    ap.add_argument("--mid", type=int, default=1000, help="connections mid-transaction")
    ap.add_argument("--quick", action="store_true", help="1,000 idle and 100 mid (CI)")
    ap.add_argument("--binary", help="rampart binary (default: build target/release/rampart)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per phase to connect")
    args = ap.parse_args()
    exit_cleanly_on_sigterm()
    if args.quick:
        args.idle, args.mid = 1000, 100

    need = max(args.idle, args.mid) + 1000
    nofile = raise_nofile(need + 1000)
    if nofile < need:
        log(f"RLIMIT_NOFILE is {nofile} (hard limit); {need} descriptors are needed: "
            "raise `ulimit -Hn` or lower --idle/--mid")
        return 2
    binary = release_binary(args.binary)
    log(f"binary {binary}; RLIMIT_NOFILE {nofile}; domain {DOMAIN}")

    results = []
    t0 = time.monotonic()
    if args.idle:
        log(f"phase 1: {args.idle} connections idle after EHLO")
        results.append(phase(binary, "idle after EHLO", args.idle, idle_script,
                             args.timeout, "probe.idle"))
    if args.mid:
        log(f"phase 2: {args.mid} connections mid-transaction ({BODY_SENT} body bytes sent)")
        results.append(phase(binary, f"mid-DATA ({BODY_SENT // 1024} KB sent)", args.mid,
                             mid_transaction_script, args.timeout, "probe.mid"))

    print()
    print(f"{'phase':<22} {'conns':>6} {'held':>6} {'setup s':>7} {'RSS before MB':>13} "
          f"{'RSS held MB':>11} {'KB/conn':>8} {'RSS closed MB':>13} {'fds+':>6}  "
          f"{'fresh client':<14} result")
    for r in results:
        per = "-"
        if r.get("rss_held") and r.get("rss_before") and r["conns"]:
            per = f"{(r['rss_held'] - r['rss_before']) / r['conns']:.1f}"
        print(f"{r['phase']:<22} {r['conns']:>6} {r['held']:>6} "
              f"{r.get('setup_s', 0):>7.1f} {fmt_mb(r.get('rss_before')):>13} "
              f"{fmt_mb(r.get('rss_held')):>11} {per:>8} {fmt_mb(r.get('rss_closed')):>13} "
              f"{r.get('fds_held', '-'):>6}  {r['probe']:<14} {'ok' if r['ok'] else 'FAILED'}")
        for why, count in sorted(r["errors"].items(), key=lambda x: -x[1]):
            print(f"    {count} x {why}")
        if not r.get("released", True):
            print("    the server still held descriptors 60 s after every client closed")
    print(f"\ntotal {time.monotonic() - t0:.0f} s")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
