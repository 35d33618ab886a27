//! The document the webmail's message iframe loads: one email, sanitised (`sanitize.rs`), as a
//! page of its own under a policy that lets it run nothing and load nothing from elsewhere
//! (issue 13 item 3; the webmail's share of AL-1.4 and NC-2.1.3).
//!
//! Three layers, each enough against a script on its own: the sanitiser removes it, the
//! Content-Security-Policy allows no script source, and the policy's `sandbox` (as the page's
//! iframe attribute) gives the document neither scripts nor an origin. Images load from `data:`
//! only, unless the reader asked for this message's remote content; the response says how many
//! remote images and mismatched links there were, so the page can offer that choice.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use rampart_http::respond::status_page;
use rampart_jmap::User;
use rampart_jmap_mail::email::view::html_view;
use rampart_store::AnyStore;

use super::sanitize::{self, Cleaned};

/// How many remote images the document does not load.
pub const REMOTE_BLOCKED: HeaderName = HeaderName::from_static("x-rampart-remote-blocked");
/// How many links the document marks as showing another host than they lead to.
pub const MISMATCHED_LINKS: HeaderName = HeaderName::from_static("x-rampart-mismatched-links");

/// Readability, and the mismatch mark. The mark's text comes after the link (`::after`), where
/// the mail's own `style` attributes cannot reach it.
const STYLE: &str = "body{margin:12px;font:15px/1.5 system-ui,sans-serif;color:#1b1b1b;\
background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}\
pre{white-space:pre-wrap;font:14px/1.45 ui-monospace,monospace}table{max-width:100%}\
a{color:#0b57d0}.rampart-mismatch{outline:2px solid #b3261e!important}\
.rampart-mismatch::after{content:\" \\26A0  \" attr(title)!important;display:inline!important;\
font:bold 13px/1.4 system-ui,sans-serif!important;color:#8c1d18!important;\
background:#fde7e9!important;padding:0 4px!important}";

/// NC-2.1.3, AL-1.4: the document's policy. No script, frame, font, form or base; style only
/// inline (the sanitiser kept a safe set); images only from the message itself unless
/// `remote`; framed only by the webmail's own page; sandboxed as the iframe is.
pub fn csp(remote: bool) -> String {
    let img = if remote {
        "data: https: http:"
    } else {
        "data:"
    };
    format!(
        "default-src 'none'; img-src {img}; style-src 'unsafe-inline'; font-src 'none'; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'self'; \
         sandbox allow-popups allow-popups-to-escape-sandbox"
    )
}

/// The full page of a cleaned email, with its headers.
pub fn document(cleaned: &Cleaned, remote: bool) -> Response {
    let page = format!(
        "<!doctype html><meta charset=utf-8><style>{STYLE}</style><body>{}</body>",
        cleaned.html
    );
    let mut resp = Response::new(Body::from(page));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The policy is ours alone; nothing of the mail is in it.
    if let Ok(v) = HeaderValue::from_str(&csp(remote)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // The webmail's page frames this document; no other page may (the shared middleware
    // keeps SAMEORIGIN when the route sets it, DENY otherwise).
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(REMOTE_BLOCKED, HeaderValue::from(cleaned.remote_blocked));
    h.insert(
        MISMATCHED_LINKS,
        HeaderValue::from(cleaned.mismatched_links),
    );
    resp
}

/// The document of email `email_id` in account `account_id` as `user` (signed in to the
/// webmail) reaches it, with remote images if `remote`. 404 when there is no such email for
/// this user; the view is a read in the mailbox audit (AL-3.1).
pub async fn respond(
    store: &AnyStore,
    user: &User,
    account_id: &str,
    email_id: &str,
    remote: bool,
) -> Response {
    let view = match html_view(store, user, account_id, email_id).await {
        Ok(Some(v)) => v,
        Ok(None) => return status_page(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::warn!(error = %e, "webmail: a message view failed");
            return status_page(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    // Parsing and rebuilding a large HTML body is CPU work: off the async workers.
    let cleaned =
        tokio::task::spawn_blocking(move || sanitize::clean(&view.html, &view.inline, remote))
            .await;
    match cleaned {
        Ok(c) => document(&c, remote),
        Err(e) => {
            tracing::warn!(error = %e, "webmail: a sanitiser task failed");
            status_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[cfg(test)]
mod tests;
