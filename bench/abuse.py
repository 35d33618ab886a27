#!/usr/bin/env python3
"""bench/abuse.py: Rampart under abuse keeps serving, stays bounded and ends every abuse cleanly.

  bench/abuse.py                  the full run (about 65 s)
  bench/abuse.py --quick          the CI form (about 20 s)
  bench/abuse.py --binary PATH    test this binary (default: build target/release/rampart)

Starts a release Rampart on 127.0.0.1:0 with short limits (command_secs 5, data_secs 5,
tls_handshake_secs 3, max_connections_per_ip 50, max_message_size 64 KiB, max_errors 10), then
at the same time:

- a well-behaved client (Python's smtplib) sends a message every second; every one must get 250;
- VmRSS of the server is sampled every 0.2 s; its peak must stay under --rss-limit-mb;
- slowloris: 300 connections each trickle one byte of a command line every second, never ending
  it, for the whole run; each one the server ends is replaced at once. The command deadline is
  for the whole line, not for each byte: the server must end every one of them (421 4.4.2, or a
  close) within command_secs of its greeting plus a margin, while it is still trickling;
- a battery of single abuses, repeated in rounds while the slowloris lasts, each with the reply
  and the close it must end with: a connection flood from one address (more than
  max_connections_per_ip: 421 4.7.0 for the excess), a connect-and-drop burst, oversized command
  lines (500 5.5.2 and close), oversized messages by SIZE, DATA and BDAT (552 5.3.4), message
  data trickled at 2 bytes/s (below the minimum rate: 421 4.4.2 within data_secs), garbage
  and binary input (random bytes, NULs, junk lines, an HTTP request, an early talker, a bare LF:
  a 5xx and/or a close, never a hang), and TLS handshakes that never complete (silence, half a
  ClientHello, a ClientHello trickled, plain text after STARTTLS, 50 stalled at once: closed
  within tls_handshake_secs plus a margin).

Then, on a second server whose intrusion prevention allow-lists only 127.0.0.0/20
(bench/abuse_ids.py, NC-2.4.1/NC-2.4.2), three attacks that must each END IN A BAN of the
attacking address, read back with `rampart ban list --json` and refused at the next accept, while
a well-behaved client on 127.0.0.1 is still served: an SMTP AUTH brute force over many accounts,
a directory harvest (unknown recipients at RCPT) and an HTTP scan (/wp-login.php, /.env, *.php).

Each abuse comes from its own loopback source address (127.0.2.0/24 slowloris, 127.0.3.0/24
floods, 127.0.5.0/24 the others) so the per-address limit only bites where it is being tested.
Prints one line per abuse: what it must end with, what it ended with, and how long that took.
Exit status 1 on any failure. Python 3 standard library only; the server and its temporary
directory are removed on exit, failure or Ctrl-C included (KEEP_TMP=1 keeps the directory).
"""
import argparse
import base64
import itertools
import os
import random
import selectors
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import status_kb  # noqa: E402
from rampart_server import (  # noqa: E402
    HOSTNAME, SENDER, USER, Rampart, TempDir, exit_cleanly_on_sigterm, log, raise_nofile,
    release_binary, send_message)
from abuse_client import Client, Outcome, ehlo, greeted, next_source  # noqa: E402
from abuse_ids import ids_phase  # noqa: E402

COMMAND_SECS = 5
DATA_SECS = 5
TLS_SECS = 3
PER_IP = 50
MAX_MESSAGE = 64 * 1024
MAX_ERRORS = 10
MARGIN = 3.0  # seconds allowed past a server timeout before "never closed" is a failure
AUTH_BLOCK = 10  # [auth] block_after_failures: failures (and attempts in progress) per address
HASH_MIB = 19  # memory of one Argon2id password check (the argon2 crate's default m_cost)
HASH_QUEUE_PER_SLOT = 4  # attempts that may wait per hashing slot (rampart-smtp limits.rs)


def reply_then_close(o, c, send, want, close_within, t0=None):
    """Sends `send`, expects a reply starting with `want`, then the server's close."""
    t0 = t0 or time.monotonic()
    if send is not None:
        c.send(send)
    r = c.reply(close_within)
    if not r.startswith(want):
        return o.done(False, f"got {r!r}", time.monotonic() - t0)
    secs, more = c.until_close(close_within)
    if secs is None:
        return o.done(False, f"{r}; still open after {close_within:.0f}s", time.monotonic() - t0)
    extra = f" then {more}" if more else ""
    return o.done(True, f"{r[:50]}{extra}; {c.closed.strip('<>')}", time.monotonic() - t0)


# ----------------------------------------------------------------------------------------------
# Oversized lines and messages.

def long_ehlo(port):
    o = Outcome("line: EHLO + 5,000 bytes + CRLF", "500 5.5.2 Line too long, close")
    c = greeted(port, next_source())
    return reply_then_close(o, c, b"EHLO " + b"a" * 5000 + b"\r\n", "500 5.5.2", MARGIN)


