//! HTTP scans (NC-2.4.1): requests answered 404 for paths no Rampart page has and scanners look
//! for (`/wp-login.php`, `/.env`, `*.php`; see `rampart_http::guard::is_probe`). `[ids.http_scan]`,
//! default 5 distinct such paths from one network in 10 minutes. A mistyped address of a real
//! page is not a probe and is never counted.

use super::{clip, key_of, Detector, Observation};
use std::net::IpAddr;

pub fn probe(ip: IpAddr, path: &str) -> Observation {
    Observation {
        detector: Detector::HttpScan,
        ip,
        account: None,
        key: Some(key_of(path)),
        evidence: format!("request for {}", clip(path)),
    }
}
