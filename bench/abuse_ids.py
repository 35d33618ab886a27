"""The intrusion prevention scenarios of bench/abuse.py (NC-2.4.1, NC-2.4.2): an SMTP AUTH brute
force over many accounts, a directory harvest and an HTTP scan, each from its own loopback
address outside the allow-list, each of which must END IN A BAN of that address (read back with
`rampart ban list --json`, then a new connection from it refused at accept: 554 5.7.1 or a close
on SMTP, a close before TLS on HTTPS), while a well-behaved client on an allow-listed address
(127.0.0.1) is still served: a message through the MX listener and the webmail's page.

The scenarios run on a server of their own, whose `[ids]` table replaces the harness's (which
allow-lists all of 127.0.0.0/8): only 127.0.0.0/20 is allowed, the attackers come from
127.0.16.0/24 and up (one /24 each, so no subnet ban reaches another), and thresholds are low so
the quick run takes seconds. Python 3 standard library only."""

import base64
import json
import socket
import ssl
import time

from abuse_client import Client, Outcome, ehlo, greeted
from rampart_server import DOMAIN, HOSTNAME, Rampart, log, send_message

# The allow-list of the IDS server, and the attackers' addresses outside it.
ALLOW = "127.0.0.0/20"
WELL_BEHAVED = "127.0.0.1"
AUTH_ATTACKER = "127.0.16.1"
HARVEST_ATTACKER = "127.0.17.1"
SCAN_ATTACKER = "127.0.18.1"

# [ids.<detector>] thresholds for the run: low, so each scenario takes a handful of requests.
AUTH_COUNT = 6
HARVEST_COUNT = 8
SCAN_COUNT = 5
WINDOW_SECS = 600
BAN_WITHIN = 10.0  # seconds a detection may take to become a ban read back by the CLI


def ids_server(binary, workdir):
    """A Rampart with MX, submissions and HTTPS listeners and the IDS tables of the scenarios."""
    threshold = lambda n: {"count": n, "window_secs": WINDOW_SECS}  # noqa: E731
    return Rampart(
        binary, workdir,
        more_listeners=[{"role": "submissions", "address": "127.0.0.1:0"},
                        {"role": "https", "address": "127.0.0.1:0"}],
        tables={
            # The login guard's own block stays out of the way: the IDS is what is tested.
            "auth": {"block_after_failures": 1000, "failure_delay_ms": 1,
                     "max_failure_delay_ms": 2},
            "ids": {"allow": [ALLOW]},
            "ids.auth": threshold(AUTH_COUNT),
            "ids.harvest": threshold(HARVEST_COUNT),
            "ids.http_scan": threshold(SCAN_COUNT),
        })


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ban_of(server, address):
    """The ban in force covering `address` (a /32 here) from `rampart ban list --json`, or None."""
    listing = json.loads(server.cli("ban", "list", "--json"))
    return next((b for b in listing.get("bans", []) if b["network"] == f"{address}/32"), None)


def wait_ban(server, address):
    """Polls the ban list until `address` is banned or BAN_WITHIN has passed; the ban or None."""
    deadline = time.monotonic() + BAN_WITHIN
    while True:
        ban = ban_of(server, address)
        if ban or time.monotonic() > deadline:
            return ban
        time.sleep(0.2)  # polling the CLI: the detection is stored on a task of the server


def smtp_refused(port, source):
    """What a new SMTP connection from `source` gets first: '554 5.7.1 ...', '<closed>', …"""
    try:
        c = Client(port, source, timeout=5)
    except OSError as e:
        return f"<refused: {e}>"
    r = c.reply(5)
    c.close()
    return r


def https_closed(port, source):
    """True when the HTTPS listener closes a new connection from `source` before any TLS."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    except OSError:
        return True
    s.settimeout(1.0)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False  # waiting for our ClientHello: served
    except OSError:
        return True  # reset
    finally:
        s.close()


def https_get(port, source, path):
    """GET `path` over HTTPS from `source`; the status code, or an error text."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                       source_address=(source, 0))
        s = tls_context().wrap_socket(raw, server_hostname=HOSTNAME)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOSTNAME}\r\nConnection: close\r\n"
                  f"User-Agent: abuse-scanner\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        s.close()
        return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else head[:40]
    except (OSError, ValueError, IndexError) as e:
        return f"{type(e).__name__}: {e}"


def well_behaved(server):
    """The allow-listed client: a message through MX and the webmail's page, both served."""
    code, text = send_message(server.port, f"ids.{time.monotonic_ns()}@remote.test",
                              source_ip=WELL_BEHAVED, timeout=15)
    page = https_get(server.ports["https"], WELL_BEHAVED, "/")
    return code == 250 and page == 200, f"mx {code}, https GET / {page}"


