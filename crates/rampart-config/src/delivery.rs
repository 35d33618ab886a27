//! Sending: DNS resolution and outbound delivery (MX or smarthost, retries, TLS policies).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// DNS resolution.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Name servers (address:port) to ask, e.g. `["127.0.0.1:53"]`. Empty: the system's
    /// /etc/resolv.conf.
    pub servers: Vec<SocketAddr>,
    /// Seconds to wait for one answer.
    pub timeout_secs: u64,
    /// `off` (default) or `ad-from-loopback`: trust the AD bit of the `servers`, which must then
    /// be a validating resolver on loopback. Needed for DANE (RFC 7672) on outbound delivery.
    pub dnssec: crate::Dnssec,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout_secs: 5,
            dnssec: crate::Dnssec::Off,
        }
    }
}

/// Outbound delivery.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Port of the receiving servers (25 on the Internet; another only for tests or special sites).
    pub port: u16,
    /// Seconds between attempts after a temporary failure; the last value repeats.
    pub retry_secs: Vec<u64>,
    /// Seconds after which an undelivered message is returned to its sender (default 5 days).
    pub lifetime_secs: u64,
    /// Connections at once to one destination domain.
    pub max_connections_per_domain: u32,
    /// Outbound connections at once, in total.
    pub max_connections: u32,
    /// Seconds to connect, and to wait for each reply.
    pub timeout_secs: u64,
    /// Relay everything through this host instead of MX delivery, e.g. `"relay.agency.example:587"`.
    pub smarthost: Option<Smarthost>,
    /// Per-destination TLS policy. Without one, TLS is used whenever offered (TLS 1.2+ only, AL-1.1;
    /// a failed handshake is a temporary failure, never a fall back to plain text).
    #[serde(rename = "policy")]
    pub policies: Vec<TlsPolicy>,
    /// Apply receiving domains' MTA-STS policies (RFC 8461): `enforce` makes TLS with a valid
    /// certificate for a listed MX required. A `[[delivery.policy]]` for the domain takes
    /// precedence, and so does DANE.
    pub mta_sts: bool,
    /// Extra CA certificates (PEM) trusted, beside the public web roots, for fetching MTA-STS
    /// policies and for checking MX certificates under them: for a private PKI, and for tests.
    pub mta_sts_ca_file: Option<PathBuf>,
    /// Port the MTA-STS policy is fetched from. RFC 8461 says 443; another value is a test or
    /// diagnostic setting only (a test cannot listen on 443).
    pub mta_sts_port: u16,
    /// Send the daily TLS reports (RFC 8460) to the domains that ask for them in `_smtp._tls`.
    pub tls_reports: bool,
    /// The hour (UTC, 0 to 23) after which a day's TLS reports go, on the day after it: each
    /// domain gets one report per day (RFC 8460 section 4), whenever the server runs past this
    /// hour. `rampart report tls --send-now` sends the reports of the days that are over at once.
    pub tls_reports_hour: u8,
    /// The organisation named in the TLS reports sent; default: the host name.
    pub tls_reports_organization: Option<String>,
    /// The address our own `_smtp._tls` record names (`rua=mailto:...`): TLS reports delivered
    /// to it are parsed and stored, and `rampart report tls` shows them. It must be a local
    /// recipient (user or alias).
    pub tls_reports_address: Option<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            port: 25,
            retry_secs: vec![60, 300, 900, 1800, 3600, 7200, 14_400],
            lifetime_secs: 5 * 86_400,
            max_connections_per_domain: 4,
            max_connections: 64,
            timeout_secs: 60,
            smarthost: None,
            policies: Vec::new(),
            mta_sts: true,
            mta_sts_ca_file: None,
            mta_sts_port: 443,
            tls_reports: true,
            tls_reports_hour: 1,
            tls_reports_organization: None,
            tls_reports_address: None,
        }
    }
}

/// A relay host for all outbound mail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Smarthost {
    /// Host name and port.
    pub host: String,
    pub port: u16,
    /// `starttls` (required on 587/25) or `implicit` (465).
    #[serde(default)]
    pub tls: SmarthostTls,
    /// Verify the relay's certificate against this CA file (PEM); without it, the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// AUTH PLAIN user name, if the relay wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line), readable only by the server's user. Only the path
    /// is configuration: the password itself is never part of it (nor of `rampart config show`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Client certificate chain (PEM) presented to the relay for mutual TLS, with `client_key`
    /// (NC-2.3.4: the store node proves itself to the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// How the smarthost connection gets its TLS. There is no plain-text choice (AL-1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmarthostTls {
    /// STARTTLS after the greeting, required (ports 587 and 25).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
}

/// TLS policy for one destination domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPolicy {
    /// The recipient domain it applies to.
    pub domain: String,
    /// Refuse to deliver without TLS.
    #[serde(default)]
    pub require_tls: bool,
    /// Verify the server certificate against `ca_file` and the MX host name.
    #[serde(default)]
    pub verify: bool,
    /// CA certificates (PEM) to verify with.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}
