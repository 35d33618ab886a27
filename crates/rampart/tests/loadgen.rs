//! The benchmark load generator (`rampart-loadgen`) against a real server: what it reports is what
//! the server stored, over plain TCP, STARTTLS, several messages per connection and PIPELINING,
//! and a refusal is counted by its code without hanging the run.

use crate::common;

use std::time::Duration;

use common::*;
use rampart_loadgen::{Config, Report};

const SIZE: usize = 5000;

/// 3 sessions, 12 messages of 5000 bytes, to alice.
fn config(s: &Server) -> Config {
    let mut c = Config::new(
        s.addr.to_string(),
        "sender@remote.test",
        vec!["alice@example.test".to_string()],
    );
    c.sessions = 3;
    c.messages = 12;
    c.size = SIZE;
    c.ehlo = "loadgen.remote.test".into();
    c.timeout = Duration::from_secs(20);
    c
}

fn run(cfg: Config) -> Report {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(rampart_loadgen::run(cfg))
        .expect("the run starts")
}

/// Alice's mailbox holds exactly `n` messages with distinct Message-IDs, each with the body the
/// load generator meant (dots un-stuffed by the server); returns each stored message.
fn assert_mailbox(s: &Server, n: usize) -> Vec<String> {
    let list = s.wait_mailbox("alice@example.test", n);
    assert_eq!(list.len(), n, "{list:?}");
    let mut ids: Vec<&str> = list
        .iter()
        .map(|l| l.rsplit('\t').next().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "Message-IDs are unique: {list:?}");
    let body = String::from_utf8(rampart_loadgen::body(SIZE)).unwrap();
    list.iter()
        .map(|line| {
            let stored = s.show("alice@example.test", line.split('\t').next().unwrap());
            let start = stored.find("\r\n\r\n").expect("a header/body separator") + 4;
            assert!(stored[start..] == body, "body differs:\n{stored}");
            assert!(
                stored.contains("From: <sender@remote.test>\r\n"),
                "{stored}"
            );
            stored
        })
        .collect()
}

fn assert_all_ok(r: &Report, n: u64) {
    assert_eq!(r.messages_ok, n, "{r:?}");
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(r.connect_errors, 0, "{r:?}");
    assert!(r.data_latency_us.p50 > 0 && r.data_latency_us.max >= r.data_latency_us.p99);
    assert!(r.setup_latency_us.p50 > 0 && r.setup_latency_us.p99 >= r.setup_latency_us.p50);
    assert!(r.wall_secs > 0.0 && r.msgs_per_sec > 0.0, "{r:?}");
}

#[test]
fn plain_sessions_deliver_every_message_intact() {
    let s = Server::start();
    let r = run(config(&s));
    assert_all_ok(&r, 12);
    assert_eq!(r.connections, 12, "one connection per message by default");
    // The JSON object scripts read.
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    for key in [
        "messages_ok",
        "errors",
        "connect_errors",
        "wall_secs",
        "msgs_per_sec",
        "sessions",
        "size",
        "per_connection",
        "starttls",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    for key in ["p50", "p90", "p99", "max", "mean"] {
        assert!(json["data_latency_us"][key].is_u64(), "{json}");
    }
    for key in ["p50", "p99"] {
        assert!(json["setup_latency_us"][key].is_u64(), "{json}");
    }
    assert_eq!(json["messages_ok"], 12);
    assert_eq!(json["starttls"], false);
    for stored in assert_mailbox(&s, 12) {
        assert!(stored.contains("with ESMTP id"), "{stored}");
    }
}

#[test]
fn starttls_sessions_verify_the_certificate_and_deliver() {
    let s = Server::start();
    let mut cfg = config(&s);
    cfg.starttls = true;
    cfg.tls_ca = Some(s.ca_file());
    cfg.tls_name = "mail.example.test".into();
    let r = run(cfg.clone());
    assert_all_ok(&r, 12);
    assert!(r.starttls);
    assert!(r.tls_resumed <= r.connections, "{r:?}");
    for stored in assert_mailbox(&s, 12) {
        assert!(stored.contains("with ESMTPS id"), "{stored}");
    }

    // Full handshakes only, when asked.
    cfg.tls_resume = false;
    cfg.messages = 3;
    let r = run(cfg.clone());
    assert_eq!((r.messages_ok, r.tls_resumed), (3, 0), "{r:?}");
    assert_eq!(s.mailbox("alice@example.test").len(), 15);

    // Another name than the certificate's: every handshake fails, nothing is sent in clear.
    cfg.tls_name = "other.example.test".into();
    let r = run(cfg);
    assert_eq!(r.messages_ok, 0, "{r:?}");
    assert_eq!(r.errors.get("tls"), Some(&3), "{r:?}");
    assert_eq!(s.mailbox("alice@example.test").len(), 15);
}

#[test]
fn several_messages_per_connection_use_fewer_connections() {
    let s = Server::start();
    let mut cfg = config(&s);
    cfg.per_connection = 4;
    // One session: with several, a fast one may take more tickets than its share and open a
    // fourth connection, which made this test depend on scheduling.
    cfg.sessions = 1;
    let r = run(cfg);
    assert_all_ok(&r, 12);
    assert_eq!(r.connections, 3, "{r:?}");
    assert_mailbox(&s, 12);
    // The server saw three sessions of four messages each (trace events are written
    // asynchronously: wait for the third disconnect).
    let mut events = Vec::new();
    for _ in 0..200 {
        events = cli(
            &s.config,
            &["trace", "--client", "127.0.0.1", "--json"],
            None,
        )
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
        if events.iter().filter(|e| e["event"] == "disconnect").count() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let of = |name: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == name).collect()
    };
    assert_eq!(of("connect").len(), 3, "{events:?}");
    let disconnects = of("disconnect");
    assert_eq!(disconnects.len(), 3, "{events:?}");
    for d in disconnects {
        assert!(
            d["detail"].as_str().unwrap().starts_with("messages: 4,"),
            "{d}"
        );
    }
}

#[test]
fn pipelining_and_warmup() {
    let s = Server::start();
    let mut cfg = config(&s);
    cfg.sessions = 2;
    cfg.messages = 4;
    cfg.warmup = 1;
    cfg.pipelining = true;
    cfg.per_connection = 2;
    let r = run(cfg);
    assert_all_ok(&r, 4);
    assert_eq!((r.warmup_ok, r.warmup_failed), (2, 0), "{r:?}");
    // Warm-up messages are delivered too, just not counted.
    assert_mailbox(&s, 6);
}

#[test]
fn a_refused_recipient_is_counted_by_code_and_the_run_ends() {
    let s = Server::start();
    let mut cfg = config(&s);
    cfg.to = vec!["nobody@example.test".to_string()];
    let r = run(cfg);
    assert_eq!(r.messages_ok, 0, "{r:?}");
    assert_eq!(r.errors.get("550"), Some(&12), "{r:?}");
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert_eq!(r.connect_errors, 0);
    assert_eq!(r.data_latency_us.p50, 0);
    assert!(s.mailbox("alice@example.test").is_empty());

    // Nothing listening: connection errors, counted, and the run still ends.
    let closed = ClosedPort::new();
    let mut cfg = config(&s);
    cfg.server = closed.addr().to_string();
    let r = run(cfg);
    assert_eq!((r.messages_ok, r.connect_errors), (0, 12), "{r:?}");
}
