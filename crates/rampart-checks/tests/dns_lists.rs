//! DNS blocklists against a real (tiny) DNS server started by the test: URI lists for the URL
//! check (AL-1.3) and IP lists for the spam score (AL-1.2), with answer codes and timeouts.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use mail_builder::MessageBuilder;
use mail_parser::MessageParser;
use rampart_checks::dnsbl::DnsList;
use rampart_checks::spam::{self, SpamConfig, SpamSignals};
use rampart_checks::urls::{self, UrlConfig, UrlFeeds};
use rampart_checks::{Action, Direction, Verdict};
use support::ctx;
use support::dns::TestDns;

const LISTED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

async fn dns() -> TestDns {
    TestDns::start(
        &[
            ("evil.example.multi.uribl.test", LISTED),
            // "Query refused" and a code that is not configured: not listings.
            (
                "refused.example.multi.uribl.test",
                Ipv4Addr::new(127, 0, 0, 1),
            ),
            ("grey.example.multi.uribl.test", Ipv4Addr::new(127, 0, 0, 4)),
            // 203.0.113.9 as a URL host.
            ("9.113.0.203.multi.uribl.test", LISTED),
            // The connecting IP 192.0.2.10 in two IP lists.
            ("10.2.0.192.zen.test", LISTED),
            ("10.2.0.192.other.test", Ipv4Addr::new(127, 0, 0, 3)),
        ],
        &["slow.example.multi.uribl.test", "10.2.0.192.slow.test"],
    )
    .await
}

fn html(link: &str) -> Vec<u8> {
    MessageBuilder::new()
        .from("a@sender.example")
        .to("user@agency.example.gov")
        .subject("Links")
        .html_body(format!("<p><a href=\"{link}\">click</a></p>"))
        .write_to_vec()
        .unwrap()
}

fn uri_cfg() -> UrlConfig {
    UrlConfig {
        uri_blocklists: vec![DnsList {
            zone: "multi.uribl.test".into(),
            codes: vec![LISTED],
            bitmask: None,
        }],
        dns_timeout_ms: 500,
        ..UrlConfig::default()
    }
}

/// The URL check as the gateway runs it, at receipt and at delivery: inspect, then judge.
async fn url_verdict_of(cfg: &UrlConfig, dns: &TestDns, raw: &[u8]) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let resolver = dns.resolver(Duration::from_secs(5));
    let feeds = UrlFeeds::new(&[]);
    let c = ctx(raw, &parsed, Direction::Inbound);
    let report = urls::inspect(cfg, &feeds, Some(&resolver), c.local_domains, c.parsed).await;
    urls::verdict(cfg, &report)
}

async fn url_verdict(cfg: &UrlConfig, dns: &TestDns, link: &str) -> Verdict {
    url_verdict_of(cfg, dns, &html(link)).await
}

// AL-1.3: the URI lists are asked about the host a browser would contact, however the link
// writes it.
#[tokio::test]
async fn al_1_3_uri_blocklists_see_the_browsers_host() {
    let dns = dns().await;
    let cfg = uri_cfg();
    for link in [
        "http:evil.example",
        "http:\\\\evil.example\\",
        "ht\ttp://evil.example",
        "\x01http://evil.example",
        "http://%65vil.example/",
        "http://ｅｖｉｌ.example/",
        "http://EVIL.example./",
        // 203.0.113.9 in hex, decimal and octal.
        "http://0xcb.0.0x71.9/",
        "http://3405803785/",
        "http://0313.0.0161.011/",
        "http://203.0.28937/",
    ] {
        let v = url_verdict(&cfg, &dns, link).await;
        assert!(
            matches!(&v.action, Action::Reject(r) if r.code == 554),
            "{link:?}: {v:?}"
        );
    }
}

// AL-1.3: a message that needs more DNS queries than the bound is held, not passed.
#[tokio::test]
async fn al_1_3_dns_query_bound_holds_the_message() {
    let dns = dns().await;
    let cfg = UrlConfig {
        max_dns_queries: 4,
        ..uri_cfg()
    };
    let body: String = (0..10)
        .map(|i| format!("<a href=\"https://site{i}.example/\">x</a>"))
        .collect();
    let raw = MessageBuilder::new()
        .from("a@sender.example")
        .to("user@agency.example.gov")
        .subject("Links")
        .html_body(body)
        .write_to_vec()
        .unwrap();
    let v = url_verdict_of(&cfg, &dns, &raw).await;
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(
        v.reason.contains("too many URLs to inspect"),
        "{}",
        v.reason
    );
}