def long_line_no_crlf(port):
    o = Outcome("line: 3,000 bytes, no CRLF", "500 5.5.2 Line too long, close")
    c = greeted(port, next_source())
    return reply_then_close(o, c, b"NOOP " + b"b" * 3000, "500 5.5.2", MARGIN)


def long_mail(port):
    o = Outcome("line: MAIL FROM of 3,000 bytes", "500 5.5.2 Line too long, close")
    c = greeted(port, next_source())
    ehlo(c)
    return reply_then_close(o, c, b"MAIL FROM:<" + b"c" * 3000 + b"@remote.test>\r\n",
                            "500 5.5.2", MARGIN)


def size_declared(port):
    o = Outcome("message: MAIL SIZE=1000000", "552 5.3.4 at MAIL, session goes on")
    c = greeted(port, next_source())
    ehlo(c)
    t0 = time.monotonic()
    c.send(f"MAIL FROM:<{SENDER}> SIZE=1000000\r\n".encode())
    r = c.reply()
    c.send(b"QUIT\r\n")
    q = c.reply()
    c.close()
    return o.done(r.startswith("552 5.3.4") and q.startswith("221"), f"{r[:44]}; QUIT {q[:3]}",
                  time.monotonic() - t0)


def transaction(c):
    for cmd, want in ((f"MAIL FROM:<{SENDER}>\r\n", "250"), (f"RCPT TO:<{USER}>\r\n", "250")):
        c.send(cmd.encode())
        r = c.reply()
        if not r.startswith(want):
            raise RuntimeError(f"{cmd.strip()}: {r}")


def data_too_big(port):
    o = Outcome("message: DATA of 300 KB", "552 5.3.4 after the dot, session goes on")
    c = greeted(port, next_source())
    ehlo(c)
    transaction(c)
    c.send(b"DATA\r\n")
    r = c.reply()
    if not r.startswith("354"):
        return o.done(False, f"DATA: {r}")
    t0 = time.monotonic()
    line = b"x" * 998 + b"\r\n"
    c.send(b"Subject: big\r\n\r\n" + line * 300 + b".\r\n")
    r = c.reply(DATA_SECS + MARGIN)
    c.send(b"QUIT\r\n")
    q = c.reply()
    c.close()
    return o.done(r.startswith("552 5.3.4") and q.startswith("221"), f"{r[:44]}; QUIT {q[:3]}",
                  time.monotonic() - t0)


def bdat_too_big(port):
    o = Outcome("message: BDAT 300000 LAST", "552 5.3.4, session goes on")
    c = greeted(port, next_source())
    ehlo(c)
    transaction(c)
    t0 = time.monotonic()
    c.send(b"BDAT 300000 LAST\r\n" + b"y" * 300000)
    r = c.reply(DATA_SECS + MARGIN)
    c.send(b"QUIT\r\n")
    q = c.reply()
    c.close()
    return o.done(r.startswith("552 5.3.4") and q.startswith("221"), f"{r[:44]}; QUIT {q[:3]}",
                  time.monotonic() - t0)


def bdat_absurd(port):
    o = Outcome("message: BDAT 10^12 LAST, 10 KB, silence",
                f"5xx, or 421 4.4.2/close within data_secs ({DATA_SECS}s)")
    c = greeted(port, next_source())
    ehlo(c)
    transaction(c)
    t0 = time.monotonic()
    c.send(b"BDAT 1000000000000 LAST\r\n" + b"z" * 10240)
    r = c.reply(DATA_SECS + MARGIN)
    if r.startswith("5"):
        c.close()
        return o.done(True, f"{r[:60]}", time.monotonic() - t0)
    if r.startswith(("421 4.4.2", "<closed>", "<reset")):
        secs, _ = (0.0, []) if r.startswith("<") else c.until_close(MARGIN)
        c.close()
        return o.done(secs is not None, f"{r[:50]}; closed", time.monotonic() - t0)
    c.close()
    return o.done(False, f"got {r!r}", time.monotonic() - t0)


def data_trickle(port):
    o = Outcome("slowloris: DATA at 2 bytes/s",
                f"421 4.4.2 + close within data_secs ({DATA_SECS}s) + {MARGIN:.0f}")
    c = greeted(port, next_source())
    ehlo(c)
    transaction(c)
    c.send(b"DATA\r\n")
    r = c.reply()
    if not r.startswith("354"):
        c.close()
        return o.done(False, f"DATA: {r}")
    t0 = time.monotonic()
    body = b"Subject: slow\r\n\r\n" + b"s" * 1000
    r = "<timeout>"
    for i in range(len(body)):
        if time.monotonic() - t0 > DATA_SECS + MARGIN or not c.send(body[i:i + 1]):
            break
        r = c.reply(0.5)  # the trickle is the abuse: a byte, then half a second for an answer
        if r != "<timeout>":
            break
    if r == "<timeout>":
        r = c.reply(0.1)
    took = time.monotonic() - t0
    if r.startswith("421 4.4.2"):
        secs, _ = c.until_close(MARGIN)
        c.close()
        ok = secs is not None and took <= DATA_SECS + MARGIN
        return o.done(ok, f"{r[:50]}; {'closed' if secs is not None else 'STILL OPEN'}", took)
    c.close()
    if r.startswith(("<closed>", "<reset")):
        return o.done(took <= DATA_SECS + MARGIN, r.strip("<>"), took)
    return o.done(False, f"got {r!r}", took)


