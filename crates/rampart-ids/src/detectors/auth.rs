//! Authentication brute force (NC-2.4.1), on SMTP AUTH, JMAP and the webmail. Two counts:
//!
//! - per client network (`[ids.auth]`, default 10 in 15 minutes): failures counted once per
//!   distinct (account, password), so one address trying many accounts or many passwords is
//!   banned, while a phone repeating a stale password counts once and does not lock out an
//!   office behind one NAT address;
//! - per account (`[ids.auth_account]`, default 20 in an hour): failures counted once per
//!   distinct (client network, password), so many addresses trying one account are caught; each
//!   address failing on the account past the threshold is banned.
//!
//! The password is never kept: only an HMAC-SHA-256 of it under a key made at start and held
//! in memory (the counters are in memory too), truncated to 64 bits.

use super::{clip, Detector, Observation};
use std::net::IpAddr;

/// The keyed hash of a failed password; random per process. Also the SMTP AUTH guard's
/// (`rampart_smtp::limits::AuthGuard`), which counts a repeated wrong password once the same way.
pub struct PasswordKey(ring::hmac::Key);

impl PasswordKey {
    pub fn random() -> PasswordKey {
        let bytes: [u8; 32] = rampart_store::random_bytes();
        PasswordKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
    }

    /// HMAC-SHA-256 of `parts` (each ended by a NUL, so `["ab", "c"]` and `["a", "bc"]`
    /// differ), truncated to 64 bits: enough to tell repeats apart in a window, useless to
    /// recover a password from.
    pub fn tag(&self, parts: &[&str]) -> u64 {
        let mut ctx = ring::hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p.as_bytes());
            ctx.update(&[0]);
        }
        let t = ctx.sign();
        let mut b = [0u8; 8];
        b.copy_from_slice(&t.as_ref()[..8]);
        u64::from_le_bytes(b)
    }
}

/// A failed login of `account` with `password` from `ip` (on `service`): one observation for
/// the address, one for the account.
pub fn failed_login(
    key: &PasswordKey,
    ip: IpAddr,
    network: &str,
    account: &str,
    password: &str,
    service: &str,
) -> [Observation; 2] {
    let account = account.to_ascii_lowercase();
    let evidence = format!("failed {service} login for {}", clip(&account));
    [
        Observation {
            detector: Detector::Auth,
            ip,
            account: None,
            key: Some(key.tag(&["ip", &account, password])),
            evidence: evidence.clone(),
        },
        Observation {
            detector: Detector::AuthAccount,
            ip,
            account: Some(account.clone()),
            key: Some(key.tag(&["account", network, password])),
            evidence,
        },
    ]
}
