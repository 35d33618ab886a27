//! Networks: which network a ban of an address covers, and parsing what an administrator types.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

/// The network of `prefix_v4` (IPv4) or `prefix_v6` (IPv6) bits that holds `ip`. An IPv4 address
/// mapped into IPv6 (`::ffff:192.0.2.1`, a dual-stack socket) is taken as the IPv4 address.
pub fn network_of(ip: IpAddr, prefix_v4: u8, prefix_v6: u8) -> IpNet {
    match canonical(ip) {
        IpAddr::V4(a) => IpNet::V4(
            Ipv4Net::new(a, prefix_v4.min(32))
                .unwrap_or_else(|_| Ipv4Net::from(a))
                .trunc(),
        ),
        IpAddr::V6(a) => IpNet::V6(
            Ipv6Net::new(a, prefix_v6.min(128))
                .unwrap_or_else(|_| Ipv6Net::from(a))
                .trunc(),
        ),
    }
}

/// `ip`, with an IPv4-mapped IPv6 address turned back into IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address (`192.0.2.7`: that address alone) or a network (`198.51.100.0/24`), as the
/// administrator writes it; the network is truncated to its prefix.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(canonical(ip))),
        Err(_) => Err(format!(
            "`{s}` is neither an address nor a network (e.g. 192.0.2.7, 198.51.100.0/24, 2001:db8::/64)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_4_2_ipv6_is_banned_by_its_64_and_ipv4_by_the_address() {
        let ip: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        assert_eq!(network_of(ip, 32, 64).to_string(), "2001:db8:1:2::/64");
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(network_of(ip, 32, 64).to_string(), "192.0.2.77/32");
        assert_eq!(network_of(ip, 24, 64).to_string(), "192.0.2.0/24");
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap();
        assert_eq!(network_of(mapped, 32, 64).to_string(), "192.0.2.77/32");
        assert_eq!(
            parse_network("198.51.100.9/24").unwrap().to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            parse_network("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert!(parse_network("nonsense").is_err());
    }
}
