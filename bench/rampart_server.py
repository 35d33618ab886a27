"""Start and stop a Rampart for the stress scripts (scale.py, abuse.py, crash_suite.py).

Python 3 standard library only. What lives here: building the release binaries, writing a
temporary configuration, `domain add` and `user add`, starting `rampart serve` and reading its
port from the `listening on 127.0.0.1:PORT (mx)` line, polling instead of sleeping, reading a
process's VmRSS, and a plain SMTP send with smtplib (a client we did not write). What does not:
the scenarios themselves.

Every Rampart gets its own DNS server, `rampart-testdns` on 127.0.0.1:0, named in `[dns] servers`
(which the authentication, blocklist and delivery resolvers all use): the sender's domain has an
SPF record that passes mail from loopback, every other name is NXDOMAIN. So SPF, DKIM and DMARC
get definite answers at once, and no result depends on the machine's resolver, which under load
drops some queries (and Rampart, failing closed, answers 451 4.7.0).

    with TempDir("rampart-scale") as tmp:
        server = Rampart(binary, tmp, limits={"max_connections_per_ip": 20000})
        server.setup()
        server.start()
        ...
        server.stop()      # or close() in a `finally`: SIGKILL, and the DNS server stopped
"""
import os
import resource
import select
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTNAME = "mail.example.test"
DOMAIN = "example.test"
USER = "alice@example.test"
PASSWORD = "a-long-password-123"
SENDER = "sender@remote.test"
SENDER_DOMAIN = SENDER.rsplit("@", 1)[1]
# What the test DNS serves (the `rampart-testdns --records` format). Every client of the scripts
# connects from a loopback address (127.0.0.1 and 127.0.x.y sources), so SPF passes; no DMARC
# record, so DMARC is "none" and no policy applies.
DNS_RECORDS = f"""\
{SENDER_DOMAIN} TXT "v=spf1 ip4:127.0.0.0/8 -all"
"""


def log(msg):
    print(time.strftime("[%H:%M:%S] ") + msg, file=sys.stderr, flush=True)


def exit_cleanly_on_sigterm():
    """SIGTERM (e.g. from `timeout`) raises KeyboardInterrupt, so `finally` blocks stop the
    servers and remove the temporary directories as on Ctrl-C."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)


def release_binary(given=None):
    """The binary to test: `given` if set, else target/release/rampart, built (or brought up to
    date, a no-op when it is) with cargo, together with the test DNS server (testdns_binary)."""
    if given:
        if not os.access(given, os.X_OK):
            raise SystemExit(f"not an executable: {given}")
        return os.path.abspath(given)
    log("cargo build --release -p rampart -p rampart-testdns")
    subprocess.run(["cargo", "build", "--release", "-p", "rampart", "-p", "rampart-testdns",
                    "--quiet"], cwd=REPO, check=True)
    return os.path.join(REPO, "target", "release", "rampart")


def testdns_binary(rampart_binary):
    """`rampart-testdns` beside the rampart binary (where `cargo build --release -p rampart -p
    rampart-testdns` puts both); when it is not there, target/release's, built with cargo."""
    beside = os.path.join(os.path.dirname(rampart_binary), "rampart-testdns")
    if os.access(beside, os.X_OK):
        return beside
    built = os.path.join(REPO, "target", "release", "rampart-testdns")
    if not os.access(built, os.X_OK):
        log("cargo build --release -p rampart-testdns")
        subprocess.run(["cargo", "build", "--release", "-p", "rampart-testdns", "--quiet"],
                       cwd=REPO, check=True)
    return built


def raise_nofile(want):
    """Raises the soft RLIMIT_NOFILE towards `want` (capped by the hard limit); children started
    afterwards, the server included, inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def vmrss_kb(pid):
    """VmRSS of a process in kB, from /proc/PID/status; None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid):
    """Number of open descriptors of a process (None if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def wait_until(predicate, timeout, interval=0.05):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass; returns the
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class TempDir:
    """A temporary directory removed on exit, whatever happened (unless KEEP_TMP=1)."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix + ".")

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if os.environ.get("KEEP_TMP") == "1":
            log(f"kept {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return False


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_table(name, values, array=False):
    head = f"[[{name}]]" if array else f"[{name}]"
    return "\n".join([head] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]) + "\n"


