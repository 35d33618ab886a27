//! DANE for SMTP (RFC 7672, RFC 7671): whether a secure TLSA RRset binds an MX host's
//! certificate, and the TLS client configuration that enforces it.
//!
//! ```text
//! lookup(dns, domain, mx host, port)
//!   MX of domain      secure? ── no ──▶ Insecure (RFC 7672 2.2.1: an insecure MX RRset, no DANE)
//!   A of mx host      secure? ── no ──▶ Insecure (2.2.2: addresses must be secure first)
//!   TLSA _port._tcp.host
//!        secure, records ──▶ Secure(usable records)  TLS mandatory, certificate must match
//!        secure NODATA/NXDOMAIN, or insecure ──▶ Insecure (opportunistic, other policies apply)
//!        SERVFAIL with a DNSSEC error (RFC 8914) ──▶ Bogus   ┐ the host is skipped; with no
//!        SERVFAIL, timeout, network error ──▶ Failed         ┘ other host the message waits
//! ```
//!
//! Validation is by a resolver on loopback (`[dns] dnssec = "ad-from-loopback"`, e.g. unbound),
//! whose AD bit is trusted: see `docs/dane.md` for why not hickory's in-process validation.
//! With `dnssec = "off"` every destination is [`DaneState::Insecure`].
//!
//! DANE takes precedence over MTA-STS (RFC 8461 section 2): a caller that gets
//! [`DaneState::Secure`] uses [`verify::client_config`] and no other policy.
//!
//! Not here: TLSA at the CNAME-expanded name of an MX host (RFC 7672 section 2.2.2 asks for it
//! first); the original name is the one asked.

pub mod query;
pub mod tlsa;
pub mod verify;

use crate::client::{ClientError, TlsMode};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use rampart_config::{DnsConfig, Dnssec};
use std::time::Duration;
pub use tlsa::Tlsa;

/// What DNSSEC says about one MX host's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneState {
    /// A validated TLSA RRset: TLS is mandatory, and the certificate must match one of these
    /// usable records. Empty: every record was unusable (RFC 7672 section 2.2: TLS is still
    /// mandatory, the certificate is not authenticated).
    Secure(Vec<Tlsa>),
    /// No DANE for this host: a validated denial of TLSA, or an unsigned zone on the way.
    Insecure,
    /// The validating resolver found the answer bogus (RFC 4033 section 5): no delivery to it.
    Bogus(String),
    /// The lookup failed (SERVFAIL, timeout): never read as "no DANE" (RFC 7672 section 2.1).
    Failed(String),
}

impl DaneState {
    /// Why the host may not be used now, for the trace; None when it may.
    pub fn refusal(&self) -> Option<String> {
        match self {
            DaneState::Bogus(e) => Some(format!("DANE: {e} (DNSSEC bogus)")),
            DaneState::Failed(e) => Some(format!("DANE: {e}; TLSA state unknown, deferred")),
            _ => None,
        }
    }
}

/// The TLS of a connection to a host in `state`: for [`DaneState::Secure`], TLS required and
/// the TLSA records checked ([`verify::client_config`]); None when DANE does not apply.
pub fn tls_mode(state: DaneState) -> Option<TlsMode> {
    match state {
        DaneState::Secure(records) => Some(TlsMode {
            required: true,
            config: verify::client_config(records),
            implicit: false,
        }),
        _ => None,
    }
}

/// A failed connection under DANE says so in the trace: "held because the host published TLSA
/// records", not just "no STARTTLS".
pub fn explain(dane: bool, e: ClientError) -> ClientError {
    match e {
        ClientError::Transport(t) if dane && !t.contains("DANE") => {
            ClientError::Transport(format!("DANE: {t} (TLSA records published, TLS required)"))
        }
        e => e,
    }
}

/// RFC 8914 info codes that mean the answer failed DNSSEC validation (6 "DNSSEC Bogus" to
/// 12 "NSEC Missing").
const EDE_DNSSEC: std::ops::RangeInclusive<u16> = 6..=12;

/// The DANE state of `host` (an MX host of `domain`, or the domain itself) for SMTP on `port`.
pub async fn lookup(dns: &DnsConfig, domain: &str, host: &str, port: u16) -> DaneState {
    if dns.dnssec != Dnssec::AdFromLoopback {
        return DaneState::Insecure;
    }
    let timeout = Duration::from_secs(dns.timeout_secs.max(1));
    let ask = |name: String, rtype: RecordType| async move {
        query::ask(&dns.servers, timeout, &name, rtype).await
    };
    // RFC 7672 section 2.2.1: DANE only for MX hosts learnt from a secure MX RRset. With no MX
    // at all (the domain is its own host), the domain's secure denial of MX stands for it.
    let mx = match ask(domain.to_string(), RecordType::MX).await {
        Ok(a) => a,
        Err(e) => return DaneState::Failed(e),
    };
    if let Some(s) = failure(&mx, "MX", domain) {
        return s;
    }
    if !mx.authentic {
        return DaneState::Insecure;
    }
    // RFC 7672 section 2.2.2: the host's address records must be secure before its TLSA
    // records are trusted (an attacker who forged the address would forge the rest).
    let a = match ask(host.to_string(), RecordType::A).await {
        Ok(a) => a,
        Err(e) => return DaneState::Failed(e),
    };
    if let Some(s) = failure(&a, "A", host) {
        return s;
    }
    if !a.authentic {
        return DaneState::Insecure;
    }
    let name = format!("_{port}._tcp.{}", host.trim_end_matches('.'));
    let t = match ask(name.clone(), RecordType::TLSA).await {
        Ok(a) => a,
        Err(e) => return DaneState::Failed(e),
    };
    if let Some(s) = failure(&t, "TLSA", &name) {
        return s;
    }
    // RFC 7672 section 2.2: only a validated answer counts; NODATA, NXDOMAIN or an insecure
    // zone mean no DANE.
    if !t.authentic || t.rcode == ResponseCode::NXDomain {
        return DaneState::Insecure;
    }
    let records: Vec<Tlsa> = t
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(x) => Some(Tlsa {
                usage: u8::from(x.cert_usage),
                selector: u8::from(x.selector),
                matching: u8::from(x.matching),
                data: x.cert_data.clone(),
            }),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return DaneState::Insecure;
    }
    DaneState::Secure(records.into_iter().filter(Tlsa::usable).collect())
}

/// A SERVFAIL or other error answer as a state; None for NOERROR and NXDOMAIN.
fn failure(a: &query::Answer, what: &str, name: &str) -> Option<DaneState> {
    match a.rcode {
        ResponseCode::NoError | ResponseCode::NXDomain => None,
        ResponseCode::ServFail if a.ede.is_some_and(|c| EDE_DNSSEC.contains(&c)) => {
            Some(DaneState::Bogus(format!(
                "{what} lookup of {name}: validation failed (extended error {})",
                a.ede.unwrap_or_default()
            )))
        }
        rcode => Some(DaneState::Failed(format!(
            "{what} lookup of {name} answered {rcode}"
        ))),
    }
}
