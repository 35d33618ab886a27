//! Conformance checks of [`Admins`](crate::admins::Admins): the console's administrators and
//! their sessions (NC-2.1.2, NC-2.1.4), and the queue gauge of the metrics. Every backend keeps
//! the embedded store's rules: an Argon2id password and a TOTP code at every login, each code
//! once (RFC 6238 section 5.2), sessions that end on logout, past their limits, and with their
//! administrator.

use super::{enqueue, small_message, Harness};
use crate::admins::{
    totp, AdminRole, AdminSessionLimits, Admins, LoginRefused, ADMIN_SESSION_PREFIX,
};

const PASSWORD: &str = "a console passphrase";

/// Limits no check reaches.
const LONG: AdminSessionLimits = AdminSessionLimits {
    idle: 3600 * 1_000_000,
    max_age: 24 * 3600 * 1_000_000,
};

fn code(secret_b32: &str, at: u64) -> String {
    totp::code_at(&totp::base32_decode(secret_b32).expect("base32"), at)
}

/// Accounts are added once, listed by name, logged in with the password AND a code used once;
/// disabled, reset or removed, they sign in no more and their sessions end.
pub async fn admins_logins_once_and_sessions<H: Harness>(h: &H) {
    let place = h.create().await;
    let store = h.open(&place).await;
    admins_logins_once_and_sessions_on(&*store).await;
}

