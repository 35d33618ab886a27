//! `rampart audit --remote`: black-box probes of any SMTP server, Rampart or not, each finding
//! named by the control it evidences.
//!
//! ```text
//! audit(Target) ─▶ banner     greeting, EHLO, HELP, an error, QUIT name no software  NC-2.1.3
//!               ─▶ commands   VRFY and EXPN reveal nothing                         NC-2.2
//!               ─▶ relay      the classic relay tricks get 5xx                     NC-2.1.6
//!               ─▶ auth       no AUTH before STARTTLS (MX and submission)          NC-2.1.4
//!               ─▶ tls        STARTTLS, TLS 1.0/1.1 refused, the certificate       AL-1.1
//!               ─▶ limits     SIZE, an over-long line, an early talker             NC-2.1.8
//!               ─▶ smuggling  only <CRLF>.<CRLF> ends DATA                         NC-2.1.7
//!               ─▶ dns        SPF, DKIM, DMARC, MTA-STS, TLS-RPT, TLSA             AL-2.1–2.3, AL-1.1
//! ```
//!
//! The probe is polite: connections are paced (`--rate`, per second) and capped
//! ([`MAX_CONNECTIONS`]), and it never completes a DATA a server would deliver to a person: every
//! relay and limit probe ends in RSET or QUIT before DATA. The one exception is the smuggling
//! probe, which sends to the postmaster address with a Subject saying it is an audit test; in a
//! self-test ([`Target::self_test`]) even that one is built so that no message can be accepted.
//! What lives elsewhere: the registry of controls, local evidence and the report formats.

mod auth;
mod banner;
mod commands;
mod dns;
pub use dns::{dkim_keys, DkimKey};
mod limits;
mod relay;
pub mod session;
mod smuggling;
mod tls;
mod tls_legacy;

use crate::Finding;
use session::{ProbeError, Reply, Session};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many connections per audit, whatever `--rate` says: the probe must not look
/// like (or be) a flood.
pub const MAX_CONNECTIONS: u32 = 40;

/// The name the probe gives in EHLO: in the reserved `.invalid` domain (RFC 2606), so no one
/// mistakes it for a real client.
pub const EHLO_NAME: &str = "audit.rampart.invalid";

/// A domain reserved for examples (RFC 2606): a relay that accepted it could never deliver to a
/// person.
pub const FOREIGN: &str = "example.net";

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address of the server.
    pub host: String,
    /// Its SMTP port (25 unless given).
    pub port: u16,
    /// A submission port to check as well (AUTH before STARTTLS, NC-2.1.4).
    pub submission_port: Option<u16>,
    /// The mail domain the server represents: the "us" of the relay tricks, the postmaster of the
    /// smuggling probe, and the DNS records. Without it, the host name from the greeting.
    pub domain: Option<String>,
    /// The DNS server for the record checks; without it, the system's resolver.
    pub dns: Option<SocketAddr>,
    /// DKIM selectors to look up; empty: the common ones.
    pub dkim_selectors: Vec<String>,
    /// Trust anchors for the certificate check (PEM); without it, the system's bundle.
    pub ca_file: Option<PathBuf>,
    /// Connections per second.
    pub rate: f64,
    /// Bound on every connect, read and write.
    pub timeout: Duration,
    /// The server audits itself (`rampart audit` without `--remote`): no probe may leave a
    /// message anywhere, the smuggling probe included (see `smuggling.rs`), and the DKIM keys
    /// are compared per domain by the local audit instead of looked up by selector here.
    pub self_test: bool,
}

impl Target {
    /// `HOST[:PORT]`, `[v6]:PORT`, or a bare v6 address; 25 unless a port is given.
    pub fn parse_host(spec: &str) -> Result<(String, u16), String> {
        let bad = || format!("--remote {spec}: expected HOST or HOST:PORT");
        if let Some(rest) = spec.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if tail.is_empty() => 25,
                None => return Err(bad()),
            };
            return Ok((h.to_string(), port));
        }
        match spec.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && !h.is_empty() => {
                Ok((h.to_string(), p.parse().map_err(|_| bad())?))
            }
            _ if spec.is_empty() => Err(bad()),
            _ => Ok((spec.to_string(), 25)),
        }
    }

    fn addr(&self, port: u16) -> String {
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// Paces connections and counts them.
struct Pacer {
    interval: Duration,
    last: Option<Instant>,
    used: u32,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        // A rate of 0 or less, or not a number, is the slowest sensible pace, not a division error.
        let rate = if rate.is_finite() && rate > 0.0 {
            rate.min(100.0)
        } else {
            1.0
        };
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            last: None,
            used: 0,
        }
    }

    async fn next(&mut self) -> Result<(), ProbeError> {
        if self.used >= MAX_CONNECTIONS {
            return Err(ProbeError::Budget);
        }
        if let Some(last) = self.last {
            // Rate limiting towards a server we do not own: a pause, not synchronisation.
            tokio::time::sleep_until(last + self.interval).await;
        }
        self.last = Some(Instant::now());
        self.used += 1;
        Ok(())
    }
}