# ----------------------------------------------------------------------------------------------
# Garbage and binary input.

def random_bytes(port):
    o = Outcome("garbage: 64 KB of random bytes", "5xx and/or close, promptly")
    c = greeted(port, next_source())
    t0 = time.monotonic()
    c.send(random.Random(7).randbytes(65536))
    secs, seen = c.until_close(MARGIN)
    c.close()
    ok = secs is not None and all(s.startswith(("5", "421")) for s in seen)
    return o.done(ok, f"{', '.join(s[:24] for s in seen) or 'no reply'}; "
                  f"{'closed' if secs is not None else 'STILL OPEN'}", time.monotonic() - t0)


def nul_bytes(port):
    o = Outcome("garbage: 16 KB of NUL bytes", "500 5.5.2 Line too long, close")
    c = greeted(port, next_source())
    return reply_then_close(o, c, b"\0" * 16384, "500 5.5.2", MARGIN)


def junk_lines(port):
    o = Outcome("garbage: 20 junk lines with CRLF", f"5xx each, 421 4.7.0 after {MAX_ERRORS}")
    c = greeted(port, next_source())
    t0 = time.monotonic()
    c.send(b"".join(b"\x01\x02\xff junk %d \x7f\r\n" % i for i in range(20)))
    replies = []
    while True:
        r = c.reply(COMMAND_SECS + MARGIN)
        if r.startswith("<"):
            break
        replies.append(r)
    c.close()
    five = sum(1 for r in replies if r.startswith("5"))
    last = replies[-1] if replies else "nothing"
    ok = (five == MAX_ERRORS and last.startswith("421 4.7.0")
          and r.startswith(("<closed>", "<reset")))
    return o.done(ok, f"{five} x 5xx, then {last[:45]}; {r.strip('<>')}", time.monotonic() - t0)


def http_request(port):
    o = Outcome("garbage: an HTTP request", f"5xx replies, close by command_secs ({COMMAND_SECS}s)")
    c = greeted(port, next_source())
    t0 = time.monotonic()
    c.send(b"GET / HTTP/1.1\r\nHost: " + HOSTNAME.encode() + b"\r\nUser-Agent: x\r\n\r\n")
    secs, seen = c.until_close(COMMAND_SECS + MARGIN)
    c.close()
    codes = " ".join(s[:3] for s in seen)
    ok = secs is not None and all(s.startswith(("5", "421")) for s in seen)
    return o.done(ok, f"{codes or 'no reply'}; {'closed' if secs is not None else 'STILL OPEN'}",
                  time.monotonic() - t0)


def early_talker(port):
    o = Outcome("garbage: EHLO before the greeting", "554 5.5.0 early talker, close")
    c = Client(port, next_source())
    t0 = time.monotonic()
    c.send(b"EHLO early.remote.test\r\n")  # at once, before reading anything
    r = c.reply()
    if r.startswith("220 "):
        # The greeting went out before the bytes arrived: nothing early happened. Not a failure.
        c.close()
        return o.done(True, "raced: greeting sent before the bytes arrived", time.monotonic() - t0)
    if not r.startswith("554 5.5.0"):
        c.close()
        return o.done(False, f"got {r!r}", time.monotonic() - t0)
    secs, more = c.until_close(MARGIN)
    c.close()
    return o.done(secs is not None and not more,
                  f"{r[:50]}; {'closed' if secs is not None else 'STILL OPEN'}",
                  time.monotonic() - t0)


def bare_lf(port):
    o = Outcome("garbage: EHLO ending in a bare LF", "554 5.5.2 bare line ending, close")
    c = greeted(port, next_source())
    return reply_then_close(o, c, b"EHLO bare.remote.test\n", "554 5.5.2", MARGIN)


def binary_data(port):
    o = Outcome("garbage: binary bytes inside DATA", "554 5.6.0 (bare CR/LF), session goes on")
    c = greeted(port, next_source())
    ehlo(c)
    transaction(c)
    c.send(b"DATA\r\n")
    if not c.reply().startswith("354"):
        return o.done(False, "no 354")
    t0 = time.monotonic()
    junk = random.Random(11).randbytes(20000).replace(b"\r\n.\r\n", b"")
    c.send(b"Subject: bin\r\n\r\n" + junk + b"\r\n.\r\n")
    r = c.reply(DATA_SECS + MARGIN)
    c.send(b"QUIT\r\n")
    q = c.reply()
    c.close()
    return o.done(r.startswith("554 5.6.0") and q.startswith("221"), f"{r[:44]}; QUIT {q[:3]}",
                  time.monotonic() - t0)


