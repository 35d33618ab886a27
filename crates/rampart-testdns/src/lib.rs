//! An authoritative DNS server for tests, started in-process on `127.0.0.1:0`.
//!
//! It answers over UDP and TCP on the same port, from records given as data, and serves the
//! root zone: every name it does not know gets NXDOMAIN (never REFUSED), so lookups that walk
//! up the tree (DMARC asks `_dmarc.com.` too) see "no record" rather than an error.
//!
//! ```text
//! TestDns::builder().txt(..).mx(..).start() ─▶ thread with its own tokio runtime ─▶ hickory-server
//!        │                                                     ▲
//!        └── set_txt / add / remove / set_silent / set_servfail ┘ (shared zone, changed at run time)
//! ```
//!
//! The server runs on a background thread with its own runtime, so it works the same from a sync
//! `#[test]` (which may spawn a separate server process pointed at [`TestDns::addr`]) and from
//! `#[tokio::test]`. It shuts down when the [`TestDns`] is dropped.
//!
//! Records are served with TTL 0, so a change made at run time is seen by the next query even
//! through a caching resolver.
//!
//! ```no_run
//! use rampart_testdns::TestDns;
//! let dns = TestDns::builder()
//!     .txt("example.com", "v=spf1 ip4:192.0.2.1 -all")
//!     .mx("example.com", 10, "mx.example.com")
//!     .a("mx.example.com", "192.0.2.1".parse().unwrap())
//!     .start();
//! dns.set_txt("_dmarc.example.com", "v=DMARC1; p=reject");
//! dns.set_silent(true); // queries now time out
//! dns.set_silent(false);
//! dns.set_servfail_name("_dmarc.example.com", true); // that name alone answers SERVFAIL
//! ```
//!
//! Resolvers: [`TestDns::resolver_config`] and [`TestDns::resolver_opts`] (no cache, no hosts
//! file) for `hickory_resolver` / `mail_auth::MessageAuthenticator::new`, or
//! [`TestDns::resolver`] for a ready `TokioResolver`.
//!
//! The same server runs as a process, for scripts (the stress suites under `bench/`): the
//! `rampart-testdns` binary, with records from a file in the format of [`records_file`].
//!
//! What does not live here: recursion, DNSSEC, zone transfers, dynamic update.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TXT};
/// The record type of [`TestDns::remove_type`].
pub use hickory_server::proto::rr::RecordType;
use hickory_server::proto::rr::{Name, RData, Record as DnsRecord};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

pub mod records_file;

/// Where [`TestDns::start`] listens: a free port of 127.0.0.1.
const LOOPBACK_ANY_PORT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
/// TTL of every record served: 0, so changes are visible at once, even through caches.
const TTL: u32 = 0;
/// How long an idle TCP connection is kept open by the server.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Longest CNAME chain followed inside the zone.
const MAX_CNAME_HOPS: usize = 8;
/// Longest character-string of a TXT record (RFC 1035 section 3.3).
const TXT_STRING_MAX: usize = 255;

/// A record to serve. Names may be given with or without the trailing dot, in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Txt {
        name: String,
        value: Txt,
    },
    A {
        name: String,
        ip: Ipv4Addr,
    },
    Aaaa {
        name: String,
        ip: Ipv6Addr,
    },
    Mx {
        name: String,
        preference: u16,
        exchange: String,
    },
    Cname {
        name: String,
        target: String,
    },
    Ptr {
        name: String,
        target: String,
    },
}

impl Record {
    pub fn txt(name: &str, value: impl Into<Txt>) -> Record {
        Record::Txt {
            name: name.to_string(),
            value: value.into(),
        }
    }

    pub fn a(name: &str, ip: Ipv4Addr) -> Record {
        Record::A {
            name: name.to_string(),
            ip,
        }
    }

    pub fn aaaa(name: &str, ip: Ipv6Addr) -> Record {
        Record::Aaaa {
            name: name.to_string(),
            ip,
        }
    }

    pub fn mx(name: &str, preference: u16, exchange: &str) -> Record {
        Record::Mx {
            name: name.to_string(),
            preference,
            exchange: exchange.to_string(),
        }
    }

