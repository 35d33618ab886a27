//! NC-2.4.2: the cost of the ban check at accept ([`Snapshot::banned`], what every listener
//! asks before the greeting or TLS), as `bench/ban_check_cost.sh` runs it. A measurement, not a
//! test: nanoseconds per check with 0, 100 and N (default 10,000) banned addresses, half IPv4
//! /32 and half IPv6 /64, plus a /24 and a /48 subnet ban (so the check truncates at four prefix
//! lengths, as in a server that has made subnet bans). Each row times addresses that are banned,
//! addresses that are not (the common case: a well-behaved client), and gives the ratio of the
//! latter against the check with no bans at all.
//!
//! Usage: `ban-check-cost [N] [ROUNDS]`.

use rampart_ids::snapshot::Snapshot;
use rampart_store::NetBan;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// Checks timed per figure (each figure is the best of [`REPEATS`] runs).
const DEFAULT_ROUNDS: u32 = 2_000_000;
const REPEATS: usize = 5;

fn ban(network: String) -> NetBan {
    NetBan {
        network,
        reason: "bench".into(),
        detector: "bench".into(),
        evidence: String::new(),
        created: 0,
        expires: Some(i64::MAX),
        repeats: 1,
    }
}

/// The i-th banned IPv4 address (spread through 10/8) and IPv6 /64 (spread through 2001:db8::/32).
fn v4(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i.wrapping_mul(7))
}
fn v6(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0x1234)
}

/// `n` bans: half v4 /32, half v6 /64; with `subnets`, a /24 and a /48 besides.
fn bans(n: u32, subnets: bool) -> Vec<NetBan> {
    let mut b: Vec<NetBan> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                ban(format!("{}/32", v4(i / 2)))
            } else {
                // Stored bans are truncated networks, as `Ids` makes them.
                let net = ipnet::Ipv6Net::new(v6(i / 2), 64).map(|n| n.trunc());
                ban(net.map_or_else(|e| e.to_string(), |n| n.to_string()))
            }
        })
        .collect();
    if subnets {
        b.push(ban("198.51.100.0/24".into()));
        b.push(ban("2001:db8:ffff::/48".into()));
    }
    b
}

/// Nanoseconds per check of the addresses `ips` yields, best of [`REPEATS`].
fn time(snap: &Snapshot, rounds: u32, ip: impl Fn(u32) -> IpAddr) -> (f64, u32) {
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..REPEATS {
        hits = 0u32;
        let t = Instant::now();
        for i in 0..rounds {
            hits += u32::from(black_box(snap).banned(black_box(ip(i)), 1).is_some());
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(rounds));
    }
    (best, hits)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000)
        .max(2);
    let rounds: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
        .max(1);
    // Not banned: documentation addresses no row bans (192.0.2.0/24, 2001:db8:eeee::/48).
    let clean_v4 = |i: u32| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + (i % 250)));
    let clean_v6 = |i: u32| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xeeee, i as u16, 0, 0, 0, 1));

    println!(
        "ban check at accept (Snapshot::banned), ns per check, best of {REPEATS} x {rounds} checks"
    );
    println!(
        "{:>7} {:>8} | {:>9} {:>9} | {:>9} {:>9} | {:>6}",
        "bans", "subnets", "v4 clean", "v6 clean", "v4 hit", "v6 hit", "ratio"
    );
    let mut base = None;
    for (count, subnets) in [(0, false), (100, false), (100, true), (n, false), (n, true)] {
        let snap = Snapshot::new(&bans(count, subnets), Vec::new());
        let (c4, h) = time(&snap, rounds, clean_v4);
        assert_eq!(h, 0, "a clean address was found banned");
        let (c6, _) = time(&snap, rounds, clean_v6);
        let half = (count / 2).max(1);
        let (b4, b6) = if count == 0 {
            (f64::NAN, f64::NAN)
        } else {
            let (b4, h4) = time(&snap, rounds, |i| IpAddr::V4(v4(i % half)));
            let (b6, h6) = time(&snap, rounds, |i| IpAddr::V6(v6(i % half)));
            assert_eq!((h4, h6), (rounds, rounds), "a banned address was missed");
            (b4, b6)
        };
        let clean = (c4 + c6) / 2.0;
        let base = *base.get_or_insert(clean);
        println!(
            "{:>7} {:>8} | {c4:>9.1} {c6:>9.1} | {b4:>9.1} {b6:>9.1} | {:>5.2}x",
            snap.len,
            if subnets { "/24 /48" } else { "-" },
            clean / base
        );
    }
}