# ----------------------------------------------------------------------------------------------
# TLS handshakes that never complete.

def client_hello():
    """The first flight of a real TLS client (Python's ssl), to send in pieces."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=HOSTNAME)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def starttls(port, source=None):
    c = greeted(port, source or next_source())
    ehlo(c)
    c.send(b"STARTTLS\r\n")
    r = c.reply()
    if not r.startswith("220"):
        raise RuntimeError(f"STARTTLS: {r}")
    return c


def tls_wait_close(o, c, t0):
    limit = TLS_SECS + MARGIN
    secs, _ = c.until_close(limit - (time.monotonic() - t0))
    c.close()
    took = time.monotonic() - t0
    if secs is None:
        return o.done(False, f"still open after {limit:.0f}s", took)
    return o.done(True, f"closed after {took:.1f}s", took)


def tls_silence(port):
    o = Outcome("tls: STARTTLS, then silence", f"close within {TLS_SECS}s + {MARGIN:.0f}")
    c = starttls(port)
    return tls_wait_close(o, c, time.monotonic())


def tls_half_hello(port):
    o = Outcome("tls: half a ClientHello, then silence", f"close within {TLS_SECS}s + {MARGIN:.0f}")
    c = starttls(port)
    t0 = time.monotonic()
    hello = client_hello()
    c.send(hello[:len(hello) // 2])
    return tls_wait_close(o, c, t0)


def tls_trickle(port):
    o = Outcome("tls: ClientHello at 4 bytes/s", f"close within {TLS_SECS}s + {MARGIN:.0f}")
    c = starttls(port)
    t0 = time.monotonic()
    hello = client_hello()
    for i in range(0, len(hello), 2):
        if time.monotonic() - t0 > TLS_SECS + MARGIN or not c.send(hello[i:i + 2]):
            break
        time.sleep(0.5)  # the trickle is the abuse
    return tls_wait_close(o, c, t0)


def tls_plaintext(port):
    o = Outcome("tls: plain text after STARTTLS", "close at once (handshake fails)")
    c = starttls(port)
    t0 = time.monotonic()
    c.send(b"EHLO plain.remote.test\r\nMAIL FROM:<a@b.test>\r\n")
    return tls_wait_close(o, c, t0)


def tls_many(port):
    n = 50
    o = Outcome(f"tls: {n} handshakes stalled at once",
                f"all closed within {TLS_SECS}s + {MARGIN:.0f}")
    source = next_source()
    conns = [starttls(port, source) for _ in range(min(n, PER_IP - 1))]
    source2 = next_source()
    conns += [starttls(port, source2) for _ in range(n - len(conns))]
    t0 = time.monotonic()
    hello = client_hello()
    for c in conns:
        c.send(hello[:20])
    open_after = 0
    for c in conns:
        secs, _ = c.until_close(max(0.0, TLS_SECS + MARGIN - (time.monotonic() - t0)))
        open_after += secs is None
        c.close()
    took = time.monotonic() - t0
    return o.done(open_after == 0, f"{n - open_after}/{n} closed after {took:.1f}s", took)


# ----------------------------------------------------------------------------------------------
# Connection floods from one address.

def flood(port):
    extra = 30
    o = Outcome(f"flood: {PER_IP + extra} at once from one address",
                f"{PER_IP} x 220, {extra} x 421 4.7.0 + close; then 220 again")
    source = next_source()
    t0 = time.monotonic()
    conns, greetings = [], []
    for _ in range(PER_IP + extra):
        try:
            c = Client(port, source)
        except OSError as e:
            greetings.append(f"<connect: {e}>")
            continue
        conns.append(c)
    for c in conns:
        greetings.append(c.reply())
    ok220 = sum(1 for g in greetings if g.startswith("220 "))
    refused = [c for c, g in zip(conns, greetings) if g.startswith("421 4.7.0")]
    closed = sum(1 for c in refused if c.until_close(MARGIN)[0] is not None)
    for c in conns:
        c.close()
    # The slots come back once the server has seen the closes; poll for it.
    again = "<timeout>"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        c = Client(port, source)
        again = c.reply()
        c.close()
        if again.startswith("220 "):
            break
        time.sleep(0.1)
    ok = ok220 == PER_IP and len(refused) == extra and closed == extra and again.startswith("220")
    return o.done(ok, f"{ok220} x 220, {len(refused)} x 421 4.7.0 ({closed} closed); "
                  f"afterwards {again[:3]}", time.monotonic() - t0)


def churn(port):
    n = 1000
    o = Outcome(f"flood: {n} connect-and-drop from one address", "server unaffected; 220 after")
    source = next_source()
    t0 = time.monotonic()
    failed = 0
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=(source, 0))
            s.close()
        except OSError:
            failed += 1
    again = "<timeout>"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        c = Client(port, source)
        again = c.reply()
        c.close()
        if again.startswith("220 "):
            break
        time.sleep(0.1)
    return o.done(failed == 0 and again.startswith("220"),
                  f"{n - failed}/{n} connected; afterwards {again[:3]}", time.monotonic() - t0)


# ----------------------------------------------------------------------------------------------
# Password guessing on the submissions port (NC-2.1.8), run on an idle server with its memory
# watched closely.

REFUSED_AUTH = "454 4.7.0"


def wrong_auth(n):
    """The n-th guess: a different wrong password each time, as a guesser sends them (the same
    wrong password again counts once, NC-2.4.1)."""
    return b"AUTH PLAIN " + base64.b64encode(f"\0{USER}\0not the password {n}".encode())


def hash_slots():
    """What the server sizes its hashing slots from: the cores it may run on, at least two."""
    return max(2, len(os.sched_getaffinity(0)))


def auth_burst(port, sources, per_source):
    """Opens `per_source` implicit-TLS connections from each source address and says EHLO on
    each; then sends one wrong AUTH PLAIN on all of them at once. Returns (replies, seconds from
    the burst to the last reply)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conns = []
    for source in sources:
        for _ in range(per_source):
            c = Client(port, source, timeout=30)
            c.sock = ctx.wrap_socket(c.sock, server_hostname=HOSTNAME)
            r = c.reply()
            if not r.startswith("220 "):
                raise RuntimeError(f"no greeting over TLS: {r}")
            ehlo(c)
            conns.append(c)
    barrier = threading.Barrier(len(conns) + 1)
    replies = [None] * len(conns)

    def attempt(i):
        barrier.wait()
        conns[i].send(wrong_auth(i) + b"\r\n")
        replies[i] = conns[i].reply(60)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    for c in conns:
        c.close()
    return replies, took