    /// A null MX (RFC 7505): `MX 0 .`, the domain accepts no mail.
    pub fn null_mx(name: &str) -> Record {
        Record::mx(name, 0, ".")
    }

    pub fn cname(name: &str, target: &str) -> Record {
        Record::Cname {
            name: name.to_string(),
            target: target.to_string(),
        }
    }

    /// A PTR record for `ip` (its `in-addr.arpa` / `ip6.arpa` name) pointing at `host`.
    pub fn ptr(ip: IpAddr, host: &str) -> Record {
        Record::Ptr {
            name: reverse_name(ip),
            target: host.to_string(),
        }
    }

    /// The owner name as given.
    pub fn name(&self) -> &str {
        match self {
            Record::Txt { name, .. }
            | Record::A { name, .. }
            | Record::Aaaa { name, .. }
            | Record::Mx { name, .. }
            | Record::Cname { name, .. }
            | Record::Ptr { name, .. } => name,
        }
    }

    fn to_dns(&self) -> DnsRecord {
        let name = fqdn(self.name());
        let data = match self {
            Record::Txt { value, .. } => {
                RData::TXT(TXT::from_bytes(value.0.iter().map(Vec::as_slice).collect()))
            }
            Record::A { ip, .. } => RData::A(A(*ip)),
            Record::Aaaa { ip, .. } => RData::AAAA(AAAA(*ip)),
            Record::Mx {
                preference,
                exchange,
                ..
            } => RData::MX(MX::new(*preference, fqdn(exchange))),
            Record::Cname { target, .. } => RData::CNAME(CNAME(fqdn(target))),
            Record::Ptr { target, .. } => RData::PTR(PTR(fqdn(target))),
        };
        DnsRecord::from_rdata(name, TTL, data)
    }
}

/// The character-strings of one TXT record.
///
/// From a single string (`&str`, `String`): split into 255-byte strings if longer (what a
/// 2048-bit RSA DKIM key needs). From several strings (`Vec<&str>`, `[&str; N]`, `Vec<String>`):
/// kept as given, each still split if longer than 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txt(Vec<Vec<u8>>);

impl Txt {
    /// The character-strings, as they go on the wire.
    pub fn strings(&self) -> &[Vec<u8>] {
        &self.0
    }

    fn from_strs<'a>(parts: impl IntoIterator<Item = &'a str>) -> Txt {
        let mut out = Vec::new();
        for part in parts {
            if part.is_empty() {
                out.push(Vec::new());
            }
            out.extend(part.as_bytes().chunks(TXT_STRING_MAX).map(<[u8]>::to_vec));
        }
        if out.is_empty() {
            out.push(Vec::new());
        }
        Txt(out)
    }
}

impl From<&str> for Txt {
    fn from(value: &str) -> Txt {
        Txt::from_strs([value])
    }
}

impl From<String> for Txt {
    fn from(value: String) -> Txt {
        Txt::from(value.as_str())
    }
}

impl From<&String> for Txt {
    fn from(value: &String) -> Txt {
        Txt::from(value.as_str())
    }
}

impl From<Vec<&str>> for Txt {
    fn from(value: Vec<&str>) -> Txt {
        Txt::from_strs(value)
    }
}

impl From<&[&str]> for Txt {
    fn from(value: &[&str]) -> Txt {
        Txt::from_strs(value.iter().copied())
    }
}

impl<const N: usize> From<[&str; N]> for Txt {
    fn from(value: [&str; N]) -> Txt {
        Txt::from_strs(value)
    }
}

impl From<Vec<String>> for Txt {
    fn from(value: Vec<String>) -> Txt {
        Txt::from_strs(value.iter().map(String::as_str))
    }
}

/// Collects records, then starts the server.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    records: Vec<Record>,
    listen: Option<SocketAddr>,
}

impl Builder {
    /// The address to serve on, UDP and TCP (default `127.0.0.1:0`: a free port of loopback).
    pub fn listen(mut self, addr: SocketAddr) -> Builder {
        self.listen = Some(addr);
        self
    }

    /// Adds several records.
    pub fn records(mut self, records: impl IntoIterator<Item = Record>) -> Builder {
        self.records.extend(records);
        self
    }

    pub fn record(mut self, record: Record) -> Builder {
        self.records.push(record);
        self
    }

