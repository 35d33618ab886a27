//! An SMTP load generator for benchmarks: what Postfix's `smtp-source` does, plus STARTTLS
//! (with a verified certificate), PIPELINING, and latency per message and per connection.
//!
//! ```text
//! Config ─▶ run() ─▶ Plan (address, TLS client, command lines, Message: built once, shared)
//!                      │
//!                      ├─ warm-up: N sessions × W messages each, not counted
//!                      └─ timed:   N sessions share M tickets ─▶ Tally each ─▶ merged ─▶ Report
//!
//! session: take a ticket ─▶ connect, 220, EHLO [, STARTTLS, handshake, EHLO]
//!          ─▶ MAIL, RCPT…, DATA, message ─▶ 250 ─▶ (next ticket, up to K per connection) ─▶ QUIT
//! ```
//!
//! A ticket is one attempt: a refused message or a failed connection spends it, is counted by
//! reply code or kind, and closes the connection, so a run always ends. Every read and write is
//! bounded by the timeout. With one connection per message (the default) the dialogue is the
//! one an MX sees from most senders: connect, EHLO, MAIL, RCPT, DATA, QUIT.
//!
//! Not here: AUTH, BDAT, checking what the server stored (the tests do that).

mod message;
mod report;
mod session;
mod smtp;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

pub mod jmap;

pub use message::{body, dot_stuff, Message};
pub use report::Report;
pub use stats::{percentile, DataLatency, Failure, SetupLatency};

use session::{Plan, SessionId, Tickets, Tls};
use stats::Tally;

/// Parallel sessions when not given.
pub const DEFAULT_SESSIONS: usize = 1;
/// Messages in the timed part when not given.
pub const DEFAULT_MESSAGES: u64 = 100;
/// Body bytes per message when not given.
pub const DEFAULT_SIZE: usize = 1024;
/// Seconds any one read, write, connect or handshake may take when not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// The EHLO name when not given.
pub const DEFAULT_EHLO: &str = "loadgen.test";
/// The name the server certificate must carry when not given.
pub const DEFAULT_TLS_NAME: &str = "localhost";

/// What to send, where, and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT`; resolved once, the first address is used.
    pub server: String,
    /// Sessions running in parallel.
    pub sessions: usize,
    /// Messages in the timed part, over all sessions.
    pub messages: u64,
    /// Body bytes per message, before dot-stuffing (0, or at least 2: a body is whole lines).
    pub size: usize,
    /// Messages per connection; 1 opens a connection for every message, as `smtp-source` does.
    pub per_connection: u32,
    /// Envelope sender, also the From header.
    pub from: String,
    /// Envelope recipients, also the To header.
    pub to: Vec<String>,
    /// The name given in EHLO, also the domain of the Message-IDs.
    pub ehlo: String,
    /// STARTTLS after EHLO on every connection; a server that does not offer it fails.
    pub starttls: bool,
    /// PEM file of the certificates that may sign the server's certificate (needed for STARTTLS).
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry.
    pub tls_name: String,
    /// Let TLS handshakes resume earlier sessions (rustls' in-memory client cache), as a
    /// sending MTA with a session cache does. Off: every handshake is a full one.
    pub tls_resume: bool,
    /// Send MAIL, RCPT and DATA in one write where the server offers PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// Bound on every connect, handshake, write and reply.
    pub timeout: Duration,
    /// Messages each session sends before the timed part; not counted.
    pub warmup: u32,
}

impl Config {
    /// A configuration with the defaults for everything but the server and the addresses.
    pub fn new(server: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> Config {
        Config {
            server: server.into(),
            sessions: DEFAULT_SESSIONS,
            messages: DEFAULT_MESSAGES,
            size: DEFAULT_SIZE,
            per_connection: 1,
            from: from.into(),
            to,
            ehlo: DEFAULT_EHLO.into(),
            starttls: false,
            tls_ca: None,
            tls_name: DEFAULT_TLS_NAME.into(),
            tls_resume: true,
            pipelining: false,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            warmup: 0,
        }
    }

    /// Every problem with the configuration, or none.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.sessions == 0 {
            p.push("sessions must be at least 1".to_string());
        }
        if self.per_connection == 0 {
            p.push("per-connection must be at least 1".to_string());
        }
        if self.size == 1 {
            p.push("size must be 0 or at least 2 (the body is made of whole lines)".to_string());
        }
        if self.timeout.is_zero() {
            p.push("timeout must be more than 0".to_string());
        }
        if self.to.is_empty() {
            p.push("give at least one recipient (--to)".to_string());
        }
        // The addresses and the name go into command lines as they are.
        for (what, v) in std::iter::once(("from", &self.from))
            .chain(self.to.iter().map(|t| ("to", t)))
            .chain(std::iter::once(("ehlo", &self.ehlo)))
        {
            let bad = |c: char| c.is_ascii_control() || c == ' ' || c == '<' || c == '>';
            if v.chars().any(bad) || (what == "ehlo" && v.is_empty()) {
                p.push(format!(
                    "{what} {v:?} must not be empty nor hold spaces, <, > or control characters"
                ));
            }
        }
        if self.starttls && self.tls_ca.is_none() {
            p.push("starttls needs tls-ca: the server certificate is always verified".to_string());
        }
        if !self.starttls && self.tls_ca.is_some() {
            p.push("tls-ca is only used with starttls".to_string());
        }
        if ServerName::try_from(self.tls_name.as_str()).is_err() {
            p.push(format!("tls-name {:?} is not a DNS name", self.tls_name));
        }
        p
    }
}

