#!/usr/bin/env python3
"""bench/crash_suite.py: a 250 survives SIGKILL. Nothing acknowledged is ever lost.

  bench/crash_suite.py                       the CI form: 3 kills, 4 clients (about 10 s)
  ROUNDS=20 CLIENTS=8 bench/crash_suite.py   the long form, by hand (30 s to 2 min)
  bench/crash_suite.py --rounds 5 --clients 6 --seed 42 --binary path/to/rampart

Starts a release Rampart (built with cargo if needed) on 127.0.0.1:0 with a temporary data
directory, every check on but antivirus (no clamd) and authentication: SPF, DKIM and DMARC
would add DNS round trips (to the local test DNS server rampart_server.py starts) to every
message, while the kills are meant to land in the store and the queue. --all-checks keeps
authentication on.

CLIENTS threads send messages through Python's smtplib (a client we did not write), each with
its own Message-ID, several per connection, bodies of random size up to 300 KB (up to 128 KiB
they are kept in the database, larger ones in files of their own); every
Message-ID answered `250 ... queued as ID` is recorded with its queue id. A client whose message
got no 250 (the server died under it, or answered 4xx) sends the same message again once the
server is back, as a real MTA would: that is how a message stored just before a kill can end up
delivered twice, and why duplicates are allowed (and counted) but losses are not.

ROUNDS times: once the restarted server has acknowledged at least one message, wait a random
moment (0.2 to 2.5 s: the point is to land anywhere, mid-DATA, mid-fsync, mid-delivery), SIGKILL
it, and start it again on the same data directory (a new port each time; the clients are told).
After the last restart the load runs a little longer, stops, and the queue is given up to 60 s
to drain. Then every acknowledged Message-ID must be in `rampart mailbox list` (the Message-ID
ends each line) or its queue id in `rampart queue list` with status queued or held.

Prints acknowledged, delivered, queued/held, duplicates, lost (and retries, kills, restarts).
Exit status 1 if anything acknowledged is lost, a restart fails, or nothing was acknowledged.
Python 3 standard library only; the server and its temporary directory are removed on exit,
failure or Ctrl-C included (KEEP_TMP=1 keeps the directory for a post-mortem).
"""
import argparse
import collections
import os
import random
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rampart_server import (  # noqa: E402
    SENDER, USER, Rampart, TempDir, exit_cleanly_on_sigterm, log, release_binary, wait_until)


class Server:
    """The server as the clients see it: a port while it is up, None while it is down."""

    def __init__(self):
        self.cond = threading.Condition()
        self.port = None
        self.generation = 0
        self.stopping = False

    def up(self, port):
        with self.cond:
            self.port = port
            self.generation += 1
            self.cond.notify_all()

    def down(self):
        with self.cond:
            self.port = None

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def wait_port(self, not_generation=None, timeout=1.0):
        """(port, generation, stopping). Waits up to `timeout` for the server to be up and, if
        `not_generation` is given, restarted since; after that returns whatever holds (port None
        while the server is down), so a client retries a live server too."""
        with self.cond:
            self.cond.wait_for(lambda: self.stopping or (
                self.port is not None and self.generation != not_generation), timeout)
            return self.port, self.generation, self.stopping