    pub fn txt(self, name: &str, value: impl Into<Txt>) -> Builder {
        self.record(Record::txt(name, value))
    }

    pub fn a(self, name: &str, ip: Ipv4Addr) -> Builder {
        self.record(Record::a(name, ip))
    }

    pub fn aaaa(self, name: &str, ip: Ipv6Addr) -> Builder {
        self.record(Record::aaaa(name, ip))
    }

    pub fn mx(self, name: &str, preference: u16, exchange: &str) -> Builder {
        self.record(Record::mx(name, preference, exchange))
    }

    pub fn null_mx(self, name: &str) -> Builder {
        self.record(Record::null_mx(name))
    }

    pub fn cname(self, name: &str, target: &str) -> Builder {
        self.record(Record::cname(name, target))
    }

    pub fn ptr(self, ip: IpAddr, host: &str) -> Builder {
        self.record(Record::ptr(ip, host))
    }

    /// Starts the server. Panics if the address cannot be bound (see [`TestDns::start`]).
    pub fn start(self) -> TestDns {
        TestDns::start_on(self.listen.unwrap_or(LOOPBACK_ANY_PORT), self.records)
    }
}

const MODE_ANSWER: u8 = 0;
const MODE_SILENT: u8 = 1;
const MODE_SERVFAIL: u8 = 2;

/// What the server thread and the test share.
struct Shared {
    /// Owner name (lower case, trailing dot) → records at that name.
    zone: RwLock<BTreeMap<String, Vec<DnsRecord>>>,
    mode: AtomicU8,
    /// Per-name modes (lower case, trailing dot), checked after the server-wide one.
    name_modes: RwLock<HashMap<String, u8>>,
    queries: AtomicUsize,
    soa: DnsRecord,
}

/// A running test DNS server; stops when dropped.
pub struct TestDns {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestDns {
    /// Starts a server on `127.0.0.1:<free port>` (UDP and TCP) serving `records`.
    ///
    /// Panics if no port can be bound: this is test support, a failure to start is a test failure.
    pub fn start(records: Vec<Record>) -> TestDns {
        TestDns::start_on(LOOPBACK_ANY_PORT, records)
    }