/// Why a run could not start. Failures during the run are counted in the [`Report`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    #[error("cannot resolve {server}: {reason}")]
    Resolve { server: String, reason: String },
    #[error("cannot use the CA certificates in {}: {reason}", path.display())]
    TlsCa { path: PathBuf, reason: String },
}

/// Runs the warm-up, then the timed part, and reports on the timed part.
pub async fn run(cfg: Config) -> Result<Report, Error> {
    let problems = cfg.problems();
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let addr = resolve(&cfg.server).await?;
    let tls = if cfg.starttls { Some(tls(&cfg)?) } else { None };
    let plan = Arc::new(plan(&cfg, addr, tls));

    let warmup = if cfg.warmup > 0 {
        let per_session = u64::from(cfg.warmup);
        let expect = cfg.warmup as usize;
        phase(&plan, cfg.sessions, 'w', expect, |_| {
            Arc::new(Tickets::new(per_session))
        })
        .await
    } else {
        Tally::default()
    };
    let pool = Arc::new(Tickets::new(cfg.messages));
    // Room for each session's share of the samples, and some, so pushing rarely reallocates.
    let expect = (cfg.messages / cfg.sessions as u64) as usize + 16;
    let timed = phase(&plan, cfg.sessions, 't', expect, |_| pool.clone()).await;
    Ok(Report::new(&cfg, timed, &warmup, Instant::now()))
}

/// Runs `sessions` sessions to the end, each drawing from the pool `tickets` gives it.
async fn phase(
    plan: &Arc<Plan>,
    sessions: usize,
    phase: char,
    expect: usize,
    tickets: impl Fn(usize) -> Arc<Tickets>,
) -> Tally {
    let tasks: Vec<_> = (0..sessions)
        .map(|number| {
            let id = SessionId { phase, number };
            tokio::spawn(session::run(plan.clone(), tickets(number), id, expect))
        })
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        match t.await {
            Ok(tally) => total.merge(tally),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a session was cancelled: {e}"),
        }
    }
    total
}

pub async fn resolve(server: &str) -> Result<SocketAddr, Error> {
    let fail = |reason: String| Error::Resolve {
        server: server.to_string(),
        reason,
    };
    tokio::net::lookup_host(server)
        .await
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))
}

/// The TLS client: TLS 1.2 and 1.3 with ring, trusting only the certificates in `tls_ca`, with
/// rustls' default in-memory session cache unless `tls_resume` is off.
fn tls(cfg: &Config) -> Result<Tls, Error> {
    let path = cfg.tls_ca.clone().unwrap_or_default();
    let (connector, name) = tls_client(&path, &cfg.tls_name, cfg.tls_resume, &[])?;
    Ok(Tls { connector, name })
}

/// A TLS client trusting only the certificates in the PEM file `ca`, for the server name
/// `name`, offering `alpn` (none: no ALPN).
pub fn tls_client(
    ca: &std::path::Path,
    name: &str,
    resume: bool,
    alpn: &[&[u8]],
) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), Error> {
    let fail = |reason: String| Error::TlsCa {
        path: ca.to_path_buf(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| fail(e.to_string()))? {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(name.to_owned()).map_err(|e| fail(format!("tls-name: {e}")))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

fn plan(cfg: &Config, addr: SocketAddr, tls: Option<Tls>) -> Plan {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mail = format!("MAIL FROM:<{}>\r\n", cfg.from).into_bytes();
    let rcpts: Vec<Vec<u8>> = cfg
        .to
        .iter()
        .map(|t| format!("RCPT TO:<{t}>\r\n").into_bytes())
        .collect();
    let mut envelope = mail.clone();
    for r in &rcpts {
        envelope.extend_from_slice(r);
    }
    envelope.extend_from_slice(b"DATA\r\n");
    Plan {
        addr,
        timeout: cfg.timeout,
        per_connection: cfg.per_connection,
        pipelining: cfg.pipelining,
        tls,
        ehlo: format!("EHLO {}\r\n", cfg.ehlo).into_bytes(),
        mail,
        rcpts,
        envelope,
        message: Message::new(&cfg.from, &cfg.to, cfg.size, now.as_secs(), &cfg.ehlo),
        // Nanoseconds and the process id: distinct across runs and concurrent processes.
        run_id: (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40),
    }
}
