//! NC-2.4.2: the cost of the ban check at accept with 10,000 banned addresses (and a few
//! subnets), as `bench/ban_check_cost.sh` runs it. Prints nanoseconds per check for addresses
//! that are banned and addresses that are not. A measurement, not a test.

use rampart_ids::snapshot::Snapshot;
use rampart_store::NetBan;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let ban = |network: String| NetBan {
        network,
        reason: "bench".into(),
        detector: "bench".into(),
        evidence: String::new(),
        created: 0,
        expires: Some(i64::MAX),
        repeats: 1,
    };
    let mut bans: Vec<NetBan> = (0..n)
        .map(|i| ban(format!("{}/32", Ipv4Addr::from(0x0a00_0000 + i * 7))))
        .collect();
    bans.push(ban("198.51.100.0/24".into()));
    bans.push(ban("2001:db8:1:2::/64".into()));
    let snap = Snapshot::new(&bans, Vec::new());
    let rounds = 1_000_000u32;
    let now = 1;
    let mut hits = 0u32;
    let t = Instant::now();
    for i in 0..rounds {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i % n) * 7));
        hits += u32::from(snap.banned(ip, now).is_some());
    }
    let banned_ns = t.elapsed().as_nanos() as f64 / f64::from(rounds);
    let t = Instant::now();
    for i in 0..rounds {
        let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + (i % 250)));
        hits += u32::from(snap.banned(ip, now).is_some());
    }
    let clean_ns = t.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!(
        "{} bans: {banned_ns:.0} ns per check of a banned address, {clean_ns:.0} ns of one not banned ({hits} hits)",
        snap.len
    );
}
