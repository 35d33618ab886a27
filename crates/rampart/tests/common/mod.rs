//! Test harness: a real `rampart serve` process on 127.0.0.1:0 with its own data directory and
//! certificate, and a small SMTP client that speaks raw bytes over TCP or TLS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rampart");
pub mod browser;
pub mod console;
pub mod jmap;
pub mod pg;
pub mod postfix;
pub mod rspamd;

pub const PASSWORD: &str = "correct horse battery staple";

/// Standard base64 (RFC 4648): AUTH PLAIN's argument, an attachment's body.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// AUTH PLAIN on a fresh submission session after STARTTLS: the reply code, or the greeting's
/// when the server turned the connection away.
pub fn smtp_auth(s: &Server, user: &str, password: &str) -> u16 {
    let mut c = Client::connect(s.listener("submission"));
    let (code, _) = c.reply().expect("a greeting");
    if code != 220 {
        return code;
    }
    c.send("EHLO client.test");
    c.expect(250);
    c.starttls(s.tls_config(&[&rustls::version::TLS13]))
        .expect("STARTTLS");
    c.send("EHLO client.test");
    c.expect(250);
    c.send(&format!(
        "AUTH PLAIN {}",
        b64(format!("\0{user}\0{password}").as_bytes())
    ));
    c.reply().expect("a reply to AUTH").0
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut r = [0u8; 6];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut r)
            .unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let p = std::env::temp_dir().join(format!("rampart-{tag}-{name}"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a server certificate for `mail.example.test`, written as PEM files.
pub struct TestPki {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_pki(dir: &Path) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subject names: OpenSSL-based clients (Python, swaks) take a leaf whose issuer name
    // equals its subject for a self-signed certificate.
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Rampart Test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["mail.example.test".to_string()]).unwrap();
    leaf_params.distinguished_name = rcgen::DistinguishedName::new();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mail.example.test");
    let leaf = leaf_params.signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        cert: cert_path,
        key: key_path,
    }
}

/// Runs a CLI command against a configuration; panics with its output if it fails.
pub fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = cli_raw(config, args, stdin);
    assert!(
        out.status.success(),
        "rampart {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn cli_raw(config: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Reads a starting server's standard output up to its "data directory:" line: the listeners it
/// printed, as (address, role). `exited` says more when the server ends before that line.
pub fn read_listeners(
    out: &mut BufReader<std::process::ChildStdout>,
    exited: impl Fn() -> String,
) -> Vec<(SocketAddr, String)> {
    let mut listeners = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "server exited before listening{}", exited());
        if let Some(rest) = line.strip_prefix("listening on ") {
            let mut parts = rest.split_whitespace();
            let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
            let role = parts.next().unwrap_or("").trim_matches(['(', ')']);
            listeners.push((addr, role.to_string()));
        }
        if line.starts_with("data directory:") {
            return listeners;
        }
    }
}

/// A running server.
pub struct Server {
    pub dir: TempDir,
    pub config: PathBuf,
    pub pki: TestPki,
    pub addr: SocketAddr,
    /// Every listener: (address, role) as printed at start-up.
    pub listeners: Vec<(SocketAddr, String)>,
    pub child: Option<Child>,
    /// The DNS server this server asks when the test gave none: an empty zone, so every lookup
    /// answers NXDOMAIN at once and no test depends on the machine's resolver.
    pub dns: Option<rampart_testdns::TestDns>,
    /// Lines the server printed on stdout after "listening".
    pub stdout: Option<BufReader<std::process::ChildStdout>>,
}

/// Options for the test server's configuration.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra TOML put in [limits].
    pub limits: String,
    /// Extra TOML put in the [[listener]].
    pub listener: String,
    /// Extra TOML put at the top level (tables may follow: they come before the harness's).
    pub top: String,
    /// The MX listener's address; 127.0.0.1:0 when not given.
    pub mx_address: Option<String>,
    /// The `[checks]` table's body; when not given, antivirus is off (no clamd in most tests).
    pub checks: Option<String>,
}

