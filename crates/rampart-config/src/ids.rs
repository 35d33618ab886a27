//! Intrusion detection and prevention (NC-2.4.1, NC-2.4.2, NC-2.4.3): what each detector counts
//! and when it bans, how long bans last, who is never banned, and how long the IDS log is kept.
//!
//! ```toml
//! [ids]
//! allow = ["192.0.2.0/24"]          # never banned (the agency's own networks)
//! ban_secs = [900, 3600, 86400, 604800]
//! [ids.harvest]
//! count = 20
//! window_secs = 600
//! ```

use crate::report::{ConfigError, Locator};
use crate::Config;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A detector's threshold: `count` events from one client address within `window_secs` ban it.
/// The window is fixed (it starts at the first event and restarts after it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Events that ban; 0 switches the detector off.
    pub count: u32,
    /// The window they are counted in, in seconds.
    pub window_secs: u64,
}

const fn t(count: u32, window_secs: u64) -> Threshold {
    Threshold { count, window_secs }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdsConfig {
    /// Detection and bans on; off, nothing is counted or refused (bans stay stored).
    pub enabled: bool,
    /// Networks never banned, by a detector or by `rampart ban add` (the agency's own, a
    /// monitoring host). Empty by default; `rampart ban allow` adds to it in the store.
    pub allow: Vec<IpNet>,
    /// Prefix length banned for an IPv4 address (32: the address alone).
    pub ipv4_prefix: u8,
    /// Prefix length banned for an IPv6 address (64: one site's subnet, as an address inside
    /// it is the client's to choose).
    pub ipv6_prefix: u8,
    /// When this many addresses of one `subnet_ipv4_prefix` (`subnet_ipv6_prefix`) network are
    /// banned at once, the whole network is banned; 0: never.
    pub subnet_after: u32,
    pub subnet_ipv4_prefix: u8,
    pub subnet_ipv6_prefix: u8,
    /// NC-2.4.2: how long the first, second, … ban of a network lasts, in seconds; a ban past
    /// the end of the list lasts its last step. Never permanent unless `permanent_after` says so.
    pub ban_secs: Vec<u64>,
    /// Bans of one network after which the next is permanent; absent: never.
    pub permanent_after: Option<u32>,
    /// NC-2.4.3: days the IDS log (detections, bans, unbans) and ended bans are kept; at least 90.
    pub retention_days: u32,
    /// Failed logins from one address, counted once per distinct (account, password): a client
    /// repeating a stale password counts once (NC-2.4.1).
    pub auth: Threshold,
    /// Failed logins for one account from distinct (address, password): many addresses trying
    /// one account. Each address failing on the account past this is banned.
    pub auth_account: Threshold,
    /// Unknown local recipients (RCPT 550) from one address: directory harvest.
    pub harvest: Threshold,
    /// Refused relay attempts from one address.
    pub relay: Threshold,
    /// Protocol abuse from one address: smuggling attempts, bare CR or LF, early talking,
    /// oversized lines, sessions ended for too many errors.
    pub protocol: Threshold,
    /// Failed TLS handshakes (or garbage where a handshake was due) from one address.
    pub tls: Threshold,
    /// HTTPS requests for paths no Rampart page has and scanners look for (`/wp-login.php`,
    /// `/.env`, `*.php`) from one address.
    pub http_scan: Threshold,
    /// Connections from one address on all listeners together: a flood.
    pub flood: Threshold,
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig {
            enabled: true,
            allow: Vec::new(),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            subnet_after: 4,
            subnet_ipv4_prefix: 24,
            subnet_ipv6_prefix: 48,
            ban_secs: vec![900, 3600, 86_400, 604_800],
            permanent_after: None,
            retention_days: 400,
            auth: t(10, 900),
            auth_account: t(20, 3600),
            harvest: t(20, 600),
            relay: t(5, 600),
            protocol: t(10, 600),
            tls: t(20, 600),
            http_scan: t(5, 600),
            flood: t(300, 60),
        }
    }
}