    /// Like [`TestDns::start`], on `addr` (UDP and TCP; port 0: one free for both).
    pub fn start_on(addr: SocketAddr, records: Vec<Record>) -> TestDns {
        let soa = DnsRecord::from_rdata(
            Name::root(),
            TTL,
            RData::SOA(SOA::new(
                fqdn("ns.test"),
                fqdn("hostmaster.test"),
                1,
                3600,
                600,
                86400,
                TTL,
            )),
        );
        let shared = Arc::new(Shared {
            zone: RwLock::new(BTreeMap::new()),
            mode: AtomicU8::new(MODE_ANSWER),
            name_modes: RwLock::new(HashMap::new()),
            queries: AtomicUsize::new(0),
            soa,
        });
        for record in &records {
            insert(&shared, record);
        }

        let (udp, tcp) = bind_pair(addr);
        let addr = udp.local_addr().expect("udp local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handler = Handler {
            shared: shared.clone(),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("testdns-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("test DNS runtime");
                rt.block_on(async move {
                    let mut server = Server::new(handler);
                    server.register_socket(tokio::net::UdpSocket::from_std(udp).expect("udp"));
                    server.register_listener(
                        tokio::net::TcpListener::from_std(tcp).expect("tcp"),
                        TCP_IDLE,
                        64,
                    );
                    let _ = ready_tx.send(());
                    let _ = stopped.await;
                    let _ = server.shutdown_gracefully().await;
                });
            })
            .expect("spawn test DNS thread");
        ready_rx.recv().expect("test DNS server started");
        TestDns {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address to query, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a record (keeping the others at the same name).
    pub fn add(&self, record: Record) {
        insert(&self.shared, &record);
    }

    /// Replaces every TXT record at `name` with this one.
    pub fn set_txt(&self, name: &str, value: impl Into<Txt>) {
        let key = key(name);
        let mut zone = rampart_sync::write(&self.shared.zone);
        let records = zone.entry(key).or_default();
        records.retain(|r| r.record_type() != RecordType::TXT);
        records.push(Record::txt(name, value).to_dns());
    }

    /// Removes every record at `name`; the name then answers NXDOMAIN (unless names below it exist).
    pub fn remove(&self, name: &str) {
        rampart_sync::write(&self.shared.zone).remove(&key(name));
    }

    /// Removes the records of one type at `name`.
    pub fn remove_type(&self, name: &str, rtype: RecordType) {
        let mut zone = rampart_sync::write(&self.shared.zone);
        let key = key(name);
        if let Some(records) = zone.get_mut(&key) {
            records.retain(|r| r.record_type() != rtype);
            if records.is_empty() {
                zone.remove(&key);
            }
        }
    }

    /// While on, queries are read and dropped without an answer: clients time out.
    pub fn set_silent(&self, silent: bool) {
        self.set_mode(silent, MODE_SILENT);
    }

    /// While on, every query is answered SERVFAIL.
    pub fn set_servfail(&self, servfail: bool) {
        self.set_mode(servfail, MODE_SERVFAIL);
    }

    /// Like [`TestDns::set_silent`], for queries about `name` only (any type).
    pub fn set_silent_name(&self, name: &str, silent: bool) {
        self.set_name_mode(name, silent, MODE_SILENT);
    }

    /// Like [`TestDns::set_servfail`], for queries about `name` only (any type).
    pub fn set_servfail_name(&self, name: &str, servfail: bool) {
        self.set_name_mode(name, servfail, MODE_SERVFAIL);
    }

    fn set_name_mode(&self, name: &str, on: bool, mode: u8) {
        let mut modes = rampart_sync::write(&self.shared.name_modes);
        if on {
            modes.insert(key(name), mode);
        } else if modes.get(&key(name)) == Some(&mode) {
            modes.remove(&key(name));
        }
    }

    fn set_mode(&self, on: bool, mode: u8) {
        if on {
            self.shared.mode.store(mode, Ordering::SeqCst);
        } else {
            let _ = self.shared.mode.compare_exchange(
                mode,
                MODE_ANSWER,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    /// How many queries the server has received (answered or not).
    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::SeqCst)
    }

    /// A resolver configuration with this server as its only name server (UDP, then TCP).
    pub fn resolver_config(&self) -> ResolverConfig {
        let mut ns = NameServerConfig::udp_and_tcp(self.addr.ip());
        for connection in &mut ns.connections {
            connection.port = self.addr.port();
        }
        ResolverConfig::from_parts(None, Vec::new(), vec![ns])
    }

    /// Resolver options for tests: no cache, no hosts file, 2 s timeout, 2 attempts.
    pub fn resolver_opts() -> ResolverOpts {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts
    }

    /// A hickory resolver that asks only this server (call from within a tokio runtime).
    pub fn resolver(&self) -> TokioResolver {
        TokioResolver::builder_with_config(self.resolver_config(), TokioRuntimeProvider::default())
            .with_options(Self::resolver_opts())
            .build()
            .expect("resolver for the test DNS server")
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for TestDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDns").field("addr", &self.addr).finish()
    }
}

/// Binds UDP on `want`, then TCP on the port UDP got. With port 0, retries while that port is
/// taken for TCP; with a fixed port there is nothing to retry.
fn bind_pair(want: SocketAddr) -> (std::net::UdpSocket, std::net::TcpListener) {
    let tries = if want.port() == 0 { 50 } else { 1 };
    let mut last_err = None;
    for _ in 0..tries {
        let udp = std::net::UdpSocket::bind(want)
            .unwrap_or_else(|e| panic!("binding UDP on {want}: {e}"));
        let addr = udp.local_addr().expect("udp local addr");
        match std::net::TcpListener::bind(addr) {
            Ok(tcp) => {
                udp.set_nonblocking(true).expect("nonblocking udp");
                tcp.set_nonblocking(true).expect("nonblocking tcp");
                return (udp, tcp);
            }
            Err(e) => last_err = Some(e),
        }
    }
    panic!("no port free for both UDP and TCP on {want}: {last_err:?}");
}

fn insert(shared: &Shared, record: &Record) {
    rampart_sync::write(&shared.zone)
        .entry(key(record.name()))
        .or_default()
        .push(record.to_dns());
}

fn fqdn(name: &str) -> Name {
    let mut n =
        Name::from_str_relaxed(name).unwrap_or_else(|e| panic!("bad DNS name {name:?}: {e}"));
    n.set_fqdn(true);
    n.to_lowercase()
}

fn key(name: &str) -> String {
    fqdn(name).to_ascii()
}

/// `192.0.2.1` → `1.2.0.192.in-addr.arpa.`; IPv6 by nibbles under `ip6.arpa.`.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

/// What the zone says about one question.
enum Answer {
    Records(Vec<DnsRecord>),
    NoData,
    NxDomain,
}

impl Shared {
    fn lookup(&self, qname: &str, qtype: RecordType) -> Answer {
        let zone = rampart_sync::read(&self.zone);
        let mut answers = Vec::new();
        let mut name = qname.to_string();
        for _ in 0..MAX_CNAME_HOPS {
            let Some(records) = zone.get(&name) else {
                break;
            };
            let matching: Vec<_> = records
                .iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .cloned()
                .collect();
            if !matching.is_empty() {
                answers.extend(matching);
                return Answer::Records(answers);
            }
            // RFC 1034 section 3.6.2: follow an alias inside the zone.
            match records
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME)
            {
                Some(cname) => {
                    answers.push(cname.clone());
                    let RData::CNAME(target) = &cname.data else {
                        break;
                    };
                    name = target.0.to_lowercase().to_ascii();
                }
                None => break,
            }
        }
        if !answers.is_empty() {
            return Answer::Records(answers);
        }
        if qname == "." && matches!(qtype, RecordType::SOA | RecordType::ANY) {
            return Answer::Records(vec![self.soa.clone()]);
        }
        // A name exists if it owns records or has names below it (an empty non-terminal).
        let below = format!(".{qname}");
        let exists =
            qname == "." || zone.contains_key(qname) || zone.keys().any(|k| k.ends_with(&below));
        if exists {
            Answer::NoData
        } else {
            Answer::NxDomain
        }
    }
}

struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.shared.queries.fetch_add(1, Ordering::SeqCst);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let silent_info = ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        });

