//! Lazy indexing on a real store: header facts, full-text search, threads.

use super::tests::{deliver, fixture, last_email, message, state, A};
use super::*;

#[tokio::test]
async fn index_pending_fills_the_facts_and_the_search_index() {
    let f = fixture();
    let raw = message(
        "From: Carol Example <carol@example.net>\r\nTo: alice@example.test\r\nSubject: Re: Quarterly numbers\r\nDate: Mon, 23 Nov 2026 08:53:58 +0000\r\nMessage-ID: <q1@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b",
        "--b\r\nContent-Type: text/plain\r\n\r\nThe   budget is attached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nJVBERi0=\r\n--b--",
    );
    deliver(&f, &[A], raw, false).await;
    let id = last_email(&f, A).id;
    assert_eq!(
        last_email(&f, A).subject,
        None,
        "facts wait for index_pending"
    );
    assert_eq!(f.store.index_pending(&f.writer, A).await.unwrap(), 1);
    assert_eq!(f.store.index_pending(&f.writer, A).await.unwrap(), 0);
    let e = f.store.email_get(A, &[id]).unwrap().pop().unwrap();
    assert_eq!(e.subject.as_deref(), Some("Re: Quarterly numbers"));
    assert_eq!(
        e.from,
        [EmailAddress {
            name: Some("Carol Example".into()),
            email: "carol@example.net".into()
        }]
    );
    assert_eq!(e.to[0].email, "alice@example.test");
    assert_eq!(e.sent_at, Some(1_795_424_038));
    assert!(e.has_attachment);
    assert_eq!(e.preview.as_deref(), Some("The budget is attached."));
    assert_eq!(e.message_id.as_deref(), Some("q1@example.net"));
    assert!(e.thread.is_some());
    let search = |c: FilterCondition| {
        f.store
            .email_query(
                A,
                &EmailQuery {
                    filter: Some(EmailFilter::Condition(Box::new(c))),
                    ..EmailQuery::default()
                },
            )
            .unwrap()
            .ids
    };
    let hit = vec![id];
    assert_eq!(
        search(FilterCondition {
            text: Some("budget".into()),
            ..Default::default()
        }),
        hit
    );
    assert_eq!(
        search(FilterCondition {
            text: Some("CAROL".into()),
            ..Default::default()
        }),
        hit
    );
    assert_eq!(
        search(FilterCondition {
            from: Some("carol@example.net".into()),
            ..Default::default()
        }),
        hit
    );
    assert_eq!(
        search(FilterCondition {
            subject: Some("quarterly".into()),
            ..Default::default()
        }),
        hit
    );
    assert_eq!(
        search(FilterCondition {
            body: Some("attached budget".into()),
            ..Default::default()
        }),
        hit
    );
    assert!(search(FilterCondition {
        subject: Some("budget".into()),
        ..Default::default()
    })
    .is_empty());
    assert!(search(FilterCondition {
        to: Some("carol".into()),
        ..Default::default()
    })
    .is_empty());
    assert!(search(FilterCondition {
        text: Some("nowhere".into()),
        ..Default::default()
    })
    .is_empty());
    // FTS5 syntax typed by a user is only words.
    for odd in [
        "\"",
        "NEAR(a b)",
        "budget*",
        "a:b",
        "{subject}: x",
        "-budget",
        "^",
    ] {
        let r = f.store.email_query(
            A,
            &EmailQuery {
                filter: Some(EmailFilter::Condition(Box::new(FilterCondition {
                    text: Some(odd.into()),
                    ..Default::default()
                }))),
                ..EmailQuery::default()
            },
        );
        assert!(r.is_ok(), "{odd}: {r:?}");
    }
}

