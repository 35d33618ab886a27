//! DANE for SMTP (RFC 7672, RFC 7671): whether a secure TLSA RRset binds an MX host's
//! certificate, and the TLS client configuration that enforces it.
//!
//! ```text
//! lookup(dns, domain, mx host, port)
//!   MX of domain      secure? ── no ──▶ Insecure (RFC 7672 2.2.1: an insecure MX RRset, no DANE)
//!   A and AAAA of mx host (CNAMEs followed)
//!                     secure? ── no ──▶ Insecure (2.2.2: addresses must be secure first)
//!   TLSA _port._tcp.<expanded name>, then _port._tcp.<mx host> (2.2.2)
//!        secure, records ──▶ Secure(usable records)  TLS mandatory, certificate must match
//!        secure NODATA/NXDOMAIN, or insecure ──▶ the next name; none left: Insecure
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
//! When the MX host name is an alias, its secure CNAME chain gives the expanded name; TLSA
//! records are looked up there first, then at the MX host name (RFC 7672 section 2.2.2). The
//! name the records were found at is, beside the MX host name (the SNI sent), a reference
//! identifier for DANE-TA (section 3.2.3).

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
    Secure {
        records: Vec<Tlsa>,
        /// The TLSA base domain when it is not the MX host name (the CNAME-expanded name): a
        /// name the certificate may carry for DANE-TA.
        base: Option<String>,
    },
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
        DaneState::Secure { records, base } => Some(TlsMode {
            required: true,
            config: verify::client_config(records, base),
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
    // AL-1.1, RFC 7672 section 2.2.2: the host's address records, A and AAAA both, must be
    // secure before its TLSA records are trusted (an attacker who forged an address would
    // forge the rest); a secure denial of one type counts as secure.
    let mut answers = Vec::with_capacity(2);
    for rtype in [RecordType::A, RecordType::AAAA] {
        match ask(host.to_string(), rtype).await {
            Ok(a) => answers.push((rtype, a)),
            Err(e) => return DaneState::Failed(e),
        }
    }
    let expanded = match secure_addresses(host, &answers) {
        Ok(expanded) => expanded,
        Err(state) => return state,
    };
    // RFC 7672 section 2.2.2: an alias's expanded name first, then the MX host name.
    let bases: Vec<String> = expanded
        .iter()
        .cloned()
        .chain(std::iter::once(host.trim_end_matches('.').to_string()))
        .collect();
    for base in bases {
        let name = format!("_{port}._tcp.{base}");
        let t = match ask(name.clone(), RecordType::TLSA).await {
            Ok(a) => a,
            Err(e) => return DaneState::Failed(e),
        };
        if let Some(s) = failure(&t, "TLSA", &name) {
            return s;
        }
        if let Some(records) = secure_tlsa(&t) {
            let base = Some(base).filter(|b| !b.eq_ignore_ascii_case(host.trim_end_matches('.')));
            return DaneState::Secure {
                records: records.into_iter().filter(Tlsa::usable).collect(),
                base,
            };
        }
    }
    DaneState::Insecure
}

/// The TLSA records of a secure answer; None for NODATA, NXDOMAIN or an insecure answer
/// (RFC 7672 section 2.2: only a validated RRset counts).
fn secure_tlsa(t: &query::Answer) -> Option<Vec<Tlsa>> {
    if !t.authentic || t.rcode == ResponseCode::NXDomain {
        return None;
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
    Some(records).filter(|r| !r.is_empty())
}

/// RFC 7672 section 2.2.2: whether the address answers (A, AAAA) of `host` are all secure.
/// Ok: they are, with the CNAME-expanded name of `host` when it is an alias; Err: the state
/// that follows (Insecure, or the failure of a lookup).
fn secure_addresses(
    host: &str,
    answers: &[(RecordType, query::Answer)],
) -> Result<Option<String>, DaneState> {
    let mut expanded = None;
    for (rtype, a) in answers {
        let what = rtype.to_string();
        if let Some(s) = failure(a, &what, host) {
            return Err(s);
        }
        if !a.authentic {
            return Err(DaneState::Insecure);
        }
        expanded = expanded.or_else(|| cname_target(host, &a.answers));
    }
    Ok(expanded)
}

/// The end of the CNAME chain that starts at `host` in `answers`, when `host` is an alias.
fn cname_target(host: &str, answers: &[hickory_resolver::proto::rr::Record]) -> Option<String> {
    let norm = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    let mut current = norm(host);
    // Each step uses one record: a loop in the answer cannot run forever.
    for _ in 0..answers.len() {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if norm(&r.name.to_ascii()) == current => Some(norm(&c.0.to_ascii())),
            _ => None,
        });
        match next {
            Some(n) => current = n,
            None => break,
        }
    }
    Some(current).filter(|c| *c != norm(host))
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

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME};
    use hickory_resolver::proto::rr::{Name, Record};

    fn answer(authentic: bool, records: Vec<Record>) -> query::Answer {
        query::Answer {
            rcode: ResponseCode::NoError,
            authentic,
            answers: records,
            ede: None,
        }
    }

    fn name(n: &str) -> Name {
        Name::from_ascii(n).unwrap()
    }

    fn cname(from: &str, to: &str) -> Record {
        Record::from_rdata(name(from), 300, RData::CNAME(CNAME(name(to))))
    }

    #[test]
    fn al_1_1_insecure_aaaa_means_no_dane_even_with_a_secure_a() {
        let a = answer(
            true,
            vec![Record::from_rdata(
                name("mx.example."),
                300,
                RData::A(A::new(192, 0, 2, 1)),
            )],
        );
        let aaaa = answer(
            false,
            vec![Record::from_rdata(
                name("mx.example."),
                300,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            )],
        );
        let got = secure_addresses(
            "mx.example",
            &[(RecordType::A, a.clone()), (RecordType::AAAA, aaaa)],
        );
        assert_eq!(got, Err(DaneState::Insecure));
        let insecure_a = answer(false, a.answers.clone());
        let secure_nodata = answer(true, vec![]);
        let got = secure_addresses(
            "mx.example",
            &[
                (RecordType::A, insecure_a),
                (RecordType::AAAA, secure_nodata.clone()),
            ],
        );
        assert_eq!(got, Err(DaneState::Insecure));
        // Both secure (one a validated NODATA): DANE may apply, no alias.
        let got = secure_addresses(
            "mx.example",
            &[(RecordType::A, a), (RecordType::AAAA, secure_nodata)],
        );
        assert_eq!(got, Ok(None));
    }

    #[test]
    fn al_1_1_a_failed_address_lookup_is_never_no_dane() {
        let mut servfail = answer(false, vec![]);
        servfail.rcode = ResponseCode::ServFail;
        let got = secure_addresses(
            "mx.example",
            &[
                (RecordType::A, answer(true, vec![])),
                (RecordType::AAAA, servfail),
            ],
        );
        assert!(matches!(got, Err(DaneState::Failed(_))), "{got:?}");
    }

    #[test]
    fn rfc_7672_2_2_2_the_cname_chain_gives_the_expanded_name() {
        let records = vec![
            cname("mx.example.", "b.example."),
            cname("b.example.", "host.provider.example."),
            Record::from_rdata(
                name("host.provider.example."),
                300,
                RData::A(A::new(192, 0, 2, 1)),
            ),
        ];
        assert_eq!(
            cname_target("MX.example.", &records).as_deref(),
            Some("host.provider.example")
        );
        assert_eq!(cname_target("other.example", &records), None);
        // A loop ends (back at the start: no expanded name).
        let looped = vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "a.example."),
        ];
        assert_eq!(cname_target("a.example", &looped), None);
        let got = secure_addresses(
            "mx.example",
            &[
                (RecordType::A, answer(true, records)),
                (RecordType::AAAA, answer(true, vec![])),
            ],
        );
        assert_eq!(got, Ok(Some("host.provider.example".to_string())));
    }
}
