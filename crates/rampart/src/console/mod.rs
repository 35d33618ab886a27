//! The administration console (docs/CONSOLE.md): server-rendered pages on the `admin` listener
//! only, never on the mail users' `https` listener. Administrators are accounts of their own
//! (`rampart admin`, rampart-store's `admins`): password and TOTP code at every login, a role
//! that decides what each POST may do, and every action a trace event naming who did it.
//!
//! | route | what | file |
//! |---|---|---|
//! | `GET /login`, `POST /login`, `POST /logout` | sign in (password + TOTP) and out | `login.rs` |
//! | `GET /` | the dashboard | `dashboard.rs` |
//! | `GET /quarantine`, `GET /quarantine/{id}`, `POST /quarantine/{id}/{release,delete}` | quarantine | `quarantine.rs` |
//! | `GET /queue` | the queue | `queue.rs` |
//! | `GET /queue/{id}`, `POST /queue/{id}/{retry,hold,release,delete,bounce}` | one queued message: attempts, actions | `queue.rs` |
//! | `GET /users`, `GET /users/{address}`, `POST /users/add`, `POST /users/{address}/{action}` | users, send-as grants, tokens | `directory.rs` |
//! | `GET /domains`, `POST /domains/{add,remove}`, `POST /aliases/{add,remove}` | domains and aliases | `directory.rs` |
//! | `GET /trace` | message trace search and timeline | `trace.rs` |
//! | `GET /bans`, `POST /bans/{add,remove,allow,disallow}` | intrusion prevention's bans and allow-list | `bans.rs` |
//! | `GET /quarantine/{id}/preview` | a held message, sanitised, for a sandboxed frame | `quarantine.rs` |
//! | `GET /dkim` | DKIM keys, the DNS records to publish, and what DNS serves | `dkim.rs` |
//! | `GET /audit`, `POST /audit/run`, `GET /audit/report.html` | the audit's report | `audit.rs` |
//! | `GET /console/style.css` | the one style sheet, compiled in | here |
//!
//! Every page is served with [`PAGE_CSP`]: the style sheet of this origin and nothing else; no
//! script at all. Every POST must come from this origin (`Origin`, `Sec-Fetch-Site`) and carry
//! the session's CSRF token; a destructive one also `confirm=yes`, which only the confirmation
//! page's form sends.

mod audit;
mod bans;
mod dashboard;
mod dir_ops;
mod directory;
mod dkim;
mod login;
mod quarantine;
mod queue;
mod trace;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rampart_config::Config;
use rampart_store::admins::{AdminAccount, AdminRole, AdminSessionLimits};
use rampart_store::{AnyStore, TraceEvent};

pub(crate) use crate::webmail::escape;

/// The console's pages: its own style sheet, no script, no frame, forms to itself only.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Pages that frame a document of this origin (a held message's preview, the audit report):
/// [`PAGE_CSP`] and frames of this origin only; the framed document has its own, stricter one.
pub const FRAMING_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's session cookie (`__Host-`: Secure, this host, path `/`).
pub const SESSION_COOKIE: &str = "__Host-rampart-admin";
/// An idle console session ends after this long.
pub const IDLE_SECS: i64 = 15 * 60;
/// A console session ends this long after its login, however busy.
pub const MAX_AGE_SECS: i64 = 8 * 3600;

const STYLE: &str = include_str!("style.css");

/// What every console handler shares.
pub struct Console {
    /// The server's store, through its traits: administrators and their sessions (so they are
    /// shared by every node on PostgreSQL), trace, bans, queue, quarantine, directory.
    pub store: AnyStore,
    /// The store as its concrete type, for the few actions not on a trait (dir_ops.rs, bounce, DKIM).
    pub local: LocalStore,
    pub config: Arc<Config>,
    /// Wakes the queue manager (a released or retried message is due now).
    pub notify: Arc<tokio::sync::Notify>,
    /// Intrusion prevention: failed console logins count as other failed logins do.
    pub ids: Arc<rampart_ids::Ids>,
    /// The configuration file the server read (absolute), for the audit's integrity facts.
    pub config_path: Option<std::path::PathBuf>,
}

/// The concrete store behind [`Console::store`].
#[derive(Clone)]
pub enum LocalStore {
    /// The embedded store.
    Sqlite(rampart_store::Store),
    /// The database several nodes share (issue 20).
    Postgresql(rampart_store_pg::PgStore),
}

