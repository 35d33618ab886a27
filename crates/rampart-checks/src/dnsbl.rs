//! DNS blocklists, for connecting IPs (spam, AL-1.2) and for URL domains (URI lists, AL-1.3).
//!
//! A name is listed when an `A` query for `<name>.<zone>` answers with an address in
//! `127.0.0.0/8` that the list's settings accept:
//!
//! - `codes` given: the answer must be one of them (e.g. `127.0.0.2` for Spamhaus SBL);
//! - `bitmask` given: the answer's last octet AND the mask must be non-zero (URIBL/SURBL
//!   style bit fields);
//! - neither: any `127.x.y.z` answer.
//!
//! Whatever the settings, `127.0.0.1` and `127.255.255.0/24` never count: list operators use
//! them to say "query refused" (e.g. a public resolver is blocked), not "listed".
//!
//! The resolver is the caller's (`hickory_resolver::TokioResolver`); every query is bounded
//! by a timeout, and a timeout is reported as such so the caller can choose between a
//! temporary failure and a note in the reason.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

/// One DNS list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsList {
    /// The list's zone, e.g. `zen.spamhaus.org` or `multi.uribl.com`.
    pub zone: String,
    /// Answers that mean "listed". Default: any (see the module documentation).
    #[serde(default)]
    pub codes: Vec<Ipv4Addr>,
    /// Bits of the answer's last octet that mean "listed". Default: not used.
    #[serde(default)]
    pub bitmask: Option<u8>,
}

impl DnsList {
    /// Whether this answer means "listed" for this list.
    pub fn accepts(&self, a: Ipv4Addr) -> bool {
        let o = a.octets();
        if o[0] != 127 || a == Ipv4Addr::new(127, 0, 0, 1) || (o[1] == 255 && o[2] == 255) {
            return false;
        }
        if !self.codes.is_empty() && !self.codes.contains(&a) {
            return false;
        }
        self.bitmask.is_none_or(|m| o[3] & m != 0)
    }

    /// The query name for `label` (reversed IP or domain) in this zone, fully qualified.
    pub fn query_name(&self, label: &str) -> String {
        format!(
            "{}.{}.",
            label.trim_end_matches('.'),
            self.zone.trim_matches('.')
        )
    }
}

/// What one list said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListAnswer {
    /// Listed, with the accepted answers.
    Listed(Vec<Ipv4Addr>),
    NotListed,
    /// No answer within the timeout.
    TimedOut,
    /// Another DNS failure (SERVFAIL, refused, network).
    Failed(String),
}

/// The label for an IP in a DNS list: reversed octets for IPv4, reversed nibbles for IPv6.
pub fn reversed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.join(".")
        }
    }
}

/// Whether an address is worth asking a public list about (not loopback, private,
/// link-local, unspecified or documentation-only ranges other than for tests).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified())
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80)
        }
    }
}

/// Asks one list about one label.
pub async fn query(
    resolver: &TokioResolver,
    list: &DnsList,
    label: &str,
    timeout: Duration,
) -> ListAnswer {
    let name = list.query_name(label);
    match tokio::time::timeout(timeout, resolver.lookup(name.as_str(), RecordType::A)).await {
        Err(_) => ListAnswer::TimedOut,
        Ok(Ok(lookup)) => {
            let hits: Vec<Ipv4Addr> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .filter(|a| list.accepts(*a))
                .collect();
            if hits.is_empty() {
                ListAnswer::NotListed
            } else {
                ListAnswer::Listed(hits)
            }
        }
        Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => ListAnswer::NotListed,
        Ok(Err(hickory_resolver::net::NetError::Timeout)) => ListAnswer::TimedOut,
        Ok(Err(e)) => ListAnswer::Failed(e.to_string()),
    }
}

/// One question for [`query_all`]: a label to look up in a list.
#[derive(Debug, Clone)]
pub struct Question {
    pub label: String,
    pub list: DnsList,
}

/// Asks all questions concurrently, each bounded by `timeout`; answers come back in the order
/// of the questions.
pub async fn query_all(
    resolver: &TokioResolver,
    questions: &[Question],
    timeout: Duration,
) -> Vec<ListAnswer> {
    let mut set = JoinSet::new();
    for (i, q) in questions.iter().enumerate() {
        let resolver = resolver.clone();
        let q = q.clone();
        set.spawn(async move { (i, query(&resolver, &q.list, &q.label, timeout).await) });
    }
    let mut answers = vec![ListAnswer::TimedOut; questions.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, a)) = done {
            answers[i] = a;
        }
    }
    answers
}

/// A resolver for the configured name servers (`address:port`), or the system's when none are
/// given. One place builds it, for the blocklist checks and for outbound delivery alike.
pub fn resolver(
    servers: &[std::net::SocketAddr],
    timeout_secs: u64,
) -> Result<TokioResolver, String> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut opts = ResolverOpts::default();
    opts.timeout = std::time::Duration::from_secs(timeout_secs.max(1));
    opts.attempts = 2;
    let builder = if servers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| format!("reading the system DNS configuration: {e}"))?
    } else {
        let mut rc = ResolverConfig::from_parts(None, vec![], vec![]);
        for s in servers {
            let mut ns = NameServerConfig::udp_and_tcp(s.ip());
            for c in ns.connections.iter_mut() {
                c.port = s.port();
            }
            rc.add_name_server(ns);
        }
        TokioResolver::builder_with_config(rc, TokioRuntimeProvider::default())
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| format!("building the DNS resolver: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_names() {
        let any = DnsList {
            zone: "zen.example.".into(),
            codes: vec![],
            bitmask: None,
        };
        assert!(any.accepts(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(!any.accepts(Ipv4Addr::new(127, 0, 0, 1)), "query refused");
        assert!(
            !any.accepts(Ipv4Addr::new(127, 255, 255, 254)),
            "error code"
        );
        assert!(!any.accepts(Ipv4Addr::new(10, 0, 0, 2)));
        let coded = DnsList {
            codes: vec![Ipv4Addr::new(127, 0, 0, 4)],
            ..any.clone()
        };
        assert!(!coded.accepts(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(coded.accepts(Ipv4Addr::new(127, 0, 0, 4)));
        let mask = DnsList {
            bitmask: Some(0b10),
            ..any.clone()
        };
        assert!(mask.accepts(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(!mask.accepts(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(
            any.query_name(&reversed_ip("192.0.2.10".parse().unwrap())),
            "10.2.0.192.zen.example."
        );
        assert!(reversed_ip("2001:db8::1".parse().unwrap())
            .starts_with("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"));
        assert!(!is_public("10.1.2.3".parse().unwrap()));
        assert!(is_public("192.0.2.10".parse().unwrap()));
    }
}
