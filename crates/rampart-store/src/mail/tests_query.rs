//! Email/query: each filter condition, the operators, sorts, collapseThreads, the window, and
//! the plan of the default listing.

use super::tests::{fixture, role, Fixture, A};
use super::*;

/// Imports a message into `mailboxes` with `keywords`, received at `at` (microseconds).
async fn import(
    f: &Fixture,
    headers: &str,
    body: &str,
    at: i64,
    mailboxes: Vec<i64>,
    keywords: &[&str],
) -> i64 {
    let raw = format!("{headers}\r\n\r\n{body}").into_bytes();
    let kw = keywords.iter().map(|k| k.to_string()).collect();
    f.store
        .email_import(&f.writer, A, raw, mailboxes, kw, Some(at))
        .await
        .unwrap()
}

fn cond(c: FilterCondition) -> EmailFilter {
    EmailFilter::Condition(Box::new(c))
}

fn ids(f: &Fixture, filter: Option<EmailFilter>, sort: Vec<Comparator>) -> Vec<i64> {
    f.store
        .email_query(
            A,
            &EmailQuery {
                filter,
                sort,
                ..EmailQuery::default()
            },
        )
        .unwrap()
        .ids
}

fn by(property: SortProperty, ascending: bool) -> Vec<Comparator> {
    vec![Comparator {
        property,
        ascending,
    }]
}

struct Set {
    f: Fixture,
    /// Oldest to newest: a, b (a reply to a), c (with attachment), d (in Archive only).
    e: [i64; 4],
    inbox: i64,
    archive: i64,
}

async fn set() -> Set {
    let f = fixture();
    f.store.mailbox_ensure(&f.writer, A).await.unwrap();
    let (inbox, archive) = (role(&f, A, "inbox").id, role(&f, A, "archive").id);
    let a = import(
        &f,
        "Subject: Alpha\r\nFrom: Zed <z@example.net>\r\nMessage-ID: <a@x>",
        "aa",
        100,
        vec![inbox],
        &["$seen"],
    )
    .await;
    let b = import(
        &f,
        "Subject: Re: Alpha\r\nFrom: Ann <ann@example.net>\r\nIn-Reply-To: <a@x>",
        &"b".repeat(500),
        200,
        vec![inbox],
        &[],
    )
    .await;
    let c = import(
        &f,
        "Subject: Charlie\r\nFrom: mo@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q",
        "--q\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--q\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f.bin\r\n\r\nAAAA\r\n--q--",
        300,
        vec![inbox, archive],
        &["$seen", "$flagged"],
    )
    .await;
    let d = import(
        &f,
        "Subject: Delta\r\nFrom: bo@example.net",
        "dd",
        400,
        vec![archive],
        &["$seen"],
    )
    .await;
    Set {
        f,
        e: [a, b, c, d],
        inbox,
        archive,
    }
}

