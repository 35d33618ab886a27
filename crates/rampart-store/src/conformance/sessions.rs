//! Conformance checks of [`WebSessions`](crate::web_sessions::WebSessions): the webmail's
//! sign-in sessions (AL-4.1). The token is random, known only to the browser (the store keeps
//! a hash), and a session ends on logout, past either limit, and with its account.

use super::{populated, Harness};
use crate::web_sessions::{SessionCheck, SessionLimits, WebSessions, SESSION_PREFIX};

const USER: &str = "user@local.example";
const OTHER: &str = "other@local.example";

/// Limits no check reaches.
const LONG: SessionLimits = SessionLimits {
    idle: 3600 * 1_000_000,
    max_age: 24 * 3600 * 1_000_000,
};

fn valid(account: &str) -> SessionCheck {
    SessionCheck::Valid {
        account: account.into(),
    }
}

/// Sessions are random and distinct, answer for their account until logout, end one by one or
/// all together, and an unknown or made-up token is nobody's.
pub async fn web_sessions_create_check_end<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    web_sessions_create_check_end_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn web_sessions_create_check_end_on<S: WebSessions + ?Sized>(store: &S) {
    let a = store
        .web_session_create("User@local.example", Some("192.0.2.1".into()), None)
        .await
        .unwrap();
    let b = store.web_session_create(USER, None, None).await.unwrap();
    let c = store.web_session_create(OTHER, None, None).await.unwrap();
    assert!(
        a != b && b != c && a != c,
        "every sign-in gets a token of its own"
    );
    assert!(
        a.starts_with(SESSION_PREFIX) && a.len() >= SESSION_PREFIX.len() + 43,
        "a token carries the prefix and at least 256 random bits: {a}"
    );
    assert_eq!(
        store.web_session_check(&a, LONG).await.unwrap(),
        valid(USER),
        "a session names its account in lower case"
    );
    assert_eq!(
        store.web_session_check(&c, LONG).await.unwrap(),
        valid(OTHER)
    );
    for made_up in ["", "rps_", "rps_0000", "not-a-session", &a[..a.len() - 1]] {
        assert_eq!(
            store.web_session_check(made_up, LONG).await.unwrap(),
            SessionCheck::Unknown,
            "a made-up token {made_up:?} is no session"
        );
    }
    assert_eq!(
        store.web_session_peek(&a, LONG).await.unwrap(),
        valid(USER),
        "a peek sees what a check sees"
    );
    assert_eq!(
        store.web_session_end(&a).await.unwrap().as_deref(),
        Some(USER),
        "logout names the account whose session ended"
    );
    assert_eq!(
        store.web_session_check(&a, LONG).await.unwrap(),
        SessionCheck::Unknown,
        "an ended session is refused"
    );
    assert_eq!(
        store.web_session_peek(&a, LONG).await.unwrap(),
        SessionCheck::Unknown
    );
    assert_eq!(
        store.web_session_end(&a).await.unwrap(),
        None,
        "ending a session twice ends nothing"
    );
    assert_eq!(
        store.web_session_check(&b, LONG).await.unwrap(),
        valid(USER),
        "ending one session leaves the account's others"
    );
    assert_eq!(
        store
            .web_sessions_end_all("USER@local.example")
            .await
            .unwrap(),
        1,
        "ending all of an account's sessions counts them"
    );
    assert_eq!(
        store.web_session_check(&b, LONG).await.unwrap(),
        SessionCheck::Unknown
    );
    assert_eq!(
        store.web_session_check(&c, LONG).await.unwrap(),
        valid(OTHER),
        "another account's session stands"
    );
}

/// A session past either limit is refused once and ended; prune removes the expired ones and
/// only those; a session of an account that does not exist is refused.
pub async fn web_sessions_expire_and_prune<H: Harness>(h: &H) {
    let (_place, store) = populated(h).await;
    web_sessions_expire_and_prune_on(&*store).await;
}

/// On a store [`populate`](super::populate)d.
pub async fn web_sessions_expire_and_prune_on<S: WebSessions + ?Sized>(store: &S) {
    // A limit already past (below zero), so no clock has to move for the checks.
    let idle_past = SessionLimits { idle: -1, ..LONG };
    let old_past = SessionLimits {
        max_age: -1,
        ..LONG
    };
    for past in [idle_past, old_past] {
        let t = store.web_session_create(USER, None, None).await.unwrap();
        assert_eq!(
            store.web_session_peek(&t, past).await.unwrap(),
            SessionCheck::Expired {
                account: USER.into()
            },
            "a peek sees a session past its limits {past:?} as expired"
        );
        assert_eq!(
            store.web_session_peek(&t, LONG).await.unwrap(),
            valid(USER),
            "a peek changes nothing"
        );
        assert_eq!(
            store.web_session_check(&t, past).await.unwrap(),
            SessionCheck::Expired {
                account: USER.into()
            },
            "a session past its limits {past:?} is expired"
        );
        assert_eq!(
            store.web_session_check(&t, LONG).await.unwrap(),
            SessionCheck::Unknown,
            "an expired session is ended, not revived by longer limits"
        );
    }
    let keep = store.web_session_create(OTHER, None, None).await.unwrap();
    assert_eq!(
        store.web_sessions_prune(LONG).await.unwrap(),
        0,
        "prune keeps live sessions"
    );
    store.web_session_create(USER, None, None).await.unwrap();
    assert_eq!(
        store.web_sessions_prune(idle_past).await.unwrap(),
        2,
        "prune removes every expired session"
    );
    assert_eq!(
        store.web_session_check(&keep, LONG).await.unwrap(),
        SessionCheck::Unknown
    );
    let ghost = store
        .web_session_create("nobody@local.example", None, None)
        .await
        .unwrap();
    assert!(
        matches!(
            store.web_session_check(&ghost, LONG).await.unwrap(),
            SessionCheck::Disabled { .. }
        ),
        "a session of an account that does not exist is refused"
    );
}
