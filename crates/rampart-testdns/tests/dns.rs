//! Queries the test DNS server with hickory-resolver, as mail-auth and the delivery code will.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rampart_testdns::{Record, TestDns};

fn txt_strings(lookup: &hickory_resolver::lookup::Lookup) -> Vec<Vec<Vec<u8>>> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

fn response_code(err: &NetError) -> Option<ResponseCode> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => Some(nr.response_code),
        _ => None,
    }
}

#[tokio::test]
async fn answers_each_record_type() {
    let dns = TestDns::builder()
        .txt("Example.COM", "v=spf1 mx -all")
        .a("mx.example.com.", Ipv4Addr::new(192, 0, 2, 1))
        .aaaa("mx.example.com", "2001:db8::1".parse().unwrap())
        .mx("example.com", 10, "mx.example.com")
        .null_mx("nomail.example.com")
        .cname("www.example.com", "mx.example.com")
        .ptr(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "mx.example.com")
        .ptr("2001:db8::1".parse().unwrap(), "mx.example.com")
        .start();
    let r = dns.resolver();

    let txt = r.txt_lookup("example.com.").await.unwrap();
    assert_eq!(txt_strings(&txt), vec![vec![b"v=spf1 mx -all".to_vec()]]);

    let a = r.ipv4_lookup("mx.example.com.").await.unwrap();
    let ips: Vec<Ipv4Addr> = a
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(ips, vec![Ipv4Addr::new(192, 0, 2, 1)]);

    let aaaa = r.ipv6_lookup("mx.example.com.").await.unwrap();
    let ips: Vec<Ipv6Addr> = aaaa
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(ips, vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]);

    let mx = r.mx_lookup("example.com.").await.unwrap();
    let mxs: Vec<(u16, String)> = mx
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(mxs, vec![(10, "mx.example.com.".to_string())]);

    let null = r.mx_lookup("nomail.example.com.").await.unwrap();
    let mxs: Vec<(u16, String)> = null
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(mxs, vec![(0, ".".to_string())]);

    // The alias is followed inside the zone.
    let www = r.lookup("www.example.com.", RecordType::A).await.unwrap();
    assert!(www
        .answers()
        .iter()
        .any(|r| matches!(&r.data, RData::A(a) if a.0 == Ipv4Addr::new(192, 0, 2, 1))));
    assert!(www
        .answers()
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME));

    for ip in ["192.0.2.1", "2001:db8::1"] {
        let ptr = r
            .reverse_lookup(ip.parse::<IpAddr>().unwrap())
            .await
            .unwrap();
        let names: Vec<String> = ptr
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(names, vec!["mx.example.com.".to_string()], "{ip}");
    }
}

#[tokio::test]
async fn unknown_names_get_nxdomain_and_known_names_nodata() {
    // DEPENDENCIES.md trap: DMARC asks `_dmarc.com.`; a server that only knew example.com would
    // answer REFUSED there. The root zone is served, so the answer is NXDOMAIN.
    let dns = TestDns::builder()
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let r = dns.resolver();
    for name in ["_dmarc.com.", "nothing.example.org.", "org."] {
        let err = r.txt_lookup(name).await.unwrap_err();
        assert_eq!(
            response_code(&err),
            Some(ResponseCode::NXDomain),
            "{name}: {err}"
        );
    }
    // example.com owns no record but has a name below it: it exists, so NOERROR with no data.
    let err = r.ipv4_lookup("example.com.").await.unwrap_err();
    assert_eq!(response_code(&err), Some(ResponseCode::NoError), "{err}");
    // A known name asked for another type: NOERROR, no data.
    let err = r.mx_lookup("_dmarc.example.com.").await.unwrap_err();
    assert_eq!(response_code(&err), Some(ResponseCode::NoError), "{err}");
}

