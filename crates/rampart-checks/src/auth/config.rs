//! Configuration of the inbound authentication check (`[auth]`), with its secure defaults.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[auth]`: SPF, DKIM, DMARC and ARC on inbound mail (AL-2.4, NC-2.1.7).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The authserv-id written in our `Authentication-Results` headers (RFC 8601 section 2.5),
    /// and the one whose forged copies are removed from incoming mail. Unset: the server's
    /// host name.
    pub authserv_id: Option<String>,
    /// DNS servers to ask, as `IP` (port 53) or `IP:port` / `[IPv6]:port`, over UDP then TCP.
    /// Empty: the system resolver (`/etc/resolv.conf`). Use a validating resolver you trust.
    pub dns_servers: Vec<DnsServer>,
    /// How long to wait for one DNS answer, in milliseconds (each query is tried twice).
    pub dns_timeout_ms: u64,
    /// Upper bound on the time all the authentication lookups of one message may take, in
    /// seconds; past it, the message is treated as if DMARC had a temporary DNS error.
    pub check_timeout_secs: u64,
    /// How many DNS answers (of each record type) are kept, for at most their TTL.
    pub dns_cache_entries: usize,
    /// What to do when a temporary DNS error in SPF decides the outcome (an aligned SPF result
    /// that might have been a pass, under a DMARC policy of reject or quarantine, or for a
    /// From in one of our domains): `tempfail` (451 4.7.x, the sender retries), `quarantine`,
    /// or `accept`.
    pub spf_temperror: TempErrorAction,
    /// The same, for a temporary DNS error fetching a DKIM key whose signature would align.
    pub dkim_temperror: TempErrorAction,
    /// The same, for a temporary DNS error fetching the DMARC record itself.
    pub dmarc_temperror: TempErrorAction,
    /// Forwarders (mailing lists, forwarding services) whose mail is accepted although it fails
    /// a DMARC policy of reject or quarantine. Every override is recorded in the verdict reason.
    pub trusted_forwarders: TrustedForwarders,
    /// ARC sealing (RFC 8617): when set, messages we deliver after changing them (the
    /// `[External]` tag) carry an ARC set with our results, so downstream receivers can still
    /// trust them. Unset: no sealing.
    pub arc_seal: Option<ArcSealConfig>,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            authserv_id: None,
            dns_servers: Vec::new(),
            dns_timeout_ms: 5_000,
            check_timeout_secs: 30,
            dns_cache_entries: 4_096,
            spf_temperror: TempErrorAction::TempFail,
            dkim_temperror: TempErrorAction::TempFail,
            dmarc_temperror: TempErrorAction::TempFail,
            trusted_forwarders: TrustedForwarders::default(),
            arc_seal: None,
        }
    }
}

impl AuthConfig {
    /// Checks the settings without building the check, for the configuration loader: every
    /// problem as (key under the check's table, one-line message). The ARC key is read and
    /// parsed, so a bad key is found before the server starts rather than at `serve`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(id) = &self.authserv_id {
            if !is_authserv_id(id) {
                problems.push((
                    "authserv_id".to_string(),
                    format!("`{id}` is not a host name; use letters, digits, `-` and `.`"),
                ));
            }
        }
        if self.dns_timeout_ms == 0 {
            problems.push(("dns_timeout_ms".into(), "must be at least 1".into()));
        }
        if self.check_timeout_secs == 0 {
            problems.push(("check_timeout_secs".into(), "must be at least 1".into()));
        }
        if let Some(seal) = &self.arc_seal {
            if !is_authserv_id(&seal.domain) || !seal.domain.contains('.') {
                problems.push((
                    "arc_seal.domain".into(),
                    format!("`{}` is not a domain name", seal.domain),
                ));
            }
            if seal.selector.trim().is_empty() {
                problems.push((
                    "arc_seal.selector".into(),
                    "is empty; name the DKIM selector that publishes the key".into(),
                ));
            }
            if let Err(e) = super::seal::Sealer::load(seal) {
                problems.push((
                    "arc_seal.key_file".into(),
                    format!("{e}; point it at a readable PEM private key (RSA or Ed25519)"),
                ));
            }
        }
        problems
    }
}