#[tokio::test]
async fn al_1_3_uri_blocklist_hits_codes_and_timeouts() {
    let dns = dns().await;
    let cfg = uri_cfg();

    let v = url_verdict(&cfg, &dns, "https://www.evil.example/login").await;
    assert!(
        matches!(&v.action, Action::Reject(r) if r.code == 554),
        "{v:?}"
    );
    assert!(v.reason.contains("multi.uribl.test"), "{}", v.reason);

    let v = url_verdict(&cfg, &dns, "http://203.0.113.9/payload").await;
    assert!(matches!(&v.action, Action::Reject(_)), "IP host: {v:?}");

    for clean in [
        "https://refused.example/",
        "https://grey.example/",
        "https://unknown.example/",
    ] {
        let v = url_verdict(&cfg, &dns, clean).await;
        assert_eq!(v.action, Action::Accept, "{clean}: {v:?}");
    }

    // A list that does not answer: recorded in the reason, or 451 when so configured.
    let v = url_verdict(&cfg, &dns, "https://slow.example/").await;
    assert_eq!(v.action, Action::Accept, "{v:?}");
    assert!(v.reason.contains("timed out"), "{}", v.reason);
    let strict = UrlConfig {
        tempfail_on_dns_timeout: true,
        ..uri_cfg()
    };
    let v = url_verdict(&strict, &dns, "https://slow.example/").await;
    assert!(
        matches!(&v.action, Action::TempFail(r) if r.code == 451 && r.status.subject() == 7),
        "{v:?}"
    );

    // Quarantine instead of reject.
    let q = UrlConfig {
        action: rampart_checks::attachments::PolicyAction::Quarantine,
        ..uri_cfg()
    };
    assert_eq!(
        url_verdict(&q, &dns, "https://evil.example/").await.action,
        Action::Quarantine
    );
}

fn ip_list(zone: &str) -> DnsList {
    DnsList {
        zone: zone.into(),
        codes: vec![],
        bitmask: None,
    }
}

async fn spam_verdict(cfg: &SpamConfig, dns: &TestDns) -> Verdict {
    let raw = html("https://partner.example/");
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let resolver = dns.resolver(Duration::from_secs(5));
    let c = ctx(&raw, &parsed, Direction::Inbound);
    assert_eq!(c.envelope.client_ip.to_string(), "192.0.2.10");
    spam::check(cfg, Some(&resolver), &SpamSignals::default(), &c).await
}

#[tokio::test]
async fn al_1_2_ip_blocklists_add_to_the_score() {
    let dns = dns().await;
    let one = SpamConfig {
        ip_blocklists: vec![ip_list("zen.test")],
        dns_timeout_ms: 500,
        ..SpamConfig::default()
    };
    let v = spam_verdict(&one, &dns).await;
    assert_eq!(v.action, Action::Tag, "6 points tag: {v:?}");
    assert!(v.reason.contains("zen.test"), "{}", v.reason);

    let two = SpamConfig {
        ip_blocklists: vec![ip_list("zen.test"), ip_list("other.test")],
        ..one.clone()
    };
    assert_eq!(
        spam_verdict(&two, &dns).await.action,
        Action::Quarantine,
        "12 points"
    );

    let none = SpamConfig {
        ip_blocklists: vec![ip_list("clean.test")],
        ..one.clone()
    };
    assert_eq!(spam_verdict(&none, &dns).await.action, Action::Accept);

    let slow = SpamConfig {
        ip_blocklists: vec![ip_list("slow.test")],
        ..one.clone()
    };
    let v = spam_verdict(&slow, &dns).await;
    assert_eq!(v.action, Action::Accept);
    assert!(v.reason.contains("did not answer in time"), "{}", v.reason);
    let strict = SpamConfig {
        tempfail_on_dns_timeout: true,
        ..slow
    };
    assert!(matches!(
        spam_verdict(&strict, &dns).await.action,
        Action::TempFail(_)
    ));
}