/// The console's routes; serve them on an `admin` listener only.
pub fn router(console: Arc<Console>) -> Router {
    let pages = Router::new()
        .route("/", get(dashboard::page_route))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/console/style.css", get(style))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{id}", get(quarantine::show))
        .route(
            "/quarantine/{id}/{action}",
            get(quarantine::preview).post(quarantine::act),
        )
        .route("/queue", get(queue::list))
        .route("/queue/{id}", get(queue::show))
        .route("/queue/{id}/{action}", post(queue::act))
        .route("/users", get(directory::users))
        .route("/users/add", post(directory::user_add))
        .route("/users/{address}", get(directory::user))
        .route("/users/{address}/{action}", post(directory::user_act))
        .route("/domains", get(directory::domains))
        .route("/domains/{action}", post(directory::domain_act))
        .route("/aliases/{action}", post(directory::alias_act))
        .route("/trace", get(trace::search))
        .route("/bans", get(bans::list))
        .route("/bans/{action}", post(bans::act))
        .route("/dkim", get(dkim::page_route))
        .route("/dkim/generate", post(dkim::generate))
        .route("/audit", get(audit::page_route))
        .route("/audit/run", post(audit::run))
        .route("/audit/report.html", get(audit::report))
        .with_state(console);
    rampart_http::routes::base().merge(pages)
}

async fn style() -> Response {
    let mut r = STYLE.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The signed-in administrator of a request, with the session token.
pub struct Signed {
    pub admin: AdminAccount,
    pub token: String,
    pub client: Option<SocketAddr>,
}

impl Signed {
    pub fn csrf(&self) -> String {
        rampart_store::web_sessions::csrf_token(&self.token)
    }
}

impl Console {
    fn limits() -> AdminSessionLimits {
        AdminSessionLimits {
            idle: IDLE_SECS * 1_000_000,
            max_age: MAX_AGE_SECS * 1_000_000,
        }
    }

    /// The administrator whose live session the request carries.
    pub async fn signed(&self, headers: &HeaderMap, client: Option<SocketAddr>) -> Option<Signed> {
        let token = cookie(headers, SESSION_COOKIE)?;
        match self
            .store
            .admin_session_check(&token, Console::limits())
            .await
        {
            Ok(Some(admin)) => Some(Signed {
                admin,
                token,
                client,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "console: a session check failed");
                None
            }
        }
    }

    /// AL-3.1: an administrator's action (or refused attempt) as a trace event naming them.
    pub async fn record(&self, who: &Signed, event: &str, detail: String, queue_id: Option<&str>) {
        let mut e = TraceEvent::new(
            event,
            format!("{} ({}): {detail}", who.admin.name, who.admin.role),
        );
        e.client = who.client.map(|c| c.ip().to_string());
        e.session = Some(trace_session(&who.admin.name));
        e.queue_id = queue_id.map(str::to_owned);
        self.store.record(e).await;
    }

    /// A POST's gate: a live session, this origin, the session's CSRF token, and a role at
    /// least `need`. A refusal is a response (login page, 403), and a refused role a trace
    /// event.
    pub async fn authorise_post(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        client: Option<SocketAddr>,
        form: &Form,
        need: AdminRole,
        what: &str,
    ) -> Result<Signed, Response> {
        if !same_origin(headers, uri) {
            return Err(forbidden("This request did not come from a console page."));
        }
        let Some(who) = self.signed(headers, client).await else {
            return Err(see_other("/login"));
        };
        if !form
            .get("csrf")
            .is_some_and(|c| crate::jmap::auth::constant_eq(c, &who.csrf()))
        {
            return Err(forbidden(
                "The form had no valid CSRF token; reload the page.",
            ));
        }
        if who.admin.role < need {
            self.record(
                &who,
                "console-denied",
                format!("refused: {what} needs the {need} role"),
                None,
            )
            .await;
            return Err(forbidden(&format!(
                "Your role ({}) may not {what}; it needs {need}.",
                who.admin.role
            )));
        }
        Ok(who)
    }
}

/// The admin listener's gate at accept: a client outside loopback and `allow` is closed before
/// TLS (the configuration check refuses a non-loopback listener without `allow_remote` and
/// `allow`); past it, intrusion prevention decides as on every listener.
pub struct Gate {
    pub listener: rampart_config::Listener,
    pub ids: rampart_ids::Shared,
}

impl rampart_http::Watch for Gate {
    fn refuse(&self, peer: std::net::IpAddr) -> bool {
        !self.listener.admin_allows(peer) || self.ids.refuse(peer)
    }
    fn tls_failed(&self, peer: std::net::IpAddr, error: &str) {
        self.ids.tls_failed(peer, error)
    }
    fn probe(&self, peer: std::net::IpAddr, path: &str) {
        self.ids.probe(peer, path)
    }
}

/// The trace's session of an administrator's console events: one timeline per administrator,
/// so `rampart trace --client` (or the console's trace page) finds their logins and actions.
pub fn trace_session(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("console:{name}")
}

/// The client address the listener put in the request.
pub fn client_of(ext: Option<axum::Extension<SocketAddr>>) -> Option<SocketAddr> {
    ext.map(|axum::Extension(a)| a)
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A POST of this origin: `Origin` (browsers send it on every POST) equal to ours and
/// `Sec-Fetch-Site`, when sent, `same-origin`. Without `Origin` (a non-browser client) the
/// CSRF token still has to be right.
pub fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let ours = crate::webmail::request_origin(headers, uri);
    if let Some(o) = headers.get(header::ORIGIN) {
        let o = o.to_str().unwrap_or("").to_ascii_lowercase();
        if ours.as_deref() != Some(o.as_str()) {
            return false;
        }
    }
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        None | Some("same-origin") | Some("none")
    )
}

