//! Connection floods (NC-2.4.1): connections from one network on all SMTP listeners together.
//! `[ids.flood]`, default 300 in a minute: far above a busy relay's need (it reuses
//! connections), and the connection limits (NC-2.1.8) already bound what is open at once; this
//! bans the network that keeps opening them.

use super::{Detector, Observation};
use std::net::IpAddr;

pub fn connection(ip: IpAddr, listener: &str) -> Observation {
    Observation {
        detector: Detector::Flood,
        ip,
        account: None,
        key: None,
        evidence: format!("connection to {listener}"),
    }
}