/// An authserv-id or domain: not empty, letters, digits, `-`, `.` and `_` only.
pub(crate) fn is_authserv_id(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// What a temporary DNS error does when it decides the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TempErrorAction {
    /// Deliver, with `temperror` in Authentication-Results.
    Accept,
    /// Hold in quarantine.
    Quarantine,
    /// Refuse for now (451 4.7.x); the sending server retries later.
    TempFail,
}

/// `[auth.trusted_forwarders]`: who may override a failing DMARC reject/quarantine policy.
/// The own-domain rule (NC-2.1.7) is not overridden unless `override_own_domain` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedForwarders {
    /// ARC sealer domains (the `d=` of the newest ARC-Seal of a chain that validates). The
    /// override applies only if that sealer's ARC-Authentication-Results report `dmarc=pass`
    /// for the same From domain: a trusted list that sealed a spoof it received does not
    /// launder it.
    pub arc_sealers: Vec<String>,
    /// Client addresses or networks (`192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32`) whose
    /// mail is exempt from DMARC reject/quarantine.
    pub networks: Vec<Network>,
    /// Also let these forwarders deliver mail whose From is one of our own domains without
    /// alignment (NC-2.1.7). Off by default.
    pub override_own_domain: bool,
}

/// `[auth.arc_seal]`: the key that seals ARC sets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArcSealConfig {
    /// The `d=` of the seal: a domain we represent, publishing the public key at
    /// `<selector>._domainkey.<domain>`.
    pub domain: String,
    /// The `s=` of the seal.
    pub selector: String,
    /// PEM private key: RSA (PKCS#1 or PKCS#8, 2048 bits or more; recommended, RFC 8617 names
    /// only rsa-sha256) or Ed25519 (PKCS#8).
    pub key_file: PathBuf,
}

/// A DNS server address; port 53 unless given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsServer(pub SocketAddr);

impl FromStr for DnsServer {
    type Err = String;
    fn from_str(s: &str) -> Result<DnsServer, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(DnsServer(addr));
        }
        s.parse::<IpAddr>()
            .map(|ip| DnsServer(SocketAddr::new(ip, 53)))
            .map_err(|_| format!("`{s}` is not an IP address or IP:port"))
    }
}

impl From<SocketAddr> for DnsServer {
    fn from(addr: SocketAddr) -> DnsServer {
        DnsServer(addr)
    }
}

impl Serialize for DnsServer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DnsServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DnsServer, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An address or network; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Network, String> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Network(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Network(IpNet::from(ip)))
            .map_err(|_| format!("`{s}` is not an IP address or network (CIDR)"))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Network, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict() {
        let c = AuthConfig::default();
        assert_eq!(c.spf_temperror, TempErrorAction::TempFail);
        assert_eq!(c.dkim_temperror, TempErrorAction::TempFail);
        assert_eq!(c.dmarc_temperror, TempErrorAction::TempFail);
        assert!(c.trusted_forwarders.arc_sealers.is_empty());
        assert!(c.trusted_forwarders.networks.is_empty());
        assert!(!c.trusted_forwarders.override_own_domain);
        assert!(c.arc_seal.is_none());
    }

    #[test]
    fn parses_addresses_and_networks() {
        assert_eq!(
            "192.0.2.53".parse::<DnsServer>().unwrap().0,
            "192.0.2.53:53".parse().unwrap()
        );
        assert_eq!(
            "[::1]:5353".parse::<DnsServer>().unwrap().0,
            "[::1]:5353".parse().unwrap()
        );
        assert!("dns.example".parse::<DnsServer>().is_err());
        let n: Network = "198.51.100.9/24".parse().unwrap();
        assert!(n.contains("198.51.100.200".parse().unwrap()));
        assert!(!n.contains("198.51.101.1".parse().unwrap()));
        let one: Network = "2001:db8::1".parse().unwrap();
        assert!(one.contains("2001:db8::1".parse().unwrap()));
        assert!(!one.contains("2001:db8::2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
    }
}