/// The longest form field read.
const MAX_FIELD: usize = 2048;

/// An `application/x-www-form-urlencoded` body; a field given twice reads as absent.
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .take(32)
                .map(|(k, v)| (k.into_owned(), v.chars().take(MAX_FIELD).collect()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next()?;
        found.next().is_none().then_some(first.1.as_str())
    }
}

/// The sentence a page shows when the store could not be read (SQLite or PostgreSQL).
const UNREADABLE: &str =
    "<p class=\"error\" id=\"unreadable\">The store could not be read just now; reload the page.</p>";

/// A page whose store read failed: `503` and a sentence, never an empty list that would read as
/// "there is none" (an empty quarantine, no bans). The error goes to the log. `who` is None
/// where the session could not be checked first (a held message's action).
pub fn unreadable(who: Option<&Signed>, title: &str, e: &dyn std::fmt::Display) -> Response {
    store_failed(who, title, e, UNREADABLE)
}

/// A request the store could not carry out: `503` with `sentence` (HTML), the error to the log.
pub fn store_failed(
    who: Option<&Signed>,
    title: &str,
    e: &dyn std::fmt::Display,
    sentence: &str,
) -> Response {
    tracing::warn!(error = %e, page = title, "console: the store could not be read or written");
    page_status(StatusCode::SERVICE_UNAVAILABLE, who, title, sentence)
}

/// The refusal of a change: 400 with the store's or the policy's sentence.
pub fn not_done(who: &Signed, what: &str, why: &str, back: &str) -> Response {
    page_status(
        StatusCode::BAD_REQUEST,
        Some(who),
        "Not done",
        &format!(
            "<p class=\"error\" id=\"not-done\">{}: {}</p><p><a href=\"{}\">Back</a></p>",
            escape(what),
            escape(why),
            escape(back)
        ),
    )
}

/// A console page: the header with navigation and the signed-in administrator, then `body`.
pub fn page(who: Option<&Signed>, title: &str, body: &str) -> Response {
    page_status(StatusCode::OK, who, title, body)
}

/// The page says `referrer: same-origin` (the server's header says `no-referrer`): under
/// no-referrer a browser sends `Origin: null` on a form POST, which the origin check refuses.
pub fn page_status(status: StatusCode, who: Option<&Signed>, title: &str, body: &str) -> Response {
    let nav = match who {
        Some(w) => format!(
            "<nav><a href=\"/\">Dashboard</a><a href=\"/quarantine\">Quarantine</a>\
             <a href=\"/queue\">Queue</a><a href=\"/trace\">Trace</a><a href=\"/bans\">Bans</a>\
             <a href=\"/users\">Users</a><a href=\"/domains\">Domains</a>\
             <a href=\"/dkim\">DKIM</a><a href=\"/audit\">Audit</a>\
             <span class=\"who\" id=\"who\">{} ({})</span>\
             <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button id=\"logout\">Sign out</button></form></nav>",
            escape(&w.admin.name),
            w.admin.role,
            w.csrf()
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"referrer\" content=\"same-origin\">\
         <title>{} · Rampart console</title><link rel=\"stylesheet\" href=\"/console/style.css\">\
         </head><body><header><strong>Rampart console</strong>{nav}</header><main>\
         <h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    );
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

/// Lets `r` (a console page) frame documents of this origin.
pub fn allow_frames(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FRAMING_CSP),
    );
    r
}

/// A confirmation page: the same POST again with `confirm=yes`.
pub fn confirm_page(
    who: &Signed,
    action: &str,
    question: &str,
    fields: &[(&str, &str)],
) -> Response {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<p class=\"warn\">{}</p><form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         {hidden}<button id=\"confirm\" class=\"danger\">Yes, do it</button> <a href=\"/\">Cancel</a></form>",
        escape(question),
        escape(action),
        who.csrf()
    );
    page(Some(who), "Confirm", &body)
}

pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub fn forbidden(why: &str) -> Response {
    page_status(
        StatusCode::FORBIDDEN,
        None,
        "Refused",
        &format!(
            "<p class=\"error\" id=\"refused\">{}</p><p><a href=\"/\">Back</a></p>",
            escape(why)
        ),
    )
}

/// A time stamp (microseconds) as `YYYY-MM-DD HH:MM:SS`.
pub fn when(micros: i64) -> String {
    crate::admin::format_time(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_3_1_posts_from_another_origin_are_refused() {
        let uri: Uri = "/bans/add".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:2444"));
        assert!(same_origin(&h, &uri));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, &uri));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:2444"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, &uri));
    }

    #[test]
    fn a_field_given_twice_reads_as_absent() {
        let f = Form::parse(b"csrf=1&csrf=2&network=192.0.2.1");
        assert_eq!(f.get("csrf"), None);
        assert_eq!(f.get("network"), Some("192.0.2.1"));
    }
}