/// The harness's directory: example.test, users alice and bob (password [`PASSWORD`]), and the
/// alias team -> alice, bob.
pub fn populate(config: &Path) {
    cli(config, &["domain", "add", "example.test"], None);
    for u in ["alice@example.test", "bob@example.test"] {
        cli(
            config,
            &["user", "add", u, "--password-stdin"],
            Some(PASSWORD),
        );
    }
    for target in ["alice@example.test", "bob@example.test"] {
        cli(config, &["alias", "add", "team@example.test", target], None);
    }
}

impl Server {
    /// Starts a server with example.test, users alice and bob, and alias team -> alice, bob.
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(mut opts: Options) -> Server {
        let dir = TempDir::new("srv");
        let dns = if opts.top.contains("[dns]") {
            None
        } else {
            let d = rampart_testdns::TestDns::builder().start();
            // After the test's own lines: top-level keys there must stay outside the table.
            opts.top = format!("{}\n[dns]\nservers = [\"{}\"]\n", opts.top, d.addr());
            Some(d)
        };
        let pki = make_pki(&dir.0);
        let config = dir.0.join("rampart.toml");
        std::fs::write(
            &config,
            format!(
                "hostname = \"mail.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 10\n{}\n\
                 [log]\nlevel = \"warn\"\n\
                 [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
                 [[listener]]\nrole = \"mx\"\naddress = \"{}\"\n{}\n\
                 [limits]\n{}\n\
                 [checks]\n{}\n",
                opts.top,
                opts.mx_address.as_deref().unwrap_or("127.0.0.1:0"),
                opts.listener,
                opts.limits,
                opts.checks.as_deref().unwrap_or("disabled = [\"antivirus\"]")
            ),
        )
        .unwrap();
        populate(&config);
        let mut s = Server {
            dir,
            config,
            pki,
            addr: "127.0.0.1:1".parse().unwrap(),
            listeners: Vec::new(),
            dns,
            child: None,
            stdout: None,
        };
        s.spawn();
        s
    }