class Ledger:
    """What the clients saw, shared between threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # Message-ID -> queue id
        self.attempts = collections.Counter()  # Message-ID -> tries
        self.unacked_at_end = set()
        self.other_replies = collections.Counter()
        self.acks_since = 0  # acknowledgements since the last restart

    def ack(self, message_id, queue_id):
        with self.lock:
            self.acked[message_id] = queue_id
            self.acks_since += 1


class Client(threading.Thread):
    def __init__(self, n, server, ledger, run_id, rng_seed, per_conn=5):
        super().__init__(daemon=True, name=f"client{n}")
        self.n, self.server, self.ledger, self.run_id = n, server, ledger, run_id
        self.rng = random.Random(rng_seed)
        self.per_conn = per_conn
        self.stop = threading.Event()

    def message(self, seq):
        mid = f"crash.{self.run_id}.{self.n}.{seq}@remote.test"
        size = self.rng.choice([200, 2000, 20000, 65000, 300000])
        line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
        body = line * (size // len(line) + 1)
        text = (f"From: Sender <{SENDER}>\r\nTo: <{USER}>\r\nSubject: crash test {seq}\r\n"
                f"Message-ID: <{mid}>\r\n\r\n{body}")
        return mid, text.encode()

    def run(self):
        seq = 0
        pending = None  # (Message-ID, bytes) not yet acknowledged
        failed_generation = None
        while not self.stop.is_set():
            port, gen, stopping = self.server.wait_port(not_generation=failed_generation)
            if stopping:
                break
            if port is None:
                continue
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
                    s.ehlo("crash-client.remote.test")
                    for _ in range(self.per_conn):
                        if self.stop.is_set():
                            break
                        if pending is None:
                            seq += 1
                            pending = self.message(seq)
                        mid, data = pending
                        with self.ledger.lock:
                            self.ledger.attempts[mid] += 1
                        code, resp = s.mail(SENDER)
                        if code == 250:
                            code, resp = s.rcpt(USER)
                        if code == 250:
                            code, resp = s.data(data)
                        resp = resp.decode(errors="replace")
                        if code == 250 and "queued as " in resp:
                            self.ledger.ack(mid, resp.rsplit("queued as ", 1)[1].strip())
                            pending = None
                        else:
                            with self.ledger.lock:
                                self.ledger.other_replies[f"{code} {resp[:40]}"] += 1
                            s.rset()
                            break
                failed_generation = None
            except (OSError, smtplib.SMTPException):
                # The server died (or was never reached): try again once it has restarted.
                failed_generation = gen
        if pending is not None:
            with self.ledger.lock:
                self.ledger.unacked_at_end.add(pending[0])


def mailbox_ids(server):
    """Message-ID -> number of copies in the mailbox."""
    count = collections.Counter()
    for line in server.cli("mailbox", "list", USER).splitlines():
        last = line.rsplit("\t", 1)[-1].strip()
        if last.startswith("<") and last.endswith(">"):
            count[last[1:-1]] += 1
    return count


def queue_status(server):
    """Queue id -> statuses of its recipients."""
    st = collections.defaultdict(list)
    for line in server.cli("queue", "list").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            st[parts[0]].append(parts[2])
    return st


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)),
                    help="SIGKILLs (env ROUNDS; default 3)")
    ap.add_argument("--clients", type=int, default=int(os.environ.get("CLIENTS", 4)),
                    help="concurrent clients (env CLIENTS; default 4)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SEED", time.time_ns() % 10**6)),
                    help="seed of the kill moments and message sizes (printed; env SEED)")
    ap.add_argument("--binary", help="rampart binary (default: build target/release/rampart)")
    ap.add_argument("--deadline", type=float, default=600,
                    help="stop killing after this many seconds (default 600)")
    ap.add_argument("--all-checks", action="store_true",
                    help="keep the authentication check on (SPF/DKIM/DMARC: DNS lookups)")
    args = ap.parse_args()
    exit_cleanly_on_sigterm()
    rng = random.Random(args.seed)
    binary = release_binary(args.binary)
    log(f"seed {args.seed}; {args.rounds} kills; {args.clients} clients; "
        f"{'all checks' if args.all_checks else 'authentication check off'}")
    t0 = time.monotonic()
    deadline = t0 + args.deadline
    problems = []

    with TempDir("rampart-crash") as tmp:
        disabled = ["antivirus"] if args.all_checks else ["antivirus", "authentication"]
        rampart = Rampart(binary, tmp, limits={"max_connections_per_ip": 1000,
                                               "max_messages_per_session": 100000},
                          checks_disabled=disabled)
        rampart.setup()
        server, ledger = Server(), Ledger()
        clients = [Client(i, server, ledger, args.seed, rng.random()) for i in range(args.clients)]
        kills = restarts = 0
        try:
            server.up(rampart.start())
            for c in clients:
                c.start()
            for rnd in range(1, args.rounds + 1):
                # Kill only a server that is taking load: wait for an acknowledgement first.
                if not wait_until(lambda: ledger.acks_since > 0, 60):
                    problems.append(f"round {rnd}: no message acknowledged within 60 s")
                    break
                time.sleep(rng.uniform(0.2, 2.5))  # the random moment is the point of the test
                with ledger.lock:
                    acked_now = len(ledger.acked)
                server.down()
                rampart.kill()
                kills += 1
                try:
                    port = rampart.start()
                except RuntimeError as e:
                    problems.append(f"restart {rnd} failed: {e}")
                    break
                restarts += 1
                with ledger.lock:
                    ledger.acks_since = 0
                server.up(port)
                log(f"kill {rnd}: SIGKILL with {acked_now} acknowledged so far; restarted on "
                    f"port {port}")
                if time.monotonic() > deadline:
                    problems.append("deadline reached before the last round")
                    break
            # Some load after the last restart, then stop the clients.
            wait_until(lambda: ledger.acks_since >= args.clients, 30)
            for c in clients:
                c.stop.set()
            server.stop()
            for c in clients:
                c.join(timeout=30)
            log(f"load stopped: {len(ledger.acked)} acknowledged")

            # Let the queue manager deliver what it has; poll rather than sleep.
            def drained():
                st = queue_status(rampart)
                return not any(s == "queued" for v in st.values() for s in v)
            t_drain = time.monotonic()
            if wait_until(drained, 60, 0.5):
                log(f"queue drained in {time.monotonic() - t_drain:.1f} s")
            else:
                log("the queue still holds queued messages after 60 s (counted as queued)")
            t_read = time.monotonic()
            mbox = mailbox_ids(rampart)
            queue = queue_status(rampart)
            log(f"mailbox and queue read in {time.monotonic() - t_read:.1f} s")
        finally:
            for c in clients:
                c.stop.set()
            server.stop()
            t_clean = time.monotonic()
            rampart.close()
            log(f"server stopped in {time.monotonic() - t_clean:.1f} s")
            t_clean = time.monotonic()
    log(f"data directory removed in {time.monotonic() - t_clean:.1f} s")

    acked = ledger.acked
    delivered = queued = lost = 0
    lost_ids = []
    for mid, qid in acked.items():
        if mbox.get(mid):
            delivered += 1
        elif any(s in ("queued", "held") for s in queue.get(qid, [])):
            queued += 1
        else:
            lost += 1
            lost_ids.append((mid, qid, queue.get(qid)))
    duplicates = sum(n - 1 for n in mbox.values() if n > 1)
    # A copy too many of a message sent once was delivered twice by the server (a queue entry
    # redelivered after a restart), not stored twice because the client sent it again.
    redelivered = sum(n - 1 for mid, n in mbox.items() if n > 1 and ledger.attempts[mid] <= 1)
    unacked_delivered = sum(1 for mid in mbox if mid.startswith("crash.") and mid not in acked)
    retries = sum(n - 1 for n in ledger.attempts.values())

    print()
    print(f"seed                      {args.seed}")
    print(f"kills (SIGKILL)           {kills}")
    print(f"restarts                  {restarts}")
    print(f"clients                   {args.clients}")
    print(f"acknowledged (250)        {len(acked)}")
    print(f"delivered                 {delivered}")
    print(f"queued or held            {queued}")
    print(f"duplicates                {duplicates}   ({redelivered} of a message sent only once)")
    print(f"lost                      {lost}")
    print(f"retried sends             {retries}")
    print(f"delivered, never acked    {unacked_delivered}   "
          "(stored, but no 250 was seen and the message was not sent again)")
    print(f"other replies             {dict(ledger.other_replies) or '-'}")
    print(f"time                      {time.monotonic() - t0:.0f} s")
    for mid, qid, st in lost_ids[:20]:
        print(f"LOST <{mid}> queued as {qid}; queue list says {st or 'nothing'}")
    for p in problems:
        print(f"PROBLEM {p}")
    if not acked:
        problems.append("nothing acknowledged")
    return 1 if lost or problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
