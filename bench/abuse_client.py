"""The blocking SMTP client of bench/abuse.py: one connection from a chosen loopback source
address, which reports what the server did (a reply, a close, a reset, silence) instead of
raising. Kept apart so abuse.py holds the abuses themselves."""

import itertools
import socket
import threading
import time



class Client:
    """One TCP connection from a chosen loopback source address."""

    def __init__(self, port, source, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""
        self.closed = None  # "<closed>" or "<reset: ...>" once the server has closed

    def send(self, data):
        """Sends; False if the server had already closed (reset or broken pipe)."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def reply(self, timeout=10):
        """The next complete reply's last line, '<closed>' or '<timeout>'."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                if len(line) < 4 or line[3:4] != b"-":
                    return line.decode(errors="replace")
            if self.closed:
                return self.closed
            left = deadline - time.monotonic()
            if left <= 0:
                return "<timeout>"
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return "<timeout>"
            except OSError as e:
                # A reset: the server closed with our input unread. Replies it sent may be lost.
                self.closed = f"<reset: {e.strerror or e}>"
                continue
            if not data:
                self.closed = "<closed>"
            self.buf += data

    def until_close(self, timeout):
        """Reads until the server closes. Returns (seconds, replies read on the way), seconds
        None if still open after `timeout`."""
        t0 = time.monotonic()
        seen = []
        while True:
            r = self.reply(max(0.0, timeout - (time.monotonic() - t0)))
            if r.startswith(("<closed>", "<reset")):
                return time.monotonic() - t0, seen
            if r == "<timeout>":
                return None, seen
            seen.append(r)

    def close(self):
        self.sock.close()


_sources = itertools.count(1)
_sources_lock = threading.Lock()


def next_source():
    """A fresh source address in 127.0.5.0/24 and up (one per abuse)."""
    with _sources_lock:
        n = next(_sources)
    return f"127.0.{5 + n // 250}.{1 + n % 250}"


class Outcome:
    def __init__(self, name, expected):
        self.name = name
        self.expected = expected
        self.observed = ""
        self.secs = None
        self.ok = False

    def done(self, ok, observed, secs=None):
        self.ok, self.observed, self.secs = ok, observed, secs
        return self


def greeted(port, source):
    c = Client(port, source)
    r = c.reply()
    if not r.startswith("220 "):
        c.close()
        raise RuntimeError(f"no greeting: {r}")
    return c


def ehlo(c):
    c.send(b"EHLO abuser.remote.test\r\n")
    r = c.reply()
    if not r.startswith("250 "):
        raise RuntimeError(f"EHLO: {r}")