        let qname = request
            .queries
            .queries()
            .first()
            .map(|q| q.name().to_string().to_ascii_lowercase())
            .map(|n| if n.ends_with('.') { n } else { format!("{n}.") })
            .unwrap_or_default();
        let mut mode = self.shared.mode.load(Ordering::SeqCst);
        if mode == MODE_ANSWER {
            let modes = rampart_sync::read(&self.shared.name_modes);
            mode = modes.get(&qname).copied().unwrap_or(MODE_ANSWER);
        }
        if mode == MODE_SILENT {
            return silent_info;
        }

        // Echo EDNS so answers larger than 512 bytes fit in UDP (else the client retries on TCP).
        let edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            e
        });
        let mut builder = MessageResponseBuilder::new(&request.queries, None);
        if let Some(e) = edns.as_ref() {
            builder.edns(e);
        }

        let query = match request.request_info() {
            Ok(info) => info.query.clone(),
            Err(_) => {
                metadata.response_code = ResponseCode::FormErr;
                let response = builder.build_no_records(metadata);
                return response_handle
                    .send_response(response)
                    .await
                    .unwrap_or(silent_info);
            }
        };
        if mode == MODE_SERVFAIL {
            metadata.response_code = ResponseCode::ServFail;
            let response = builder.build_no_records(metadata);
            return response_handle
                .send_response(response)
                .await
                .unwrap_or(silent_info);
        }

        let soa = [self.shared.soa.clone()];
        let response = match self.shared.lookup(&qname, query.query_type()) {
            Answer::Records(records) => {
                let response = builder.build(metadata, records.iter(), [], [], []);
                return response_handle
                    .send_response(response)
                    .await
                    .unwrap_or(silent_info);
            }
            Answer::NoData => builder.build(metadata, [], soa.iter(), [], []),
            Answer::NxDomain => {
                metadata.response_code = ResponseCode::NXDomain;
                builder.build(metadata, [], soa.iter(), [], [])
            }
        };
        response_handle
            .send_response(response)
            .await
            .unwrap_or(silent_info)
    }
}
