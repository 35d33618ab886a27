//! Relay probing (NC-2.4.1): RCPT for a foreign domain from a client that may not relay
//! (550 5.7.1). `[ids.relay]`, default 5 distinct refused relay recipients from one network in
//! 10 minutes: no legitimate client is refused a relay more than once or twice.

use super::{clip, key_of, Detector, Observation};
use std::net::IpAddr;

pub fn refused_relay(ip: IpAddr, recipient: &str) -> Observation {
    Observation {
        detector: Detector::Relay,
        ip,
        account: None,
        key: Some(key_of(recipient)),
        evidence: format!("relay refused to {}", clip(recipient)),
    }
}
