//! The JMAP endpoints on axum: no TLS and no authentication scheme of its own (the backend
//! checks the credentials; the HTTPS layer serves the router).
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/jmap` | 307 to `/jmap/session` (RFC 8620 §2.2), no authentication |
//! | `GET /jmap/session` | the session object (§2) |
//! | `POST /jmap/api` | a JMAP request (§3) |
//! | `POST /jmap/upload/{accountId}` | a blob upload (§6.1) |
//! | `GET /jmap/download/{accountId}/{blobId}/{name}?accept=` | a blob download (§6.2) |
//! | `GET /jmap/eventsource?types=&closeafter=&ping=` | push (§7.3) |
//!
//! Every route but the first needs `Authorization: Basic` or `Bearer`, or the webmail's session
//! cookie ([`SESSION_COOKIE`]; a request that changes something, POST, also carries the
//! session's CSRF token in [`CSRF_HEADER`]). Without valid credentials the answer is 401 with a
//! `WWW-Authenticate` challenge for each scheme (only `Bearer` for a browser that sent the
//! cookie, so that it shows no password dialog of its own).

mod api;
mod blob;
pub mod eventsource;
pub mod limiter;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::engine::Methods;
use crate::error::RequestError;
use crate::session::{CoreCapability, Origin, SessionUrls, User, SESSION_PATH};
pub use eventsource::StateChange;
use limiter::Limiter;

/// Credentials from the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
    /// The webmail's session cookie; `csrf` is the CSRF header's value, `changes` whether the
    /// request may change something (then the CSRF token must match).
    Session {
        token: String,
        csrf: Option<String>,
        changes: bool,
    },
}

/// The webmail's session cookie. `__Host-`: the browser keeps it only if it is `Secure`, has
/// `Path=/` and no `Domain`, so no other host (or plain-HTTP page) can set or read it.
pub const SESSION_COOKIE: &str = "__Host-rampart-session";
/// The header carrying the session's CSRF token on requests that change something.
pub const CSRF_HEADER: &str = "x-rampart-csrf";

impl std::fmt::Debug for Credentials {
    // Never print a password or token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::Session { changes, .. } => write!(f, "Session(<redacted>, changes={changes})"),
        }
    }
}

/// A stored blob as `upload` returns it (RFC 8620 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub blob_id: String,
    /// The media type stored with it.
    pub content_type: String,
    pub size: u64,
}

/// A blob being downloaded: its bytes as a stream, and its length if known.
pub struct Blob {
    pub size: Option<u64>,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// Why a blob operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("forbidden")]
    Forbidden,
    #[error("over quota")]
    OverQuota,
    /// The server's own storage has no room left (a full disk): temporary.
    #[error("storage full")]
    Full,
    #[error("server failure: {0}")]
    Internal(String),
}

/// What the handlers need from the rest of the server.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user these credentials prove, or None (then 401). `origin` says where the attempt
    /// came from (the login guard and the audit need it); the handler copies it into the user.
    async fn authenticate(&self, credentials: &Credentials, origin: &Origin) -> Option<User>;

    /// Whether credentials accepted when a long-lived connection (push) began still stand,
    /// asked before each of its events: a webmail session signed out, expired or of a disabled
    /// account since then ends the connection. Asking is not a use of the credentials (an open
    /// push connection must not keep a session from going idle). Every credential stands by
    /// default.
    async fn still_valid(&self, _credentials: &Credentials, _origin: &Origin) -> bool {
        true
    }

    /// The JMAP methods (the data layer).
    fn methods(&self) -> &dyn Methods;

    /// Stores a blob in `account_id` (the account is the user's and writable; the size is
    /// within maxSizeUpload).
    async fn upload(
        &self,
        user: &User,
        account_id: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<BlobInfo, BlobError>;

    /// A blob of `account_id` (the user's), or None if there is none with that id.
    async fn download(
        &self,
        user: &User,
        account_id: &str,
        blob_id: &str,
    ) -> Result<Option<Blob>, BlobError>;

    /// Push: every state change of every account; the handler keeps the user's own.
    fn subscribe(&self, user: &User) -> broadcast::Receiver<StateChange>;
}

/// The router's settings.
#[derive(Debug, Clone)]
pub struct JmapConfig {
    /// The limits advertised in the session and enforced.
    pub core: CoreCapability,
    /// Where the endpoints are, for the session's URLs.
    pub urls: SessionUrls,
    /// The realm in the 401 challenges.
    pub realm: String,
    /// EventSource connections one user may hold open at once (429 above it). Not an RFC
    /// limit: without one, a client could open connections until the server runs out.
    pub max_event_sources: u64,
    /// The service name the audit records for requests on this router (`jmap`, `webmail`).
    pub service: &'static str,
}

impl Default for JmapConfig {
    fn default() -> Self {
        Self {
            core: CoreCapability::default(),
            urls: SessionUrls {
                base: String::new(),
            },
            realm: "JMAP".into(),
            max_event_sources: 8,
            service: "jmap",
        }
    }
}

struct AppState<B> {
    backend: Arc<B>,
    config: JmapConfig,
    requests: Arc<Limiter>,
    uploads: Arc<Limiter>,
    event_sources: Arc<Limiter>,
}

type Shared<B> = Arc<AppState<B>>;

/// The JMAP routes over `backend` (see the module documentation).
pub fn router<B: Backend>(backend: Arc<B>, config: JmapConfig) -> Router {
    let state: Shared<B> = Arc::new(AppState {
        backend,
        config,
        requests: Arc::new(Limiter::default()),
        uploads: Arc::new(Limiter::default()),
        event_sources: Arc::new(Limiter::default()),
    });
    Router::new()
        .route("/.well-known/jmap", get(well_known::<B>))
        .route(SESSION_PATH, get(api::session::<B>))
        .route(crate::session::API_PATH, post(api::api::<B>))
        .route("/jmap/upload/{account_id}", post(blob::upload::<B>))
        .route(
            "/jmap/download/{account_id}/{blob_id}/{name}",
            get(blob::download::<B>),
        )
        .route("/jmap/eventsource", get(api::eventsource::<B>))
        .with_state(state)
}

/// RFC 8620 §2.2: the well-known URI may redirect to the session resource.
async fn well_known<B: Backend>(
    axum::extract::State(st): axum::extract::State<Shared<B>>,
) -> Redirect {
    Redirect::temporary(&format!("{}{SESSION_PATH}", st.config.urls.base))
}

/// Parses `Authorization: Basic …` (RFC 7617) or `Bearer …` (RFC 6750).
pub fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Some(Credentials::Bearer(rest.to_owned()));
    }
    None
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4), if present
/// once; a cookie sent twice (one set by a sibling host, say) is refused rather than guessed.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for v in headers.get_all(header::COOKIE) {
        let v = v.to_str().ok()?;
        for pair in v.split(';') {
            let Some((k, val)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    return None;
                }
                found = Some(val.trim_matches('"').to_owned());
            }
        }
    }
    found
}

/// The webmail session's credentials, when the request has its cookie and no Authorization.
fn session_credentials(headers: &HeaderMap, changes: bool) -> Option<Credentials> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let csrf = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Some(Credentials::Session {
        token,
        csrf,
        changes,
    })
}

/// The client's address, from the `SocketAddr` extension the HTTPS server (rampart-http) puts
/// on each request (absent under a server that does not, as in some tests).
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts.extensions.get::<std::net::SocketAddr>().copied(),
        ))
    }
}

/// The longest User-Agent kept for the audit.
const MAX_USER_AGENT: usize = 256;

/// Where a request came from (see [`Origin`]).
pub fn origin(headers: &HeaderMap, client: &ClientAddr, service: &'static str) -> Origin {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mut end = v.len().min(MAX_USER_AGENT);
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            v[..end].to_owned()
        });
    Origin {
        ip: client.0.map(|a| a.ip()),
        user_agent,
        service,
    }
}

/// The request's user; `changes` for a request that may change something (the session cookie
/// then needs its CSRF token).
async fn authenticate<B: Backend>(
    st: &AppState<B>,
    headers: &HeaderMap,
    client: &ClientAddr,
    changes: bool,
) -> Result<User, Response> {
    let c = credentials(headers).or_else(|| session_credentials(headers, changes));
    // A browser's request: the session cookie, or the webmail page's CSRF header (a browser
    // whose cookie is gone: a Basic challenge would open a password dialog there).
    let browser =
        matches!(c, Some(Credentials::Session { .. })) || headers.contains_key(CSRF_HEADER);
    if let Some(c) = c {
        // The audit names the webmail for what its pages do through this API.
        let service = if browser {
            WEBMAIL_SERVICE
        } else {
            st.config.service
        };
        let origin = origin(headers, client, service);
        if let Some(mut user) = st.backend.authenticate(&c, &origin).await {
            user.origin = origin;
            return Ok(user);
        }
    }
    Err(unauthorized(&st.config.realm, browser))
}

/// The service the audit records for requests made with the webmail's session.
pub const WEBMAIL_SERVICE: &str = "webmail";

fn unauthorized(realm: &str, browser: bool) -> Response {
    // A realm is a quoted-string: keep it printable ASCII without quotes or backslashes.
    let realm: String = realm
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    let mut r = http_problem(StatusCode::UNAUTHORIZED, "authentication required");
    let mut challenges = vec![format!("Bearer realm=\"{realm}\"")];
    if !browser {
        challenges.insert(0, format!("Basic realm=\"{realm}\", charset=\"UTF-8\""));
    }
    for v in challenges {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

fn problem_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// A JMAP request-level error as RFC 7807 problem details (RFC 8620 §3.6.1).
fn request_problem(e: &RequestError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    problem_response(status, e.problem_details())
}

/// An HTTP-level problem with no JMAP type (RFC 7807 `about:blank`).
fn http_problem(status: StatusCode, detail: &str) -> Response {
    problem_response(
        status,
        json!({"type": "about:blank", "status": status.as_u16(), "detail": detail}),
    )
}

/// Why a body could not be read whole.
enum ReadError {
    TooLarge,
    Failed,
}

/// Reads a body of at most `limit` octets; a declared or actual length above it is refused
/// without reading further.
async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ReadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(limit).min(1 << 20));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ReadError::Failed)?;
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// The most of a refused request's body read before the refusal is sent.
const REFUSAL_DRAIN: u64 = 1024 * 1024;
/// How long a refused request's body is waited for.
const REFUSAL_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads (and drops) the small body of a request about to be refused, so the refusal reaches
/// the client after the request it answers: answered mid-upload, an HTTP/2 stream is reset and
/// the client sees a transport error instead of the 401. Bodies above 1 MiB, or slower than
/// two seconds, are not waited for.
async fn drain_refused(headers: &HeaderMap, body: Body) {
    let _ = tokio::time::timeout(
        REFUSAL_DRAIN_TIME,
        read_limited(headers, body, REFUSAL_DRAIN),
    )
    .await;
}

/// A JSON 200 that no cache keeps.
fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn parses_basic_and_bearer() {
        // "alice:pa:ss" — the password may contain ':'.
        let c = credentials(&h("Basic YWxpY2U6cGE6c3M=")).unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                username: "alice".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            credentials(&h("bearer tok.en")).unwrap(),
            Credentials::Bearer("tok.en".into())
        );
        for bad in [
            "Basic !!!",
            "Basic YWxpY2U=",
            "Bearer ",
            "Digest x",
            "Basic",
        ] {
            assert!(credentials(&h(bad)).is_none(), "{bad}");
        }
        assert!(credentials(&HeaderMap::new()).is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Basic {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::Bearer("tok".into())).contains("tok\""));
    }

    #[test]
    fn unauthorized_challenges_both_schemes() {
        let r = unauthorized("Rampart \"JMAP\"", false);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Vec<_> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], "Basic realm=\"Rampart JMAP\", charset=\"UTF-8\"");
        assert_eq!(v[1], "Bearer realm=\"Rampart JMAP\"");
        // A browser with the session cookie gets no Basic challenge (no password dialog).
        let r = unauthorized("JMAP", true);
        let v: Vec<_> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(v, ["Bearer realm=\"JMAP\""]);
    }

    #[test]
    fn the_session_cookie_is_read_once_and_never_guessed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-rampart-session=rps_x; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("rps_x"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-rampart-session=rps_y"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), None, "two values: neither");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-rampart-session=rps_x"),
        );
        h.insert(CSRF_HEADER, HeaderValue::from_static("c"));
        assert_eq!(
            session_credentials(&h, true),
            Some(Credentials::Session {
                token: "rps_x".into(),
                csrf: Some("c".into()),
                changes: true
            })
        );
        // Authorization wins over the cookie.
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert_eq!(credentials(&h), Some(Credentials::Bearer("t".into())));
    }
}