/// The state shared by the probes: the target, the pacing, and what the first session learnt.
pub(crate) struct Probe<'a> {
    pub target: &'a Target,
    pacer: Pacer,
    /// The host name the server gives in its greeting.
    pub server_name: Option<String>,
    /// The EHLO reply on the main port, before TLS.
    pub ehlo: Option<Reply>,
}

impl Probe<'_> {
    /// A new connection to `port` with its greeting read.
    pub async fn connect(&mut self, port: u16) -> Result<(Session, Reply), ProbeError> {
        self.pacer.next().await?;
        let mut s = Session::connect(&self.target.addr(port), self.target.timeout).await?;
        let greeting = s.reply().await?;
        Ok((s, greeting))
    }

    /// A new connection to `port`, greeted (220 required) and EHLO accepted.
    pub async fn open(&mut self, port: u16) -> Result<(Session, Reply), ProbeError> {
        let (mut s, greeting) = self.connect(port).await?;
        if greeting.code != 220 {
            return Err(ProbeError::Refused(format!(
                "the session: {}",
                greeting.show()
            )));
        }
        let ehlo = s.command(&format!("EHLO {EHLO_NAME}")).await?;
        if ehlo.code != 250 {
            return Err(ProbeError::Refused(format!("EHLO: {}", ehlo.show())));
        }
        Ok((s, ehlo))
    }

    /// The domain the server represents: `--domain`, else the greeting's host name.
    pub fn domain(&self) -> String {
        self.target
            .domain
            .clone()
            .or_else(|| self.server_name.clone())
            .unwrap_or_else(|| self.target.host.clone())
    }
}

/// Does the EHLO reply advertise `keyword` (the first word of a line, any case)?
pub(crate) fn advertises<'r>(ehlo: &'r Reply, keyword: &str) -> Option<&'r str> {
    ehlo.lines.iter().skip(1).find_map(|l| {
        // `AUTH=PLAIN` is the pre-RFC 4954 form some servers add for old clients.
        let first = l.split_whitespace().next()?.split('=').next()?;
        first.eq_ignore_ascii_case(keyword).then_some(l.as_str())
    })
}

/// A warn finding for a probe that could not run: missing evidence is never a pass.
pub(crate) fn untested(control: &'static str, check: &str, e: &ProbeError) -> Finding {
    Finding::warn(
        control,
        check,
        format!("could not test: {e}"),
        "run the audit again; if the server refuses the probe, test this by hand",
    )
}

/// Runs every probe against `target`. `Err` when the server cannot be reached at all (the audit
/// could not run: exit status 2).
pub async fn audit(target: &Target) -> Result<Vec<Finding>, String> {
    let mut p = Probe {
        target,
        pacer: Pacer::new(target.rate),
        server_name: None,
        ehlo: None,
    };
    let mut out = banner::probe(&mut p)
        .await
        .map_err(|e| format!("{}: {e}", target.addr(target.port)))?;
    out.extend(commands::probe(&mut p).await);
    out.extend(relay::probe(&mut p).await);
    out.extend(auth::probe(&mut p).await);
    out.extend(tls::probe(&mut p).await);
    out.extend(limits::probe(&mut p).await);
    out.extend(smuggling::probe(&mut p).await);
    if target.domain.is_some() {
        out.extend(dns::probe(target).await);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            Target::parse_host("mx.example").unwrap(),
            ("mx.example".into(), 25)
        );
        assert_eq!(
            Target::parse_host("127.0.0.1:2525").unwrap(),
            ("127.0.0.1".into(), 2525)
        );
        assert_eq!(Target::parse_host("[::1]:26").unwrap(), ("::1".into(), 26));
        assert_eq!(Target::parse_host("::1").unwrap(), ("::1".into(), 25));
        assert!(Target::parse_host("mx:port").is_err());
        assert!(Target::parse_host("").is_err());
    }

    #[test]
    fn a_nonsense_rate_paces_at_one_per_second() {
        assert_eq!(Pacer::new(0.0).interval, Duration::from_secs(1));
        assert_eq!(Pacer::new(f64::NAN).interval, Duration::from_secs(1));
        assert_eq!(Pacer::new(4.0).interval, Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_pauses_between_connections_and_stops_at_the_cap() {
        let mut p = Pacer::new(2.0);
        let t0 = tokio::time::Instant::now();
        for _ in 0..MAX_CONNECTIONS {
            p.next().await.unwrap();
        }
        assert_eq!(
            t0.elapsed(),
            Duration::from_millis(500) * (MAX_CONNECTIONS - 1)
        );
        assert_eq!(p.next().await, Err(ProbeError::Budget));
    }
}