def tally(replies):
    invalid = sum(1 for r in replies if r.startswith("535 5.7.8"))
    refused = sum(1 for r in replies if r.startswith(REFUSED_AUTH))
    other = [r for r in replies if not r.startswith(("535 5.7.8", REFUSED_AUTH))]
    return invalid, refused, other


def auth_spread(port):
    n = 4 * AUTH_BLOCK
    slots = hash_slots()
    # Checked at most: one per slot and the queue's places, plus one more per slot for a place
    # freed while the burst is still arriving.
    most = slots * (HASH_QUEUE_PER_SLOT + 2)
    o = Outcome(f"auth: {n} wrong passwords at once, 4 addresses",
                f"<= {most} x 535 (checked), the rest 454 4.7.0")
    replies, took = auth_burst(port, [next_source() for _ in range(4)], AUTH_BLOCK)
    invalid, refused, other = tally(replies)
    return o.done(not other and invalid <= most and invalid + refused == n,
                  f"{invalid} x 535, {refused} x 454 4.7.0, {len(other)} other"
                  + (f" ({other[0][:20]})" if other else ""), took)


def auth_one_address(port):
    n = 3 * AUTH_BLOCK
    o = Outcome(f"auth: {n} parallel attempts from one address",
                f"<= {AUTH_BLOCK} x 535 (checked), the rest 454 4.7.0")
    replies, took = auth_burst(port, [next_source()], n)
    invalid, refused, other = tally(replies)
    return o.done(not other and invalid <= AUTH_BLOCK and invalid + refused == n,
                  f"{invalid} x 535, {refused} x 454 4.7.0, {len(other)} other"
                  + (f" ({other[0][:20]})" if other else ""), took)


AUTH_CASES = [auth_spread, auth_one_address]


def auth_phase(server, port, settle, bound_kb):
    """Runs the AUTH cases one after the other on the idle server. Returns (outcomes, memory,
    seconds): memory is (before, peak, after) VmRSS in kB around the whole phase, `after` read
    every 0.25 s after the last reply until it is less than `bound_kb` over `before`, or until
    `settle` seconds have passed; `seconds` is how long that took. (A single reading at 3 s
    failed once while the machine was busy compiling: the server had not yet run the threads
    that give the memory back, and gave it back a little later.)"""
    before = server.rss_kb()
    sampler = RssSampler(server, interval=0.05)
    sampler.start()
    try:
        outcomes = [run_case(case, port) for case in AUTH_CASES]
    finally:
        sampler.stop.set()
        sampler.join(timeout=5)
    peak = max(sampler.samples + [before or 0])
    # Idle again: what the burst freed should be given back, not kept for the next one.
    start = time.monotonic()
    while True:
        time.sleep(0.25)  # the sampling interval of a bounded wait
        after = server.rss_kb()
        waited = time.monotonic() - start
        if (after and before and after - before < bound_kb) or waited >= settle:
            return outcomes, (before or 0, peak, after or 0), waited