def ended_in_ban(o, server, attacker, detector, sent, t0, refused):
    """Common end of a scenario: the ban read back, the attacker refused, the client served."""
    ban = wait_ban(server, attacker)
    if not ban:
        return o.done(False, f"{sent}; no ban of {attacker}", time.monotonic() - t0)
    took = time.monotonic() - t0
    refusal = refused()
    served, how = well_behaved(server)
    ok = ban["detector"] == detector and refusal[0] and served
    return o.done(ok, f"{sent}; banned [{ban['detector']}], next: {refusal[1]}; well-behaved: "
                      f"{how}", took)


def smtp_refusal(server, attacker):
    def check():
        r = smtp_refused(server.port, attacker)
        return r.startswith(("554 5.7.1", "<closed>", "<reset")), r[:12]
    return check


def brute_force(server):
    """SMTP AUTH over implicit TLS, one wrong password for each of many accounts."""
    o = Outcome(f"ids: AUTH brute force, {AUTH_COUNT} accounts",
                f"ban of {AUTH_ATTACKER} [auth]; client served")
    t0 = time.monotonic()
    replies = []
    for i in range(AUTH_COUNT):
        c = Client(server.ports["submissions"], AUTH_ATTACKER, timeout=10)
        c.sock = tls_context().wrap_socket(c.sock, server_hostname=HOSTNAME)
        r = c.reply()
        if not r.startswith("220 "):
            replies.append(r[:12])
            c.close()
            break
        ehlo(c)
        plain = base64.b64encode(f"\x00user{i}@{DOMAIN}\x00123456".encode()).decode()
        c.send(f"AUTH PLAIN {plain}\r\n".encode())
        replies.append(c.reply(15)[:3])
        c.close()
    sent = f"{replies.count('535')}/{AUTH_COUNT} x 535"
    return ended_in_ban(o, server, AUTH_ATTACKER, "auth", sent, t0,
                        smtp_refusal(server, AUTH_ATTACKER))


def harvest(server):
    """One session, many unknown recipients at RCPT."""
    o = Outcome(f"ids: directory harvest, {HARVEST_COUNT} unknown RCPT",
                f"ban of {HARVEST_ATTACKER} [harvest]; client served")
    t0 = time.monotonic()
    c = greeted(server.port, HARVEST_ATTACKER)
    ehlo(c)
    c.send(b"MAIL FROM:<harvester@remote.test>\r\n")
    c.reply()
    refused = 0
    for i in range(HARVEST_COUNT):
        c.send(f"RCPT TO:<guess{i}@{DOMAIN}>\r\n".encode())
        refused += c.reply().startswith("550")
    c.close()
    return ended_in_ban(o, server, HARVEST_ATTACKER, "harvest",
                        f"{refused}/{HARVEST_COUNT} x 550", t0,
                        smtp_refusal(server, HARVEST_ATTACKER))


SCAN_PATHS = ["/wp-login.php", "/.env", "/xmlrpc.php", "/phpmyadmin/index.php", "/admin.php",
              "/.git/config", "/config.php", "/wp-admin/setup-config.php"]


def http_scan(server):
    """Requests for paths scanners look for, on the HTTPS listener."""
    o = Outcome(f"ids: HTTP scan, {SCAN_COUNT} paths (*.php, /.env)",
                f"ban of {SCAN_ATTACKER} [http_scan]; client served")
    port = server.ports["https"]
    t0 = time.monotonic()
    statuses = [https_get(port, SCAN_ATTACKER, p) for p in SCAN_PATHS[:SCAN_COUNT]]
    sent = f"{statuses.count(404)}/{SCAN_COUNT} x 404"

    def check():
        closed = https_closed(port, SCAN_ATTACKER)
        return closed, "closed before TLS" if closed else "served"
    return ended_in_ban(o, server, SCAN_ATTACKER, "http_scan", sent, t0, check)


SCENARIOS = [brute_force, harvest, http_scan]


def ids_phase(binary, workdir, run_case):
    """Starts the IDS server, checks that the well-behaved client and the attackers are all
    served before any abuse, runs the scenarios one after the other, and returns their
    outcomes."""
    server = ids_server(binary, workdir)
    server.setup()
    try:
        server.start()
        log(f"ids scenarios: rampart pid {server.pid}, mx 127.0.0.1:{server.port}, "
            f"https 127.0.0.1:{server.ports['https']}; allow-list {ALLOW}")
        before = Outcome("ids: before any abuse", "every address served")
        first = [smtp_refused(server.port, a)[:3] for a in
                 (AUTH_ATTACKER, HARVEST_ATTACKER, SCAN_ATTACKER)]
        served, how = well_behaved(server)
        before.done(served and first == ["220"] * 3, f"attackers {first}; {how}")
        outcomes = [before] + [run_case(case, server) for case in SCENARIOS]
        alive = Outcome("ids: server process", "alive at the end")
        outcomes.append(alive.done(server.alive(), "alive" if server.alive() else "DEAD"))
        return outcomes
    finally:
        server.close()
