//! Directory harvest (NC-2.4.1): RCPT for local addresses that do not exist (550 5.1.1).
//! `[ids.harvest]`, default 20 distinct unknown recipients from one network in 10 minutes: a
//! sender with a few typos stays far below; a dictionary run crosses it in one session.

use super::{clip, key_of, Detector, Observation};
use std::net::IpAddr;

pub fn unknown_recipient(ip: IpAddr, recipient: &str) -> Observation {
    Observation {
        detector: Detector::Harvest,
        ip,
        account: None,
        key: Some(key_of(recipient)),
        evidence: format!("unknown recipient {}", clip(recipient)),
    }
}
