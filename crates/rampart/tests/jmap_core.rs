//! JMAP over the https listener of a real `rampart serve`, spoken with curl: the session, Basic
//! authentication against the SMTP accounts, and the request-level rules (RFC 8620).

mod common;

use common::jmap::*;
use serde_json::json;

#[test]
fn session_lists_the_users_own_account_and_the_mail_capabilities() {
    let s = start_jmap();
    let c = s.jmap("alice@example.test");
    let session = c.session();
    assert_eq!(session["username"], "alice@example.test");
    for cap in USING {
        assert!(session["capabilities"].get(cap).is_some(), "{cap}");
    }
    let id = c.account_id();
    let account = &session["accounts"][&id];
    assert_eq!(account["name"], "alice@example.test");
    assert_eq!(account["isPersonal"], true);
    assert_eq!(account["isReadOnly"], false);
    // Bob's account id is not alice's.
    assert_ne!(s.jmap("bob@example.test").account_id(), id);
    // The well-known URI redirects to the session resource without authentication.
    let r = s
        .jmap_with(Auth::None)
        .http("GET", "/.well-known/jmap", &[], None);
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/jmap/session"));
}

#[test]
fn wrong_password_and_no_credentials_are_401_and_echo_works() {
    let s = start_jmap();
    let bad = s.jmap_with(Auth::Basic("alice@example.test".into(), "wrong".into()));
    assert_eq!(bad.http("GET", "/jmap/session", &[], None).status, 401);
    let none = s.jmap_with(Auth::None);
    let r = none.http("GET", "/jmap/session", &[], None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let c = s.jmap("alice@example.test");
    let out = c.call1("Core/echo", json!({"hello": [1, 2]}));
    assert_eq!(out, json!({"hello": [1, 2]}));
}