#[tokio::test]
async fn threads_group_by_message_ids_and_subject() {
    let f = fixture();
    // The reply arrives before the message it answers.
    deliver(
        &f,
        &[A],
        message(
            "Subject: Re: Lunch\r\nMessage-ID: <r1@x>\r\nIn-Reply-To: <p@x>",
            "ok",
        ),
        false,
    )
    .await;
    let reply = last_email(&f, A).id;
    deliver(
        &f,
        &[A],
        message("Subject: Lunch\r\nMessage-ID: <p@x>", "when?"),
        false,
    )
    .await;
    let parent = last_email(&f, A).id;
    deliver(
        &f,
        &[A],
        message(
            "Subject: RE: lunch\r\nMessage-ID: <r2@x>\r\nReferences: <p@x> <r1@x>",
            "noon",
        ),
        false,
    )
    .await;
    let second = last_email(&f, A).id;
    // Refers to the thread, but about something else: a thread of its own.
    deliver(
        &f,
        &[A],
        message(
            "Subject: Dinner\r\nMessage-ID: <d@x>\r\nIn-Reply-To: <p@x>",
            "?",
        ),
        false,
    )
    .await;
    let other = last_email(&f, A).id;
    // Unrelated, same subject: no shared Message-ID, so not in the thread.
    deliver(
        &f,
        &[A],
        message("Subject: Lunch\r\nMessage-ID: <z@x>", "?"),
        false,
    )
    .await;
    let stranger = last_email(&f, A).id;
    f.store.index_pending(&f.writer, A).await.unwrap();
    let ids = [reply, parent, second, other, stranger];
    let es = f.store.email_get(A, &ids).unwrap();
    let t: Vec<i64> = es.iter().map(|e| e.thread.unwrap()).collect();
    assert!(t[0] == t[1] && t[1] == t[2], "{t:?}");
    assert!(t[3] != t[0] && t[4] != t[0] && t[3] != t[4], "{t:?}");
    let threads = f.store.thread_get(A, &[t[0]]).unwrap();
    assert_eq!(threads, vec![(t[0], vec![reply, parent, second])]);
    // The thread changes when one of its emails goes, and is destroyed with the last.
    let s = state(&f, A, Kind::Thread);
    f.store
        .email_destroy(&f.writer, A, vec![stranger])
        .await
        .unwrap();
    let c = f.store.mail_changes(A, Kind::Thread, &s, None).unwrap();
    assert_eq!(c.destroyed, vec![t[4]]);
    assert!(f.store.thread_get(A, &[t[4]]).unwrap().is_empty());
}

/// RFC 8621 section 2: unreadThreads of a mailbox counts threads with an unread email anywhere;
/// reading an email in another mailbox of the thread changes it, so the Mailbox state moves.
#[tokio::test]
async fn unread_threads_follow_the_thread_across_mailboxes() {
    let f = fixture();
    deliver(
        &f,
        &[A],
        message("Subject: Plan\r\nMessage-ID: <p@y>", "?"),
        false,
    )
    .await;
    let first = last_email(&f, A).id;
    deliver(
        &f,
        &[A],
        message("Subject: Re: Plan\r\nIn-Reply-To: <p@y>", "!"),
        false,
    )
    .await;
    let reply = last_email(&f, A).id;
    f.store.index_pending(&f.writer, A).await.unwrap();
    let archive = super::tests::role(&f, A, "archive").id;
    f.store
        .email_set_mailboxes(&f.writer, A, first, vec![archive])
        .await
        .unwrap();
    f.store
        .email_set_keywords(&f.writer, A, first, vec!["$seen".into()])
        .await
        .unwrap();
    let arch = super::tests::role(&f, A, "archive");
    assert_eq!(
        (arch.total_threads, arch.unread_emails, arch.unread_threads),
        (1, 0, 1)
    );
    let s = state(&f, A, Kind::Mailbox);
    // The reply, in the Inbox, is read: the Archive's thread is read now too.
    f.store
        .email_set_keywords(&f.writer, A, reply, vec!["$seen".into()])
        .await
        .unwrap();
    assert_eq!(super::tests::role(&f, A, "archive").unread_threads, 0);
    let c = f.store.mail_changes(A, Kind::Mailbox, &s, None).unwrap();
    assert!(c.updated.contains(&archive), "{c:?}");
}
