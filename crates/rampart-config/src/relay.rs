//! Who may relay (NC-2.1.5) and how much (NC-2.1.8).

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::IpAddr;

/// Relay permission. Authenticated users always relay; otherwise only these networks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Source networks allowed to relay without authenticating, e.g. `["10.1.2.0/24"]`, for
    /// internal applications; a bare address is one host. Empty by default: nothing relays
    /// unauthenticated (NC-2.1.5).
    #[serde(deserialize_with = "networks")]
    pub networks: Vec<IpNet>,
}

impl RelayConfig {
    /// NC-2.1.5: may a client at `ip` relay without authenticating? An IPv4 client seen on an
    /// IPv6 socket (`::ffff:a.b.c.d`) is matched against the IPv4 networks.
    pub fn allows(&self, ip: IpAddr) -> bool {
        contains(&self.networks, ip)
    }
}

/// Is `ip` in one of `networks`? An IPv4 client seen on an IPv6 socket (`::ffff:a.b.c.d`) is
/// matched against the IPv4 networks.
pub fn contains(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    networks.iter().any(|n| n.contains(&ip))
}

/// Parses one network: CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    match s.split_once('/') {
        Some((a, _)) if a.parse::<IpAddr>().is_ok() => {
            let max = if a.contains(':') { 128 } else { 32 };
            Err(format!("`{s}`: prefix must be 0 to {max}"))
        }
        _ => Err(format!(
            "`{s}` is not an IP network; use e.g. 10.0.0.0/8 or a single address"
        )),
    }
}

pub(crate) fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_network(s).map_err(serde::de::Error::custom))
        .collect()
}

/// One rate limit: at most `limit` of `what` per `scope` in `window_secs` (NC-2.1.8). Exceeding it
/// is answered with 451 4.7.1 and recorded in the trace.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// `user` (authenticated identity), `ip` (client address), `domain` (sender's domain) or `global`.
    pub scope: RateScope,
    /// `connections`, `messages` or `recipients`. Connections are counted per `ip` and `global` only.
    pub what: RateWhat,
    /// How many are allowed in the window; at least 1.
    pub limit: u32,
    /// The window, in seconds; at least 1.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateScope {
    User,
    Ip,
    Domain,
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateWhat {
    Connections,
    Messages,
    Recipients,
}

/// The default rate limits. They always apply: a `[[rate_limit]]` with the same scope and what
/// replaces that one default, and the others stay (see [`merge_rate_limits`]).
pub fn default_rate_limits() -> Vec<RateLimit> {
    use RateScope::*;
    use RateWhat::*;
    let r = |scope, what, limit, window_secs| RateLimit {
        scope,
        what,
        limit,
        window_secs,
    };
    vec![
        r(User, Messages, 500, 3600),
        r(User, Recipients, 2000, 3600),
        r(Ip, Connections, 600, 60),
        r(Ip, Messages, 2000, 3600),
        r(Domain, Messages, 20_000, 3600),
        r(Global, Messages, 200_000, 3600),
    ]
}

/// NC-2.1.8: the configured limits, then every default whose scope and what none of them names.
/// One `[[rate_limit]]` therefore tunes one limit instead of silently dropping the other five.
pub fn merge_rate_limits(configured: Vec<RateLimit>) -> Vec<RateLimit> {
    let mut merged = configured;
    for d in default_rate_limits() {
        if !merged
            .iter()
            .any(|c| c.scope == d.scope && c.what == d.what)
        {
            merged.push(d);
        }
    }
    merged
}
