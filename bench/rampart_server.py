"""Start and stop a Rampart for the stress scripts (scale.py, abuse.py, crash_suite.py).

Python 3 standard library only. What lives here: building the release binary, writing a
temporary configuration, `domain add` and `user add`, starting `rampart serve` and reading its
port from the `listening on 127.0.0.1:PORT (mx)` line, polling instead of sleeping, reading a
process's VmRSS, and a plain SMTP send with smtplib (a client we did not write). What does not:
the scenarios themselves.

    with TempDir("rampart-scale") as tmp:
        server = Rampart(binary, tmp, limits={"max_connections_per_ip": 20000})
        server.setup()
        server.start()
        ...
        server.stop()
"""
import os
import resource
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
    date, a no-op when it is) with cargo."""
    if given:
        if not os.access(given, os.X_OK):
            raise SystemExit(f"not an executable: {given}")
        return os.path.abspath(given)
    log("cargo build --release -p rampart")
    subprocess.run(["cargo", "build", "--release", "-p", "rampart", "--quiet"], cwd=REPO,
                   check=True)
    return os.path.join(REPO, "target", "release", "rampart")


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


class Rampart:
    """One Rampart server process on 127.0.0.1:0 with its data in `workdir`/data.

    `limits`, `timeouts`, `listener` and `top` add or override keys of those tables. Checks are
    all on except those in `checks_disabled` (default: antivirus, as there is no clamd here)."""

    def __init__(self, binary, workdir, limits=None, timeouts=None, listener=None, top=None,
                 checks_disabled=("antivirus",)):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "rampart.toml")
        self.proc = None
        self.port = None
        self.starts = 0
        self._stdout = None
        top_values = {"hostname": HOSTNAME, "data_dir": self.data_dir, "shutdown_grace_secs": 5}
        top_values.update(top or {})
        listener_values = {"role": "mx", "address": "127.0.0.1:0", "greeting_delay_ms": 0}
        listener_values.update(listener or {})
        text = "".join(f"{k} = {_toml_value(v)}\n" for k, v in top_values.items())
        text += _toml_table("log", {"level": "warn"})
        text += _toml_table("listener", listener_values, array=True)
        if limits:
            text += _toml_table("limits", limits)
        if timeouts:
            text += _toml_table("timeouts", timeouts)
        text += _toml_table("checks", {"disabled": list(checks_disabled)})
        with open(self.config, "w") as f:
            f.write(text)

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
                if line.startswith("listening on 127.0.0.1:") and line.rstrip().endswith("(mx)"):
                    self.port = int(line.split()[2].rsplit(":", 1)[1])
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
        return self.kill(signal.SIGTERM)


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
