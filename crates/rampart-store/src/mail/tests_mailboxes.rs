//! Mailbox/set on a real store: create, rename, move, destroy, and their refusals.

use super::tests::{deliver, fixture, last_email, message, role, state, A};
use super::*;

#[tokio::test]
async fn mailboxes_are_created_renamed_moved_and_destroyed() {
    let f = fixture();
    f.store.mailbox_ensure(&f.writer, A).await.unwrap();
    let new = |name: &str, parent| NewMailbox {
        name: name.into(),
        parent,
        subscribed: true,
        ..NewMailbox::default()
    };
    let work = f
        .store
        .mailbox_create(&f.writer, A, new("Work", None))
        .await
        .unwrap();
    let sub = f
        .store
        .mailbox_create(&f.writer, A, new("Projects", Some(work)))
        .await
        .unwrap();
    // Siblings have distinct names; the same name under another parent is fine.
    let dup = f
        .store
        .mailbox_create(&f.writer, A, new("Work", None))
        .await;
    assert!(
        matches!(dup, Err(MailError::InvalidProperties(_))),
        "{dup:?}"
    );
    f.store
        .mailbox_create(&f.writer, A, new("Work", Some(work)))
        .await
        .unwrap();
    // Roles are unique in the account.
    let second_inbox = NewMailbox {
        role: Some("inbox".into()),
        ..new("Other", None)
    };
    let r = f.store.mailbox_create(&f.writer, A, second_inbox).await;
    assert!(matches!(r, Err(MailError::InvalidProperties(_))), "{r:?}");
    // A mailbox cannot move below itself.
    let cycle = MailboxUpdate {
        parent: Some(Some(sub)),
        ..MailboxUpdate::default()
    };
    let r = f.store.mailbox_update(&f.writer, A, work, cycle).await;
    assert!(matches!(r, Err(MailError::InvalidProperties(_))), "{r:?}");
    // Rename and move to the top.
    let up = MailboxUpdate {
        name: Some("Ideas".into()),
        parent: Some(None),
        ..MailboxUpdate::default()
    };
    assert!(f
        .store
        .mailbox_update(&f.writer, A, sub, up.clone())
        .await
        .unwrap());
    let m = f
        .store
        .mailbox_get(A)
        .unwrap()
        .into_iter()
        .find(|m| m.id == sub)
        .unwrap();
    assert_eq!((m.name.as_str(), m.parent), ("Ideas", None));
    // The same update again changes nothing, and no state.
    let s = state(&f, A, Kind::Mailbox);
    assert!(!f.store.mailbox_update(&f.writer, A, sub, up).await.unwrap());
    assert_eq!(state(&f, A, Kind::Mailbox), s);
    // A parent with children stays; the Inbox stays.
    let r = f.store.mailbox_destroy(&f.writer, A, work, false).await;
    assert!(matches!(r, Err(MailError::MailboxHasChild)), "{r:?}");
    let inbox = role(&f, A, "inbox").id;
    let r = f.store.mailbox_destroy(&f.writer, A, inbox, true).await;
    assert!(matches!(r, Err(MailError::Forbidden(_))), "{r:?}");
    let r = f
        .store
        .mailbox_update(
            &f.writer,
            A,
            inbox,
            MailboxUpdate {
                role: Some(None),
                ..MailboxUpdate::default()
            },
        )
        .await;
    assert!(matches!(r, Err(MailError::Forbidden(_))), "{r:?}");
    f.store
        .mailbox_destroy(&f.writer, A, sub, false)
        .await
        .unwrap();
    assert!(f.store.mailbox_get(A).unwrap().iter().all(|m| m.id != sub));
    let r = f.store.mailbox_destroy(&f.writer, A, sub, false).await;
    assert!(matches!(r, Err(MailError::NotFound)), "{r:?}");
}

#[tokio::test]
async fn destroying_a_mailbox_with_email_needs_on_destroy_remove_emails() {
    let f = fixture();
    deliver(&f, &[A], message("Subject: one", "1"), false).await;
    let only = last_email(&f, A).id;
    deliver(&f, &[A], message("Subject: two", "2"), false).await;
    let both = last_email(&f, A).id;
    let inbox = role(&f, A, "inbox").id;
    let archive = role(&f, A, "archive").id;
    f.store
        .email_set_mailboxes(&f.writer, A, only, vec![archive])
        .await
        .unwrap();
    f.store
        .email_set_mailboxes(&f.writer, A, both, vec![inbox, archive])
        .await
        .unwrap();
    let s = (state(&f, A, Kind::Mailbox), state(&f, A, Kind::Email));
    let r = f.store.mailbox_destroy(&f.writer, A, archive, false).await;
    assert!(matches!(r, Err(MailError::MailboxHasEmail)), "{r:?}");
    assert_eq!((state(&f, A, Kind::Mailbox), state(&f, A, Kind::Email)), s);
    assert_eq!(
        f.store.email_get(A, &[only, both]).unwrap().len(),
        2,
        "a refusal changes nothing"
    );
    f.store
        .mailbox_destroy(&f.writer, A, archive, true)
        .await
        .unwrap();
    // The email only in it is gone; the other left it and stays in the Inbox.
    let left = f.store.email_get(A, &[only, both]).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id, left[0].mailboxes.clone()), (both, vec![inbox]));
}
