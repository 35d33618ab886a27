//! The webmail's sessions over HTTPS against a real `rampart serve`, with curl: sign-in through
//! the login guard (NC-2.1.4), the cookie's flags, the CSRF tokens, sign-out, and the JMAP API
//! answering the session cookie (AL-4.1).

mod common;

use common::jmap::*;
use common::{Server, PASSWORD};
use serde_json::json;

const ALICE: &str = "alice@example.test";

/// The value of `name` in the reply's Set-Cookie headers, with the whole header.
fn set_cookie(r: &HttpReply, name: &str) -> Option<(String, String)> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| (rest.split(';').next().unwrap_or("").to_owned(), v.clone()))
        })
}

/// The login form's token from the sign-in page.
fn login_token(page: &str) -> String {
    let at = page
        .find("name=\"login_token\" value=\"")
        .expect("form token")
        + 26;
    page[at..at + 48].to_owned()
}

/// Signs in as `user`; the session cookie's value and the Set-Cookie header.
fn sign_in(s: &Server, user: &str, password: &str) -> Result<(String, String), HttpReply> {
    let anon = s.jmap_with(Auth::None);
    let page = anon.http("GET", "/", &[], None);
    assert_eq!(page.status, 200);
    let (login, _) = set_cookie(&page, "__Host-rampart-login").expect("login cookie");
    let token = login_token(&page.text());
    assert_eq!(token, login);
    let body = format!(
        "username={}&password={}&login_token={token}",
        user.replace('@', "%40"),
        password
    );
    let r = anon.http(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &format!("__Host-rampart-login={login}")),
            ("Origin", &s.https_base()),
        ],
        Some(body.as_bytes()),
    );
    if r.status != 303 {
        return Err(r);
    }
    Ok(set_cookie(&r, "__Host-rampart-session").expect("session cookie"))
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"rampart-csrf\" content=\"")
        .expect("csrf meta")
        + 29;
    page[at..at + 64].to_owned()
}

#[test]
fn al_4_1_sign_in_gives_a_strict_cookie_and_the_api_answers_it_with_csrf() {
    let s = start_jmap();
    let (session, header) = sign_in(&s, ALICE, PASSWORD).expect("signed in");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(header.contains(flag), "{flag} missing: {header}");
    }
    assert!(session.starts_with("rps_"));
    let anon = s.jmap_with(Auth::None);
    let cookie = format!("__Host-rampart-session={session}");
    let app = anon.http("GET", "/", &[("Cookie", &cookie)], None);
    assert_eq!(app.status, 200);
    let csrf = csrf_of(&app.text());
    assert!(app
        .header("content-security-policy")
        .is_some_and(|c| c.contains("script-src 'self'") && !c.contains("unsafe-inline")));
    let body = json!({"using": USING, "methodCalls": [["Mailbox/get", {}, "0"]]}).to_string();
    let with_csrf = anon.http(
        "POST",
        "/jmap/api",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
            ("X-Rampart-CSRF", &csrf),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.text());
    // CSRF: the cookie alone does not change anything.
    let without = anon.http(
        "POST",
        "/jmap/api",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(without.status, 401);
    // No Basic challenge for the browser (it would show a password dialog).
    assert!(!without
        .header("www-authenticate")
        .is_some_and(|v| v.contains("Basic")));
}
