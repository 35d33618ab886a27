//! Signing in to the console: name, password AND a TOTP code (RFC 6238) at every login, and out.
//!
//! - The sign-in form carries a token that must equal a cookie set with the form, so another
//!   site cannot sign a browser in; a POST from another origin is refused outright.
//! - A code is accepted once (the store keeps the last step used): a code seen over a shoulder
//!   or replayed from a proxy log opens nothing.
//! - A failed login is an `auth` trace event (`failed for NAME (console): ...`) and is counted by
//!   intrusion prevention like a failed SMTP AUTH or webmail login (NC-2.4.1).
//! - A new session at every login, any session the browser brought ended first (no fixation);
//!   the cookie is `__Host-`, `Secure; HttpOnly; SameSite=Strict`, without a lifetime.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use rampart_store::admins::LoginRefused;
use rampart_store::TraceEvent;

use super::{client_of, cookie, escape, page_status, same_origin, see_other, Console, Form};

/// The cookie that carries the sign-in form's token.
const LOGIN_COOKIE: &str = "__Host-rampart-admin-login";
/// The service name in the trace and for intrusion prevention.
const SERVICE: &str = "console";

type St = State<Arc<Console>>;

/// `GET /login`.
pub(super) async fn form(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    if c.signed(&headers, client_of(ext)).await.is_some() {
        return see_other("/");
    }
    login_page(StatusCode::OK, None)
}

/// `POST /login` (form: name, password, code, login_token).
pub(super) async fn submit(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, &uri) {
        return super::forbidden("This request did not come from a console page.");
    }
    let client = client_of(ext);
    let form = Form::parse(&body);
    let token_ok = match (cookie(&headers, LOGIN_COOKIE), form.get("login_token")) {
        (Some(e), Some(p)) => !e.is_empty() && crate::jmap::auth::constant_eq(&e, p),
        _ => false,
    };
    if !token_ok {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("The sign-in form had expired. Please sign in again."),
        );
    }
    if let Some(old) = cookie(&headers, super::SESSION_COOKIE) {
        let _ = c.store.admin_session_end(&old).await;
    }
    let name = form.get("name").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let code = form.get("code").unwrap_or("");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let outcome = match c.store.admin_login(name, password, code, now).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "console: a login could not be checked");
            return login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The server could not sign you in just now. Try again shortly."),
            );
        }
    };
    let admin = match outcome {
        Ok(a) => a,
        Err(why) => {
            let account: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            let reason = match why {
                LoginRefused::Password => "wrong name or password",
                LoginRefused::Code => "password right, TOTP code missing or wrong",
                LoginRefused::Replayed => "password right, TOTP code already used",
            };
            let mut e = TraceEvent::new(
                "auth",
                format!("failed for {account} ({SERVICE}): {reason}"),
            );
            e.client = client.map(|a| a.ip().to_string());
            e.session = Some(super::trace_session(&account));
            c.store.record(e).await;
            // NC-2.4.1: counted with every other failed login of this address and account.
            if let Some(a) = client {
                c.ids
                    .failed_login(a.ip(), &account, password, SERVICE)
                    .await;
            }
            // One answer for every cause: a guesser learns nothing of which part was wrong.
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some("The name, password or code is wrong."),
            );
        }
    };
    let token = match c
        .store
        .admin_session_create(&admin.name, client.map(|a| a.ip().to_string()))
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "console: a session could not be stored");
            return login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The server could not sign you in just now. Try again shortly."),
            );
        }
    };
    let mut e = TraceEvent::new(
        "auth",
        format!(
            "authenticated as {} ({SERVICE}, {})",
            admin.name, admin.role
        ),
    );
    e.client = client.map(|a| a.ip().to_string());
    e.session = Some(super::trace_session(&admin.name));
    c.store.record(e).await;
    let mut r = see_other("/");
    set_cookie(&mut r, super::SESSION_COOKIE, &token, None);
    set_cookie(&mut r, LOGIN_COOKIE, "", Some(0));
    r
}

const NOT_SIGNED_OUT: &str = "<p class=\"error\" id=\"not-signed-out\">Signing out failed: the \
    store could not end this session just now, so it is still valid. Sign out again.</p>";

/// `POST /logout` (form: csrf).
pub(super) async fn logout(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, &uri) {
        return super::forbidden("This request did not come from a console page.");
    }
    let form = Form::parse(&body);
    if let Some(who) = c.signed(&headers, client_of(ext)).await {
        if !form
            .get("csrf")
            .is_some_and(|t| crate::jmap::auth::constant_eq(t, &who.csrf()))
        {
            return super::forbidden("The form had no valid CSRF token; reload the page.");
        }
        // The session is valid until the store has ended it: a failure says so, keeps the
        // cookie (to try again) and records no sign-out that did not happen (AL-3.1).
        if let Err(e) = c.store.admin_session_end(&who.token).await {
            return super::store_failed(Some(&who), "Sign out", &e, NOT_SIGNED_OUT);
        }
        c.record(&who, "console", "signed out".into(), None).await;
    }
    let mut r = see_other("/login");
    set_cookie(&mut r, super::SESSION_COOKIE, "", Some(0));
    r
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

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let token: String = rampart_store::random_bytes::<24>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{error}<form method=\"post\" action=\"/login\" class=\"login\">\
         <input type=\"hidden\" name=\"login_token\" value=\"{token}\">\
         <label>Name <input id=\"name\" name=\"name\" autocomplete=\"username\" required></label>\
         <label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>Code from your authenticator <input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" autocomplete=\"one-time-code\" required></label>\
         <button id=\"sign-in\">Sign in</button></form>"
    );
    let mut r = page_status(status, None, "Sign in", &body);
    set_cookie(&mut r, LOGIN_COOKIE, &token, Some(3600));
    r
}
