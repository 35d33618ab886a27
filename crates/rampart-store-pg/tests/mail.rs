//! The mail model on PostgreSQL, beyond the conformance checks: the behaviour the embedded
//! store's unit tests describe (crates/rampart-store/src/mail/tests*.rs), on a cluster the test
//! starts, and what only several nodes can show (two nodes giving a new account its mailboxes
//! at once).

use rampart_store::api::{Directory, MailStore, Mailboxes};
use rampart_store::mail::{
    Comparator, EmailFilter, EmailQuery, FilterCondition, Kind, MailError, MailboxUpdate,
    NewMailbox, SortProperty,
};
use rampart_store_pg::cluster::{self, Cluster};
use rampart_store_pg::PgStore;

const A: &str = "alice@example.test";
const B: &str = "bob@example.test";
const RP: &str = "Return-Path: <s@example.net>\r\n";

async fn store(cluster: &Cluster) -> PgStore {
    let db = cluster.create_database().await;
    let s = PgStore::open(&cluster.options(&db))
        .await
        .unwrap_or_else(|e| panic!("the store opens: {e}\n{}", cluster.log()));
    s.add_domain("example.test").await.unwrap();
    s
}

fn message(headers: &str, body: &str) -> Vec<u8> {
    format!("{RP}{headers}\r\n\r\n{body}\r\n").into_bytes()
}

/// Delivers and indexes; returns the email ids in the order of `users`.
async fn deliver(s: &PgStore, users: &[&str], raw: Vec<u8>, junk: bool) -> (String, Vec<i64>) {
    let out = cluster::deliver(s, &raw, RP.len(), users, junk)
        .await
        .expect("the delivery commits");
    for u in users {
        s.index_pending(u).await.unwrap();
    }
    out
}

async fn role(s: &PgStore, user: &str, role: &str) -> rampart_store::mail::MailboxInfo {
    s.mailbox_get(user)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role.as_deref() == Some(role))
        .unwrap_or_else(|| panic!("{user} has a {role} mailbox"))
}

async fn state(s: &PgStore, user: &str, kind: Kind) -> String {
    s.mail_state(user, kind).await.unwrap()
}

fn cond(c: FilterCondition) -> Option<EmailFilter> {
    Some(EmailFilter::Condition(Box::new(c)))
}

async fn ids(s: &PgStore, filter: Option<EmailFilter>, sort: Vec<Comparator>) -> Vec<i64> {
    s.email_query(
        A,
        &EmailQuery {
            filter,
            sort,
            ..EmailQuery::default()
        },
    )
    .await
    .unwrap()
    .ids
}

fn by(property: SortProperty, ascending: bool) -> Vec<Comparator> {
    vec![Comparator {
        property,
        ascending,
    }]
}

/// AL-1.2: mail the gateway tagged as spam is filed in Junk; without a Junk mailbox, in the
/// Inbox rather than nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn al_1_2_spam_goes_to_junk_and_without_junk_to_the_inbox() {
    let c = Cluster::start();
    let s = store(&c).await;
    deliver(&s, &[A], message("Subject: cheap pills", "buy"), true).await;
    assert_eq!(role(&s, A, "junk").await.total_emails, 1);
    assert_eq!(role(&s, A, "inbox").await.total_emails, 0);
    let junk = role(&s, A, "junk").await.id;
    s.mailbox_destroy(A, junk, true).await.unwrap();
    deliver(&s, &[A], message("Subject: more", "x"), true).await;
    assert_eq!(role(&s, A, "inbox").await.total_emails, 1);
}

