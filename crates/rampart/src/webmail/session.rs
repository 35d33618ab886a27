//! Signing in and out of the webmail, and the pages that depend on it.
//!
//! NC-2.1.4: the password goes through the same guard as SMTP AUTH and JMAP (the same growing
//! delays and blocks per address and account); AL-3.1: the sign-in, its failures and the
//! sign-out are in the mailbox audit with service `webmail`.
//!
//! Session security:
//! - the session cookie is 256 random bits, stored only hashed, `Secure; HttpOnly;
//!   SameSite=Strict` with the `__Host-` prefix and no lifetime, ended on logout, after the idle
//!   timeout and the longest session (`[webmail] idle_timeout_secs`, `max_session_hours`) and
//!   when its account is disabled; a push connection (EventSource) it opened ends with it;
//! - a new session is made at every sign-in and any session the browser brought is ended first
//!   (no session fixation: a cookie planted before sign-in is never the signed-in one);
//! - every request that changes something carries a CSRF token: the sign-in form a token that
//!   must equal a cookie set with the form (so another site cannot sign the browser in to an
//!   account of its choosing), sign-out and JMAP calls the session's own token; and a POST whose
//!   `Origin` or `Sec-Fetch-Site` says it came from elsewhere is refused outright.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rampart_jmap::http::{cookie, origin, ClientAddr, Credentials, SESSION_COOKIE};
use rampart_jmap::http::{Backend as _, WEBMAIL_SERVICE};
use rampart_jmap::{Origin, User};
use rampart_store::mailbox_audit::op;
use rampart_store::web_sessions::csrf_token;

use super::{escape, request_origin, PAGE_CSP};
use crate::jmap::auth::{client_event, constant_eq, csrf_matches, sign_in, NotSignedIn};
use crate::jmap::JmapBackend;

/// The cookie that carries the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "__Host-rampart-login";
/// The longest username or password read from the form.
const MAX_FIELD: usize = 1024;

const LOGIN_PAGE: &str = include_str!("../../webmail/login.html");
const APP_PAGE: &str = include_str!("../../webmail/index.html");

type St = State<Arc<JmapBackend>>;

/// The answer to a sign-out the store could not carry out.
const NOT_SIGNED_OUT: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Not signed out</title></head><body><p id=\"not-signed-out\">Signing out failed: the \
    server could not end your session just now, so it is still valid. \
    <a href=\"/\">Go back</a> and sign out again.</p></body></html>";

/// `GET /`: the webmail for a signed-in browser, else the sign-in page.
pub(super) async fn index(State(b): St, headers: HeaderMap, client: ClientAddr) -> Response {
    match session_user(&b, &headers, &client).await {
        Some((user, token)) => app_page(&user, &token),
        None => login_page(StatusCode::OK, None),
    }
}

/// `POST /login` (form: username, password, login_token).
pub(super) async fn login(
    State(b): St,
    headers: HeaderMap,
    uri: Uri,
    client: ClientAddr,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, &uri) {
        return forbidden();
    }
    let form = Form::parse(&body);
    let expected = cookie(&headers, LOGIN_COOKIE);
    let token_ok = match (expected.as_deref(), form.get("login_token")) {
        (Some(e), Some(p)) => !e.is_empty() && constant_eq(e, p),
        _ => false,
    };
    if !token_ok {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("The sign-in form had expired. Please sign in again."),
        );
    }
    // No session fixation: whatever session the browser brought ends before a new one begins.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        let _ = b.store.web_session_end(&old).await;
    }
    let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
        return login_page(
            StatusCode::BAD_REQUEST,
            Some("Enter your address and password."),
        );
    };
    let origin = origin(&headers, &client, WEBMAIL_SERVICE);
    let address = match sign_in(&b, username.trim(), password, &origin).await {
        Ok(a) => a,
        Err(NotSignedIn::Unavailable) => return cannot_sign_in(),
        Err(NotSignedIn::Refused) => {
            let blocked = origin.ip.is_some_and(|ip| b.ctx.auth_guard.is_blocked(ip));
            let why = if blocked {
                "Too many failed sign-ins from your address. Wait a while, then try again."
            } else {
                "The address or password is wrong."
            };
            return login_page(StatusCode::UNAUTHORIZED, Some(why));
        }
    };
    let token = match b
        .store
        .web_session_create(
            &address,
            origin.ip.map(|ip| ip.to_string()),
            origin.user_agent.clone(),
        )
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "a webmail session could not be stored");
            return cannot_sign_in();
        }
    };
    let mut r = see_other("/");
    set_cookie(&mut r, SESSION_COOKIE, &token, None);
    set_cookie(&mut r, LOGIN_COOKIE, "", Some(0));
    r
}

/// The answer to a sign-in the store could not carry out: the password was not judged.
fn cannot_sign_in() -> Response {
    login_page(
        StatusCode::SERVICE_UNAVAILABLE,
        Some("The server could not sign you in just now. Try again shortly."),
    )
}