/// On any store with [`Admins`].
pub async fn admins_logins_once_and_sessions_on<S: Admins + ?Sized>(store: &S) {
    let e = store
        .admin_add("Root", AdminRole::Administrator, PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        totp::base32_decode(&e.secret).unwrap().len(),
        20,
        "a TOTP secret of 160 bits (RFC 4226 section 4)"
    );
    assert!(
        e.uri.starts_with("otpauth://totp/Rampart:root?secret="),
        "{}",
        e.uri
    );
    assert!(
        store
            .admin_add("root", AdminRole::Auditor, "another passphrase")
            .await
            .is_err(),
        "a name is added once, whatever its case"
    );
    assert!(
        store
            .admin_add("bad name!", AdminRole::Auditor, PASSWORD)
            .await
            .is_err(),
        "a name of other characters is refused"
    );
    let ops = store
        .admin_add("ops", AdminRole::Operator, PASSWORD)
        .await
        .unwrap();
    let listed = store.admin_list().await.unwrap();
    let names: Vec<(&str, AdminRole, bool)> = listed
        .iter()
        .map(|a| (a.name.as_str(), a.role, a.disabled))
        .collect();
    assert_eq!(
        names,
        [
            ("ops", AdminRole::Operator, false),
            ("root", AdminRole::Administrator, false)
        ]
    );

    // The password AND a current code; a code once.
    let now = 1_900_000_000u64;
    let login = |name: &'static str, password: &'static str, code: String| async move {
        store.admin_login(name, password, &code, now).await.unwrap()
    };
    assert_eq!(
        login("root", "wrong", code(&e.secret, now)).await,
        Err(LoginRefused::Password)
    );
    assert_eq!(
        login("nobody", PASSWORD, code(&e.secret, now)).await,
        Err(LoginRefused::Password)
    );
    assert_eq!(
        login("root", PASSWORD, "abcdef".into()).await,
        Err(LoginRefused::Code)
    );
    assert_eq!(
        login("root", PASSWORD, code(&e.secret, now + 90)).await,
        Err(LoginRefused::Code),
        "a code three steps ahead is out of the window"
    );
    let who = login("ROOT", PASSWORD, code(&e.secret, now)).await.unwrap();
    assert_eq!(
        (who.name.as_str(), who.role, who.disabled),
        ("root", AdminRole::Administrator, false)
    );
    assert_eq!(
        login("root", PASSWORD, code(&e.secret, now)).await,
        Err(LoginRefused::Replayed),
        "the same code twice"
    );
    assert_eq!(
        login("root", PASSWORD, code(&e.secret, now - 30)).await,
        Err(LoginRefused::Replayed),
        "a code of a step before the one used"
    );
    assert!(
        login("root", PASSWORD, code(&e.secret, now + 30))
            .await
            .is_ok(),
        "the next step's code, once (clock drift)"
    );
    // Another account's steps are its own.
    assert!(login("ops", PASSWORD, code(&ops.secret, now)).await.is_ok());

    // Sessions.
    let s1 = store
        .admin_session_create("root", Some("192.0.2.1".into()))
        .await
        .unwrap();
    let s2 = store.admin_session_create("root", None).await.unwrap();
    let s3 = store.admin_session_create("ops", None).await.unwrap();
    assert!(s1 != s2 && s1.starts_with(ADMIN_SESSION_PREFIX) && s1.len() >= 64);
    let name = |a: Option<crate::admins::AdminAccount>| a.map(|a| a.name);
    assert_eq!(
        name(store.admin_session_check(&s1, LONG).await.unwrap()),
        Some("root".into())
    );
    assert_eq!(
        name(store.admin_session_check(&s3, LONG).await.unwrap()),
        Some("ops".into())
    );
    for made_up in ["", "rpa_", "rpa_00", &s1[..s1.len() - 1]] {
        assert_eq!(
            store.admin_session_check(made_up, LONG).await.unwrap(),
            None,
            "a made-up token {made_up:?} is no session"
        );
    }
    // Idle past the limit: ended, and forgotten (not valid again under longer limits).
    let idle = AdminSessionLimits {
        idle: -1_000_000,
        max_age: LONG.max_age,
    };
    assert_eq!(store.admin_session_check(&s2, idle).await.unwrap(), None);
    assert_eq!(store.admin_session_check(&s2, LONG).await.unwrap(), None);
    let old = AdminSessionLimits {
        idle: LONG.idle,
        max_age: -1_000_000,
    };
    assert_eq!(store.admin_session_check(&s1, old).await.unwrap(), None);
    assert_eq!(store.admin_session_check(&s1, LONG).await.unwrap(), None);
    // Logout.
    let s4 = store.admin_session_create("root", None).await.unwrap();
    store.admin_session_end(&s4).await.unwrap();
    assert_eq!(store.admin_session_check(&s4, LONG).await.unwrap(), None);

    // Disabled: no login, its sessions end; enabled again, listed so.
    let s5 = store.admin_session_create("ops", None).await.unwrap();
    assert!(store.admin_set_disabled("ops", true).await.unwrap());
    assert_eq!(store.admin_session_check(&s5, LONG).await.unwrap(), None);
    assert_eq!(store.admin_session_check(&s3, LONG).await.unwrap(), None);
    assert_eq!(
        login("ops", PASSWORD, code(&ops.secret, now + 30)).await,
        Err(LoginRefused::Password),
        "a disabled administrator's password is never right"
    );
    assert!(store.admin_set_disabled("ops", false).await.unwrap());
    assert!(!store.admin_set_disabled("nobody", true).await.unwrap());
    assert!(!store.admin_list().await.unwrap()[0].disabled);

    // A new secret: the old one's codes no longer work, the sessions end.
    let s6 = store.admin_session_create("root", None).await.unwrap();
    let again = store.admin_reset_totp("root").await.unwrap().unwrap();
    assert_ne!(again.secret, e.secret);
    assert_eq!(store.admin_session_check(&s6, LONG).await.unwrap(), None);
    let later = now + 300;
    assert_eq!(
        login_at(store, &e.secret, later).await,
        Err(LoginRefused::Code),
        "the old secret's code"
    );
    assert!(login_at(store, &again.secret, later).await.is_ok());
    assert!(store.admin_reset_totp("nobody").await.unwrap().is_none());

    // Removed: gone, its sessions with it.
    let s7 = store.admin_session_create("root", None).await.unwrap();
    assert!(store.admin_remove("root").await.unwrap());
    assert!(!store.admin_remove("root").await.unwrap());
    assert_eq!(store.admin_session_check(&s7, LONG).await.unwrap(), None);
    assert_eq!(store.admin_list().await.unwrap().len(), 1);
}

async fn login_at<S: Admins + ?Sized>(
    store: &S,
    secret: &str,
    at: u64,
) -> Result<crate::admins::AdminAccount, LoginRefused> {
    store
        .admin_login("root", PASSWORD, &code(secret, at), at)
        .await
        .unwrap()
}

/// The queue gauge counts messages with a recipient still to deliver (not held ones) and the
/// time the oldest was received.
pub async fn admins_queue_gauge<H: Harness>(h: &H) {
    let place = h.create().await;
    let store = h.open(&place).await;
    assert_eq!(store.queue_gauge().await.unwrap(), (0, None));
    let before = crate::now_micros();
    enqueue(
        &store,
        &small_message("gauged"),
        &[("someone@remote.example", false)],
        None,
    )
    .await;
    enqueue(
        &store,
        &small_message("held"),
        &[("someone@remote.example", false)],
        Some(("conformance".into(), "held".into())),
    )
    .await;
    let (n, oldest) = store.queue_gauge().await.unwrap();
    assert_eq!(n, 1, "one message to deliver; the held one is not counted");
    assert!(
        oldest.is_some_and(|t| t >= before - 1_000_000),
        "{oldest:?}"
    );
}