class TestDns:
    """A `rampart-testdns` process on 127.0.0.1:0 serving `records` (text in its --records
    format); every other name is NXDOMAIN. Its stdin is a pipe from this process, so it stops
    when stop() closes it, or when this process dies without getting that far."""

    def __init__(self, binary, workdir, records, timeout=30):
        records_path = os.path.join(workdir, "dns.records")
        with open(records_path, "w") as f:
            f.write(records)
        self.err_path = os.path.join(workdir, "dns.stderr")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([binary, "--records", records_path],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err)
        line = self._first_line(timeout)
        prefix = "listening on 127.0.0.1:"
        if not line.startswith(prefix) or not line[len(prefix):].strip().isdigit():
            self.stop()
            raise RuntimeError(f"rampart-testdns did not start (first line {line!r}): "
                               f"{self.stderr_tail()}")
        self.port = int(line[len(prefix):])

    def _first_line(self, timeout):
        """The first line of stdout, waiting on the pipe itself (select), up to `timeout` s;
        what came before the process ended or the time ran out otherwise."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                break
            chunk = os.read(fd, 256)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stderr_tail(self, n=2000):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-n:].strip()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """Closes its stdin and reaps it (SIGKILL after `timeout` s)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"rampart-testdns (pid {self.proc.pid}) ignored the end of its stdin; SIGKILL")
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None