#[tokio::test]
async fn each_filter_condition_selects_what_the_rfc_says() {
    let s = set().await;
    let [a, b, c, d] = s.e;
    let q = |c: FilterCondition| ids(&s.f, Some(cond(c)), by(SortProperty::ReceivedAt, true));
    assert_eq!(
        q(FilterCondition {
            in_mailbox: Some(s.archive),
            ..Default::default()
        }),
        [c, d]
    );
    assert_eq!(
        q(FilterCondition {
            in_mailbox_other_than: Some(vec![s.inbox]),
            ..Default::default()
        }),
        [c, d]
    );
    // before is exclusive, after inclusive.
    assert_eq!(
        q(FilterCondition {
            before: Some(300),
            ..Default::default()
        }),
        [a, b]
    );
    assert_eq!(
        q(FilterCondition {
            after: Some(300),
            ..Default::default()
        }),
        [c, d]
    );
    let size_b = s.f.store.email_get(A, &[b]).unwrap()[0].size as u64;
    // b is the largest: minSize inclusive, maxSize exclusive.
    assert_eq!(
        q(FilterCondition {
            min_size: Some(size_b),
            ..Default::default()
        }),
        [b]
    );
    assert_eq!(
        q(FilterCondition {
            max_size: Some(size_b),
            ..Default::default()
        }),
        [a, c, d]
    );
    assert_eq!(
        q(FilterCondition {
            max_size: Some(size_b + 1),
            ..Default::default()
        }),
        [a, b, c, d]
    );
    assert_eq!(
        q(FilterCondition {
            has_keyword: Some("$FLAGGED".into()),
            ..Default::default()
        }),
        [c]
    );
    assert_eq!(
        q(FilterCondition {
            not_keyword: Some("$seen".into()),
            ..Default::default()
        }),
        [b]
    );
    // a and b are one thread, where only a is $seen.
    assert_eq!(
        q(FilterCondition {
            all_in_thread_have_keyword: Some("$seen".into()),
            ..Default::default()
        }),
        [c, d]
    );
    assert_eq!(
        q(FilterCondition {
            some_in_thread_have_keyword: Some("$seen".into()),
            ..Default::default()
        }),
        [a, b, c, d]
    );
    assert_eq!(
        q(FilterCondition {
            none_in_thread_have_keyword: Some("$flagged".into()),
            ..Default::default()
        }),
        [a, b, d]
    );
    assert_eq!(
        q(FilterCondition {
            has_attachment: Some(true),
            ..Default::default()
        }),
        [c]
    );
    assert_eq!(
        q(FilterCondition {
            has_attachment: Some(false),
            ..Default::default()
        }),
        [a, b, d]
    );
    assert_eq!(
        q(FilterCondition {
            from: Some("ann".into()),
            ..Default::default()
        }),
        [b]
    );
    assert_eq!(
        q(FilterCondition {
            subject: Some("alpha".into()),
            ..Default::default()
        }),
        [a, b]
    );
    assert_eq!(
        q(FilterCondition {
            body: Some("file".into()),
            ..Default::default()
        }),
        [c]
    );
    // Two properties of one condition must both hold.
    assert_eq!(
        q(FilterCondition {
            in_mailbox: Some(s.inbox),
            has_keyword: Some("$seen".into()),
            ..Default::default()
        }),
        [a, c]
    );
    // RFC 8621 section 4.4.1 header: a field of that name, with the text in its value (any case).
    let header = |h: &[&str]| {
        q(FilterCondition {
            header: Some(h.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        })
    };
    assert_eq!(header(&["in-reply-to"]), [b]);
    assert_eq!(header(&["Subject", "ALPHA"]), [a, b]);
    assert_eq!(header(&["Content-Type", "multipart/mixed"]), [c]);
    assert_eq!(header(&["X-Foo"]), Vec::<i64>::new());
    assert_eq!(header(&["From", "nobody"]), Vec::<i64>::new());
}

#[test]
fn header_fields_unfold_and_stop_at_the_body() {
    use super::headers::matches_raw;
    let raw = "Subject: one\r\n two\r\nX-Tag:\tA\r\n\r\nX-Body: no\r\n";
    assert!(matches_raw(raw, &["subject", "one two"]));
    assert!(matches_raw(raw, &["X-TAG", "a"]));
    assert!(!matches_raw(raw, &["X-Body"]));
    assert!(!matches_raw(raw, &["Subject", "three"]));
}

#[tokio::test]
async fn operators_combine_conditions() {
    let s = set().await;
    let [a, b, c, d] = s.e;
    let inbox = cond(FilterCondition {
        in_mailbox: Some(s.inbox),
        ..Default::default()
    });
    let seen = cond(FilterCondition {
        has_keyword: Some("$seen".into()),
        ..Default::default()
    });
    let sort = || by(SortProperty::ReceivedAt, true);
    assert_eq!(
        ids(
            &s.f,
            Some(EmailFilter::And(vec![inbox.clone(), seen.clone()])),
            sort()
        ),
        [a, c]
    );
    assert_eq!(
        ids(
            &s.f,
            Some(EmailFilter::Or(vec![inbox.clone(), seen.clone()])),
            sort()
        ),
        [a, b, c, d]
    );
    assert_eq!(
        ids(
            &s.f,
            Some(EmailFilter::Not(vec![inbox.clone(), seen.clone()])),
            sort()
        ),
        Vec::<i64>::new()
    );
    assert_eq!(ids(&s.f, Some(EmailFilter::Not(vec![inbox])), sort()), [d]);
    let nested = EmailFilter::And(vec![
        seen,
        EmailFilter::Not(vec![cond(FilterCondition {
            in_mailbox: Some(s.archive),
            ..Default::default()
        })]),
    ]);
    assert_eq!(ids(&s.f, Some(nested), sort()), [a]);
}

#[tokio::test]
async fn sorts_order_by_the_rfc_s_properties() {
    let s = set().await;
    let [a, b, c, d] = s.e;
    assert_eq!(
        ids(&s.f, None, vec![]),
        [d, c, b, a],
        "default: newest first"
    );
    assert_eq!(
        ids(&s.f, None, by(SortProperty::ReceivedAt, true)),
        [a, b, c, d]
    );
    assert_eq!(ids(&s.f, None, by(SortProperty::Size, false))[0], b);
    // Subject without Re:, then receivedAt: Alpha(a, b), Charlie, Delta.
    let mut subj = by(SortProperty::Subject, true);
    subj.push(Comparator {
        property: SortProperty::ReceivedAt,
        ascending: false,
    });
    assert_eq!(ids(&s.f, None, subj), [b, a, c, d]);
    // From: the name, else the address: Ann, bo@, mo@, Zed.
    assert_eq!(ids(&s.f, None, by(SortProperty::From, true)), [b, d, c, a]);
    let mut flagged = by(SortProperty::HasKeyword("$flagged".into()), false);
    flagged.push(Comparator {
        property: SortProperty::ReceivedAt,
        ascending: true,
    });
    assert_eq!(ids(&s.f, None, flagged), [c, a, b, d]);
    let mut all_seen = by(SortProperty::AllInThreadHaveKeyword("$seen".into()), true);
    all_seen.push(Comparator {
        property: SortProperty::ReceivedAt,
        ascending: true,
    });
    assert_eq!(ids(&s.f, None, all_seen), [a, b, c, d]);
}

#[tokio::test]
async fn collapse_threads_and_the_window() {
    let s = set().await;
    let [a, b, c, d] = s.e;
    let q = |q: EmailQuery| s.f.store.email_query(A, &q).unwrap();
    let collapsed = q(EmailQuery {
        collapse_threads: true,
        ..EmailQuery::default()
    });
    assert_eq!((collapsed.ids, collapsed.total), (vec![d, c, b], 3));
    let page = q(EmailQuery {
        position: 1,
        limit: Some(2),
        ..EmailQuery::default()
    });
    assert_eq!((page.ids, page.position, page.total), (vec![c, b], 1, 4));
    let tail = q(EmailQuery {
        position: -1,
        ..EmailQuery::default()
    });
    assert_eq!((tail.ids, tail.position), (vec![a], 3));
    let anchored = q(EmailQuery {
        anchor: Some(c),
        anchor_offset: -1,
        limit: Some(2),
        ..EmailQuery::default()
    });
    assert_eq!(
        (anchored.ids, anchored.position, anchored.total),
        (vec![d, c], 0, 4)
    );
    let r = s.f.store.email_query(
        A,
        &EmailQuery {
            anchor: Some(9999),
            ..EmailQuery::default()
        },
    );
    assert!(matches!(r, Err(MailError::AnchorNotFound)), "{r:?}");
    let past = q(EmailQuery {
        position: 10,
        ..EmailQuery::default()
    });
    assert!(past.ids.is_empty());
}

/// The first page of a mailbox, newest first, walks the received index and stops: no sort of
/// the whole account (a temporary B-tree), which is what keeps it fast at 100,000 emails.
#[tokio::test]
async fn the_default_listing_walks_the_received_index() {
    let f = fixture();
    let q = EmailQuery {
        filter: Some(cond(FilterCondition {
            in_mailbox: Some(1),
            ..Default::default()
        })),
        limit: Some(50),
        ..EmailQuery::default()
    };
    let sql = query::build(A, &q, false).unwrap();
    let plan: Vec<String> = f
        .store
        .read(|c| {
            let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {} LIMIT 50", sql.text))?;
            let rows = st.query_map(rusqlite::params_from_iter(&sql.params), |r| {
                r.get::<_, String>(3)
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("mail_emails_received"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

/// At 100,000 emails the first page is the 50 newest and the total is exact (not timed: the
/// plan test above says why it is fast).
#[tokio::test]
async fn the_first_page_of_100_000_emails() {
    let f = fixture();
    f.store.mailbox_ensure(&f.writer, A).await.unwrap();
    let inbox = role(&f, A, "inbox").id;
    f.writer
        .run(false, move |tx| {
            tx.execute_batch(
                "INSERT INTO messages(id, received, sender, size, return_path_len)
                     VALUES ('0000000000001FFFF', 0, '', 10, 0);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                 INSERT INTO mail_emails(account, message, received_at, size, indexed)
                     SELECT 'alice@example.test', '0000000000001FFFF', i, 10, 1 FROM n;",
            )?;
            tx.execute(
                "INSERT INTO mail_email_mailboxes(email, mailbox) SELECT id, ?1 FROM mail_emails",
                [inbox],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let r = f
        .store
        .email_query(
            A,
            &EmailQuery {
                filter: Some(cond(FilterCondition {
                    in_mailbox: Some(inbox),
                    ..Default::default()
                })),
                limit: Some(50),
                ..EmailQuery::default()
            },
        )
        .unwrap();
    assert_eq!(r.total, 100_000);
    assert_eq!(r.ids.len(), 50);
    let first = f.store.email_get(A, &r.ids[..1]).unwrap();
    assert_eq!(first[0].received_at, 100_000, "newest first");
    assert!(r.ids.windows(2).all(|w| w[0] > w[1]));
}
