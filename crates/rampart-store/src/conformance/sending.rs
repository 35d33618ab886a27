//! Conformance checks of [`Logins`](crate::tokens::Logins) and
//! [`SubmissionStore`](crate::submission::SubmissionStore): what a login needs beyond the
//! password, and what sending over JMAP keeps (identities, submissions, the vacation response
//! and whom it answered, each type's state and change log).
//!
//! Tokens and grants are made by the administrator's commands, outside these traits; the checks
//! here see a store without any.

use super::{populated, Harness};
use crate::submission::{IdentityFields, LogKind, SubKind, Submission, SubmissionStore, Vacation};
use crate::tokens::{Logins, Scope, TokenCheck};

const USER: &str = "user@local.example";
const OTHER: &str = "other@local.example";

/// An unknown token is nobody's; an account is enabled, unknown or disabled; a user without
/// grants reaches no other mailbox.
pub async fn logins_without_tokens_or_grants<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    logins_without_tokens_or_grants_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn logins_without_tokens_or_grants_on<S: Logins + ?Sized>(store: &S) {
    for scope in [Scope::Jmap, Scope::Submission] {
        assert_eq!(
            store
                .token_authenticate("rpt_made_up", scope)
                .await
                .unwrap(),
            TokenCheck::Unknown,
            "a made-up token is unknown"
        );
    }
    assert_eq!(store.account_disabled(USER).await.unwrap(), Some(false));
    assert_eq!(
        store
            .account_disabled("nobody@local.example")
            .await
            .unwrap(),
        None,
        "no such user"
    );
    assert!(store.grants_to(USER).await.unwrap().is_empty());
}

fn fields(name: &str, email: &str) -> IdentityFields {
    IdentityFields {
        name: name.into(),
        email: email.into(),
        ..IdentityFields::default()
    }
}

/// Every account has one identity for its own address that may not be deleted; others are
/// created, updated and destroyed in their own account only, each a step of the Identity state
/// with its entry in the change log.
pub async fn submission_identities_and_changes<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    submission_identities_and_changes_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn submission_identities_and_changes_on<S: SubmissionStore + ?Sized>(store: &S) {
    let own = store.identity_list(USER).await.unwrap();
    assert_eq!(own.len(), 1, "the first read makes the account's identity");
    assert_eq!(own[0].fields.email, USER);
    assert!(!own[0].may_delete, "the own identity may not be deleted");
    assert_eq!(store.identity_list(USER).await.unwrap(), own, "made once");
    let s0 = store.sub_state(USER, SubKind::Identity).await.unwrap();
    let id = store
        .identity_create(USER, fields("Work", USER))
        .await
        .unwrap();
    let s1 = store.sub_state(USER, SubKind::Identity).await.unwrap();
    assert_ne!(s0, s1, "a create moves the state");
    let log = store
        .sub_changes(USER, SubKind::Identity, &s0)
        .await
        .unwrap()
        .expect("a state the account had");
    assert!(
        log.iter().any(|e| e.id == id && e.kind == LogKind::Created),
        "the create is in the log: {log:?}"
    );
    assert!(store
        .identity_update(USER, id, fields("Work 2", USER))
        .await
        .unwrap());
    assert!(
        !store
            .identity_update(OTHER, id, fields("Stolen", OTHER))
            .await
            .unwrap(),
        "another account cannot update it"
    );
    let listed = store.identity_list(USER).await.unwrap();
    let work = listed.iter().find(|i| i.id == id).expect("listed");
    assert_eq!(work.fields.name, "Work 2");
    assert!(work.may_delete);
    assert!(
        !store.identity_destroy(USER, own[0].id).await.unwrap(),
        "the own identity stays"
    );
    assert!(!store.identity_destroy(OTHER, id).await.unwrap());
    assert!(store.identity_destroy(USER, id).await.unwrap());
    assert!(
        !store.identity_destroy(USER, id).await.unwrap(),
        "destroyed once"
    );
    assert_eq!(store.identity_list(USER).await.unwrap(), own);
    let log = store
        .sub_changes(USER, SubKind::Identity, &s1)
        .await
        .unwrap()
        .expect("a state the account had");
    assert!(
        log.iter()
            .any(|e| e.id == id && e.kind == LogKind::Destroyed),
        "the destroy is in the log: {log:?}"
    );
}

/// A submission is listed in its account only, with its recipients, until destroyed.
pub async fn submission_records<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    submission_records_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn submission_records_on<S: SubmissionStore + ?Sized>(store: &S) {
    let identity = store.identity_list(USER).await.unwrap()[0].id;
    let s0 = store.sub_state(USER, SubKind::Submission).await.unwrap();
    let sub = Submission {
        identity,
        email: 7,
        envelope: "{}".into(),
        send_at: 1_700_000_000,
        queue_id: "q1".into(),
        recipients: vec![OTHER.into()],
        ..Submission::default()
    };
    let id = store.submission_create(USER, sub.clone()).await.unwrap();
    let listed = store.submission_list(USER).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], Submission { id, ..sub }, "read back as recorded");
    assert!(store.submission_list(OTHER).await.unwrap().is_empty());
    assert_ne!(
        store.sub_state(USER, SubKind::Submission).await.unwrap(),
        s0
    );
    assert!(!store.submission_destroy(OTHER, id).await.unwrap());
    assert!(store.submission_destroy(USER, id).await.unwrap());
    assert!(store.submission_list(USER).await.unwrap().is_empty());
}

/// The vacation response reads back as set; each sender is answered once per period (RFC 3834
/// section 2), per account.
pub async fn submission_vacation_and_replies<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    submission_vacation_and_replies_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn submission_vacation_and_replies_on<S: SubmissionStore + ?Sized>(store: &S) {
    assert!(
        !store.vacation_get(USER).await.unwrap().is_enabled,
        "off until set"
    );
    let v = Vacation {
        is_enabled: true,
        from_date: Some(1_000),
        to_date: None,
        subject: Some("Away".into()),
        text_body: Some("Back on Monday.".into()),
        html_body: None,
    };
    store.vacation_set(USER, v.clone()).await.unwrap();
    assert_eq!(store.vacation_get(USER).await.unwrap(), v);
    assert!(!store.vacation_get(OTHER).await.unwrap().is_enabled);
    let day = 86_400;
    let s = "sender@remote.example";
    assert!(store
        .vacation_claim_reply(USER, s, 10_000, day)
        .await
        .unwrap());
    assert!(
        !store
            .vacation_claim_reply(USER, s, 10_001, day)
            .await
            .unwrap(),
        "one reply per sender and period"
    );
    assert!(store
        .vacation_claim_reply(USER, "another@remote.example", 10_001, day)
        .await
        .unwrap());
    assert!(
        store
            .vacation_claim_reply(OTHER, s, 10_001, day)
            .await
            .unwrap(),
        "another account answers on its own"
    );
    assert!(
        store
            .vacation_claim_reply(USER, s, 10_000 + day + 1, day)
            .await
            .unwrap(),
        "answered again after the period"
    );
}