class Rampart:
    """One Rampart server process on 127.0.0.1:0 with its data in `workdir`/data, and the
    test DNS server it asks (see the module doc; `dns_records` replaces DNS_RECORDS).

    `limits`, `timeouts`, `listener` and `top` add or override keys of those tables;
    `more_listeners` adds [[listener]] tables after the MX one, `tables` whole tables by name. Checks are
    all on except those in `checks_disabled` (default: antivirus, as there is no clamd here).

    kill() stops Rampart alone, so that start() can bring it back on the same data and DNS;
    stop() and close() stop the DNS server too (start() would start a new one)."""

    def __init__(self, binary, workdir, limits=None, timeouts=None, listener=None, top=None,
                 checks_disabled=("antivirus",), dns_records=DNS_RECORDS, more_listeners=(),
                 tables=None):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "rampart.toml")
        self.proc = None
        self.port = None
        self.ports = {}  # role -> port of every listener, after start()
        self.starts = 0
        self._stdout = None
        self.dns = None
        self._dns_binary = testdns_binary(binary)
        self._dns_records = dns_records
        top_values = {"hostname": HOSTNAME, "data_dir": self.data_dir, "shutdown_grace_secs": 5}
        top_values.update(top or {})
        listener_values = {"role": "mx", "address": "127.0.0.1:0", "greeting_delay_ms": 0}
        listener_values.update(listener or {})
        text = "".join(f"{k} = {_toml_value(v)}\n" for k, v in top_values.items())
        text += _toml_table("log", {"level": "warn"})
        text += _toml_table("listener", listener_values, array=True)
        for extra in more_listeners:
            text += _toml_table("listener", extra, array=True)
        tables = dict(tables or {})
        # Every client of the benches and suites connects from 127.0.0.1: the load generators
        # open thousands of connections a minute and the abuse client attacks on purpose, so
        # the intrusion prevention (NC-2.4.2) would ban them all, the well-behaved client too.
        # Loopback is on its allow-list here; the bans themselves are tested by
        # crates/rampart/tests/ids_bans.rs. A caller that passes an `ids` table decides.
        tables.setdefault("ids", {"allow": ["127.0.0.0/8"]})
        for name, values in tables.items():
            text += _toml_table(name, values)
        if limits:
            text += _toml_table("limits", limits)
        if timeouts:
            text += _toml_table("timeouts", timeouts)
        text += _toml_table("checks", {"disabled": list(checks_disabled)})
        self._config_text = text
        self._start_dns()

    def _start_dns(self):
        """Starts the DNS server and (re)writes the configuration with its address."""
        self.dns = TestDns(self._dns_binary, self.workdir, self._dns_records)
        with open(self.config, "w") as f:
            f.write(self._config_text + _toml_table("dns", {"servers": [self.dns.server]}))

    def cli(self, *args, stdin=None):
        """Runs `rampart --config FILE ARGS...`; returns its stdout (raises on failure)."""
        r = subprocess.run([self.binary, "--config", self.config, *args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"rampart {' '.join(args)} failed ({r.returncode}): "
                               f"{r.stderr.strip()}")
        return r.stdout

    def setup(self):
        """The domain and the user every scenario sends to."""
        self.cli("domain", "add", DOMAIN)
        self.cli("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")

    def start(self, timeout=30):
        """Starts `serve` and waits until it prints its data directory; sets self.port."""
        if self.dns is None:
            self._start_dns()
        self.starts += 1
        out_path = os.path.join(self.workdir, f"stdout.{self.starts}")
        err_path = os.path.join(self.workdir, f"stderr.{self.starts}")
        self._stdout = out_path
        with open(out_path, "w") as out, open(err_path, "w") as err:
            self.proc = subprocess.Popen([self.binary, "--config", self.config, "serve"],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            with open(out_path) as f:
                text = f.read()
            return "ready" if "\ndata directory:" in "\n" + text else None

        state = wait_until(ready, timeout)
        if state != "ready":
            with open(err_path) as f:
                err = f.read()[-2000:]
            self.kill()
            raise RuntimeError(f"rampart serve did not start ({state or 'timeout'}): {err}")
        with open(out_path) as f:
            for line in f:
                if line.startswith("listening on 127.0.0.1:"):
                    role = line.rstrip().rsplit("(", 1)[-1].rstrip(")")
                    self.ports[role] = int(line.split()[2].rsplit(":", 1)[1])
        self.port = self.ports.get("mx")
        if not self.port:
            self.kill()
            raise RuntimeError("no 'listening on 127.0.0.1:PORT (mx)' line from rampart serve")
        return self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        return vmrss_kb(self.pid) if self.alive() else None

    def stderr_tail(self, n=2000):
        path = os.path.join(self.workdir, f"stderr.{self.starts}")
        try:
            with open(path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        """Sends `sig` and reaps the process (SIGKILL: at once; otherwise up to 15 s, then
        SIGKILL)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15 if sig != signal.SIGKILL else 5)
            except subprocess.TimeoutExpired:
                log(f"rampart (pid {self.proc.pid}) ignored signal {sig}; SIGKILL")
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stop(self):
        """SIGTERM (Rampart drains), then the DNS server; returns Rampart's exit status."""
        code = self.kill(signal.SIGTERM)
        self._stop_dns()
        return code

    def close(self):
        """For `finally`: SIGKILL Rampart if it runs, stop the DNS server."""
        self.kill()
        self._stop_dns()

    def _stop_dns(self):
        if self.dns is not None:
            self.dns.stop()
            summary = self.dns.stderr_tail(300).splitlines()
            if summary:
                log(f"test DNS on {self.dns.server}: {summary[-1]}")
            self.dns = None


def send_message(port, message_id, source_ip="127.0.0.1", timeout=20, body_lines=3):
    """Sends one message with smtplib; returns (code, text) of the final reply, or
    (None, error) when the exchange failed before one. smtplib raises on refusals, so the codes
    are taken from its exceptions."""
    msg = (f"From: Sender <{SENDER}>\r\nTo: <{USER}>\r\nSubject: probe {message_id}\r\n"
           f"Message-ID: <{message_id}>\r\n\r\n" + "".join(
               f"line {i} of the probe message\r\n" for i in range(body_lines)))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout,
                          source_address=(source_ip, 0)) as s:
            s.ehlo("probe.remote.test")
            code, text = s.mail(SENDER)
            if code != 250:
                return code, text.decode(errors="replace")
            code, text = s.rcpt(USER)
            if code != 250:
                return code, text.decode(errors="replace")
            code, text = s.data(msg.encode())
            return code, text.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as e:
        return None, f"{type(e).__name__}: {e}"
