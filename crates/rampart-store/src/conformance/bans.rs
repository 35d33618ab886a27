//! Conformance checks of [`Bans`](crate::bans::Bans): intrusion prevention's bans, allow-list,
//! log and retention (NC-2.4.2, NC-2.4.3). Times are passed in, so expiry is checked without
//! waiting.

use super::Harness;
use crate::api::Trace;
use crate::bans::{BanLength, Bans, IdsEvent, NewBan};
use crate::trace::TraceFilter;
use std::future::Future;

const MIN: i64 = 60 * 1_000_000;

fn ladder() -> BanLength {
    // 15 min, 1 h, 1 day, 1 week: the default escalation.
    BanLength::Ladder(vec![
        Some(15 * MIN),
        Some(60 * MIN),
        Some(24 * 60 * MIN),
        Some(7 * 24 * 60 * MIN),
    ])
}

fn new_ban(network: &str) -> NewBan {
    NewBan {
        network: network.into(),
        reason: "auth brute force".into(),
        detector: "auth".into(),
        evidence: "12 wrong passwords for 9 accounts in 60 s".into(),
    }
}

/// NC-2.4.2: a ban is listed while in force with its reason and evidence, expires on time, and
/// a repeat lasts longer (the ladder), up to its last step; an unban ends it at once and is
/// counted by the next ban all the same; every change raises the generation; every ban and
/// unban is in the trace.
pub async fn bans_escalate_expire_and_unban<H: Harness>(h: &H) {
    let place = h.create().await;
    bans_escalate_expire_and_unban_on(&*h.open(&place).await).await;
}

pub async fn bans_escalate_expire_and_unban_on<S: Bans + Trace + ?Sized>(store: &S) {
    let t = 1_800_000_000_000_000;
    let g0 = store.bans_generation().await.unwrap();
    let first = store
        .ban_network(new_ban("192.0.2.7/32"), ladder(), t)
        .await
        .unwrap();
    assert_eq!(
        (first.repeats, first.expires),
        (1, Some(t + 15 * MIN)),
        "the first ban lasts the first step"
    );
    assert!(
        store.bans_generation().await.unwrap() > g0,
        "a ban raises the generation"
    );
    let active = store.list_active(t + 1).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0].evidence,
        "12 wrong passwords for 9 accounts in 60 s"
    );
    assert_eq!(active[0].detector, "auth");
    // Banned again while banned: the ban stands as it is.
    let again = store
        .ban_network(new_ban("192.0.2.7/32"), ladder(), t + MIN)
        .await
        .unwrap();
    assert_eq!(
        again, first,
        "a ban in force is not renewed or counted twice"
    );
    // Expired: no longer listed.
    assert!(
        store.list_active(t + 15 * MIN).await.unwrap().is_empty(),
        "a ban ends at its expiry"
    );
    // The repeat lasts the second step.
    let t2 = t + 20 * MIN;
    let second = store
        .ban_network(new_ban("192.0.2.7/32"), ladder(), t2)
        .await
        .unwrap();
    assert_eq!((second.repeats, second.expires), (2, Some(t2 + 60 * MIN)));
    // Lifted by an administrator: gone at once, and the next ban is the third.
    let g1 = store.bans_generation().await.unwrap();
    assert!(store
        .unban_network("192.0.2.7/32", "admin", t2 + 1)
        .await
        .unwrap());
    assert!(!store
        .unban_network("192.0.2.7/32", "admin", t2 + 2)
        .await
        .unwrap());
    assert!(store.bans_generation().await.unwrap() > g1);
    assert!(store.list_active(t2 + 2).await.unwrap().is_empty());
    let third = store
        .ban_network(new_ban("192.0.2.7/32"), ladder(), t2 + 3)
        .await
        .unwrap();
    assert_eq!(third.expires, Some(t2 + 3 + 24 * 60 * MIN));
    // Past the ladder's end: its last step, never permanent unless the ladder says so.
    let mut now = t2 + 3;
    for expect in [7 * 24 * 60 * MIN, 7 * 24 * 60 * MIN] {
        now += 8 * 24 * 60 * MIN;
        let b = store
            .ban_network(new_ban("192.0.2.7/32"), ladder(), now)
            .await
            .unwrap();
        assert_eq!(b.expires, Some(now + expect));
    }
    let perm = store
        .ban_network(
            new_ban("198.51.100.0/24"),
            BanLength::Ladder(vec![None]),
            now,
        )
        .await
        .unwrap();
    assert_eq!(perm.expires, None, "a permanent step bans for ever");
    assert!(store
        .list_active(i64::MAX - 1)
        .await
        .unwrap()
        .contains(&perm));
    // An administrator's ban with its own end.
    let admin = store
        .ban_network(
            new_ban("2001:db8:1:2::/64"),
            BanLength::Until(Some(now + MIN)),
            now,
        )
        .await
        .unwrap();
    assert_eq!(admin.expires, Some(now + MIN));
    assert!(store
        .ban_network(
            new_ban("2001:db8:1:3::/64"),
            BanLength::Until(Some(now)),
            now
        )
        .await
        .is_err());
    let trace = store
        .trace(&TraceFilter {
            since: Some(t),
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = trace
        .iter()
        .filter(|e| e.client.as_deref() == Some("192.0.2.7/32"))
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["ban", "ban", "unban", "ban", "ban", "ban"],
        "every ban and unban is in the trace"
    );
}

