use super::*;
use crate::TraceEvent;

fn ev(ts: i64, event: &str, detail: &str) -> TraceEvent {
    TraceEvent {
        ts,
        session: Some("s1".into()),
        client: Some("192.0.2.7".into()),
        sender: Some("Eve@Bad.Example".into()),
        event: event.into(),
        detail: detail.into(),
        ..TraceEvent::default()
    }
}

#[test]
fn al_3_2_verdict_lists_with_semicolons_in_reasons_are_read_whole() {
    let d = "refused by attachments: 554 5.7.1 x; verdicts: headers=accept (ok); \
             attachments=reject 554 5.7.1 (AL-1.4: a.exe: true type is PE executable; b.zip > c.js: script); \
             dlp=quarantine (rule ssn matched 2 time(s) in body; rule cards matched 1 time(s) in a.txt); spam=tag (score 6)";
    let v = parse_verdicts(d);
    let names: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.check.as_str(), v.action.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("headers", "accept"),
            ("attachments", "reject"),
            ("dlp", "quarantine"),
            ("spam", "tag")
        ]
    );
    assert_eq!(
        attachment_types(&v[1].reason),
        ["PE executable", "script"],
        "{:?}",
        v[1].reason
    );
    assert_eq!(dlp_rules(&v[2].reason), ["ssn", "cards"]);
}

#[test]
fn al_3_2_tally_counts_each_kind_of_event() {
    let since = 1_000 * DAY;
    let mut t = Tally::new(Period::Day, since, since + DAY);
    let mut generated = ev(since + 5, "queued", "100 bytes: notice");
    generated.session = None;
    for e in [
        ev(since + 1, "connect", "connection from"),
        ev(since + 2, "tls", "TLSv1.3 TLS13_AES_256_GCM_SHA384"),
        ev(since + 3, "tls", "handshake failed: x"),
        ev(since + 4, "queued", "10 bytes for 1 recipient(s) (1 to deliver); 250 2.0.0 Ok: queued as A"),
        ev(since + 2 * HOUR, "queued", "10 bytes for 1 recipient(s) (1 to deliver), authenticated as alice@example.test; 250"),
        generated,
        ev(since + 6, "rcpt", "RCPT TO:<nobody@example.test> refused: 550 5.1.1 no such user"),
        ev(since + 7, "rcpt", "RCPT TO:<a@example.test> 250 2.1.5 Ok"),
        ev(since + 8, "checks", "quarantined by antivirus; verdicts: antivirus=quarantine (Eicar found); spam=accept (score 0)"),
        ev(since + 9, "auth", "failed for Alice@example.test; answered after 1000 ms"),
        ev(since + 10, "auth", "refused: address blocked after repeated failures"),
        ev(since + 11, "auth", "authenticated as bob@example.test"),
        ev(since + 12, "quarantined", "held at receipt: antivirus: Eicar"),
        ev(since + 13, "released", "released from quarantine by root for delivery"),
        ev(since + 14, "relayed", "delivered to x@remote.test via mx.remote.test (TLSv1.2 ECDHE; certificate verified; policy none): 250"),
        ev(since + 15, "deferred", "x@remote.test via mx.remote.test (no TLS; no certificate; policy none): 451; next attempt in 60 s"),
        ev(since + 16, "delivered", "delivered to mailbox a@example.test"),
        ev(since + 17, "ban", "192.0.2.7 banned"),
        ev(since + DAY, "queued", "outside the period"),
    ] {
        t.add(&e);
    }
    let s = t.finish();
    assert_eq!(
        s.volume,
        Volume {
            inbound: 1,
            submitted: 1,
            generated: 1
        }
    );
    assert_eq!(s.hourly.len(), 24);
    assert_eq!((s.hourly[0].inbound, s.hourly[0].outbound), (1, 1));
    assert_eq!(s.hourly[2].outbound, 1);
    assert_eq!(s.refusals.recipients, 1);
    assert_eq!(s.decisions.quarantined, 1);
    assert_eq!(s.verdicts["antivirus"]["quarantine"], 1);
    assert_eq!(s.verdicts["spam"]["accept"], 1);
    assert_eq!(
        s.top_blocked_senders,
        [Count {
            name: "eve@bad.example".into(),
            count: 2
        }]
    );
    assert_eq!(s.top_blocked_domains[0].name, "bad.example");
    // The generated notice has no session: not a sender's message.
    assert_eq!(
        s.top_senders,
        [Count {
            name: "eve@bad.example".into(),
            count: 2
        }]
    );
    // The local delivery and the relayed one; the deferral is not a delivery.
    assert_eq!(
        s.top_recipients,
        [
            Count {
                name: "a@example.test".into(),
                count: 1
            },
            Count {
                name: "x@remote.test".into(),
                count: 1
            }
        ]
    );
    assert_eq!((s.auth_failures.failed, s.auth_failures.refused), (1, 1));
    assert_eq!(s.auth_failures.by_account[0].name, "alice@example.test");
    assert_eq!(s.auth_failures.by_address[0].count, 2);
    assert_eq!((s.quarantine.held, s.quarantine.released), (1, 1));
    assert_eq!(s.quarantine.released_by[0].name, "root");
    assert_eq!(s.deliveries.local, 1);
    assert_eq!((s.deliveries.relayed, s.deliveries.deferred), (1, 1));
    assert_eq!(s.tls.sessions, 1);
    assert_eq!(
        s.tls.inbound,
        [Count {
            name: "TLSv1.3".into(),
            count: 1
        }]
    );
    assert_eq!(s.tls.inbound_failures, 1);
    assert_eq!(s.tls.outbound.len(), 2);
    assert_eq!(s.bans.bans, 1);
}

