//! Conformance checks of [`TlsReporting`](crate::tls_reporting::TlsReporting): the MTA-STS
//! policy cache (RFC 8461 section 5.1), TLS outcome counts per day (RFC 8460 section 4) and
//! received TLS reports. Each survives a restart.

use super::Harness;
use crate::tls_reporting::{CachedStsPolicy, ReceivedTlsReport, TlsOutcomeCount, TlsReporting};
use std::future::Future;

fn policy(id: &str, expires: i64) -> CachedStsPolicy {
    CachedStsPolicy {
        domain: "Remote.Example".into(),
        id: id.into(),
        policy: "version: STSv1\nmode: enforce\nmx: mx.remote.example\nmax_age: 86400\n".into(),
        fetched: 1,
        expires,
    }
}

/// A policy is found by its domain in any case, replaced by the next one put, and kept across
/// a restart.
pub async fn tls_sts_policy_cache<H: Harness>(h: &H) {
    let place = h.create().await;
    tls_sts_policy_cache_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn tls_sts_policy_cache_on<S, P, F, Fut>(open: F)
where
    S: TlsReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    {
        let store = open().await;
        assert_eq!(store.sts_policy("remote.example").await.unwrap(), None);
        store.sts_policy_put(policy("a", 10)).await.unwrap();
        store.sts_policy_put(policy("b", 20)).await.unwrap();
        let got = store.sts_policy("REMOTE.example").await.unwrap();
        let got = got.expect("the policy put is found by its domain in any case");
        assert_eq!((got.id.as_str(), got.expires), ("b", 20), "replaced");
        assert_eq!(got.domain, "remote.example", "kept in lower case");
    }
    let store = open().await;
    let got = store.sts_policy("remote.example").await.unwrap();
    assert_eq!(
        got.map(|p| p.id),
        Some("b".into()),
        "the cache survives a restart"
    );
}

fn outcome(day: i64, domain: &str, result: &str, count: u64) -> TlsOutcomeCount {
    TlsOutcomeCount {
        day,
        policy_domain: domain.into(),
        policy_type: "sts".into(),
        policy_strings: "version: STSv1\nmode: testing".into(),
        mx_host: "mx.remote.example".into(),
        result_type: result.into(),
        receiving_ip: "192.0.2.1".into(),
        reason: String::new(),
        count,
    }
}

/// Outcomes add up per day, policy, MX and result; a day is read only once it is over, and a
/// domain's day is forgotten once done, the other domains' kept.
pub async fn tls_outcomes_by_day<H: Harness>(h: &H) {
    let place = h.create().await;
    tls_outcomes_by_day_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn tls_outcomes_by_day_on<S, P, F, Fut>(open: F)
where
    S: TlsReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    {
        let store = open().await;
        for o in [
            outcome(100, "a.example", "success", 2),
            outcome(100, "a.example", "success", 3),
            outcome(100, "a.example", "certificate-host-mismatch", 1),
            outcome(100, "b.example", "success", 1),
            outcome(101, "a.example", "success", 7),
        ] {
            store.tls_outcome_add(o).await.unwrap();
        }
    }
    let store = open().await;
    let got = store.tls_outcomes_before(101).await.unwrap();
    assert_eq!(got.len(), 3, "day 101 is not over: {got:?}");
    let success = got
        .iter()
        .find(|o| o.policy_domain == "a.example" && o.result_type == "success")
        .expect("a.example's successes");
    assert_eq!(success.count, 5, "counts of one kind add up");
    assert_eq!(store.tls_outcomes_done(100, "a.example").await.unwrap(), 2);
    let left = store.tls_outcomes_before(102).await.unwrap();
    let left: Vec<_> = left
        .iter()
        .map(|o| (o.day, o.policy_domain.as_str(), o.count))
        .collect();
    assert_eq!(left, vec![(100, "b.example", 1), (101, "a.example", 7)]);
}

/// RFC 8460 section 3: a report for a day, domain and destination is claimed once; a claim
/// given up (the sending failed) can be made again, and a claim survives a restart.
pub async fn tls_reports_sent_once<H: Harness>(h: &H) {
    let place = h.create().await;
    tls_reports_sent_once_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn tls_reports_sent_once_on<S, P, F, Fut>(open: F)
where
    S: TlsReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    {
        let store = open().await;
        assert!(store
            .tls_report_claim(100, "A.example", "mailto:r@a.example", "id1")
            .await
            .unwrap());
        assert!(store
            .tls_report_claim(100, "a.example", "https://a.example/r", "id1")
            .await
            .unwrap());
        assert!(store
            .tls_report_claim(101, "a.example", "mailto:r@a.example", "id2")
            .await
            .unwrap());
    }
    let store = open().await;
    assert!(!store
        .tls_report_claim(100, "a.example", "mailto:r@a.example", "id3")
        .await
        .unwrap());
    store
        .tls_report_unclaim(100, "a.example", "https://a.example/r")
        .await
        .unwrap();
    assert!(store
        .tls_report_claim(100, "a.example", "https://a.example/r", "id4")
        .await
        .unwrap());
}

/// Received reports are kept as received and listed newest first.
pub async fn tls_reports_received_kept<H: Harness>(h: &H) {
    let place = h.create().await;
    tls_reports_received_kept_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn tls_reports_received_kept_on<S, P, F, Fut>(open: F)
where
    S: TlsReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    let report = |received: i64, id: &str| ReceivedTlsReport {
        id: 0,
        received,
        sender: "reports@remote.example".into(),
        organization: "Remote".into(),
        report_id: id.into(),
        start: 0,
        end: 86_400,
        json: format!("{{\"report-id\":\"{id}\"}}"),
    };
    {
        let store = open().await;
        store.tls_report_received(report(1, "first")).await.unwrap();
        store
            .tls_report_received(report(2, "second"))
            .await
            .unwrap();
    }
    let store = open().await;
    let got = store.tls_reports_received(10).await.unwrap();
    let ids: Vec<_> = got.iter().map(|r| r.report_id.as_str()).collect();
    assert_eq!(ids, vec!["second", "first"]);
    assert_eq!(got[1].json, "{\"report-id\":\"first\"}");
    assert_eq!(store.tls_reports_received(1).await.unwrap().len(), 1);
}
