//! The gateway role (AL-1, NC-2.3.4): domains whose mailboxes live on another server. Mail for
//! them is checked here and forwarded to an internal next hop over verified TLS (AL-1.1), and
//! only for recipients that exist there ([`crate::recipient_verify`]).

use crate::recipient_verify::RecipientVerify;
use crate::SmarthostTls;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[[relay_domain]]`: domains accepted from the Internet and forwarded to an internal server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayDomain {
    /// The domains, e.g. `["agency.example"]`. Each must not also be a local domain.
    pub domains: Vec<String>,
    /// Next hops, host names or addresses, tried in order (the next on a connection failure or
    /// a 4xx greeting).
    pub hosts: Vec<String>,
    /// Port of the next hops.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `starttls` or `implicit`. There is no plain-text choice (AL-1.1).
    #[serde(default)]
    pub tls: SmarthostTls,
    /// CA certificates (PEM) the next hop's certificate is verified against (AL-1.1).
    pub ca_file: PathBuf,
    /// Client certificate chain (PEM) presented for mutual TLS, with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// AUTH PLAIN user name, if the next hop wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the AUTH password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// How the gateway knows, at RCPT, that a recipient exists on the next hop.
    pub verify: RecipientVerify,
}

fn default_port() -> u16 {
    25
}
