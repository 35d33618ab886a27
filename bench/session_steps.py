#!/usr/bin/env python3
"""bench/session_steps.py: where a lone SMTP client's time goes, step by step (issue 23).

  python3 bench/session_steps.py PORT [--messages 400] [--size 10240] [--host 127.0.0.1]

Sends messages one connection each, as `smtp-source -s 1` does (connect, greeting, HELO, MAIL,
RCPT, DATA, the body and its dot, QUIT, close), from sender@remote.test to alice@example.test
(bench/run.sh's domain and user), and prints the median and p90 of each step in microseconds
over the messages after the first 20 (warm-up), and the whole message. Any reply other than the
expected one stops the run with `error: ...`. Python standard library only.
"""
import argparse
import socket
import statistics
import sys
import time

STEPS = ["connect", "greeting", "helo", "mail", "rcpt", "data", "body", "quit", "close"]
WARM_UP = 20


def reply(f, want):
    while True:
        line = f.readline()
        if not line:
            sys.exit("error: the server closed the connection; is it running and accepting 127.0.0.1?")
        if line[3:4] != b"-":
            if not line.startswith(want):
                sys.exit(f"error: expected {want.decode()}, got {line.decode(errors='replace').strip()}")
            return line


def one(host, port, body):
    t = [time.perf_counter()]
    try:
        s = socket.create_connection((host, port), timeout=30)
    except OSError as e:
        sys.exit(f"error: cannot connect to {host}:{port} ({e.strerror or e}); start the server or check the port")
    f = s.makefile("rb")
    t.append(time.perf_counter())
    reply(f, b"220")
    t.append(time.perf_counter())
    for cmd, want in [(b"HELO client.test", b"250"), (b"MAIL FROM:<sender@remote.test>", b"250"),
                      (b"RCPT TO:<alice@example.test>", b"250"), (b"DATA", b"354")]:
        s.sendall(cmd + b"\r\n")
        reply(f, want)
        t.append(time.perf_counter())
    s.sendall(body)
    reply(f, b"250")
    t.append(time.perf_counter())
    s.sendall(b"QUIT\r\n")
    reply(f, b"221")
    t.append(time.perf_counter())
    f.read()
    s.close()
    t.append(time.perf_counter())
    return [b - a for a, b in zip(t, t[1:])], t[-1] - t[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--messages", type=int, default=400)
    p.add_argument("--size", type=int, default=10240, help="body bytes (default 10240)")
    a = p.parse_args()
    if a.messages <= WARM_UP:
        sys.exit(f"error: --messages must be more than the {WARM_UP} of warm-up")
    line = b"X" * 78 + b"\r\n"
    body = (b"From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: steps\r\n\r\n"
            + line * max(1, a.size // 80) + b".\r\n")
    per = {s: [] for s in STEPS}
    totals = []
    for i in range(a.messages):
        steps, total = one(a.host, a.port, body)
        if i >= WARM_UP:
            for name, v in zip(STEPS, steps):
                per[name].append(v)
            totals.append(total)
    print("step       median_us   p90_us")
    for name in STEPS + ["total"]:
        v = sorted(totals if name == "total" else per[name])
        print("%-9s %10.0f %8.0f" % (name, statistics.median(v) * 1e6, v[int(len(v) * 0.9)] * 1e6))
    print("messages per second (mean over the timed messages): %.0f" % (1 / statistics.mean(totals)))


if __name__ == "__main__":
    main()
