//! The engine over a real store: thresholds, the allow-list, expiry, escalation, subnets.

use super::*;
use rampart_config::Threshold;

struct Place(std::path::PathBuf);
impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn store() -> (AnyStore, Place) {
    let n: [u8; 8] = rampart_store::random_bytes();
    let dir = std::env::temp_dir().join(format!(
        "rampart-ids-{}",
        n.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (s, _thread) = rampart_store::Sqlite::open(&dir).unwrap();
    (Arc::new(s), Place(dir))
}

fn cfg() -> IdsConfig {
    let th = Threshold {
        count: 3,
        window_secs: 600,
    };
    IdsConfig {
        auth: th,
        auth_account: Threshold {
            count: 4,
            window_secs: 600,
        },
        harvest: th,
        relay: th,
        protocol: th,
        tls: th,
        http_scan: th,
        flood: th,
        ..IdsConfig::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Each detector: two observations stay under a threshold of three, the third bans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_2_each_detector_bans_past_its_threshold_and_not_below() {
    let (store, _p) = store();
    let ids = Ids::new(cfg(), store.clone());
    type Make = fn(IpAddr, usize) -> Observation;
    let cases: [(&str, Make); 6] = [
        ("harvest", |ip, i| {
            detectors::harvest::unknown_recipient(ip, &format!("u{i}@example.test"))
        }),
        ("relay", |ip, i| {
            detectors::relay::refused_relay(ip, &format!("x@r{i}.example"))
        }),
        ("protocol", |ip, _| {
            detectors::protocol::abuse(ip, "bare LF in a command")
        }),
        ("tls", |ip, _| {
            detectors::tls::handshake_failed(ip, "garbage")
        }),
        ("http_scan", |ip, i| {
            detectors::http_scan::probe(ip, &format!("/wp-login{i}.php"))
        }),
        ("flood", |ip, _| detectors::flood::connection(ip, "mx")),
    ];
    for (n, (name, make)) in cases.iter().enumerate() {
        let a = ip(&format!("198.51.{}.1", n + 1));
        assert!(ids.observe(make(a, 0)).await.is_none(), "{name}");
        assert!(ids.observe(make(a, 1)).await.is_none(), "{name}");
        assert!(!ids.is_banned(a), "{name}: under the threshold, not banned");
        let ban = ids.observe(make(a, 2)).await.expect(name);
        assert_eq!(ban.detector, *name);
        assert_eq!(ban.network, format!("198.51.{}.1/32", n + 1));
        assert!(ids.is_banned(a), "{name}: banned at the threshold");
        assert!(
            !ids.is_banned(ip(&format!("198.51.{}.2", n + 1))),
            "{name}: only that address"
        );
    }
    // Harvest counts distinct recipients: the same unknown one again and again is one.
    let b = ip("203.0.113.50");
    for _ in 0..10 {
        ids.observe(detectors::harvest::unknown_recipient(
            b,
            "typo@example.test",
        ))
        .await;
    }
    assert!(!ids.is_banned(b), "one repeated typo is not a harvest");
}

/// NC-2.4.1: a client repeating one stale password is not banned, however often; one address
/// trying many accounts is, and so is each address of many trying one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_1_stale_password_is_not_brute_force() {
    let (store, _p) = store();
    let ids = Ids::new(cfg(), store.clone());
    let office = ip("192.0.2.10");
    for _ in 0..50 {
        ids.failed_login(office, "alice@example.test", "old-password", "AUTH")
            .await;
    }
    assert!(!ids.is_banned(office), "a stale password counts once");
    let attacker = ip("192.0.2.66");
    for user in ["a", "b", "c"] {
        ids.failed_login(attacker, &format!("{user}@example.test"), "123456", "AUTH")
            .await;
    }
    assert!(ids.is_banned(attacker), "three accounts from one address");
    // Many addresses, one account (threshold 4): the fourth distinct address is banned.
    for n in 1..=3 {
        let a = ip(&format!("203.0.113.{n}"));
        ids.failed_login(a, "bob@example.test", &format!("guess{n}"), "JMAP")
            .await;
        assert!(!ids.is_banned(a));
    }
    let fourth = ip("203.0.113.4");
    ids.failed_login(fourth, "bob@example.test", "guess4", "JMAP")
        .await;
    assert!(ids.is_banned(fourth), "a distributed attack on one account");
    // Passwords are never stored: the evidence names the account only.
    let bans = store
        .list_active(rampart_store::now_micros())
        .await
        .unwrap();
    assert!(bans
        .iter()
        .all(|b| !b.evidence.contains("123456") && !b.evidence.contains("guess")));
}

/// NC-2.4.2: an allow-listed network is never banned; the detection is still traced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_2_allow_list_prevents_a_ban() {
    let (store, _p) = store();
    let mut c = cfg();
    c.allow = vec!["192.0.2.0/24".parse().unwrap()];
    let ids = Ids::new(c, store.clone());
    ids.refresh(true).await.unwrap();
    let a = ip("192.0.2.99");
    for i in 0..10 {
        assert!(ids
            .observe(detectors::harvest::unknown_recipient(a, &format!("u{i}@x")))
            .await
            .is_none());
    }
    assert!(!ids.is_banned(a));
    assert!(store
        .list_active(rampart_store::now_micros())
        .await
        .unwrap()
        .is_empty());
    let log = store.ids_events(0, 100).await.unwrap();
    // Traced once, at the crossing (the 3rd of 10 events), not again for each of the 7 after it:
    // those cost a commit each and told nothing new (issue 23).
    assert_eq!(
        log.iter()
            .filter(|e| e.detail.contains("allow-listed"))
            .count(),
        1,
        "{log:?}"
    );
    // An allowed network in the store (rampart ban allow) works the same way.
    store
        .allow(
            "203.0.113.0/24",
            "partner",
            Vec::new(),
            rampart_store::now_micros(),
        )
        .await
        .unwrap();
    ids.refresh(false).await.unwrap();
    let b = ip("203.0.113.9");
    for i in 0..10 {
        ids.observe(detectors::relay::refused_relay(
            b,
            &format!("x@{i}.example"),
        ))
        .await;
    }
    assert!(!ids.is_banned(b));
}

/// NC-2.4.2: a ban expires, and the next ban of the same network lasts longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_2_a_ban_expires_and_a_repeat_lengthens_it() {
    let (store, _p) = store();
    let ids = Ids::new(cfg(), store.clone());
    let a = ip("198.51.100.7");
    let mut ban = None;
    for i in 0..3 {
        ban = ids
            .observe(detectors::http_scan::probe(a, &format!("/{i}.php")))
            .await;
    }
    let first = ban.unwrap();
    let end = first.expires.unwrap();
    assert_eq!(end - first.created, 900 * 1_000_000, "15 minutes first");
    assert!(ids.is_banned_at(a, end - 1));
    assert!(!ids.is_banned_at(a, end), "the ban ends on time");
    // After it ended (lifted here, as time passing would), the next lasts an hour.
    assert!(store
        .unban_network(&first.network, "test", rampart_store::now_micros())
        .await
        .unwrap());
    ids.refresh(false).await.unwrap();
    assert!(!ids.is_banned(a));
    let mut again = None;
    for i in 10..13 {
        again = ids
            .observe(detectors::http_scan::probe(a, &format!("/{i}.php")))
            .await
            .or(again);
    }
    let second = again.expect("banned again");
    assert_eq!(second.repeats, 2);
    assert_eq!(second.expires.unwrap() - second.created, 3600 * 1_000_000);
}

/// NC-2.4.2: IPv6 is banned by /64; several banned addresses of one /24 ban the /24; a
/// configured `permanent_after` makes the ban permanent, and nothing else does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_2_ipv6_by_64_and_subnets() {
    let (store, _p) = store();
    let mut c = cfg();
    c.subnet_after = 2;
    let ids = Ids::new(c, store.clone());
    let v6 = ip("2001:db8:5:6::1");
    for _ in 0..3 {
        ids.observe(detectors::tls::handshake_failed(v6, "x")).await;
    }
    assert!(ids.is_banned(ip("2001:db8:5:6:ffff::2")), "the whole /64");
    assert!(!ids.is_banned(ip("2001:db8:5:7::1")));
    for host in [1, 2] {
        for _ in 0..3 {
            ids.observe(detectors::protocol::abuse(
                ip(&format!("203.0.113.{host}")),
                "early talker",
            ))
            .await;
        }
    }
    assert!(
        ids.is_banned(ip("203.0.113.250")),
        "the /24 after two of its addresses"
    );
    let nets: Vec<String> = store
        .list_active(rampart_store::now_micros())
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.network)
        .collect();
    assert!(nets.contains(&"203.0.113.0/24".to_string()), "{nets:?}");
    let mut p = cfg();
    assert_eq!(
        ladder(&p),
        BanLength::Ladder(vec![
            Some(900_000_000),
            Some(3_600_000_000),
            Some(86_400_000_000),
            Some(604_800_000_000)
        ]),
        "never permanent unless configured"
    );
    p.permanent_after = Some(2);
    assert_eq!(
        ladder(&p),
        BanLength::Ladder(vec![Some(900_000_000), Some(3_600_000_000), None])
    );
}