/// AL-1.2, AL-3.2: users' corrections of the spam check, counted by direction; the same
/// events outside the period are not.
#[test]
fn al_3_2_moves_out_of_and_into_junk_are_counted() {
    let since = 1_000 * DAY;
    let mut t = Tally::new(Period::Day, since, since + DAY);
    let out = "moved out of Junk in the mailbox of a@example.test: learned as ham (AL-1.2)";
    let into = "moved into Junk in the mailbox of a@example.test: learned as spam (AL-1.2)";
    for e in [
        ev(since + 1, TRAINED, out),
        ev(since + 2, TRAINED, out),
        ev(since + 3, TRAINED, into),
        ev(
            since + 4,
            "delivered",
            "delivered to mailbox a@example.test (Junk)",
        ),
        ev(since + DAY, TRAINED, out),
    ] {
        t.add(&e);
    }
    let s = t.finish();
    assert_eq!(
        s.junk,
        JunkCorrections {
            out_of_junk: 2,
            into_junk: 1,
            out_of_junk_by_domain: vec![Count {
                name: "bad.example".into(),
                count: 2
            }],
        }
    );
    // A summary written before the field existed still reads.
    let mut old = serde_json::to_value(&s).unwrap();
    old.as_object_mut().unwrap().remove("junk");
    let back: Summary = serde_json::from_value(old).unwrap();
    assert_eq!(back.junk, JunkCorrections::default());
}

#[test]
fn al_3_2_periods_end_at_utc_boundaries() {
    // 2026-12-03 (a Thursday) 18:00 UTC.
    let now = (days_from_civil(2026, 12, 3) * 24 + 18) * HOUR;
    assert_eq!(date(Period::Day.last_end(now)), "2026-12-03");
    assert_eq!(date(Period::Week.last_end(now)), "2026-11-30");
    assert_eq!(date(Period::Month.last_end(now)), "2026-12-01");
    let (since, _) = Period::Month.range(Period::Month.last_end(now));
    assert_eq!(date(since), "2026-11-01");
    let (since, _) = Period::Week.range(Period::Week.last_end(now));
    assert_eq!(date(since), "2026-11-23");
    assert_eq!(civil(0), (1970, 1, 1));
}

#[test]
fn al_3_2_a_period_is_claimed_once() {
    let dir = std::env::temp_dir().join(format!("rampart-summary-{}", std::process::id()));
    let store = Store::open(&dir).unwrap();
    assert!(store.claim_report(Period::Day, 86_400).unwrap());
    assert!(!store.claim_report(Period::Day, 86_400).unwrap());
    assert!(store.claim_report(Period::Week, 86_400).unwrap());
    store.unclaim_report(Period::Day, 86_400).unwrap();
    assert!(store.claim_report(Period::Day, 86_400).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
