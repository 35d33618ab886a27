#!/usr/bin/env python3
"""The mailbox benchmark of issue 12: a mailbox of 100,000 messages read over JMAP.

    python3 bench/jmap_query.py [--messages 100000] [--clients 50] [--binary target/release/rampart]

What it does, on loopback, with a release build:
  1. starts Rampart with an mx and an https listener (its certificate signed by a throwaway CA);
  2. fills alice's mailbox with N messages over SMTP (rampart-loadgen, 8 sessions, all checks
     on but antivirus) and reports the rate;
  3. creates a bearer token (`rampart user token add`), so each request costs no Argon2id hash,
     as a real client's would not;
  4. times the first JMAP request alone, right after the last message was acknowledged: it
     indexes whatever delivered mail the background indexer has not reached yet (headers,
     threads, search terms: work the store keeps off the delivery path);
  5. one client, then `--clients` clients at once, each sending Email/query (the first page of 50
     by receivedAt, newest first) plus Email/get of their header properties, in one request
     (rampart-jmapload): requests per second, p50, p90, p99, and the server's peak RSS. RFC
     8620's maxConcurrentRequests is per user, so the other clients are users who read alice's
     mailbox by delegation, one each.
Prints a report and writes it as JSON beside (jmap-query-results.json in the work directory,
which is kept with KEEP_TMP=1). A benchmark, not a test: figures go to docs/PERFORMANCE.md.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rampart_server import (  # noqa: E402
    REPO, USER, PASSWORD, Rampart, TempDir, log, release_binary, vmrss_kb, raise_nofile,
    exit_cleanly_on_sigterm,
)


def certificates(d):
    """A throwaway CA and a leaf for localhost signed by it (openssl)."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-noenc", "-days", "2", "-sha256", "-subj", "/CN=bench CA", "-keyout",
        f"{d}/ca.key", "-out", f"{d}/ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-noenc", "-subj", "/CN=localhost", "-keyout", f"{d}/key.pem", "-out", f"{d}/leaf.csr")
    with open(f"{d}/leaf.ext", "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", f"{d}/leaf.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-sha256", "-extfile",
        f"{d}/leaf.ext", "-out", f"{d}/cert.pem")


class PeakRss(threading.Thread):
    """Samples a process's VmRSS every 100 ms until stopped; keeps the peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, vmrss_kb(self.pid) or 0)
            self._done.wait(0.1)

    def stop(self):
        self._done.set()
        self.join()
        return self.peak


def jmapload(bin_dir, port, ca, tokens, clients, requests, warmup, timeout=60):
    """`tokens`: alice's first; the clients use them in turn, all reading alice's mailbox."""
    bearer = [x for t in tokens for x in ("--bearer", t)]
    out = subprocess.run(
        [os.path.join(bin_dir, "rampart-jmapload"), "--server", f"127.0.0.1:{port}",
         "--tls-ca", ca, *bearer, "--clients", str(clients), "--requests",
         str(requests), "--warmup", str(warmup), "--timeout-secs", str(timeout)],
        capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"rampart-jmapload failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=20000, help="timed requests at --clients")
    p.add_argument("--binary", help="a rampart binary (default: build target/release)")
    a = p.parse_args()
    exit_cleanly_on_sigterm()
    raise_nofile(4096)
    binary = release_binary(a.binary)
    bin_dir = os.path.dirname(binary)
    if not os.access(os.path.join(bin_dir, "rampart-jmapload"), os.X_OK):
        log("cargo build --release -p rampart-loadgen")
        subprocess.run(["cargo", "build", "--release", "-p", "rampart-loadgen", "--quiet"],
                       cwd=REPO, check=True)
    results = {"messages": a.messages}
    with TempDir("rampart-jmap-bench") as tmp:
        certificates(tmp)
        server = Rampart(
            binary, tmp,
            top={},
            tables={"tls": {"cert": f"{tmp}/cert.pem", "key": f"{tmp}/key.pem"}},
            more_listeners=[{"role": "https", "address": "127.0.0.1:0"}],
            limits={"max_connections_per_ip": 10000, "max_messages_per_session": 100000},
        )
        try:
            server.setup()
            server.start()
            https = server.ports["https"]
            log(f"filling the mailbox with {a.messages} messages over SMTP")
            t = time.monotonic()
            fill = subprocess.run(
                [os.path.join(bin_dir, "rampart-loadgen"), "--server",
                 f"127.0.0.1:{server.port}", "--sessions", "8", "--messages", str(a.messages),
                 "--size", "2000", "--per-connection", "500", "--from", "sender@remote.test",
                 "--to", USER],
                capture_output=True, text=True, timeout=7200)
            if fill.returncode != 0:
                raise SystemExit(f"rampart-loadgen failed: {fill.stderr.strip()}")
            fill_s = time.monotonic() - t
            results["fill_seconds"] = round(fill_s, 1)
            results["fill_messages_per_second"] = round(a.messages / fill_s, 1)
            token = server.cli("user", "token", "add", USER, "--name", "bench").strip().split()[-1]
            # RFC 8620's maxConcurrentRequests (4) is per user: the other clients are readers
            # of alice's mailbox by delegation (`mailbox grant --rights read`), each with a token.
            tokens = [token]
            for i in range(1, a.clients):
                reader = f"reader{i}@example.test"
                server.cli("user", "add", reader, "--password-stdin", stdin=PASSWORD + "\n")
                server.cli("mailbox", "grant", USER, reader, "--rights", "read")
                tokens.append(server.cli("user", "token", "add", reader).strip().split()[-1])
            ca = f"{tmp}/ca.pem"
            rss_before = vmrss_kb(server.pid)
            log("the first request (indexes every delivered email)")
            t = time.monotonic()
            first = jmapload(bin_dir, https, ca, [token], 1, 1, 0, timeout=1800)
            results["first_request_seconds"] = round(time.monotonic() - t, 2)
            results["first_request"] = first
            log("one client")
            results["one_client"] = jmapload(bin_dir, https, ca, [token], 1, 500, 5)
            log(f"{a.clients} clients")
            peak = PeakRss(server.pid)
            peak.start()
            results["many_clients"] = jmapload(bin_dir, https, ca, tokens, a.clients,
                                               a.requests, 2)
            results["rss_kb_before"] = rss_before
            results["rss_kb_peak"] = peak.stop()
            results["rss_kb_after"] = vmrss_kb(server.pid)
            server.stop()
        finally:
            server.close()
        with open(os.path.join(tmp, "jmap-query-results.json"), "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    one, many = results["one_client"], results["many_clients"]
    print(f"\nmailbox of {a.messages} messages: first page of 50 + headers")
    print(f"  first request (indexing): {results['first_request_seconds']} s")
    print(f"  1 client:  {one['requests_per_second']:.0f} req/s, p50 {one['p50_us']/1000:.1f} ms, "
          f"p99 {one['p99_us']/1000:.1f} ms")
    print(f"  {a.clients} clients: {many['requests_per_second']:.0f} req/s, "
          f"p50 {many['p50_us']/1000:.1f} ms, p99 {many['p99_us']/1000:.1f} ms, "
          f"errors {many['errors']}")
    print(f"  RSS: {results['rss_kb_before']} kB before, peak {results['rss_kb_peak']} kB")


if __name__ == "__main__":
    main()