#[tokio::test]
async fn long_txt_is_served_as_several_strings_over_udp_and_tcp() {
    let key = "A".repeat(400);
    let dns = TestDns::builder()
        .txt(
            "sel._domainkey.example.com",
            format!("v=DKIM1; k=rsa; p={key}"),
        )
        .txt("two.example.com", ["first", "second"])
        .start();
    let r = dns.resolver();
    let txt = r.txt_lookup("sel._domainkey.example.com.").await.unwrap();
    let strings = &txt_strings(&txt)[0];
    assert_eq!(strings.len(), 2);
    assert_eq!(strings[0].len(), 255);
    assert_eq!(
        strings.concat(),
        format!("v=DKIM1; k=rsa; p={key}").into_bytes()
    );

    let txt = r.txt_lookup("two.example.com.").await.unwrap();
    assert_eq!(
        txt_strings(&txt),
        vec![vec![b"first".to_vec(), b"second".to_vec()]]
    );

    // The same answer over TCP only.
    let mut ns = NameServerConfig::tcp(dns.addr().ip());
    ns.connections[0].port = dns.addr().port();
    let tcp = TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(TestDns::resolver_opts())
    .build()
    .unwrap();
    let txt = tcp.txt_lookup("sel._domainkey.example.com.").await.unwrap();
    assert_eq!(txt_strings(&txt)[0].concat().len(), 18 + 400);
}

#[tokio::test]
async fn records_change_at_run_time() {
    let dns = TestDns::start(vec![Record::txt("example.com", "v=spf1 -all")]);
    let r = dns.resolver();
    dns.set_txt("example.com", "v=spf1 +all");
    let txt = r.txt_lookup("example.com.").await.unwrap();
    assert_eq!(txt_strings(&txt), vec![vec![b"v=spf1 +all".to_vec()]]);

    dns.add(Record::a("example.com", Ipv4Addr::new(192, 0, 2, 7)));
    assert!(r.ipv4_lookup("example.com.").await.is_ok());

    dns.remove("example.com");
    let err = r.txt_lookup("example.com.").await.unwrap_err();
    assert_eq!(response_code(&err), Some(ResponseCode::NXDomain), "{err}");
}

#[tokio::test]
async fn silent_mode_times_out_and_servfail_mode_fails() {
    let dns = TestDns::builder().txt("example.com", "v=spf1 -all").start();
    let mut opts = TestDns::resolver_opts();
    opts.timeout = Duration::from_millis(300);
    opts.attempts = 1;
    let r =
        TokioResolver::builder_with_config(dns.resolver_config(), TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .unwrap();

    dns.set_silent(true);
    let before = dns.queries();
    let started = Instant::now();
    let err = r.txt_lookup("example.com.").await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered too fast: {err}"
    );
    assert!(
        response_code(&err).is_none(),
        "a timeout is not an answer: {err}"
    );
    assert!(
        dns.queries() > before,
        "the query reached the server and was dropped"
    );

    dns.set_silent(false);
    dns.set_servfail(true);
    let err = r.txt_lookup("example.com.").await.unwrap_err();
    assert!(
        response_code(&err).is_none(),
        "SERVFAIL is an error, not an empty answer: {err}"
    );

    dns.set_servfail(false);
    assert!(r.txt_lookup("example.com.").await.is_ok());
}

/// From a sync test (the shape of a test that spawns a server process): the server runs on its
/// own thread, and dropping it stops it.
#[test]
fn works_from_sync_tests_and_stops_on_drop() {
    let dns = TestDns::builder()
        .a("host.test", Ipv4Addr::new(127, 0, 0, 9))
        .start();
    let addr = dns.addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = rt.block_on(async { dns.resolver().ipv4_lookup("host.test.").await.is_ok() });
    assert!(found);
    drop(dns);
    // The TCP port is released once the server has stopped.
    assert!(
        std::net::TcpListener::bind(addr).is_ok(),
        "port {addr} still held after drop"
    );
}

#[tokio::test]
async fn one_name_can_fail_while_the_rest_answers() {
    let dns = TestDns::builder()
        .txt("bad.example.com", "x")
        .txt("good.example.com", "y")
        .start();
    let mut opts = TestDns::resolver_opts();
    opts.timeout = Duration::from_millis(300);
    opts.attempts = 1;
    let r =
        TokioResolver::builder_with_config(dns.resolver_config(), TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .unwrap();

    dns.set_servfail_name("BAD.example.com", true);
    let err = r.txt_lookup("bad.example.com.").await.unwrap_err();
    assert!(response_code(&err).is_none(), "{err}");
    assert!(r.txt_lookup("good.example.com.").await.is_ok());

    dns.set_servfail_name("bad.example.com", false);
    dns.set_silent_name("bad.example.com.", true);
    let started = Instant::now();
    assert!(r.txt_lookup("bad.example.com.").await.is_err());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(r.txt_lookup("good.example.com.").await.is_ok());

    dns.set_silent_name("bad.example.com", false);
    assert!(r.txt_lookup("bad.example.com.").await.is_ok());
}
