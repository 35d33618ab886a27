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
