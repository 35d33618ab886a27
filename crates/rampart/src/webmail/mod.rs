//! The webmail (AL-4.1: mail is read in the browser over HTTPS, never IMAP or POP3): a client of
//! Rampart's own JMAP API, served by the same HTTPS listener.
//!
//! The pages are a static shell and one script written here (crates/rampart/webmail/), compiled
//! into the binary: no CDN, font or script from anywhere else, no build tool between the files
//! in the repository and what the browser runs. Everything the user sees comes through JMAP, so
//! the webmail can do nothing the API does not allow, and the audit, limits and checks of the
//! API apply to it unchanged.
//!
//! | route | what | file |
//! |---|---|---|
//! | `GET /` | the sign-in page, or the webmail for a signed-in browser | `session.rs` |
//! | `POST /login`, `POST /logout` | sign in and out | `session.rs` |
//! | `GET /webmail/assets/{name}` | the scripts and style sheet | here |
//! | `GET /webmail/html/{account}/{email}` | an HTML message, cleaned, for a sandboxed frame | `render.rs` |
//!
//! The JMAP API accepts the session cookie (`rampart_jmap::http::SESSION_COOKIE`) besides
//! Basic and Bearer; its POSTs need the session's CSRF token in a header.

pub mod render;
pub mod sanitize;
mod session;

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::jmap::JmapBackend;

/// The policy of the webmail's own pages: its script and style only, JMAP calls to itself,
/// message frames from itself; no inline script or style anywhere.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// One file of the webmail as it is compiled in.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../webmail/app.js"),
    },
    Asset {
        name: "compose.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../webmail/compose.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../webmail/app.css"),
    },
];

/// The webmail's routes over the JMAP backend.
pub fn router(backend: Arc<JmapBackend>) -> Router {
    tokio::spawn(prune_sessions(Arc::downgrade(&backend)));
    Router::new()
        .route("/", get(session::index))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/webmail/assets/{name}", get(asset))
        .route(
            "/webmail/html/{account_id}/{email_id}",
            get(session::message_html),
        )
        .with_state(backend)
}

/// Removes expired sessions every hour (each is refused once expired anyway; this keeps the
/// table small). Ends with the backend.
async fn prune_sessions(backend: std::sync::Weak<JmapBackend>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let Some(b) = backend.upgrade() else { return };
        let w = &b.ctx.config.webmail;
        let limits = rampart_store::web_sessions::SessionLimits {
            idle: w.idle_micros(),
            max_age: w.max_age_micros(),
        };
        if let Err(e) = b.store.web_sessions_prune(limits).await {
            tracing::warn!(error = %e, "pruning expired webmail sessions failed");
        }
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return rampart_http::respond::status_page(StatusCode::NOT_FOUND);
    };
    let mut r = a.body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    // Revalidated on every load, so a new binary's script is used at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `https://host[:port]` of the request, as the browser addressed it (HTTP/2's :authority or
/// HTTP/1.1's Host), if it looks like a host.
pub(crate) fn request_origin(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let host = uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })?;
    let ok = !host.is_empty()
        && host.len() <= 262
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then(|| format!("https://{}", host.to_ascii_lowercase()))
}

/// Text made safe inside HTML (element content or a quoted attribute).
pub(crate) use rampart_jmap_mail::email::view::escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_origin_is_the_host_the_browser_used() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("Mail.Example:8443"));
        let uri: Uri = "/login".parse().unwrap();
        assert_eq!(
            request_origin(&h, &uri).as_deref(),
            Some("https://mail.example:8443")
        );
        h.insert(header::HOST, HeaderValue::from_static("evil\"x"));
        assert_eq!(request_origin(&h, &uri), None);
    }
}
