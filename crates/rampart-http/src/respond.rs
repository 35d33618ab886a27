//! What every response carries (NC-2.1.3): the security headers, no header that names software,
//! and for an error our own short sentence instead of whatever the framework wrote.
//!
//! Always set, whatever the route said: `Strict-Transport-Security`, `X-Content-Type-Options`,
//! `Referrer-Policy`; `Server` and `X-Powered-By` are removed.
//!
//! `X-Frame-Options` is `DENY`, unless the route set `SAMEORIGIN` itself: a document meant for
//! an iframe of this server's own pages (the webmail's message view). Any other value is `DENY`.
//!
//! Set unless the route set its own: `Content-Security-Policy` ([`DEFAULT_CSP`]: nothing may load)
//! and `Cache-Control: no-store`. A route that serves a page sets a wider policy on its response,
//! e.g. `default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'none';
//! base-uri 'none'; form-action 'self'`, and a route whose answer may be cached sets its own
//! Cache-Control.
//!
//! Error pages: a response of status 400 or above whose body is plain text, or that has no
//! Content-Type, gets the sentence of [`sentence`] for its status instead (axum's rejections and
//! its empty 404 and 405 are such). An error with another type (JMAP's `application/problem+json`,
//! an HTML page) is the route's own and is left as it is.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// One year, subdomains included; browsers then refuse plain HTTP to this host.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";
/// Nothing may load, nothing may frame the page, forms post only to this origin.
pub const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The middleware that finishes every response; the outermost layer of
/// [`crate::limits::with_middleware`].
pub async fn finish(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let mut resp = if is_framework_error(&resp) {
        replace_body(resp)
    } else {
        resp
    };
    secure_headers(resp.headers_mut());
    resp
}

/// Our page for `status`: its sentence as plain text.
pub fn status_page(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::from(sentence(status)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The sentence of an error page: ours, naming no software (NC-2.1.3).
pub fn sentence(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "The request is malformed.\n",
        StatusCode::NOT_FOUND => "There is nothing here.\n",
        StatusCode::METHOD_NOT_ALLOWED => "That method is not allowed here.\n",
        StatusCode::REQUEST_TIMEOUT => "The request took too long to arrive.\n",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.\n",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request headers are too large.\n",
        StatusCode::SERVICE_UNAVAILABLE => "The server is busy; try again shortly.\n",
        s if s.is_server_error() => "The server could not complete the request.\n",
        _ => "The request was refused.\n",
    }
}

/// An error whose body the route did not choose: plain text or untyped.
fn is_framework_error(resp: &Response) -> bool {
    if resp.status().as_u16() < 400 {
        return false;
    }
    match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(t) => t
            .to_str()
            .map(|t| {
                t.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/plain")
            })
            .unwrap_or(true),
    }
}

fn replace_body(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    let page = status_page(parts.status);
    // The old body's length and encoding go with it; Allow, Retry-After and the like stay.
    for h in [
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
    ] {
        parts.headers.remove(h);
    }
    let (page_parts, body) = page.into_parts();
    parts.headers.extend(page_parts.headers);
    Response::from_parts(parts, body)
}

fn secure_headers(h: &mut HeaderMap) {
    // NC-2.1.3: no header names the software or its version.
    h.remove(header::SERVER);
    h.remove(HeaderName::from_static("x-powered-by"));
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // NC-2.1.3: no page is framed by another site; a route may let its own origin frame it.
    let same_origin = h
        .get(header::X_FRAME_OPTIONS)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"SAMEORIGIN"));
    let frame = if same_origin { "SAMEORIGIN" } else { "DENY" };
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(frame));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_options(route: Option<&'static str>) -> String {
        let mut h = HeaderMap::new();
        if let Some(v) = route {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(v));
        }
        secure_headers(&mut h);
        h[header::X_FRAME_OPTIONS].to_str().unwrap().to_owned()
    }

    // NC-2.1.3: DENY unless the route asked for its own origin; nothing wider is possible.
    #[test]
    fn nc_2_1_3_frame_options_deny_unless_route_says_sameorigin() {
        assert_eq!(frame_options(None), "DENY");
        assert_eq!(frame_options(Some("SAMEORIGIN")), "SAMEORIGIN");
        assert_eq!(frame_options(Some("sameorigin")), "SAMEORIGIN");
        assert_eq!(
            frame_options(Some("ALLOW-FROM https://evil.example/")),
            "DENY"
        );
        assert_eq!(frame_options(Some("DENY")), "DENY");
    }

    #[test]
    fn nc_2_1_3_security_headers_always_set() {
        let mut h = HeaderMap::new();
        h.insert(header::SERVER, HeaderValue::from_static("x/1.0"));
        secure_headers(&mut h);
        assert!(h.get(header::SERVER).is_none());
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], DEFAULT_CSP);
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