BATTERY = [flood, churn, long_ehlo, long_line_no_crlf, long_mail, size_declared, data_too_big,
           bdat_too_big, bdat_absurd, data_trickle, random_bytes, nul_bytes, junk_lines,
           http_request, early_talker, bare_lf, binary_data, tls_silence, tls_half_hello,
           tls_trickle, tls_plaintext, tls_many]


# ----------------------------------------------------------------------------------------------
# Slowloris, the well-behaved client and the memory sampler, all in the background.

class Slowloris(threading.Thread):
    """n connections, each sending one more byte of an EHLO line that never ends every second.
    The command deadline covers the whole line, not each byte, so the server must end every one
    (421 4.4.2, or a close) within command_secs of its greeting, plus a margin, while it is still
    trickling. Each connection the server ends is replaced at once for `trickle` seconds, so the
    pressure lasts the whole run; then the last ones are trickled until they too are ended."""

    def __init__(self, port, n, trickle):
        super().__init__(daemon=True)
        self.port, self.n, self.trickle = port, n, trickle
        self.opened = 0  # the first n, once all are open
        self.total = 0  # every connection opened, replacements included
        self.ended_421 = 0  # the server said 421 4.4.2 and closed
        self.ended_close = 0  # the server closed (or reset) with no reply
        self.ended_other = []  # anything else: the last reply seen
        self.lifetimes = []  # seconds from greeting to the server's close
        self.late = 0  # still open past command_secs + MARGIN after the greeting
        self.replies = {}
        self.still_open = 0
        self.error = None
        self.trickle_until = None  # set once the first n connections are open
        self.stop_trickle = threading.Event()

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported as a failure, not a traceback in a thread
            self.error = f"{type(e).__name__}: {e}"

    def _open(self, sel, conns, i, source):
        c = Client(self.port, source)
        r = c.reply()
        if not r.startswith("220 "):
            c.close()
            raise RuntimeError(f"slowloris connection got no greeting: {r}")
        c.sock.setblocking(False)
        line = (b"EHLO slowloris-%05d" % i) + b".x" * 2000
        # [client, line, bytes sent, greeted at, last reply, source address]
        conns[c.sock] = [c, line, 0, time.monotonic(), None, source]
        sel.register(c.sock, selectors.EVENT_READ)
        self.total += 1

    def _run(self):
        sel = selectors.DefaultSelector()
        conns = {}
        for i in range(self.n):
            # 30 per address, under the per-address limit; a replacement keeps its address.
            self._open(sel, conns, i, f"127.0.2.{1 + i // 30}")
        self.opened = len(conns)
        log(f"slowloris: {self.opened} connections trickling")
        numbers = itertools.count(self.n)

        def ended(sock, entry, now):
            sel.unregister(sock)
            sock.close()
            del conns[sock]
            last = entry[4]
            if last is None:
                self.ended_close += 1
            elif last.startswith("421 4.4.2"):
                self.ended_421 += 1
            else:
                self.ended_other.append(last)
            self.lifetimes.append(now - entry[3])

        def drain(timeout, replace):
            for key, _ in sel.select(timeout):
                sock = key.fileobj
                entry = conns[sock]
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""  # a reset: the server closed with our bytes unread
                for line in data.split(b"\r\n"):
                    if line:
                        r = line[:9].decode(errors="replace")
                        self.replies[r] = self.replies.get(r, 0) + 1
                        entry[4] = line.decode(errors="replace")
                if not data:
                    ended(sock, entry, time.monotonic())
                    if replace:
                        self._open(sel, conns, next(numbers), entry[5])

        end = self.trickle_until = time.monotonic() + self.trickle
        while conns and not self.stop_trickle.is_set():
            now = time.monotonic()
            replacing = now < end
            if not replacing and now > end + COMMAND_SECS + 2 * MARGIN:
                break  # a safety net: the late check has ended whatever outlived its deadline
            tick = now + 1.0
            for sock, entry in list(conns.items()):
                if now - entry[3] > COMMAND_SECS + MARGIN:
                    self.late += 1  # the server should have ended it by now
                    sel.unregister(sock)
                    sock.close()
                    del conns[sock]
                    continue
                line, pos = entry[1], entry[2]
                try:
                    sock.send(line[pos:pos + 1])
                    entry[2] += 1
                except OSError:
                    pass  # the server closed it; the read side will count it
            while time.monotonic() < tick and conns:
                drain(max(0.0, tick - time.monotonic()), replacing)
        self.still_open = len(conns)
        for sock in list(conns):
            sock.close()
        sel.close()
        log(f"slowloris: done; {self.total} connections, {self.late} late, "
            f"{self.still_open} left open")