/// RFC 8620 section 5.2 on PostgreSQL: created/updated/destroyed since a state, pages of
/// maxChanges, and cannotCalculateChanges for bad, future and pruned states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_page_and_refuse_what_they_cannot_calculate() {
    let c = Cluster::start();
    let s = store(&c).await;
    let (_, e1) = deliver(&s, &[A], message("Subject: 1", "1"), false).await;
    let s1 = state(&s, A, Kind::Email).await;
    let (_, e2) = deliver(&s, &[A], message("Subject: 2", "2"), false).await;
    let (_, e3) = deliver(&s, &[A], message("Subject: 3", "3"), false).await;
    s.email_set_keywords(A, e1[0], vec!["$seen".into()])
        .await
        .unwrap();
    s.email_destroy(A, vec![e3[0]]).await.unwrap();
    let ch = s.mail_changes(A, Kind::Email, &s1, None).await.unwrap();
    assert_eq!(
        (ch.created.clone(), ch.updated.clone(), ch.destroyed.clone()),
        (e2.clone(), e1.clone(), vec![]),
        "created and destroyed since the state is never reported"
    );
    assert_eq!(ch.new_state, state(&s, A, Kind::Email).await);
    let page = s.mail_changes(A, Kind::Email, &s1, Some(1)).await.unwrap();
    assert!(page.has_more_changes);
    assert_eq!(
        page.created.len() + page.updated.len() + page.destroyed.len(),
        1
    );
    let rest = s
        .mail_changes(A, Kind::Email, &page.new_state, None)
        .await
        .unwrap();
    assert_eq!(rest.new_state, ch.new_state);
    for bad in ["x", "99999", "-1"] {
        let r = s.mail_changes(A, Kind::Email, bad, None).await;
        assert!(
            matches!(r, Err(MailError::CannotCalculateChanges)),
            "{bad}: {r:?}"
        );
    }
    s.mail_prune_changes(A, Kind::Email, 1).await.unwrap();
    let r = s.mail_changes(A, Kind::Email, &s1, None).await;
    assert!(matches!(r, Err(MailError::CannotCalculateChanges)), "{r:?}");
}

/// One stored body for two accounts; it goes with the last email that refers to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stored_copy_until_the_last_email_goes() {
    let c = Cluster::start();
    let db = c.create_database().await;
    let s = PgStore::open(&c.options(&db)).await.unwrap();
    let sql = c.client(&db).await;
    let (msg, e) = deliver(&s, &[A, B], message("Subject: shared", "body"), false).await;
    assert_eq!(count(&sql, &msg).await, 2, "one row and one body");
    assert_eq!(s.email_destroy(A, vec![e[0]]).await.unwrap(), vec![true]);
    let still = s.mailbox_message(B, e[1]).await.unwrap().unwrap();
    assert!(still.ends_with(b"body\r\n") && still.starts_with(RP.as_bytes()));
    assert!(s.mailbox_delete(B, e[1]).await.unwrap());
    assert_eq!(
        count(&sql, &msg).await,
        0,
        "the body went with the last email"
    );
    assert!(!s.mailbox_delete(B, e[1]).await.unwrap());
}

/// Rows of message `id` in messages and message_bodies.
async fn count(sql: &tokio_postgres::Client, id: &str) -> i64 {
    sql.query_one(
        "SELECT (SELECT count(*) FROM messages WHERE id = $1)
              + (SELECT count(*) FROM message_bodies WHERE id = $1)",
        &[&id],
    )
    .await
    .unwrap()
    .get(0)
}

