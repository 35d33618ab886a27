//! Conformance checks of [`DmarcReporting`](crate::dmarc_reporting::DmarcReporting): the DMARC
//! evaluations kept for aggregate reports (AL-2.3, RFC 7489 section 7.2) until their report has
//! gone, and the aggregate reports received about our domains, each stored once. Both survive a
//! restart.

use super::Harness;
use crate::dmarc_reporting::{
    DkimEvaluation, DmarcEvaluation, DmarcReporting, ReceivedDmarcReport,
};
use std::future::Future;

fn evaluation(at: i64, domain: &str, rua: &[&str]) -> DmarcEvaluation {
    DmarcEvaluation {
        id: 0,
        at,
        domain: domain.into(),
        source_ip: "192.0.2.1".into(),
        header_from: "remote.example".into(),
        envelope_from: "bounce.remote.example".into(),
        envelope_to: "local.example".into(),
        spf_domain: "bounce.remote.example".into(),
        spf_scope: "mfrom".into(),
        spf_result: "pass".into(),
        dkim: vec![
            DkimEvaluation {
                domain: "remote.example".into(),
                selector: "s1".into(),
                result: "pass".into(),
            },
            DkimEvaluation {
                domain: "esp.example".into(),
                selector: "k2".into(),
                result: "fail".into(),
            },
        ],
        spf_aligned: "fail".into(),
        dkim_aligned: "pass".into(),
        disposition: "none".into(),
        policy: "quarantine".into(),
        published: "p=quarantine; sp=none; adkim=r; aspf=s; pct=100".into(),
        rua: rua.iter().map(|s| s.to_string()).collect(),
    }
}

/// AL-2.3: evaluations are kept field for field (the domain in lower case, every DKIM result
/// and report address), listed oldest first up to a time, and forgotten once done, the others
/// kept, across a restart.
pub async fn dmarc_evaluations_kept_until_done<H: Harness>(h: &H) {
    let place = h.create().await;
    dmarc_evaluations_kept_until_done_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn dmarc_evaluations_kept_until_done_on<S, P, F, Fut>(open: F)
where
    S: DmarcReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    let t = 1_800_000_000_000_000i64;
    {
        let store = open().await;
        assert!(store
            .dmarc_evaluations_before(i64::MAX)
            .await
            .unwrap()
            .is_empty());
        // Added out of order: listed by time.
        for (i, e) in [
            evaluation(t + 2, "Remote.Example", &[]),
            evaluation(
                t,
                "remote.example",
                &["mailto:d@remote.example!10485760", "mailto:x@rua.example"],
            ),
            evaluation(t + 1, "other.example", &["mailto:d@other.example"]),
        ]
        .into_iter()
        .enumerate()
        {
            // The first as a receiving session records it (not waited for): committed no later
            // than the waited ones after it.
            if i == 0 {
                store.dmarc_evaluation_note(e).await.unwrap();
            } else {
                store.dmarc_evaluation_add(e).await.unwrap();
            }
        }
    }
    let store = open().await;
    let all = store.dmarc_evaluations_before(i64::MAX).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![t, t + 1, t + 2],
        "oldest first, and kept across a restart"
    );
    let mut ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each evaluation has an id of its own");
    let mut want = evaluation(
        t,
        "remote.example",
        &["mailto:d@remote.example!10485760", "mailto:x@rua.example"],
    );
    want.id = all[0].id;
    assert_eq!(all[0], want, "an evaluation is kept field for field");
    assert_eq!(all[2].domain, "remote.example", "the domain in lower case");
    assert!(all[2].rua.is_empty(), "no report address stays none");
    assert_eq!(
        store
            .dmarc_evaluations_before(t + 1)
            .await
            .unwrap()
            .iter()
            .map(|e| e.at)
            .collect::<Vec<_>>(),
        vec![t],
        "only those made before the time asked"
    );
    assert_eq!(
        store
            .dmarc_evaluations_done(vec![all[0].id, all[2].id])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.dmarc_evaluations_done(vec![all[0].id]).await.unwrap(),
        0,
        "done twice forgets nothing more"
    );
    let left = store.dmarc_evaluations_before(i64::MAX).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].domain, "other.example", "the others are kept");
}

fn report(received: i64, sender: &str, id: &str) -> ReceivedDmarcReport {
    ReceivedDmarcReport {
        id: 0,
        received,
        sender: sender.into(),
        organization: "Remote".into(),
        report_id: id.into(),
        domain: "Local.Example".into(),
        begin: 1_700_000_000,
        end: 1_700_086_400,
        json: format!("{{\"report_id\":\"{id}\"}}"),
    }
}

/// AL-3.2: a received aggregate report is stored once per sender and report id (a report
/// delivered twice is not counted twice), listed newest first from a time, at most as many as
/// asked, and kept across a restart.
pub async fn dmarc_reports_received_once<H: Harness>(h: &H) {
    let place = h.create().await;
    dmarc_reports_received_once_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn dmarc_reports_received_once_on<S, P, F, Fut>(open: F)
where
    S: DmarcReporting + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    let a = "reports@remote.example";
    let b = "dmarc@other.example";
    let first;
    {
        let store = open().await;
        first = store
            .dmarc_report_received(report(10, a, "r1"))
            .await
            .unwrap()
            .expect("a new report is stored");
        assert_eq!(
            store
                .dmarc_report_received(report(11, a, "r1"))
                .await
                .unwrap(),
            None,
            "the same sender's report id again is not stored twice"
        );
        let other = store
            .dmarc_report_received(report(12, b, "r1"))
            .await
            .unwrap()
            .expect("another sender's report of the same id is its own");
        assert_ne!(other, first);
        store
            .dmarc_report_received(report(13, a, "r2"))
            .await
            .unwrap()
            .expect("a new report id is stored");
    }
    let store = open().await;
    let all = store.dmarc_reports_received(0, 10).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.received, r.report_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(13, "r2"), (12, "r1"), (10, "r1")],
        "newest first, kept across a restart"
    );
    let mut want = report(10, a, "r1");
    want.id = first;
    want.domain = "local.example".into();
    assert_eq!(all[2], want, "kept as received, the domain in lower case");
    assert_eq!(
        store.dmarc_reports_received(12, 10).await.unwrap().len(),
        2,
        "from the time asked"
    );
    assert_eq!(
        store.dmarc_reports_received(0, 1).await.unwrap().len(),
        1,
        "at most as many as asked"
    );
}
