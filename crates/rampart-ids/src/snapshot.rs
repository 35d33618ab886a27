//! The ban check at accept (NC-2.4.2), at negligible cost: an in-memory copy of the bans in
//! force and of the allow-list, rebuilt from the store when its generation changes. A check
//! truncates the address once per prefix length in use (a handful: /32, /24, /64, /48) and
//! looks each up in a hash map: no database query, no lock held past an `Arc` clone.

use ipnet::IpNet;
use rampart_store::NetBan;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Default)]
pub struct Snapshot {
    /// Bans by prefix length and family: network → expiry (None: permanent).
    by_prefix: Vec<(bool, u8, HashMap<IpNet, Option<i64>>)>,
    /// Networks never banned: the configuration's and the store's.
    allow: Vec<IpNet>,
    /// How many bans this holds.
    pub len: usize,
}

impl Snapshot {
    pub fn new(bans: &[NetBan], allow: Vec<IpNet>) -> Snapshot {
        let mut s = Snapshot {
            allow,
            ..Default::default()
        };
        for b in bans {
            let Ok(net) = b.network.parse::<IpNet>() else {
                tracing::warn!(network = %b.network, "a stored ban names no network; ignored");
                continue;
            };
            let key = (matches!(net, IpNet::V6(_)), net.prefix_len());
            let i = match s.by_prefix.iter().position(|(v6, p, _)| (*v6, *p) == key) {
                Some(i) => i,
                None => {
                    s.by_prefix.push((key.0, key.1, HashMap::new()));
                    s.by_prefix.len() - 1
                }
            };
            s.by_prefix[i].2.insert(net, b.expires);
            s.len += 1;
        }
        s
    }

    /// The banned network holding `ip` at `now` (microseconds), if any.
    pub fn banned(&self, ip: IpAddr, now: i64) -> Option<IpNet> {
        let ip = crate::net::canonical(ip);
        let v6 = ip.is_ipv6();
        for (fam, prefix, nets) in &self.by_prefix {
            if *fam != v6 {
                continue;
            }
            let Ok(net) = IpNet::new(ip, *prefix) else {
                continue;
            };
            let net = net.trunc();
            if let Some(exp) = nets.get(&net) {
                if exp.is_none_or(|e| e > now) {
                    return Some(net);
                }
            }
        }
        None
    }

    pub fn allowed(&self, ip: IpAddr) -> bool {
        let ip = crate::net::canonical(ip);
        self.allow.iter().any(|n| n.contains(&ip))
    }

    /// Networks banned at `now` inside `outer`.
    pub fn banned_inside(&self, outer: &IpNet, now: i64) -> usize {
        self.by_prefix
            .iter()
            .flat_map(|(_, _, nets)| nets.iter())
            .filter(|(n, exp)| {
                n.prefix_len() > outer.prefix_len()
                    && outer.contains(*n)
                    && exp.is_none_or(|e| e > now)
            })
            .count()
    }
}
