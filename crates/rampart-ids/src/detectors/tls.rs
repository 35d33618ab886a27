//! TLS handshake failures and garbage (NC-2.4.1), on STARTTLS, implicit TLS and HTTPS.
//! `[ids.tls]`, default 20 in 10 minutes from one network: a client with an old TLS stack
//! fails a few times and gives up; a scanner probing versions and ciphers keeps going.

use super::{clip, Detector, Observation};
use std::net::IpAddr;

pub fn handshake_failed(ip: IpAddr, error: &str) -> Observation {
    Observation {
        detector: Detector::Tls,
        ip,
        account: None,
        key: None,
        evidence: format!("TLS handshake failed: {}", clip(error)),
    }
}
