//! A browser's side of the webmail for the session tests (webmail_session.rs, webmail_audit.rs):
//! the sign-in form, the session cookie and its CSRF token, over curl against a real
//! `rampart serve`. Nothing here follows redirects or keeps cookies by itself: each test says
//! exactly what the browser sends.
#![allow(dead_code)]

use crate::common::jmap::*;
use crate::common::Server;
use serde_json::{json, Value};

pub const ALICE: &str = "alice@example.test";
pub const BOB: &str = "bob@example.test";
pub const SESSION_COOKIE: &str = "__Host-rampart-session";
pub const LOGIN_COOKIE: &str = "__Host-rampart-login";

/// The value of cookie `name` in the reply's Set-Cookie headers, with the whole header.
pub fn set_cookie(r: &HttpReply, name: &str) -> Option<(String, String)> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| (rest.split(';').next().unwrap_or("").to_owned(), v.clone()))
        })
}

/// The value of `attr="..."` following `marker` in a page.
fn attr_after(page: &str, marker: &str) -> Option<String> {
    let at = page.find(marker)? + marker.len();
    let end = page[at..].find('"')?;
    Some(page[at..at + end].to_owned())
}

/// The sign-in page's form token (also in its cookie).
pub fn login_token(page: &str) -> String {
    attr_after(page, "name=\"login_token\" value=\"").expect("the sign-in form's token")
}

/// The CSRF token the webmail page gives its script.
pub fn csrf_of(page: &str) -> Option<String> {
    attr_after(page, "name=\"rampart-csrf\" content=\"")
}

/// A client with no credentials of its own.
pub fn anon(s: &Server) -> Jmap<'_> {
    s.jmap_with(Auth::None)
}

/// `GET /` as a fresh browser: the form's cookie value and the token in the form.
pub fn login_form(s: &Server) -> (String, String) {
    let page = anon(s).http("GET", "/", &[], None);
    assert_eq!(page.status, 200, "{}", page.text());
    let (cookie, _) = set_cookie(&page, LOGIN_COOKIE).expect("the sign-in form's cookie");
    let token = login_token(&page.text());
    assert_eq!(token, cookie, "the form's token is the cookie's");
    (cookie, token)
}

/// `application/x-www-form-urlencoded` of the pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A POST of a form with the given cookies and extra headers; `Origin` is ours unless the
/// extra headers name one.
pub fn post_form(
    s: &Server,
    path: &str,
    cookies: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: &str,
) -> HttpReply {
    let base = s.https_base();
    let cookie = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut headers: Vec<(&str, &str)> =
        vec![("Content-Type", "application/x-www-form-urlencoded")];
    if !cookie.is_empty() {
        headers.push(("Cookie", &cookie));
    }
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("origin")) {
        headers.push(("Origin", &base));
    }
    headers.extend_from_slice(extra);
    anon(s).http("POST", path, &headers, Some(body.as_bytes()))
}

/// Signs in as `user` through the form, bringing `cookies` besides the form's own; the reply.
pub fn post_login(s: &Server, user: &str, password: &str, cookies: &[(&str, &str)]) -> HttpReply {
    let (cookie, token) = login_form(s);
    let mut all = vec![(LOGIN_COOKIE, cookie.as_str())];
    all.extend_from_slice(cookies);
    post_form(
        s,
        "/login",
        &all,
        &[],
        &form(&[
            ("username", user),
            ("password", password),
            ("login_token", &token),
        ]),
    )
}

/// Signs in as `user`; the session cookie's value and its Set-Cookie header, or the reply.
pub fn sign_in(s: &Server, user: &str, password: &str) -> Result<(String, String), HttpReply> {
    let r = post_login(s, user, password, &[]);
    if r.status != 303 {
        return Err(r);
    }
    Ok(set_cookie(&r, SESSION_COOKIE).expect("a session cookie"))
}

/// A signed-in browser: its session cookie and the CSRF token of its page.
pub struct Browser<'a> {
    pub s: &'a Server,
    pub session: String,
    pub csrf: String,
}

impl<'a> Browser<'a> {
    /// Signs in as `user` and opens the webmail page.
    pub fn sign_in(s: &'a Server, user: &str) -> Browser<'a> {
        let (session, _) = sign_in(s, user, crate::common::PASSWORD).expect("signed in");
        let page = get_with(s, "/", &session);
        let csrf = csrf_of(&page.text()).expect("the webmail page, signed in");
        Browser { s, session, csrf }
    }

    pub fn cookie(&self) -> String {
        format!("{SESSION_COOKIE}={}", self.session)
    }

    /// Whether `GET /` shows the webmail (not the sign-in page).
    pub fn signed_in(&self) -> bool {
        is_webmail(&get_with(self.s, "/", &self.session))
    }

    /// A POST to the JMAP API with the cookie, and the CSRF token unless `csrf` is None.
    pub fn api_with(&self, calls: Value, csrf: Option<&str>) -> HttpReply {
        let cookie = self.cookie();
        let mut h = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(c) = csrf {
            h.push(("X-Rampart-CSRF", c));
        }
        let body = json!({"using": USING, "methodCalls": calls}).to_string();
        anon(self.s).http("POST", "/jmap/api", &h, Some(body.as_bytes()))
    }

    /// Method calls through the API as the page makes them; the methodResponses.
    pub fn call(&self, calls: Value) -> Vec<Value> {
        let r = self.api_with(calls, Some(&self.csrf));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["methodResponses"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn call1(&self, name: &str, args: Value) -> Value {
        let r = self.call(json!([[name, args, "c0"]]));
        assert_eq!(r[0][0], name, "{r:?}");
        r[0][1].clone()
    }

    /// `GET /jmap/session` with the cookie: the status.
    pub fn session_status(&self) -> u16 {
        get_with(self.s, "/jmap/session", &self.session).status
    }

    pub fn account_id(&self) -> String {
        let r = get_with(self.s, "/jmap/session", &self.session);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
            .as_str()
            .expect("a primary mail account")
            .to_owned()
    }
}

/// `GET path` with the session cookie `session`.
pub fn get_with(s: &Server, path: &str, session: &str) -> HttpReply {
    let cookie = format!("{SESSION_COOKIE}={session}");
    anon(s).http("GET", path, &[("Cookie", &cookie)], None)
}

/// Whether the reply is the webmail page of a signed-in browser.
pub fn is_webmail(r: &HttpReply) -> bool {
    r.status == 200 && csrf_of(&r.text()).is_some()
}

/// `rampart mailbox audit --user U --json`, polled until an event matches `pred` (events share
/// the next group commit; the wait is bounded).
pub fn wait_audit(s: &Server, user: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..200 {
        events = audit(s, user);
        if events.iter().any(&pred) {
            return events;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("no matching audit event for {user}: {events:#?}");
}

/// The account's audit as it stands.
pub fn audit(s: &Server, user: &str) -> Vec<Value> {
    crate::common::cli(
        &s.config,
        &["mailbox", "audit", "--user", user, "--json"],
        None,
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}