class Prober(threading.Thread):
    """The well-behaved client: one message per second through smtplib."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.results = []  # (code, text, seconds)
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            i += 1
            code, text = send_message(self.port, f"probe.{i}.{os.getpid()}@remote.test",
                                      timeout=15)
            self.results.append((code, text, time.monotonic() - t0))
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))


class RssSampler(threading.Thread):
    def __init__(self, server, interval=0.2):
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            kb = self.server.rss_kb()
            if kb:
                self.samples.append(kb)
            self.stop.wait(self.interval)


# ----------------------------------------------------------------------------------------------

def run_case(case, port):
    try:
        return case(port)
    except Exception as e:
        o = Outcome(case.__name__, "(set-up)")
        return o.done(False, f"{type(e).__name__}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI form: one round, 15 s of slowloris")
    ap.add_argument("--binary", help="rampart binary (default: build target/release/rampart)")
    ap.add_argument("--slowloris", type=int, default=300, help="slowloris connections")
    ap.add_argument("--trickle", type=float, help="seconds of trickling (default 60, quick 15)")
    ap.add_argument("--rss-limit-mb", type=float, default=200,
                    help="peak VmRSS the server must stay under (default 200)")
    ap.add_argument("--auth-only", action="store_true",
                    help="only the password-guessing cases, on an otherwise idle server")
    ap.add_argument("--auth-peak-mb", type=float,
                    help="how far VmRSS may rise during the AUTH bursts (default: 19 MiB per "
                         "hashing slot, plus 48)")
    ap.add_argument("--auth-after-mb", type=float, default=16,
                    help="how far above its level before the bursts VmRSS may stay after them "
                         "(default 16)")
    ap.add_argument("--auth-settle", type=float, default=10,
                    help="longest idle seconds after the bursts for VmRSS to come back down "
                         "(read every 0.25 s; default 10)")
    args = ap.parse_args()
    exit_cleanly_on_sigterm()
    trickle = args.trickle or (15 if args.quick else 60)
    raise_nofile(4096)
    binary = release_binary(args.binary)
    t_start = time.monotonic()

    with TempDir("rampart-abuse") as tmp:
        server = Rampart(binary, tmp,
                         limits={"max_connections_per_ip": PER_IP, "max_message_size": MAX_MESSAGE,
                                 "max_errors": MAX_ERRORS},
                         timeouts={"command_secs": COMMAND_SECS, "data_secs": DATA_SECS,
                                   "tls_handshake_secs": TLS_SECS},
                         more_listeners=[{"role": "submissions", "address": "127.0.0.1:0"}],
                         # Short failure delays keep the run short; they change no memory.
                         tables={"auth": {"block_after_failures": AUTH_BLOCK,
                                          "failure_delay_ms": 100, "max_failure_delay_ms": 400}})
        server.setup()
        threads = []
        try:
            server.start()
            port = server.port
            rss_start = server.rss_kb()
            log(f"rampart pid {server.pid} on 127.0.0.1:{port}, VmRSS {rss_start} kB")
            sampler, prober = RssSampler(server), Prober(port)
            slow = Slowloris(port, args.slowloris, trickle)
            rounds = []
            if not args.auth_only:
                threads = [sampler, prober, slow]
                for t in threads:
                    t.start()
                wait_for_slowloris = time.monotonic() + 60
                while (not slow.opened and slow.is_alive()
                       and time.monotonic() < wait_for_slowloris):
                    time.sleep(0.1)  # the battery starts once the slowloris holds its connections

                with ThreadPoolExecutor(max_workers=8) as pool:
                    while True:
                        r0 = time.monotonic()
                        rounds.append(list(pool.map(lambda c: run_case(c, port), BATTERY)))
                        log(f"round {len(rounds)}: {sum(o.ok for o in rounds[-1])}/{len(BATTERY)}"
                            f" ok in {time.monotonic() - r0:.1f}s")
                        if args.quick or not slow.is_alive() or slow.trickle_until is None:
                            break
                        if time.monotonic() + (time.monotonic() - r0) > slow.trickle_until:
                            break  # another round would outlast the trickle
                slow.join(timeout=trickle + COMMAND_SECS + 2 * MARGIN + 60)
                prober.stop.set()
                prober.join(timeout=30)
                sampler.stop.set()
                sampler.join(timeout=5)
            log(f"auth bursts on 127.0.0.1:{server.ports['submissions']}, "
                f"VmRSS {server.rss_kb()} kB")
            auth, auth_mem, auth_waited = auth_phase(server, server.ports["submissions"],
                                                     args.auth_settle, args.auth_after_mb * 1024)
            auth_hwm = status_kb(server.pid, "VmHWM")
            alive = server.alive()
            rss_end = server.rss_kb()
        finally:
            for t in threads:
                if hasattr(t, "stop") and isinstance(t.stop, threading.Event):
                    t.stop.set()
                if isinstance(t, Slowloris):
                    t.stop_trickle.set()
            server.kill()
    ids = []
    if not args.auth_only:
        with TempDir("rampart-abuse-ids") as tmp:
            ids = ids_phase(binary, tmp, run_case)

    # ------------------------------------------------------------------------------------------
    failures = 0

    def row(name, expected, observed, secs, ok, tally=""):
        nonlocal failures
        failures += not ok
        secs = f"{secs:5.1f}" if secs is not None else " " * 5
        print(f"{name:<46} {expected:<50} {observed[:58]:<58} {secs} "
              f"{'ok' if ok else 'FAILED'} {tally}".rstrip())

    print()
    print(f"{'abuse':<46} {'must end with':<50} {'ended with (first failure, else round 1)':<58} "
          f"{'secs':>5} result")
    if not args.auth_only:
        for i, first in enumerate(rounds[0]):
            results = [r[i] for r in rounds]
            passed = sum(o.ok for o in results)
            shown = next((o for o in results if not o.ok), first)
            row(first.name, first.expected, shown.observed, max((o.secs or 0) for o in results),
                passed == len(results), f"{passed}/{len(results)}")

        life = sorted(slow.lifetimes)
        slowest_end = life[-1] if life else None
        row(f"slowloris: {args.slowloris} conns, 1 byte/s, {trickle:.0f}s, renewed",
            f"421 4.4.2/close within {COMMAND_SECS}s + {MARGIN:.0f} of the greeting",
            f"{slow.total} conns: {slow.ended_421} x 421 4.4.2, {slow.ended_close} closed, "
            f"{len(slow.ended_other)} other; {slow.late} late",
            slowest_end,
            slow.error is None and slow.opened == args.slowloris and slow.late == 0
            and slow.still_open == 0 and not slow.ended_other
            and slowest_end is not None and slowest_end <= COMMAND_SECS + MARGIN)
        if life:
            print(f"    slowloris: greeting to close min {life[0]:.2f}s, "
                  f"median {life[len(life) // 2]:.2f}s, max {life[-1]:.2f}s")
        if slow.error:
            print(f"    slowloris error: {slow.error}")
        if slow.replies:
            print(f"    slowloris replies: {slow.replies}")
        for r in slow.ended_other[:5]:
            print(f"    slowloris ended with: {r[:100]}")

        probes = prober.results
        bad = [p for p in probes if p[0] != 250]
        slowest = max((p[2] for p in probes), default=0)
        row("well-behaved client, one message a second", "250 every time",
            f"{len(probes) - len(bad)}/{len(probes)} x 250, slowest {slowest:.2f}s", slowest,
            bool(probes) and not bad)
        for code, text, secs in bad[:5]:
            print(f"    probe: {code} {text[:100]} ({secs:.1f}s)")

        peak = max(sampler.samples, default=0) / 1024
        row("server memory (VmRSS, sampled every 0.2 s)", f"peak < {args.rss_limit_mb:.0f} MB",
            f"start {(rss_start or 0) / 1024:.1f} MB, peak {peak:.1f} MB, "
            f"before auth {auth_mem[0] / 1024:.1f} MB", None, 0 < peak < args.rss_limit_mb)

    # NC-2.1.8: what password guessing may cost. Hashing runs in max(2, cores) slots of 19 MiB;
    # the rest of the rise is the TLS sessions and buffers of the connections themselves.
    for o in auth:
        row(o.name, o.expected, o.observed, o.secs, o.ok)
    before, peak, after = (kb / 1024 for kb in auth_mem)
    peak_bound = args.auth_peak_mb or hash_slots() * HASH_MIB * 1.048576 + 48
    row("auth memory: VmRSS rise at the peak", f"< {peak_bound:.0f} MB over before",
        f"before {before:.1f} MB, peak {peak:.1f} MB (+{peak - before:.1f})", None,
        0 < before and peak - before < peak_bound)
    row(f"auth memory: VmRSS within {args.auth_settle:.0f} s after the bursts",
        f"< {args.auth_after_mb:.0f} MB over before",
        f"after {after:.1f} MB (+{after - before:.1f}) at {auth_waited:.2f} s; "
        f"VmHWM {auth_hwm / 1024:.1f} MB", None,
        0 < after and after - before < args.auth_after_mb)
    row("server process", "alive at the end", "alive" if alive else "DEAD", None, alive)
    # NC-2.4.1/NC-2.4.2: each attack ends in a ban of its address; the allowed client is served.
    for o in ids:
        row(o.name, o.expected, o.observed, o.secs, o.ok)
        if len(o.observed) > 58:
            print(f"    {o.observed}")
    print(f"\n{len(rounds)} round(s) of {len(BATTERY)} abuses, {len(auth)} auth bursts, "
          f"{len(ids)} intrusion prevention checks; total "
          f"{time.monotonic() - t_start:.0f} s; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