/// NC-2.4.2: the snapshot sees a ban made elsewhere (the CLI) once the generation moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_2_a_ban_made_elsewhere_is_seen_on_refresh() {
    let (store, _p) = store();
    let ids = Ids::new(cfg(), store.clone());
    assert!(ids.refresh(false).await.unwrap());
    assert!(
        !ids.refresh(false).await.unwrap(),
        "nothing changed, nothing reloaded"
    );
    let now = rampart_store::now_micros();
    store
        .ban_network(
            NewBan {
                network: "127.0.0.1/32".into(),
                reason: "test".into(),
                detector: "admin".into(),
                evidence: "by hand".into(),
            },
            BanLength::Until(Some(now + 60_000_000)),
            now,
        )
        .await
        .unwrap();
    assert!(!ids.is_banned(ip("127.0.0.1")));
    assert!(ids.refresh(false).await.unwrap());
    assert!(ids.is_banned(ip("127.0.0.1")));
    assert!(
        ids.is_banned(ip("::ffff:127.0.0.1")),
        "a mapped address is the same client"
    );
}

/// The audit's self-test window: an exempt address is not counted (no ban however often it
/// trips a detector); once the window is closed, the same behaviour bans as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_2_4_1_the_audit_self_test_window_is_not_counted_and_closes() {
    let (store, _p) = store();
    let ids = Ids::new(cfg(), store.clone());
    let me = ip("127.0.0.1");
    ids.exempt(me, Some(Duration::from_secs(600)));
    for _ in 0..10 {
        let o = detectors::protocol::abuse(me, "bare LF in a command");
        assert!(ids.observe(o).await.is_none());
    }
    // Another address is counted meanwhile.
    let other = ip("192.0.2.9");
    let mut banned = None;
    for _ in 0..3 {
        banned = ids
            .observe(detectors::protocol::abuse(other, "bare LF in a command"))
            .await;
    }
    assert!(banned.is_some());
    ids.exempt(me, None);
    let mut banned = None;
    for _ in 0..3 {
        banned = ids
            .observe(detectors::protocol::abuse(me, "bare LF in a command"))
            .await;
    }
    assert!(banned.is_some(), "counted again once the window closed");
}
