//! Protocol abuse (NC-2.4.1): SMTP smuggling attempts and bare CR or LF, talking before the
//! greeting, oversized command lines, sessions ended for too many errors. `[ids.protocol]`,
//! default 10 in 10 minutes from one network: each of these already ends or fails the session,
//! so a client that keeps coming back with them is no mail client.

use super::{clip, Detector, Observation};
use std::net::IpAddr;

pub fn abuse(ip: IpAddr, what: &str) -> Observation {
    Observation {
        detector: Detector::Protocol,
        ip,
        account: None,
        key: None,
        evidence: clip(what),
    }
}
