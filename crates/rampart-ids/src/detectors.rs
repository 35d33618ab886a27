//! The detectors (NC-2.4.1), one module each. A detector turns what a listener saw into an
//! [`Observation`]; the engine ([`crate::Ids::observe`]) counts observations per client
//! network (per account for `auth_account`) in the detector's window and bans past its
//! threshold. Thresholds and windows are `[ids.<detector>]` in the configuration; the defaults
//! are documented in `rampart_config::ids` and in each module here.

pub mod auth;
pub mod flood;
pub mod harvest;
pub mod http_scan;
pub mod protocol;
pub mod relay;
pub mod tls;

use rampart_config::{IdsConfig, Threshold};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    Auth,
    AuthAccount,
    Harvest,
    Relay,
    Protocol,
    Tls,
    HttpScan,
    Flood,
}

impl Detector {
    /// The name in the configuration, the trace and `rampart ban list`.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Auth => "auth",
            Detector::AuthAccount => "auth_account",
            Detector::Harvest => "harvest",
            Detector::Relay => "relay",
            Detector::Protocol => "protocol",
            Detector::Tls => "tls",
            Detector::HttpScan => "http_scan",
            Detector::Flood => "flood",
        }
    }

    /// The reason a ban gives, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Detector::Auth => "authentication brute force from the address",
            Detector::AuthAccount => "authentication brute force on one account",
            Detector::Harvest => "directory harvest (unknown recipients)",
            Detector::Relay => "relay probing (refused relays)",
            Detector::Protocol => "protocol abuse",
            Detector::Tls => "TLS handshake failures",
            Detector::HttpScan => "HTTP scan (paths scanners look for)",
            Detector::Flood => "connection flood",
        }
    }

    pub fn threshold(self, cfg: &IdsConfig) -> Threshold {
        match self {
            Detector::Auth => cfg.auth,
            Detector::AuthAccount => cfg.auth_account,
            Detector::Harvest => cfg.harvest,
            Detector::Relay => cfg.relay,
            Detector::Protocol => cfg.protocol,
            Detector::Tls => cfg.tls,
            Detector::HttpScan => cfg.http_scan,
            Detector::Flood => cfg.flood,
        }
    }
}

/// One thing a listener saw from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub detector: Detector,
    pub ip: IpAddr,
    /// Counted against this account instead of the client's network (`auth_account`).
    pub account: Option<String>,
    /// Observations with the same key count once in a window (the same unknown recipient, the
    /// same wrong password); None: each counts.
    pub key: Option<u64>,
    /// What was seen, for the trace and the ban's evidence.
    pub evidence: String,
}

/// A short key for text that is counted once (not a secret: passwords use [`auth`]'s keyed hash).
pub(crate) fn key_of(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.to_ascii_lowercase().hash(&mut h);
    h.finish()
}

/// Client-supplied text made safe and short for the evidence.
pub(crate) fn clip(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(120)
        .collect()
}
