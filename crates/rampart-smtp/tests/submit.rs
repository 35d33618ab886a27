//! `rampart_smtp::submit`: mail submitted from inside the server meets the submission session's
//! own policy (NC-2.1.7) and is queued like SMTP mail.

mod support;

use rampart_smtp::submit::{is_header_sender_refusal, submit, Stage};
use support::*;

const PEER: &str = "192.0.2.7:4000";

fn msg(from: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <alice@example.test>\r\nSubject: hi\r\nMessage-ID: <s1@example.test>\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn nc_2_1_7_internal_submission_queues_and_refuses_like_smtp() {
    let f = fixture();
    let peer = PEER.parse().unwrap();
    let to = vec!["alice@example.test".to_string()];
    let a = "alice@example.test";
    let id = submit(&f.ctx, peer, a, a, &to, &msg(a))
        .await
        .expect("queued");
    assert!(!id.0.is_empty());
    // NC-2.1.7: an envelope sender she may not use is refused at MAIL FROM.
    let r = submit(&f.ctx, peer, a, "bob@example.test", &to, &msg(a))
        .await
        .unwrap_err();
    assert_eq!((r.stage.clone(), r.code), (Stage::Sender, 553));
    // NC-2.1.7: a From header she may not use is refused with the message.
    let r = submit(&f.ctx, peer, a, a, &to, &msg("bob@example.test"))
        .await
        .unwrap_err();
    assert_eq!((r.stage.clone(), r.code), (Stage::Message, 550));
    assert!(is_header_sender_refusal(&r), "{r:?}");
    // An address that would end the command line is refused before anything is sent.
    let bad = vec!["x@example.test>\r\nRCPT TO:<y@example.test".to_string()];
    let r = submit(&f.ctx, peer, a, a, &bad, &msg(a)).await.unwrap_err();
    assert!(matches!(r.stage, Stage::Recipients(_)));
    // An unknown local recipient is named.
    let r = submit(&f.ctx, peer, a, a, &["nobody@example.test".into()], &msg(a))
        .await
        .unwrap_err();
    assert_eq!(
        r.stage,
        Stage::Recipients(vec!["nobody@example.test".into()])
    );
}

fn from_bob(extra: &str, n: u32) -> Vec<u8> {
    format!(
        "From: <bob@example.test>\r\nTo: <alice@example.test>\r\n{extra}Subject: q{n}\r\nMessage-ID: <v{n}@example.test>\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

/// The messages queued for bob so far: only automatic replies go to him here.
async fn replies(f: &Fixture) -> Vec<String> {
    let mut out = Vec::new();
    for e in f.ctx.store.queue_list().await.unwrap() {
        if e.recipient == "bob@example.test" {
            let body = f.ctx.store.message_bytes(&e.message, false).await.unwrap();
            out.push(String::from_utf8_lossy(&body).into_owned());
        }
    }
    out
}

#[tokio::test]
async fn al_4_2_vacation_replies_once_per_sender_and_never_to_lists() {
    use rampart_store::submission::Vacation;
    let f = fixture();
    let store = &f.ctx.store;
    store
        .add_user("bob@example.test", "correct horse battery")
        .await
        .unwrap();
    store
        .vacation_set(
            "alice@example.test",
            Vacation {
                is_enabled: true,
                subject: Some("Away".into()),
                text_body: Some("Back on Monday".into()),
                ..Vacation::default()
            },
        )
        .await
        .unwrap();
    let peer = PEER.parse().unwrap();
    let to = vec!["alice@example.test".to_string()];
    let bob = "bob@example.test";
    for (n, extra) in [
        (1, "List-Id: <team.example.test>\r\n"),
        (2, "Auto-Submitted: auto-generated\r\n"),
        (3, "Precedence: bulk\r\n"),
    ] {
        submit(&f.ctx, peer, bob, bob, &to, &from_bob(extra, n))
            .await
            .unwrap();
    }
    // RFC 3834 section 2: alice only in the envelope (a blind copy) gets no reply either.
    let bcc = "From: <bob@example.test>\r\nTo: <bob@example.test>\r\nSubject: b\r\n\r\nhi\r\n";
    submit(&f.ctx, peer, bob, bob, &to, bcc.as_bytes())
        .await
        .unwrap();
    assert!(
        replies(&f).await.is_empty(),
        "no reply to list, automatic or blind-copied mail"
    );
    for n in 4..6 {
        submit(&f.ctx, peer, bob, bob, &to, &from_bob("", n))
            .await
            .unwrap();
    }
    let r = replies(&f).await;
    assert_eq!(r.len(), 1, "one reply per sender: {r:?}");
    let reply = &r[0];
    assert!(reply.contains("To: <bob@example.test>"), "{reply}");
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(reply.contains("In-Reply-To: <v4@example.test>"), "{reply}");
    assert!(reply.contains("Subject: Away"), "{reply}");
    // Nothing of the original: its body "hello" is not in the reply (AL-4.2: not a forward).
    assert!(!reply.contains("hello"), "{reply}");
}