    /// Starts (or restarts) the server process and waits until it listens.
    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        self.listeners = read_listeners(&mut out, String::new);
        self.addr = self.listener("mx");
        self.child = Some(child);
        self.stdout = Some(out);
    }

    /// The address of the first listener with this role.
    pub fn listener(&self, role: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(_, r)| r == role)
            .map(|(a, _)| *a)
            .unwrap_or_else(|| panic!("no {role} listener in {:?}", self.listeners))
    }

    /// Writes the test CA to a file, for clients that want a path.
    /// Clients on several threads may ask at once: the file is written under a name of its own
    /// and renamed into place, so no client reads it half written.
    pub fn ca_file(&self) -> PathBuf {
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.dir.0.join("ca.pem");
        if !path.exists() {
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = self.dir.0.join(format!("ca.pem.{n}"));
            std::fs::write(&tmp, &self.pki.ca_pem).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        path
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: the crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        signal(c.id(), libc_sigterm());
        c.wait().unwrap()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A client that has read the greeting and sent EHLO.
    pub fn ehlo(&self) -> Client {
        let mut c = self.connect();
        c.expect(220);
        c.send("EHLO client.test");
        c.expect(250);
        c
    }

    /// A client logged in as alice on the submissions listener (implicit TLS, AUTH PLAIN).
    pub fn login_alice(&self) -> Client {
        let mut c = Client::connect(self.listener("submissions"));
        c.start_tls_now(self.tls_config(&[&rustls::version::TLS13]));
        c.expect(220);
        c.send("EHLO client.test");
        c.expect(250);
        // "\0alice@example.test\0correct horse battery staple"
        c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNlIGJhdHRlcnkgc3RhcGxl");
        c.expect(235);
        c
    }

    pub fn mailbox(&self, user: &str) -> Vec<String> {
        cli(&self.config, &["mailbox", "list", user], None)
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn show(&self, user: &str, id: &str) -> String {
        cli(
            &self.config,
            &["mailbox", "show", user, id, "--reason", "test"],
            None,
        )
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    /// Runs `sql` on the server's SQLite store through a connection of the test's own: a fault
    /// made in the real database (a trigger that refuses a change) while the server runs.
    pub fn sqlite(&self, sql: &str) {
        let c = rusqlite::Connection::open(self.data_dir().join("rampart.db")).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        c.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Waits (by polling the CLI, bounded) until `user` has `n` messages.
    pub fn wait_mailbox(&self, user: &str, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let m = self.mailbox(user);
            if m.len() >= n {
                return m;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("{user} never had {n} messages: {:?}", self.mailbox(user));
    }

    pub fn tls_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::pem::PemObject;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(
                rustls_pki_types::CertificateDer::from_pem_slice(self.pki.ca_pem.as_bytes())
                    .unwrap(),
            )
            .unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_protocol_versions(versions)
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn libc_sigterm() -> i32 {
    15
}

pub fn signal(pid: u32, sig: i32) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A line-oriented SMTP client over plain TCP or TLS. Every read has a timeout, so a server that
/// does not answer fails the test instead of hanging it.
pub struct Client {
    stream: Option<Stream>,
    buf: Vec<u8>,
}

pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            stream: Some(Stream::Plain(s)),
            buf: Vec::new(),
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        match self.stream.as_ref().unwrap() {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        match self.stream.as_mut().unwrap() {
            Stream::Plain(s) => s.write_all(bytes).unwrap(),
            Stream::Tls(s) => {
                s.write_all(bytes).unwrap();
                s.flush().unwrap();
            }
        }
    }

    /// Sends a command line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = match self.stream.as_mut().unwrap() {
            Stream::Plain(s) => s.read(&mut chunk),
            Stream::Tls(s) => s.read(&mut chunk),
        };
        let n = match n {
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!(
                    "no reply within {READ_TIMEOUT:?}; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            }
            Err(_) => 0,
        };
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one whole reply (all its lines); None at end of stream.
    pub fn reply(&mut self) -> Option<(u16, String)> {
        let mut lines = Vec::new();
        loop {
            while let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..p]).to_string();
                self.buf.drain(..p + 2);
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line);
                if last {
                    let code = lines[0][..3].parse().unwrap();
                    let text = lines
                        .iter()
                        .map(|l| l.get(4..).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Some((code, text));
                }
            }
            if self.fill() == 0 {
                return None;
            }
        }
    }

    /// Reads a reply and checks its code; returns its text.
    pub fn expect(&mut self, code: u16) -> String {
        match self.reply() {
            Some((c, text)) => {
                assert_eq!(c, code, "expected {code}, got {c} {text}");
                text
            }
            None => panic!("connection closed; expected {code}"),
        }
    }

    /// True if the server closed the connection (nothing more to read).
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }

    /// STARTTLS and the handshake; EHLO again afterwards is up to the caller.
    pub fn starttls(&mut self, config: Arc<rustls::ClientConfig>) -> Result<(), String> {
        self.send("STARTTLS");
        self.expect(220);
        let tcp = match self.stream.take().unwrap() {
            Stream::Plain(s) => s,
            Stream::Tls(_) => panic!("TLS already"),
        };
        let conn =
            rustls::ClientConnection::new(config, "mail.example.test".try_into().unwrap()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let r = tls
            .conn
            .complete_io(&mut tls.sock)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.stream = Some(Stream::Tls(Box::new(tls)));
        r
    }

    /// Implicit TLS (port 465): the handshake before anything else.
    pub fn start_tls_now(&mut self, config: Arc<rustls::ClientConfig>) {
        let tcp = match self.stream.take().unwrap() {
            Stream::Plain(s) => s,
            Stream::Tls(_) => panic!("TLS already"),
        };
        let conn =
            rustls::ClientConnection::new(config, "mail.example.test".try_into().unwrap()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        self.stream = Some(Stream::Tls(Box::new(tls)));
    }

    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match self.stream.as_ref()? {
            Stream::Tls(s) => s.conn.protocol_version(),
            Stream::Plain(_) => None,
        }
    }

    /// A whole transaction; returns the final reply.
    pub fn send_mail(&mut self, from: &str, to: &[&str], body: &str) -> (u16, String) {
        self.send(&format!("MAIL FROM:<{from}>"));
        self.expect(250);
        for t in to {
            self.send(&format!("RCPT TO:<{t}>"));
            self.expect(250);
        }
        self.send("DATA");
        self.expect(354);
        self.send_raw(body.as_bytes());
        self.send_raw(b".\r\n");
        self.reply().expect("a reply to the message")
    }
}

/// Trace events are written asynchronously (they share the next group commit): polls `rampart
/// trace ARGS` until its output contains `needle`, within a bound, and returns the output.
pub fn wait_trace(s: &Server, args: &[&str], needle: &str) -> String {
    let mut out = String::new();
    for _ in 0..200 {
        out = cli(&s.config, args, None);
        if out.contains(needle) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("`{needle}` never appeared in `rampart {args:?}`:\n{out}");
}

/// Runs a Python 3 script with arguments; panics with its output if it fails.
pub fn python(script: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); these tests need python3 on PATH"));
    assert!(
        out.status.success(),
        "python3 failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port on 127.0.0.1 held, for as long as this lives, by a bound socket that never listens:
/// connections to it are refused, and nobody else can take it (no port released and reused).
pub struct ClosedPort {
    _socket: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    /// Exclusive: no other socket may bind the port, a Rampart server included.
    pub fn new() -> ClosedPort {
        ClosedPort::bind(false)
    }

    /// For a port a `rampart serve` started later listens on (a receiver that comes up, a
    /// server restarted on its port): held with SO_REUSEADDR, which Rampart's listeners set too
    /// (src/serve.rs), so Linux lets that server bind and listen here while this is held. Until
    /// then connections are refused; a bind to 127.0.0.1:0 is never given this port, nor is a
    /// bind without SO_REUSEADDR.
    pub fn for_rampart() -> ClosedPort {
        ClosedPort::bind(true)
    }

    fn bind(reuse: bool) -> ClosedPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_reuse_address(reuse).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// How many times [`start_outside_daemon`] starts a daemon, each time on new ports, when it
/// finds a port taken.
pub const OUTSIDE_DAEMON_ATTEMPTS: usize = 5;

/// One start of an outside daemon failed because a port it was given was taken meanwhile; the
/// daemon's words for it.
pub struct PortTaken(pub String);

/// `n` distinct loopback ports free a moment ago, for a daemon that must be told its ports and
/// cannot bind 127.0.0.1:0 (Postfix, Rspamd, slapd). They are released before the daemon binds
/// them, so another process may take one first: the retry rule is that whoever starts the daemon
/// detects that (its exit, its log) and starts it again on new ports, at most
/// [`OUTSIDE_DAEMON_ATTEMPTS`] times, which [`start_outside_daemon`] does. Nothing else may use
/// this: a Rampart server binds 127.0.0.1:0, a port where nothing listens is a [`ClosedPort`].
fn ports_for_outside_daemon(n: usize) -> Vec<u16> {
    // All held until all are chosen, so the same port is not handed out twice.
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Starts an outside daemon (`what`) on `n` ports of [`ports_for_outside_daemon`]: `start`
/// starts it on the ports it is given and waits (bounded) until it serves; it answers
/// [`PortTaken`] when the daemon could not bind one (the daemon stopped, nothing left running)
/// and panics on any other failure. Tried at most [`OUTSIDE_DAEMON_ATTEMPTS`] times.
pub fn start_outside_daemon<T>(
    what: &str,
    n: usize,
    mut start: impl FnMut(&[u16]) -> Result<T, PortTaken>,
) -> T {
    let mut said = Vec::new();
    for _ in 0..OUTSIDE_DAEMON_ATTEMPTS {
        match start(&ports_for_outside_daemon(n)) {
            Ok(daemon) => return daemon,
            Err(PortTaken(words)) => said.push(words),
        }
    }
    panic!(
        "{what} found a port taken in each of {OUTSIDE_DAEMON_ATTEMPTS} starts on new ports:\n{}",
        said.join("\n")
    );
}

/// A small message with a Message-ID, CRLF line endings, ending in CRLF.
pub fn message(id: &str, body: &str) -> String {
    format!("From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: test {id}\r\nMessage-ID: <{id}@remote.test>\r\n\r\n{body}\r\n")
}