/// Import stores a new message and indexes it at once; copy shares the body; quotas count
/// emails and live uploads, and refuse what would pass the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_copy_quota_and_uploads() {
    let c = Cluster::start();
    let s = store(&c).await;
    s.mailbox_ensure(A).await.unwrap();
    s.mailbox_ensure(B).await.unwrap();
    let drafts = role(&s, A, "drafts").await.id;
    let raw = b"From: a@example.test\r\nSubject: draft\r\n\r\nhello\r\n".to_vec();
    let id = s
        .email_import(A, raw.clone(), vec![drafts], vec!["$Draft".into()], None)
        .await
        .unwrap();
    let e = s.email_get(A, &[id]).await.unwrap().pop().unwrap();
    assert_eq!(e.subject.as_deref(), Some("draft"), "indexed at import");
    assert_eq!(e.keywords, vec!["$draft"]);
    assert_eq!(s.email_raw(A, id).await.unwrap().unwrap(), raw);
    let inbox_b = role(&s, B, "inbox").await.id;
    let copy = s.email_copy(A, id, B, vec![inbox_b], vec![]).await.unwrap();
    assert_eq!(
        s.email_get(B, &[copy]).await.unwrap()[0].message,
        e.message,
        "the copy shares the stored message"
    );
    assert!(matches!(
        s.email_import(A, raw.clone(), vec![drafts + 1000], vec![], None)
            .await,
        Err(MailError::InvalidProperties(_))
    ));
    let used = s.quota_get(A).await.unwrap().used;
    assert_eq!(used, raw.len() as u64);
    s.quota_set_limit(A, Some(used + 8)).await.unwrap();
    let up = s
        .upload_blob(A, "text/plain", b"hello".to_vec())
        .await
        .unwrap();
    let (got, data) = s.upload_get(A, up.id).await.unwrap().unwrap();
    assert_eq!(
        (got.content_type.as_str(), &data[..]),
        ("text/plain", &b"hello"[..])
    );
    assert!(
        s.upload_get(B, up.id).await.unwrap().is_none(),
        "per account"
    );
    let over = s.upload_blob(A, "text/plain", b"abcd".to_vec()).await;
    assert!(matches!(over, Err(MailError::OverQuota)), "{over:?}");
    let over = s
        .email_import(A, raw.clone(), vec![drafts], vec![], None)
        .await;
    assert!(matches!(over, Err(MailError::OverQuota)), "{over:?}");
    s.quota_set_limit(A, None).await.unwrap();
    assert_eq!(s.quota_get(A).await.unwrap().limit, None);
}

