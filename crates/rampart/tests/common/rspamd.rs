//! Starts a private Rspamd (Debian's `rspamd` 3.4) for a test: AL-1.2's second engine, real,
//! on loopback.
//!
//! ```text
//! <tmp>/rspamd.conf    includes the system's $CONFDIR/common.conf (rules, scores, modules) and
//!                      declares one worker "normal" on 127.0.0.1:<port>; no controller, no proxy,
//!                      no fuzzy storage
//! <tmp>/local/local.d  LOCAL_CONFDIR: every module that asks the network switched off
//!                      (`enabled = false`: DNS blocklists, URL lists, fuzzy, SPF/DKIM/DMARC, …)
//! <tmp>/db, run, log   DBDIR, RUNDIR, LOGDIR, given with --var
//! ```
//!
//! Rspamd must be told its port: one found free on 127.0.0.1 is released just before Rspamd
//! starts, so another process may take it first; Rspamd then exits saying "Address already in
//! use", and it is started again, in a new directory on a new port, at most five times
//! (`super::start_outside_daemon`). Rspamd compiles its rules at start (several seconds, longer on a busy machine): readiness is
//! awaited by polling `/ping` until `pong`, with a bound (no fixed sleeps); if Rspamd exits or
//! never answers, the test fails with its log. Rspamd is stopped with SIGTERM (its main process
//! then stops its workers; after SIGKILL they would live on, orphaned) when the guard drops (also
//! on panic) and, through `setpriv --pdeathsig TERM`, if the test process dies. If `rspamd` is
//! not installed the test FAILS, telling what to install.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Rspamd may take to compile its rules and answer /ping.
const READY_WITHIN: Duration = Duration::from_secs(180);

/// Modules of Rspamd 3.4 that query DNS or fetch remote maps, or need Redis: off, so the test
/// asks nothing outside the machine ("network tests off").
const NETWORK_MODULES: &[&str] = &[
    "asn",
    "arc",
    "dcc",
    "dkim",
    "dkim_signing",
    "dmarc",
    "elastic",
    "emails",
    "external_services",
    "fuzzy_check",
    "greylist",
    "hfilter",
    "history_redis",
    "metadata_exporter",
    "multimap",
    "mx_check",
    "neural",
    "phishing",
    "ratelimit",
    "rbl",
    "replies",
    "reputation",
    "spf",
    "surbl",
    "url_reputation",
    "whitelist",
];

pub struct Rspamd {
    pub dir: super::TempDir,
    pub addr: SocketAddr,
    /// The controller worker, when started with [`Rspamd::start_with_bayes`].
    pub controller: Option<SocketAddr>,
    child: Option<Child>,
    /// Its own Redis, where Rspamd 3.4 keeps the Bayes statistics.
    redis: Option<Child>,
}

/// The rspamd binary: `$RAMPART_RSPAMD`, else `/usr/bin/rspamd`.
fn binary() -> PathBuf {
    let install = "Install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y rspamd` \
                   (its service need not run; the test starts its own) or set RAMPART_RSPAMD.";
    let p = std::env::var_os("RAMPART_RSPAMD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/rspamd"));
    assert!(
        p.is_file(),
        "{} does not exist: this test needs a real Rspamd. {install}",
        p.display()
    );
    p
}

impl Rspamd {
    pub fn start() -> Rspamd {
        let bin = binary();
        super::start_outside_daemon("rspamd", 1, |ports| Rspamd::start_on(&bin, ports[0], None))
    }

    /// The same, with Bayes on (statistics in a Redis of its own, Debian's `redis-server`) and
    /// a controller worker that takes lessons only with `password` (no address is trusted
    /// without it).
    pub fn start_with_bayes(password: &str) -> Rspamd {
        let bin = binary();
        assert!(
            Path::new(REDIS).is_file(),
            "{REDIS} does not exist: this test needs a real Redis for Rspamd's Bayes. Install it \
             with `DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server`"
        );
        super::start_outside_daemon("rspamd", 3, |ports| {
            Rspamd::start_on(&bin, ports[0], Some((ports[1], ports[2], password)))
        })
    }