/// NC-2.4.2: bans and the allow-list survive a restart; allowing a network ends the bans
/// inside it.
pub async fn bans_survive_restart_and_allow_lifts<H: Harness>(h: &H) {
    let place = h.create().await;
    bans_survive_restart_and_allow_lifts_on(|| h.open(&place)).await;
}

/// `open` opens the same store each time it is called (a restart between the calls).
pub async fn bans_survive_restart_and_allow_lifts_on<S, P, F, Fut>(open: F)
where
    S: Bans + ?Sized,
    P: std::ops::Deref<Target = S>,
    F: Fn() -> Fut,
    Fut: Future<Output = P>,
{
    let t = crate::now_micros();
    {
        let store = open().await;
        store
            .ban_network(new_ban("203.0.113.5/32"), ladder(), t)
            .await
            .unwrap();
        store
            .ban_network(new_ban("203.0.113.6/32"), ladder(), t)
            .await
            .unwrap();
        store
            .allow("192.0.2.0/24", "the agency", Vec::new(), t)
            .await
            .unwrap();
    }
    let store = open().await;
    let active = store.list_active(t + 1).await.unwrap();
    assert_eq!(active.len(), 2, "bans persist across a restart");
    let allowed = store.allowed().await.unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].network, "192.0.2.0/24");
    let lifted = store
        .allow(
            "203.0.113.0/24",
            "ours",
            vec!["203.0.113.5/32".into()],
            t + 2,
        )
        .await
        .unwrap();
    assert_eq!(lifted, 1, "the ban inside the allowed network ended");
    let left: Vec<String> = store
        .list_active(t + 3)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.network)
        .collect();
    assert_eq!(left, ["203.0.113.6/32"]);
    assert!(store.disallow("192.0.2.0/24").await.unwrap());
    assert!(!store.disallow("192.0.2.0/24").await.unwrap());
}

/// NC-2.4.3: the IDS log keeps its events until their retention ends, then prunes them with the
/// bans that ended before; the oldest kept event is reported.
pub async fn ids_log_retention_and_oldest<H: Harness>(h: &H) {
    let place = h.create().await;
    ids_log_retention_and_oldest_on(&*h.open(&place).await).await;
}

pub async fn ids_log_retention_and_oldest_on<S: Bans + ?Sized>(store: &S) {
    let day = 86_400 * 1_000_000i64;
    let now = crate::now_micros();
    for age in [200, 100, 10] {
        store
            .ids_record(IdsEvent {
                ts: now - age * day,
                network: "192.0.2.9".into(),
                event: "detect".into(),
                detector: "harvest".into(),
                detail: format!("{age} days ago"),
            })
            .await;
    }
    store
        .ban_network(
            new_ban("192.0.2.9/32"),
            BanLength::Until(Some(now - 120 * day)),
            now - 121 * day,
        )
        .await
        .unwrap();
    let oldest = store.oldest_kept().await.unwrap();
    assert_eq!(oldest.ids, Some(now - 200 * day));
    let pruned = store.prune_ids(90, now).await.unwrap();
    // Two events (200 and 100 days old), the ban's log line (121 days) and the ended ban row.
    assert_eq!(pruned, 4);
    let kept = store.ids_events(0, 100).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].detail, "10 days ago");
    // One kind of event only: an unblock among detections.
    store
        .ids_record(IdsEvent {
            ts: now,
            network: "192.0.2.0/24".into(),
            event: "unblock".into(),
            detector: "admin".into(),
            detail: "lifted".into(),
        })
        .await;
    let of = store.ids_events_of("unblock", 0, 100).await.unwrap();
    assert_eq!(of.len(), 1, "{of:?}");
    assert_eq!(of[0].network, "192.0.2.0/24");
    assert!(store
        .ids_events_of("detect", now, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.ids_events(0, 100).await.unwrap().len(), 2);
    assert_eq!(
        store.oldest_kept().await.unwrap().ids,
        Some(now - 10 * day),
        "the oldest kept event is inside the retention"
    );
    // The ban row went with the log: the next ban is a first one again.
    let b = store
        .ban_network(new_ban("192.0.2.9/32"), ladder(), now)
        .await
        .unwrap();
    assert_eq!(b.repeats, 1);
}