/// Email/query: each filter condition, full-text search (words, addresses, diacritics), the
/// header condition, operators, sorts, collapseThreads and the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters_search_sorts_and_threads() {
    let c = Cluster::start();
    let s = store(&c).await;
    let (_, x) = deliver(
        &s,
        &[A],
        message(
            "From: Zoë Müller <zoe.mueller@example.net>\r\nTo: alice@example.test\r\n\
             Subject: Quarterly report\r\nMessage-ID: <q1@example.net>\r\nX-Tag: alpha",
            "The numbers are attached. Café au lait.",
        ),
        false,
    )
    .await;
    let (_, y) = deliver(
        &s,
        &[A],
        message(
            "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
             Subject: Re: Quarterly report\r\nMessage-ID: <q2@example.net>\r\n\
             In-Reply-To: <q1@example.net>",
            "Thanks, looks fine",
        ),
        false,
    )
    .await;
    let (_, z) = deliver(
        &s,
        &[A],
        message(
            "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\n\
             Subject: Lunch\r\nMessage-ID: <l1@example.org>",
            &"long body ".repeat(50),
        ),
        false,
    )
    .await;
    let (x, y, z) = (x[0], y[0], z[0]);
    let q = |f: FilterCondition| cond(f);
    let mut found = ids(
        &s,
        q(FilterCondition {
            text: Some("quarterly".into()),
            ..Default::default()
        }),
        vec![],
    )
    .await;
    found.sort();
    assert_eq!(found, vec![x, y], "a word of the subject");
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                from: Some("mueller".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![x],
        "a word of an address"
    );
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                from: Some("muller".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![x],
        "diacritics fold away (Müller)"
    );
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                body: Some("cafe attached".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![x],
        "every word must appear"
    );
    assert!(ids(
        &s,
        q(FilterCondition {
            body: Some("cafe lunch".into()),
            ..Default::default()
        }),
        vec![]
    )
    .await
    .is_empty());
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                from: Some("carol@example.org".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![z],
        "a whole address is a phrase"
    );
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                header: Some(vec!["X-Tag".into(), "ALPHA".into()]),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![x],
        "the header condition reads the stored header section"
    );
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                min_size: Some(400),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![z]
    );
    s.email_set_keywords(A, y, vec!["$flagged".into()])
        .await
        .unwrap();
    assert_eq!(
        ids(
            &s,
            q(FilterCondition {
                has_keyword: Some("$FLAGGED".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![y]
    );
    let not_flagged = EmailFilter::Not(vec![EmailFilter::Condition(Box::new(FilterCondition {
        has_keyword: Some("$flagged".into()),
        ..Default::default()
    }))]);
    assert_eq!(
        ids(&s, Some(not_flagged), by(SortProperty::ReceivedAt, true)).await,
        vec![x, z]
    );
    assert_eq!(
        ids(&s, Some(EmailFilter::Or(vec![])), vec![]).await,
        Vec::<i64>::new()
    );
    // Sorts.
    assert_eq!(
        ids(&s, None, vec![]).await,
        vec![z, y, x],
        "newest first by default"
    );
    assert_eq!(ids(&s, None, by(SortProperty::Size, false)).await[0], z);
    assert_eq!(
        ids(&s, None, by(SortProperty::From, true)).await,
        vec![y, z, x],
        "Bob, Carol, Zoë"
    );
    assert_eq!(
        ids(
            &s,
            None,
            by(SortProperty::HasKeyword("$flagged".into()), false)
        )
        .await[0],
        y
    );
    // Threads: the reply joined the report's thread; collapse shows one per thread.
    let ex = s.email_get(A, &[x, y, z]).await.unwrap();
    assert_eq!(ex[0].thread, ex[1].thread, "a reply joins its thread");
    assert_ne!(ex[0].thread, ex[2].thread);
    let threads = s.thread_get(A, &[ex[0].thread.unwrap()]).await.unwrap();
    assert_eq!(threads, vec![(ex[0].thread.unwrap(), vec![x, y])]);
    let collapsed = s
        .email_query(
            A,
            &EmailQuery {
                collapse_threads: true,
                ..EmailQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((collapsed.ids, collapsed.total), (vec![z, y], 2));
    // The window: a negative position counts from the end; an anchor must be there.
    let w = s
        .email_query(
            A,
            &EmailQuery {
                position: -1,
                limit: Some(5),
                ..EmailQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((w.ids, w.position, w.total), (vec![x], 2, 3));
    let anchored = s
        .email_query(
            A,
            &EmailQuery {
                anchor: Some(y),
                anchor_offset: 1,
                ..EmailQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(anchored.ids, vec![x]);
    let missing = s
        .email_query(
            A,
            &EmailQuery {
                anchor: Some(z + 1000),
                ..EmailQuery::default()
            },
        )
        .await;
    assert!(matches!(missing, Err(MailError::AnchorNotFound)));
    // Another account sees none of it.
    let theirs = s.email_query(B, &EmailQuery::default()).await.unwrap();
    assert_eq!(theirs.total, 0);
}

/// Mailboxes: create, rename, move, the rules on roles, names, cycles and the Inbox, destroy
/// with and without onDestroyRemoveEmails; updatedProperties only for own properties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_are_created_updated_and_destroyed_by_the_rules() {
    let c = Cluster::start();
    let s = store(&c).await;
    s.mailbox_ensure(A).await.unwrap();
    let new = |name: &str, parent: Option<i64>| NewMailbox {
        name: name.into(),
        parent,
        subscribed: true,
        ..NewMailbox::default()
    };
    let work = s.mailbox_create(A, new("Work", None)).await.unwrap();
    let sub = s
        .mailbox_create(A, new("Projects", Some(work)))
        .await
        .unwrap();
    assert!(matches!(
        s.mailbox_create(A, new("Work", None)).await,
        Err(MailError::InvalidProperties(m)) if m.starts_with("name")
    ));
    assert!(matches!(
        s.mailbox_create(A, NewMailbox { role: Some("inbox".into()), ..new("Other", None) }).await,
        Err(MailError::InvalidProperties(m)) if m.starts_with("role")
    ));
    assert!(matches!(
        s.mailbox_create(A, new("", None)).await,
        Err(MailError::InvalidProperties(_))
    ));
    let cycle = MailboxUpdate {
        parent: Some(Some(sub)),
        ..MailboxUpdate::default()
    };
    assert!(matches!(
        s.mailbox_update(A, work, cycle).await,
        Err(MailError::InvalidProperties(m)) if m.contains("cycle")
    ));
    let before = state(&s, A, Kind::Mailbox).await;
    let rename = MailboxUpdate {
        name: Some("Job".into()),
        ..MailboxUpdate::default()
    };
    assert!(s.mailbox_update(A, work, rename.clone()).await.unwrap());
    assert!(
        !s.mailbox_update(A, work, rename).await.unwrap(),
        "no change, no state"
    );
    assert_eq!(
        s.mailbox_props_changed(A, &before).await.unwrap(),
        vec![work]
    );
    let inbox = role(&s, A, "inbox").await.id;
    assert!(matches!(
        s.mailbox_destroy(A, inbox, true).await,
        Err(MailError::Forbidden(_))
    ));
    assert!(matches!(
        s.mailbox_update(
            A,
            inbox,
            MailboxUpdate {
                role: Some(None),
                ..MailboxUpdate::default()
            }
        )
        .await,
        Err(MailError::Forbidden(_))
    ));
    assert!(matches!(
        s.mailbox_destroy(A, work, false).await,
        Err(MailError::MailboxHasChild)
    ));
    // An email only in `sub` is destroyed with it; one also in the Inbox stays there.
    let (_, only) = deliver(&s, &[A], message("Subject: only", "x"), false).await;
    let (_, both) = deliver(&s, &[A], message("Subject: both", "x"), false).await;
    s.email_set_mailboxes(A, only[0], vec![sub]).await.unwrap();
    s.email_set_mailboxes(A, both[0], vec![sub, inbox])
        .await
        .unwrap();
    assert!(matches!(
        s.mailbox_destroy(A, sub, false).await,
        Err(MailError::MailboxHasEmail)
    ));
    s.mailbox_destroy(A, sub, true).await.unwrap();
    assert!(s.email_get(A, &only).await.unwrap().is_empty());
    assert_eq!(
        s.email_get(A, &both).await.unwrap()[0].mailboxes,
        vec![inbox]
    );
    s.mailbox_destroy(A, work, false).await.unwrap();
    assert!(matches!(
        s.mailbox_destroy(A, work, false).await,
        Err(MailError::NotFound)
    ));
}

/// Two nodes delivering the first mail of a new account at the same moment make one set of role
/// mailboxes (the account's lock), and every email lands; the state counts each change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_to_a_new_account_at_once() {
    let c = Cluster::start();
    let db = c.create_database().await;
    let a = PgStore::open(&c.options(&db)).await.unwrap();
    let b = PgStore::open(&c.options(&db)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let raw = message(&format!("Subject: n{i}"), "x");
            cluster::deliver(&node, &raw, RP.len(), &[A], false).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every delivery commits");
    }
    let boxes = a.mailbox_get(A).await.unwrap();
    assert_eq!(boxes.len(), 6, "one set of role mailboxes: {boxes:?}");
    assert_eq!(role(&b, A, "inbox").await.total_emails, 10);
    // Ten emails created; six mailboxes created and ten changes of the Inbox's counts: each
    // counter moved once per change, whichever node made it.
    assert_eq!(state(&a, A, Kind::Email).await, "10");
    assert_eq!(state(&b, A, Kind::Mailbox).await, "16");
}

/// Threads (RFC 8621 section 3) by the embedded store's rule: shared Message-IDs and the same
/// normalised subject, whichever arrives first; a thread changes when an email leaves it and is
/// destroyed with its last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_group_by_message_ids_and_subject() {
    let c = Cluster::start();
    let s = store(&c).await;
    let mut ids = Vec::new();
    for (headers, body) in [
        // The reply arrives before the message it answers.
        (
            "Subject: Re: Lunch\r\nMessage-ID: <r1@x>\r\nIn-Reply-To: <p@x>",
            "ok",
        ),
        ("Subject: Lunch\r\nMessage-ID: <p@x>", "when?"),
        (
            "Subject: RE: lunch\r\nMessage-ID: <r2@x>\r\nReferences: <p@x> <r1@x>",
            "noon",
        ),
        // Refers to the thread, but about something else: a thread of its own.
        (
            "Subject: Dinner\r\nMessage-ID: <d@x>\r\nIn-Reply-To: <p@x>",
            "?",
        ),
        // Same subject, no shared Message-ID: not in the thread.
        ("Subject: Lunch\r\nMessage-ID: <z@x>", "?"),
    ] {
        let raw = message(headers, body);
        let (_, e) = cluster::deliver(&s, &raw, RP.len(), &[A], false)
            .await
            .unwrap();
        ids.push(e[0]);
    }
    s.index_pending(A).await.unwrap();
    let es = s.email_get(A, &ids).await.unwrap();
    let t: Vec<i64> = es.iter().map(|e| e.thread.unwrap()).collect();
    assert!(t[0] == t[1] && t[1] == t[2], "{t:?}");
    assert!(t[3] != t[0] && t[4] != t[0] && t[3] != t[4], "{t:?}");
    assert_eq!(
        s.thread_get(A, &[t[0]]).await.unwrap(),
        vec![(t[0], vec![ids[0], ids[1], ids[2]])]
    );
    let before = state(&s, A, Kind::Thread).await;
    s.email_destroy(A, vec![ids[4]]).await.unwrap();
    let ch = s
        .mail_changes(A, Kind::Thread, &before, None)
        .await
        .unwrap();
    assert_eq!(ch.destroyed, vec![t[4]]);
    assert!(s.thread_get(A, &[t[4]]).await.unwrap().is_empty());
}

/// RFC 8621 section 2: unreadThreads counts threads with an unread email anywhere; reading an
/// email in another mailbox of the thread changes the count, so the Mailbox state moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_threads_follow_the_thread_across_mailboxes() {
    let c = Cluster::start();
    let s = store(&c).await;
    let (_, first) = deliver(
        &s,
        &[A],
        message("Subject: Plan\r\nMessage-ID: <p@y>", "?"),
        false,
    )
    .await;
    let (_, reply) = deliver(
        &s,
        &[A],
        message("Subject: Re: Plan\r\nIn-Reply-To: <p@y>", "!"),
        false,
    )
    .await;
    let archive = role(&s, A, "archive").await.id;
    s.email_set_mailboxes(A, first[0], vec![archive])
        .await
        .unwrap();
    s.email_set_keywords(A, first[0], vec!["$seen".into()])
        .await
        .unwrap();
    let arch = role(&s, A, "archive").await;
    assert_eq!(
        (arch.total_threads, arch.unread_emails, arch.unread_threads),
        (1, 0, 1)
    );
    let before = state(&s, A, Kind::Mailbox).await;
    s.email_set_keywords(A, reply[0], vec!["$seen".into()])
        .await
        .unwrap();
    assert_eq!(role(&s, A, "archive").await.unread_threads, 0);
    let ch = s
        .mail_changes(A, Kind::Mailbox, &before, None)
        .await
        .unwrap();
    assert!(ch.updated.contains(&archive), "{ch:?}");
}

/// A hostile message cannot make its account unindexable: a NUL in a header (PostgreSQL's
/// text cannot hold one) and a body of 100,000 distinct words (1.8 MB of distinct words: a tsvector holds at most 1 MB)
/// are indexed, and the email is found by its words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_indexed() {
    let c = Cluster::start();
    let s = store(&c).await;
    let body: String = (0..100_000).map(|n| format!("distinctword{n} ")).collect();
    let raw = message(
        "Subject: =?utf-8?q?nul=00here?=\r\nMessage-ID: <h@x>",
        &body,
    );
    let (_, e) = cluster::deliver(&s, &raw, RP.len(), &[A], false)
        .await
        .unwrap();
    assert_eq!(s.index_pending(A).await.unwrap(), 1);
    let got = s.email_get(A, &[e[0], e[0]]).await.unwrap();
    assert_eq!(
        got.len(),
        2,
        "each id asked is answered, as in the embedded store"
    );
    assert!(
        got[0].subject.as_deref().unwrap_or("").starts_with("nul"),
        "{:?}",
        got[0].subject
    );
    assert_eq!(
        ids(
            &s,
            cond(FilterCondition {
                body: Some("distinctword5".into()),
                ..Default::default()
            }),
            vec![]
        )
        .await,
        vec![e[0]]
    );
}
