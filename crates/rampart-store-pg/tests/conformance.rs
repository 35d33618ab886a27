//! The store traits' conformance suite ([`rampart_store::conformance`]) against PostgreSQL, for
//! the traits this crate implements so far (Directory, SharedState, Trace, MailStore and the
//! rest but those in `rampart_store_pg::MISSING`), each check on a new
//! database of a cluster the test starts (rampart_store_pg::cluster); plus what is PostgreSQL's
//! own: the schema's versions, several handles (nodes) on one database, and a database that
//! does not answer.

use rampart_store::api::{Directory, SharedState};
use rampart_store::conformance as c;
use rampart_store_pg::cluster::Cluster;
use rampart_store_pg::{migrate, PgStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn store(cluster: &Cluster) -> PgStore {
    let db = cluster.create_database().await;
    PgStore::open(&cluster.options(&db))
        .await
        .unwrap_or_else(|e| panic!("the store opens: {e}\n{}", cluster.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_on_postgresql() {
    let cluster = Cluster::start();
    c::directory_domains_on(&store(&cluster).await).await;
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::directory_users_on(&s).await;
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::directory_aliases_and_send_as_on(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_state_on_postgresql() {
    let cluster = Cluster::start();
    c::shared_counters_on(Arc::new(store(&cluster).await)).await;
    c::shared_auth_failures_and_bans_on(&store(&cluster).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_on_postgresql() {
    let cluster = Cluster::start();
    c::trace_timelines_on(&store(&cluster).await).await;
}

/// Two handles on one database are two nodes: what one writes the other sees, and a brute force
/// split between them counts once (NC-2.4.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_directory_counters_and_bans() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let a = PgStore::open(&cluster.options(&db)).await.unwrap();
    let b = PgStore::open(&cluster.options(&db)).await.unwrap();
    a.add_domain("local.example").await.unwrap();
    a.add_user("user@local.example", "correct horse battery")
        .await
        .unwrap();
    assert!(
        b.verify_password("user@local.example", "correct horse battery")
            .await
            .unwrap(),
        "a user added on node A logs in on node B"
    );
    let (t, w) = (1_800_000_000_000_000i64, 600_000_000i64);
    let mut counts = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        counts.push(node.auth_failure("ip:192.0.2.7", t + i, w).await.unwrap());
    }
    assert_eq!(
        counts,
        vec![1, 2, 3, 4, 5, 6],
        "failures on both nodes count as one series"
    );
    // Concurrent failures from both nodes: none lost, each sees a distinct count.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.auth_failure("ip:192.0.2.8", t + 10, w).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=20).collect::<Vec<u32>>());
    a.ban("ip:192.0.2.7", t, t + 1_000, "brute force")
        .await
        .unwrap();
    assert!(
        b.banned("ip:192.0.2.7", t + 1).await.unwrap().is_some(),
        "a ban made on node A holds on node B"
    );
}

/// The schema is applied once, however many nodes open the database at the same time, and its
/// version is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_are_versioned() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let opts = cluster.options(&db);
    let (a, b) = tokio::join!(PgStore::open(&opts), PgStore::open(&opts));
    let (a, _b) = (a.unwrap(), b.unwrap());
    let latest = migrate::MIGRATIONS.last().unwrap().0;
    assert_eq!(a.schema_version().await.unwrap(), latest);
    let again = PgStore::open(&opts).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), latest);
    let status = a.pool_status();
    assert_eq!(
        status.iter().map(|s| (s.0, s.1 <= 8)).collect::<Vec<_>>(),
        vec![("sessions", true), ("queue", true), ("leases", true)]
    );
}

/// A wrong password, and a database that stops answering: errors within the acquisition
/// timeout, never a hang; service resumes when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_fails_fast() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let mut wrong = cluster.options(&db);
    wrong.password = Some("not the password".into());
    let err = PgStore::open(&wrong)
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(err.to_string().contains("password"), "{err}");

    // A port where nothing listens.
    let mut gone = cluster.options(&db);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    gone.url = format!("postgresql://rampart@127.0.0.1:{port}/{db}");
    gone.timeouts.acquire = Duration::from_secs(2);
    let store = PgStore::connect(&gone).unwrap();
    let started = Instant::now();
    let err = store.domains().await.expect_err("no database, no answer");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an error within the timeout, not a hang"
    );
    assert!(err.to_string().contains("no database connection"), "{err}");
}

/// The database stops while a node uses it: calls fail within the timeout (the SMTP layer
/// answers 451), and succeed again once it is back, with nothing committed lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_fails_then_recovers() {
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let mut opts = cluster.options(&db);
    opts.timeouts.acquire = Duration::from_secs(2);
    let store = PgStore::open(&opts).await.unwrap();
    store.add_domain("before.example").await.unwrap();
    cluster.pause();
    let started = Instant::now();
    let err = store
        .add_domain("during.example")
        .await
        .expect_err("no database, no commit");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an error within the timeout, not a hang: {err}"
    );
    cluster.resume();
    // Pooled connections died with the server: poll until a new one answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.add_domain("after.example").await {
            Ok(()) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
    assert_eq!(
        store.domains().await.unwrap(),
        vec!["after.example", "before.example"],
        "what was committed before survives; what failed is not there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_on_postgresql() {
    let cluster = Cluster::start();
    c::bans_escalate_expire_and_unban_on(&store(&cluster).await).await;
    c::ids_log_retention_and_oldest_on(&store(&cluster).await).await;
    // The restart: a new handle (a new pool) on the same database.
    let db = cluster.create_database().await;
    let opts = cluster.options(&db);
    c::bans_survive_restart_and_allow_lifts_on(|| async {
        Box::new(PgStore::open(&opts).await.expect("the store reopens"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_sessions_on_postgresql() {
    let cluster = Cluster::start();
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::web_sessions_create_check_end_on(&s).await;
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::web_sessions_expire_and_prune_on(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_on_postgresql() {
    use rampart_store::tokens::{token_hash, Logins, Scope, TokenCheck};
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let s = PgStore::open(&cluster.options(&db)).await.unwrap();
    c::populate(&s).await;
    c::logins_without_tokens_or_grants_on(&s).await;
    // Tokens are made by the administrator's command, outside the trait: a row as it writes
    // one, then the trait's answers to it.
    let token = "rpt_0123456789abcdef";
    let sql = cluster.client(&db).await;
    sql.execute(
        "INSERT INTO access_tokens(id, account, name, hash, scopes, created, expires)
         VALUES ('t1', 'user@local.example', 'phone', $1, 'jmap', 0, NULL)",
        &[&token_hash(token)],
    )
    .await
    .unwrap();
    let first = s.token_authenticate(token, Scope::Jmap).await.unwrap();
    assert!(
        matches!(first, TokenCheck::Valid { first_use_this_hour: true, ref account, .. }
                 if account == "user@local.example"),
        "the first use is recorded: {first:?}"
    );
    assert!(
        matches!(
            s.token_authenticate(token, Scope::Jmap).await.unwrap(),
            TokenCheck::Valid {
                first_use_this_hour: false,
                ..
            }
        ),
        "a second use within the hour is not recorded again"
    );
    assert!(matches!(
        s.token_authenticate(token, Scope::Submission)
            .await
            .unwrap(),
        TokenCheck::WrongScope { .. }
    ));
    sql.execute(
        "UPDATE users SET disabled = true WHERE address = 'user@local.example'",
        &[],
    )
    .await
    .unwrap();
    assert!(
        matches!(
            s.token_authenticate(token, Scope::Jmap).await.unwrap(),
            TokenCheck::Disabled { .. }
        ),
        "a disabled account's token is refused"
    );
    assert_eq!(
        s.account_disabled("USER@local.example").await.unwrap(),
        Some(true)
    );
    sql.execute(
        "INSERT INTO mailbox_grants(owner, delegate, rights, created)
         VALUES ('user@local.example', 'other@local.example', 'send-as', 1)",
        &[],
    )
    .await
    .unwrap();
    let grants = s.grants_to("Other@local.example").await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (grants[0].owner.as_str(), grants[0].rights),
        ("user@local.example", rampart_store::grants::Rights::SendAs)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam_tokens_on_postgresql() {
    let cluster = Cluster::start();
    c::spam_train_once_and_reverse_on(&store(&cluster).await).await;
    c::spam_lesson_weights_on(&store(&cluster).await).await;
    let db = cluster.create_database().await;
    let opts = cluster.options(&db);
    c::spam_scopes_apart_and_kept_on(|| async {
        Box::new(PgStore::open(&opts).await.expect("the store reopens"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_reporting_on_postgresql() {
    let cluster = Cluster::start();
    let reopen = |db: String| {
        let opts = cluster.options(&db);
        move || {
            let opts = opts.clone();
            async move { Box::new(PgStore::open(&opts).await.expect("the store reopens")) }
        }
    };
    c::tls_sts_policy_cache_on(reopen(cluster.create_database().await)).await;
    c::tls_outcomes_by_day_on(reopen(cluster.create_database().await)).await;
    c::tls_reports_sent_once_on(reopen(cluster.create_database().await)).await;
    c::tls_reports_received_kept_on(reopen(cluster.create_database().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reporting_on_postgresql() {
    let cluster = Cluster::start();
    let reopen = |db: String| {
        let opts = cluster.options(&db);
        move || {
            let opts = opts.clone();
            async move { Box::new(PgStore::open(&opts).await.expect("the store reopens")) }
        }
    };
    c::dmarc_evaluations_kept_until_done_on(reopen(cluster.create_database().await)).await;
    c::dmarc_reports_received_once_on(reopen(cluster.create_database().await)).await;
}

/// NC-2.4.2 across nodes: two nodes banning one network at the same moment make one first ban
/// (the repeat count is decided under a lock of the network), and a ban made on node A is in
/// force on node B, whose generation moved so it reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_network_bans() {
    use rampart_store::bans::{BanLength, Bans, NewBan};
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let a = PgStore::open(&cluster.options(&db)).await.unwrap();
    let b = PgStore::open(&cluster.options(&db)).await.unwrap();
    let g0 = b.bans_generation().await.unwrap();
    let t = 1_800_000_000_000_000i64;
    let ladder = || BanLength::Ladder(vec![Some(900_000_000), Some(3_600_000_000)]);
    let ban = |n: u8| NewBan {
        network: "192.0.2.66/32".into(),
        reason: "auth brute force".into(),
        detector: "auth".into(),
        evidence: format!("seen by node {n}"),
    };
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (nb, l) = (ban(i % 2), ladder());
        tasks.push(tokio::spawn(
            async move { node.ban_network(nb, l, t).await },
        ));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().expect("a ban on either node succeeds"));
    }
    assert!(
        results.iter().all(|r| r == &results[0] && r.repeats == 1),
        "one first ban, whichever node made it: {results:?}"
    );
    assert!(b.bans_generation().await.unwrap() > g0);
    let on_b = b.list_active(t + 1).await.unwrap();
    assert_eq!(on_b.len(), 1, "node B sees node A's ban");
    assert!(a
        .unban_network("192.0.2.66/32", "admin", t + 2)
        .await
        .unwrap());
    assert!(
        b.list_active(t + 3).await.unwrap().is_empty(),
        "an unban on node A ends the ban on node B"
    );
    let again = b.ban_network(ban(1), ladder(), t + 4).await.unwrap();
    assert_eq!(again.repeats, 2, "the next ban on node B counts node A's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_on_postgresql() {
    let cluster = Cluster::start();
    let populated = || async {
        let s = store(&cluster).await;
        c::populate(&s).await;
        s
    };
    c::queue_enqueue_and_read_back_on(&populated().await).await;
    c::queue_attempts_and_removal_on(&populated().await).await;
    c::queue_generated_on(&populated().await).await;
    c::queue_local_delivery_and_single_copy_on(&populated().await).await;
    c::concurrent_enqueues_on(Arc::new(populated().await)).await;
    let db = cluster.create_database().await;
    let opts = cluster.options(&db);
    c::restart_keeps_acknowledged_on(|| async {
        Box::new(PgStore::open(&opts).await.expect("the store reopens"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_on_postgresql() {
    let cluster = Cluster::start();
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::quarantine_hold_release_delete_on(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_audit_on_postgresql() {
    let cluster = Cluster::start();
    c::mailbox_audit_record_and_select_on(&store(&cluster).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_on_postgresql() {
    let cluster = Cluster::start();
    for check in 0..3 {
        let s = store(&cluster).await;
        c::populate(&s).await;
        match check {
            0 => c::submission_identities_and_changes_on(&s).await,
            1 => c::submission_records_on(&s).await,
            _ => c::submission_vacation_and_replies_on(&s).await,
        }
    }
}

/// Delivery for the mail checks: the message stored and delivered through the crate's
/// `deliver_email`, as the queue's local delivery does (cluster::deliver).
struct Deliver(PgStore);

impl c::Deliver for Deliver {
    fn deliver<'a>(
        &'a self,
        subject: &'a str,
        to: &'a [&'a str],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let raw = c::small_message(subject);
            let rp = "Return-Path: <sender@remote.example>\r\n".len();
            rampart_store_pg::cluster::deliver(&self.0, &raw, rp, to, false)
                .await
                .expect("a local delivery commits");
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_store_on_postgresql() {
    let cluster = Cluster::start();
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::mail_delivery_roles_and_changes_on(&s, &Deliver(s.clone())).await;
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::mail_keywords_moves_destroy_on(&s, &Deliver(s.clone())).await;
    let s = store(&cluster).await;
    c::populate(&s).await;
    c::mail_push_feed_on(&s, &Deliver(s.clone())).await;
}

/// JMAP push across nodes: a delivery committed through node A reaches the change feed of node
/// B (LISTEN/NOTIFY), and a change rolled back reaches no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_changes_reach_the_other_node() {
    use rampart_store::api::MailStore;
    use rampart_store::mail::Kind;
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let a = PgStore::open(&cluster.options(&db)).await.unwrap();
    let b = PgStore::open(&cluster.options(&db)).await.unwrap();
    c::populate(&a).await;
    let mut on_b = b.mail_changes_feed();
    let raw = c::small_message("across");
    let (_, ids) = rampart_store_pg::cluster::deliver(&a, &raw, 0, &["User@local.example"], false)
        .await
        .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(10), on_b.recv())
        .await
        .expect("node B hears of node A's delivery within the deadline")
        .expect("the feed is open");
    assert_eq!(change.account, "user@local.example");
    assert!(change.kinds.contains(&Kind::Email), "{change:?}");
    b.index_pending("user@local.example").await.unwrap();
    assert_eq!(
        b.email_get("user@local.example", &ids).await.unwrap()[0]
            .subject
            .as_deref(),
        Some("across"),
        "node B reads the email node A delivered"
    );
    // A refused write (no such email) commits nothing and announces nothing: the next change
    // B hears of is the mailbox A creates afterwards.
    assert!(a
        .email_set_keywords("user@local.example", ids[0] + 999, vec!["$seen".into()])
        .await
        .is_err());
    a.mailbox_create(
        "user@local.example",
        rampart_store::mail::NewMailbox {
            name: "Projects".into(),
            subscribed: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), on_b.recv())
        .await
        .expect("the mailbox creation is heard")
        .unwrap();
    assert_eq!(next.kinds, vec![Kind::Mailbox], "{next:?}");
}

/// The listening connection of node B is cut (its backend terminated) and cannot come back for
/// a while: a change committed by node A meanwhile, which B's listener could not hear, is
/// announced to B's subscribers once it reconnects, as "every kind may have changed" for that
/// account (the change itself announced the Mailbox kind only), not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_feed_catches_up_after_its_connection_drops() {
    use rampart_store::api::MailStore;
    use rampart_store::mail::{Kind, NewMailbox};
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let a = PgStore::open(&cluster.options(&db)).await.unwrap();
    let b = PgStore::open(&cluster.options(&db)).await.unwrap();
    c::populate(&a).await;
    let mut on_b = b.mail_changes_feed();
    a.mailbox_ensure("other@local.example").await.unwrap();
    // The role mailboxes' own announcement first, so it is not mistaken for the catch-up.
    let first = tokio::time::timeout(Duration::from_secs(10), on_b.recv())
        .await
        .expect("the role mailboxes are announced")
        .unwrap();
    assert_eq!(first.kinds, vec![Kind::Mailbox]);
    let admin = cluster.client("postgres").await;
    // No new connection to the database until allowed again: A writes on the connection its
    // pool holds, B's listener cannot reconnect.
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    let cut = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name LIKE '% mail listener' AND datname = $1",
            &[&db],
        )
        .await
        .unwrap();
    assert_eq!(cut, 2, "both nodes' listeners were found and cut");
    a.mailbox_create(
        "other@local.example",
        NewMailbox {
            name: "Meanwhile".into(),
            subscribed: true,
            ..Default::default()
        },
    )
    .await
    .expect("node A writes on its pooled connection");
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let change = tokio::time::timeout(left, on_b.recv())
            .await
            .expect("the change made while B was cut off is announced after it reconnects")
            .expect("the feed is open");
        if change.account == "other@local.example" {
            assert_eq!(
                change.kinds,
                vec![Kind::Email, Kind::Thread, Kind::Mailbox],
                "every kind may have changed: {change:?}"
            );
            break;
        }
    }
}

/// PostgreSQL stopped and started: node B's listener reconnects by itself, and a delivery
/// committed on node A once the database is back reaches B's feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_feed_survives_a_database_restart() {
    use rampart_store::api::MailStore;
    let cluster = Cluster::start();
    let db = cluster.create_database().await;
    let mut opts = cluster.options(&db);
    opts.timeouts.acquire = Duration::from_secs(2);
    let a = PgStore::open(&opts).await.unwrap();
    let b = PgStore::open(&opts).await.unwrap();
    c::populate(&a).await;
    let mut on_b = b.mail_changes_feed();
    cluster.pause();
    cluster.resume();
    let raw = c::small_message("after restart");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match rampart_store_pg::cluster::deliver(&a, &raw, 0, &["user@local.example"], false).await
        {
            Ok(_) => break,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("node A did not recover: {e}"),
        }
    }
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let change = tokio::time::timeout(left, on_b.recv())
            .await
            .expect("node B hears of the delivery after the restart")
            .expect("the feed is open");
        if change.account == "user@local.example" {
            break;
        }
    }
}