/// `POST /logout` (form: csrf): ends the session, whatever the cookie's fate in the browser.
pub(super) async fn logout(
    State(b): St,
    headers: HeaderMap,
    uri: Uri,
    client: ClientAddr,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, &uri) {
        return forbidden();
    }
    let form = Form::parse(&body);
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if !form.get("csrf").is_some_and(|c| csrf_matches(&token, c)) {
            return forbidden();
        }
        match b.store.web_session_end(&token).await {
            Ok(Some(account)) => {
                let o = origin(&headers, &client, WEBMAIL_SERVICE);
                let mut e = client_event(&account, op::LOGOUT, "signed out".into(), &o);
                e.location = o.ip.and_then(|ip| b.ctx.locator.locate(ip));
                b.store.mailbox_record(vec![e]).await;
            }
            Ok(None) => {}
            // The session stands until the store has ended it: say so, and keep the cookie so
            // that signing out can be tried again (a cleared cookie would look signed out).
            Err(e) => {
                tracing::error!(error = %e, "a webmail session could not be ended");
                return page(StatusCode::SERVICE_UNAVAILABLE, NOT_SIGNED_OUT.to_string());
            }
        }
    }
    let mut r = see_other("/");
    set_cookie(&mut r, SESSION_COOKIE, "", Some(0));
    r
}

/// `GET /webmail/html/{account}/{email}?remote=1`: the message's HTML, cleaned, for the
/// reading pane's sandboxed frame.
pub(super) async fn message_html(
    State(b): St,
    Path((account_id, email_id)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    client: ClientAddr,
) -> Response {
    let Some((user, _)) = session_user(&b, &headers, &client).await else {
        return rampart_http::respond::status_page(StatusCode::UNAUTHORIZED);
    };
    let remote = q.get("remote").is_some_and(|v| v == "1");
    super::render::respond(&b.store, &user, &account_id, &email_id, remote).await
}

/// The signed-in user and the session token, if the browser has a live session.
async fn session_user(
    b: &JmapBackend,
    headers: &HeaderMap,
    client: &ClientAddr,
) -> Option<(User, String)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let origin: Origin = origin(headers, client, WEBMAIL_SERVICE);
    let c = Credentials::Session {
        token: token.clone(),
        csrf: None,
        changes: false,
    };
    let mut user = b.authenticate(&c, &origin).await?;
    user.origin = origin;
    Some((user, token))
}

/// A POST from a page of this origin: `Origin` (sent by browsers on every POST) equal to ours,
/// and `Sec-Fetch-Site`, when sent, `same-origin` (or `none`: typed by the user).
fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let ours = request_origin(headers, uri);
    if let Some(o) = headers.get(header::ORIGIN) {
        let o = o.to_str().unwrap_or("").to_ascii_lowercase();
        if ours.as_deref() != Some(o.as_str()) {
            return false;
        }
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin") | Some("none") => true,
        Some(_) => false,
    }
}

/// The fields of an `application/x-www-form-urlencoded` body; a field given twice is refused
/// (None) rather than one of its values guessed.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .take(16)
                .map(|(k, v)| (k.into_owned(), v.chars().take(MAX_FIELD).collect()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next()?;
        found.next().is_none().then_some(first.1.as_str())
    }
}

fn set_cookie(r: &mut Response, name: &str, value: &str, max_age: Option<u32>) {
    let mut c = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn see_other(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

fn forbidden() -> Response {
    rampart_http::respond::status_page(StatusCode::FORBIDDEN)
}

/// An HTML page of the webmail with its policy.
fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The sign-in page, with a fresh form token (in the form and in its cookie).
fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let token: String = rampart_store::random_bytes::<24>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let error = match error {
        Some(e) => format!(
            "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
            escape(e)
        ),
        None => String::new(),
    };
    let html = LOGIN_PAGE
        .replace("{{login_token}}", &token)
        .replace("{{error}}", &error);
    let mut r = page(status, html);
    set_cookie(&mut r, LOGIN_COOKIE, &token, Some(3600));
    r
}

/// The webmail itself, for `user`, with the session's CSRF token for the script.
fn app_page(user: &User, token: &str) -> Response {
    let html = APP_PAGE
        .replace("{{csrf}}", &csrf_token(token))
        .replace("{{user}}", &escape(&user.username));
    page(StatusCode::OK, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_given_twice_is_not_guessed() {
        let f = Form::parse(b"username=a%40x.test&password=p%26q&csrf=1&csrf=2");
        assert_eq!(f.get("username"), Some("a@x.test"));
        assert_eq!(f.get("password"), Some("p&q"));
        assert_eq!(f.get("csrf"), None);
        assert_eq!(f.get("missing"), None);
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let uri: Uri = "/login".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("mail.example"));
        assert!(same_origin(&h, &uri));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://mail.example"),
        );
        assert!(same_origin(&h, &uri));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, &uri));
        h.remove("sec-fetch-site");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, &uri));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, &uri));
    }
}