    /// `http://127.0.0.1:PORT` of the controller, for `[checks.spam.rspamd] controller`.
    pub fn controller_url(&self) -> String {
        format!("http://{}", self.controller.expect("started with Bayes"))
    }

    /// One start on `port`, in a directory of its own; with `bayes`, (controller port, Redis
    /// port, controller password).
    fn start_on(
        bin: &Path,
        port: u16,
        bayes: Option<(u16, u16, &str)>,
    ) -> Result<Rspamd, super::PortTaken> {
        let dir = super::TempDir::new("rspamd");
        let d = &dir.0;
        for sub in ["local/local.d", "db", "run", "log", "redis"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        for m in NETWORK_MODULES {
            std::fs::write(
                d.join("local/local.d").join(format!("{m}.conf")),
                "enabled = false;\n",
            )
            .unwrap();
        }
        // The Bayes classifier keeps its statistics in Redis: off, unless one is started.
        let mut redis = None;
        let mut controller = None;
        let mut controller_worker = String::new();
        match bayes {
            None => std::fs::write(
                d.join("local/local.d/classifier-bayes.conf"),
                "enabled = false;\n",
            )
            .unwrap(),
            Some((ctrl_port, redis_port, password)) => {
                redis = Some(start_redis(d, redis_port)?);
                let servers = format!("servers = \"127.0.0.1:{redis_port}\";\n");
                std::fs::write(d.join("local/local.d/redis.conf"), &servers).unwrap();
                std::fs::write(
                    d.join("local/local.d/classifier-bayes.conf"),
                    format!("backend = \"redis\";\n{servers}autolearn = false;\n"),
                )
                .unwrap();
                let ctrl: SocketAddr = format!("127.0.0.1:{ctrl_port}").parse().unwrap();
                controller = Some(ctrl);
                // Only 192.0.2.1 (an address no test connects from) is trusted without the
                // password: the lessons from 127.0.0.1 must bring it.
                controller_worker = format!(
                    "worker \"controller\" {{\n  bind_socket = \"{ctrl}\";\n  count = 1;\n  \
                     password = \"{password}\";\n  secure_ip = \"192.0.2.1\";\n}}\n"
                );
            }
        }
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        std::fs::write(
            d.join("rspamd.conf"),
            format!(
                ".include \"$CONFDIR/common.conf\"\n\
                 options {{\n  pidfile = \"$RUNDIR/rspamd.pid\";\n  .include \"$CONFDIR/options.inc\"\n  \
                 .include(try=true; priority=1,duplicate=merge) \"$LOCAL_CONFDIR/local.d/options.inc\"\n}}\n\
                 logging {{\n  type = \"file\";\n  filename = \"$LOGDIR/rspamd.log\";\n  level = \"info\";\n}}\n\
                 worker \"normal\" {{\n  bind_socket = \"{addr}\";\n  count = 1;\n  \
                 .include \"$CONFDIR/worker-normal.inc\"\n}}\n{controller_worker}"
            ),
        )
        .unwrap();
        let var = |k: &str, sub: &str| format!("{k}={}", d.join(sub).display());
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "TERM", "--"])
            .arg(bin)
            // In the foreground, as the user running the test (root included: -i).
            .args(["-f", "-i", "-c"])
            .arg(d.join("rspamd.conf"))
            .args(["--var", &var("LOCAL_CONFDIR", "local")])
            .args(["--var", &var("DBDIR", "db")])
            .args(["--var", &var("RUNDIR", "run")])
            .args(["--var", &var("LOGDIR", "log")])
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(d.join("rspamd.stdout")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(d.join("rspamd.stderr")).unwrap(),
            ));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut r = Rspamd {
            dir,
            addr,
            controller,
            child: Some(child),
            redis,
        };
        r.wait_ready()?;
        if let Some(c) = controller {
            r.wait_listening(c)?;
        }
        Ok(r)
    }

    /// The controller answers on `addr` (it starts with the normal worker, a little later).
    fn wait_listening(&mut self, addr: SocketAddr) -> Result<(), super::PortTaken> {
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            let log = self.log();
            if log.contains("Address already in use") {
                return Err(super::PortTaken(log));
            }
            assert!(
                Instant::now() < deadline,
                "rspamd's controller did not listen on {addr} within {READY_WITHIN:?}:\n{log}"
            );
            // Polling interval: the controller gives no readiness signal but its socket.
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The controller's `/stat` (learned counts per statfile), asked with the password.
    pub fn stat(&self, password: &str) -> serde_json::Value {
        let addr = self.controller.expect("started with Bayes");
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET /stat HTTP/1.0\r\nHost: localhost\r\nPassword: {password}\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/stat: {e}: {answer}"))
    }

    /// Lessons the controller has taken since it started (`/stat`'s `learned`; its per-statfile
    /// counts come from Redis on a timer, so they lag).
    pub fn learned(&self, password: &str) -> u64 {
        let stat = self.stat(password);
        stat["learned"]
            .as_u64()
            .unwrap_or_else(|| panic!("no learned count in /stat: {stat}"))
    }

    /// `http://127.0.0.1:PORT`, for `[checks.spam.rspamd] url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Polls /ping until `pong`; [`super::PortTaken`] when Rspamd exited because its port was
    /// taken.
    fn wait_ready(&mut self) -> Result<(), super::PortTaken> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if ping(self.addr) {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = self.log();
                if log.contains("Address already in use") {
                    return Err(super::PortTaken(log));
                }
                panic!(
                    "rspamd exited ({status}) before answering /ping:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rspamd did not answer /ping within {READY_WITHIN:?}:\n{}",
                self.log()
            );
            // Polling interval: Rspamd gives no readiness signal but its /ping.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What Rspamd wrote: stderr and the tail of its log.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
        let log = read("log/rspamd.log");
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "{}{}\n{}",
            read("rspamd.stdout"),
            read("rspamd.stderr"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Stops Rspamd (SIGTERM to its main process, which stops its workers) and waits until the
    /// port no longer answers.
    pub fn stop(&mut self) {
        self.terminate();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "rspamd's worker still listens on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Debian's Redis server.
const REDIS: &str = "/usr/bin/redis-server";

/// A Redis of the test's own on `port` (no persistence), once it accepts connections.
fn start_redis(dir: &Path, port: u16) -> Result<Child, super::PortTaken> {
    let out = dir.join("redis.out");
    let mut child = Command::new("setpriv")
        .args(["--pdeathsig", "TERM", "--", REDIS])
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir.join("redis"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {REDIS}: {e}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
        if child.try_wait().unwrap().is_some() {
            let said = std::fs::read_to_string(&out).unwrap_or_default();
            if said.contains("Address already in use") {
                return Err(super::PortTaken(said));
            }
            panic!("redis-server exited before listening:\n{said}");
        }
        assert!(
            Instant::now() < deadline,
            "redis-server did not listen on {addr}"
        );
        // Polling interval: Redis gives no readiness signal but its socket.
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

impl Rspamd {
    /// SIGTERM, then a bounded wait for the exit; SIGKILL if it does not come. Its Redis goes
    /// with it.
    fn terminate(&mut self) {
        if let Some(mut r) = self.redis.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// GET /ping answered with `pong`.
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.contains("pong")
}

/// Asks Rspamd directly (the test's own view, to compare with what Rampart reports).
pub fn checkv2(addr: SocketAddr, message: &[u8]) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /checkv2 HTTP/1.0\r\nIP: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        message.len()
    )
    .unwrap();
    s.write_all(message).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer")
        + 4;
    serde_json::from_slice(&answer[at..]).unwrap()
}
