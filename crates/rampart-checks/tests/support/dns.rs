//! A tiny authoritative DNS server over UDP on 127.0.0.1:0 for DNS-list tests: `A` records
//! from a table, NXDOMAIN for every other name, and names that are never answered (to test
//! timeouts). Plus a `TokioResolver` pointed at it, without cache, one attempt.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub struct TestDns {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestDns {
    /// Serves `records` (names without trailing dot, any case) and never answers `silent`.
    pub async fn start(records: &[(&str, Ipv4Addr)], silent: &[&str]) -> TestDns {
        let mut table: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        for (name, ip) in records {
            table
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(*ip);
        }
        let silent: HashSet<String> = silent.iter().map(|s| s.to_ascii_lowercase()).collect();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                if let Some(reply) = answer(&buf[..n], &table, &silent) {
                    let _ = sock.send_to(&reply, peer).await;
                }
            }
        });
        TestDns { addr, task }
    }

    /// A resolver asking only this server: no cache, one attempt, `timeout` per query.
    pub fn resolver(&self, timeout: Duration) -> TokioResolver {
        let mut conn = ConnectionConfig::udp();
        conn.port = self.addr.port();
        let ns = NameServerConfig::new(self.addr.ip(), true, vec![conn]);
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![ns]),
            TokioRuntimeProvider::default(),
        );
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.ndots = 0;
        builder.build().unwrap()
    }
}

fn answer(
    q: &[u8],
    table: &HashMap<String, Vec<Ipv4Addr>>,
    silent: &HashSet<String>,
) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let len = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    let qend = i + 5; // zero byte, qtype, qclass
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let name = labels.join(".");
    if silent.contains(&name) {
        return None;
    }
    let ips = table.get(&name);
    let answers: &[Ipv4Addr] = match (ips, qtype) {
        (Some(ips), 1) => ips,
        _ => &[],
    };
    let rcode = if ips.is_none() { 3 } else { 0 };
    let mut r = Vec::with_capacity(512);
    r.extend_from_slice(&q[0..2]);
    let rd = q[2] & 0x01;
    r.push(0x84 | rd); // QR, AA, RD echoed
    r.push(rcode);
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..qend)?);
    for ip in answers {
        r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}