impl IdsConfig {
    /// Every detector's threshold by its name, for the engine and the checks below.
    pub fn thresholds(&self) -> [(&'static str, Threshold); 8] {
        [
            ("auth", self.auth),
            ("auth_account", self.auth_account),
            ("harvest", self.harvest),
            ("relay", self.relay),
            ("protocol", self.protocol),
            ("tls", self.tls),
            ("http_scan", self.http_scan),
            ("flood", self.flood),
        ]
    }
}

/// The checks of `[ids]`.
pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let ids = &config.ids;
    if ids.retention_days < 90 {
        // NC-2.4.3
        errors.push(loc.at(
            "ids.retention_days",
            "must be at least 90: NC-2.4.3 requires logs to be kept three months",
        ));
    }
    if ids.ban_secs.is_empty() || ids.ban_secs.contains(&0) {
        errors.push(loc.at(
            "ids.ban_secs",
            "must list at least one ban length, each at least 1 second",
        ));
    }
    if !(8..=32).contains(&ids.ipv4_prefix) || !(8..=32).contains(&ids.subnet_ipv4_prefix) {
        errors.push(loc.at(
            "ids.ipv4_prefix",
            "ipv4_prefix and subnet_ipv4_prefix must be from 8 to 32",
        ));
    }
    if !(16..=128).contains(&ids.ipv6_prefix) || !(16..=128).contains(&ids.subnet_ipv6_prefix) {
        errors.push(loc.at(
            "ids.ipv6_prefix",
            "ipv6_prefix and subnet_ipv6_prefix must be from 16 to 128",
        ));
    }
    if ids.subnet_ipv4_prefix > ids.ipv4_prefix || ids.subnet_ipv6_prefix > ids.ipv6_prefix {
        errors.push(loc.at(
            "ids.subnet_ipv4_prefix",
            "a subnet ban must cover a wider network than an address ban",
        ));
    }
    if ids.permanent_after == Some(0) {
        errors.push(loc.at(
            "ids.permanent_after",
            "must be at least 1 (or absent: never permanent)",
        ));
    }
    for (name, th) in ids.thresholds() {
        if th.count > 0 && th.window_secs == 0 {
            errors.push(loc.at(
                &format!("ids.{name}.window_secs"),
                "must be at least 1 second",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn load(toml: &str) -> Result<Config, String> {
        Config::parse(std::path::Path::new("/etc/rampart/rampart.toml"), toml)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nc_2_4_3_ids_retention_below_90_days_is_refused() {
        let e = load("hostname = \"mx.a.example\"\n[ids]\nretention_days = 30\n").unwrap_err();
        assert!(
            e.contains("ids.retention_days") && e.contains("NC-2.4.3"),
            "{e}"
        );
        let c = load("hostname = \"mx.a.example\"\n[ids]\nretention_days = 90\n").unwrap();
        assert_eq!(c.ids.retention_days, 90);
    }

    #[test]
    fn nc_2_4_2_ids_section_parses_and_defaults_are_the_documented_ones() {
        let c = load(
            "hostname = \"mx.a.example\"\n[ids]\nallow = [\"192.0.2.0/24\"]\nban_secs = [1, 2]\n\
             [ids.harvest]\ncount = 3\nwindow_secs = 60\n",
        )
        .unwrap();
        assert_eq!(c.ids.allow.len(), 1);
        assert_eq!(c.ids.ban_secs, [1, 2]);
        assert_eq!(c.ids.harvest.count, 3);
        let d = super::IdsConfig::default();
        assert!(d.allow.is_empty(), "nothing is allowed unless configured");
        assert_eq!(d.ban_secs, [900, 3600, 86_400, 604_800]);
        assert_eq!(d.permanent_after, None, "never permanent unless configured");
        let e = load("hostname = \"mx.a.example\"\n[ids]\nban_secs = []\n").unwrap_err();
        assert!(e.contains("ids.ban_secs"), "{e}");
    }
}
