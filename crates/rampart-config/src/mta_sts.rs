//! The MTA-STS policy this server publishes for the domains it represents (RFC 8461 section 3),
//! served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` and announced by the
//! `_mta-sts.<domain>` TXT record that `rampart dns-records` prints.
//!
//! One policy for every represented domain: their mail all reaches the same MX host(s).

use crate::report::{ConfigError, Locator};
use crate::{is_hostname, Config};
use serde::{Deserialize, Serialize};

/// The policy's mode (RFC 8461 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StsMode {
    /// Senders deliver even when TLS or the certificate fails, and report it (TLS-RPT). The
    /// default: `enforce` with a certificate no sender can verify (the self-signed default)
    /// would stop all mail from MTA-STS senders.
    Testing,
    /// Senders refuse to deliver without TLS and a certificate valid for an `mx` name.
    Enforce,
    /// Senders forget any policy they cached: the way to withdraw one.
    None,
}

impl StsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StsMode::Testing => "testing",
            StsMode::Enforce => "enforce",
            StsMode::None => "none",
        }
    }
}

/// `[mta_sts]`: the published policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtaStsConfig {
    /// `testing` (default), `enforce` or `none`. Raise to `enforce` once the certificate is
    /// publicly trusted (`rampart dns-records` says when it is).
    pub mode: StsMode,
    /// MX host names (or `*.example.org` patterns) senders may deliver to. Empty: this server's
    /// `hostname`.
    pub mx: Vec<String>,
    /// Seconds a sender keeps the policy (RFC 8461 section 3.2: at most 31557600). One week.
    pub max_age: u64,
}

/// Longest `max_age` RFC 8461 section 3.2 allows (one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

impl Default for MtaStsConfig {
    fn default() -> Self {
        MtaStsConfig {
            mode: StsMode::Testing,
            mx: Vec::new(),
            max_age: 604_800,
        }
    }
}

impl MtaStsConfig {
    /// The MX names of the policy: those configured, or `hostname`.
    pub fn mx_names(&self, hostname: &str) -> Vec<String> {
        if self.mx.is_empty() {
            vec![hostname.trim_end_matches('.').to_ascii_lowercase()]
        } else {
            self.mx
                .iter()
                .map(|m| m.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect()
        }
    }

    /// The policy file as served (RFC 8461 section 3.2): `key: value` lines ending in CRLF,
    /// `version` first, one `mx` line per name.
    pub fn policy_text(&self, hostname: &str) -> String {
        let mut out = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for mx in self.mx_names(hostname) {
            out.push_str(&format!("mx: {mx}\r\n"));
        }
        out.push_str(&format!("max_age: {}\r\n", self.max_age));
        out
    }
}

/// The policy id of the `_mta-sts` TXT record for `policy` (RFC 8461 section 3.1: it must
/// change whenever the policy does): FNV-1a of the text, 64 bits, in hex. 16 characters of
/// `[0-9a-f]`, within the 32 alphanumerics the RFC allows.
pub fn policy_id(policy: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in policy.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let m = &config.mta_sts;
    if m.max_age == 0 || m.max_age > MAX_AGE_LIMIT {
        errors.push(loc.at(
            "mta_sts.max_age",
            format!("must be from 1 to {MAX_AGE_LIMIT} seconds (RFC 8461 section 3.2)"),
        ));
    }
    for mx in &m.mx {
        let name = mx.trim().strip_prefix("*.").unwrap_or(mx.trim());
        if !is_hostname(name) {
            errors.push(loc.at(
                "mta_sts.mx",
                format!("`{mx}` is not a host name or a `*.` pattern (RFC 8461 section 3.2)"),
            ));
        }
    }
}

/// How `[dns]` answers are trusted to be DNSSEC-validated (for DANE, RFC 7672).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dnssec {
    /// No DNSSEC: no DANE; outbound TLS follows the other policies.
    #[default]
    Off,
    /// Trust the AD bit of answers from the `[dns]` servers, which must all be on loopback: a
    /// validating resolver on this host (e.g. unbound). An AD bit crossing a network could be
    /// forged by anyone on the path (RFC 6698 section 4.1).
    AdFromLoopback,
}

pub(crate) fn check_dnssec(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    if config.dns.dnssec == Dnssec::AdFromLoopback
        && (config.dns.servers.is_empty()
            || config.dns.servers.iter().any(|s| !s.ip().is_loopback()))
    {
        errors.push(loc.at(
            "dns.dnssec",
            "\"ad-from-loopback\" needs `servers` on loopback only, e.g. [\"127.0.0.1:53\"] for a validating resolver (unbound) on this host",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_text_is_the_rfc_format_with_crlf() {
        let c = MtaStsConfig::default();
        assert_eq!(
            c.policy_text("MX.Example.Org."),
            "version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\nmax_age: 604800\r\n"
        );
    }

    #[test]
    fn id_changes_with_the_policy() {
        let a = MtaStsConfig::default();
        let b = MtaStsConfig {
            mode: StsMode::Enforce,
            ..MtaStsConfig::default()
        };
        let (ia, ib) = (
            policy_id(&a.policy_text("h")),
            policy_id(&b.policy_text("h")),
        );
        assert_ne!(ia, ib);
        assert_eq!(ia, policy_id(&a.policy_text("h")));
        assert_eq!(ia.len(), 16);
        assert!(ia.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
