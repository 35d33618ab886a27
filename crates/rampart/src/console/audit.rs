//! The audit's report in the console, for every role: `rampart audit`'s facts gathered by the
//! same code (`audit_local::gather`), judged by the same registry, and rendered by the audit's
//! own HTML renderer (`rampart_audit::html`), shown in a sandboxed frame and offered as the
//! self-contained file to download.
//!
//! - `POST /audit/run` (any role, CSRF): gathers the facts and keeps the report in the data
//!   directory (`console-audit.html`, `console-audit.json`, mode 0600); the trace names who ran
//!   it. One run at a time. The self-test's probes come from this host: the audit asks the
//!   server to leave 127.0.0.1 and ::1 uncounted while they run (the admin socket's
//!   `self-test-begin`/`-end`, NC-2.4.1), so running it from the console bans no one.
//! - `GET /audit`: the last report's tally and every control's status, the report framed;
//! - `GET /audit/report.html[?download=1]`: the report itself, under its own CSP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rampart_store::admins::AdminRole;

use super::{client_of, escape, page, see_other, when, Console, Form};

type St = State<Arc<Console>>;

/// The framed report's policy: its own inline style and SVG, nothing else; framed by the
/// console only; no script, no origin.
const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox";

/// One audit at a time: a second request while one runs is told so.
static RUNNING: AtomicBool = AtomicBool::new(false);

fn html_path(c: &Console) -> PathBuf {
    c.config.data_dir.join("console-audit.html")
}

fn json_path(c: &Console) -> PathBuf {
    c.config.data_dir.join("console-audit.json")
}

/// `GET /audit`.
pub(super) async fn page_route(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let json = tokio::fs::read(json_path(&c)).await.ok();
    let report: Option<serde_json::Value> = json.and_then(|j| serde_json::from_slice(&j).ok());
    let running = RUNNING.load(Ordering::SeqCst);
    let form = format!(
        "<form method=\"post\" action=\"/audit/run\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button id=\"run-audit\"{}>Run the audit now</button></form>",
        who.csrf(),
        if running { " disabled" } else { "" }
    );
    let body = match report {
        None => format!(
            "<p id=\"no-report\">No report yet{}. Running it takes some seconds: it reads the \
             configuration, host and store, and probes this server's own listeners.</p>{form}",
            if running { " (one is running now)" } else { "" }
        ),
        Some(r) => format!(
            "<p id=\"generated\">Gathered at {} (UTC). <a id=\"download\" href=\"/audit/report.html?download=1\">\
             Download the report (one HTML file)</a></p>{form}{}\
             <iframe id=\"report\" title=\"the audit report\" sandbox src=\"/audit/report.html\"></iframe>",
            when(r["generated_at"].as_i64().unwrap_or(0) * 1_000_000),
            summary(&r)
        ),
    };
    super::allow_frames(page(Some(&who), "Audit", &body))
}

/// The statuses per standard and the controls that are not a pass, from the report's JSON.
fn summary(r: &serde_json::Value) -> String {
    let controls = r["controls"].as_array().cloned().unwrap_or_default();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in &controls {
        *counts
            .entry(c["status"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    let tally: String = counts
        .iter()
        .map(|(s, n)| {
            format!(
                "<div><b id=\"audit-{}\">{n}</b> {}</div>",
                escape(s),
                escape(s)
            )
        })
        .collect();
    let rows: String = controls
        .iter()
        .filter(|c| c["status"].as_str() != Some("pass"))
        .map(|c| {
            let findings: String = c["findings"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter(|f| f["status"].as_str() != Some("pass"))
                        .map(|f| {
                            format!(
                                "<li>{}: {}{}</li>",
                                escape(f["check"].as_str().unwrap_or("")),
                                escape(f["evidence"].as_str().unwrap_or("")),
                                f["remedy"]
                                    .as_str()
                                    .map(|r| format!(" → {}", escape(r)))
                                    .unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "<tr class=\"control\"><td>{}</td><td>{}</td><td>{}</td><td><ul>{findings}</ul></td></tr>",
                escape(c["id"].as_str().unwrap_or("")),
                escape(c["title"].as_str().unwrap_or("")),
                escape(c["status"].as_str().unwrap_or("")),
            )
        })
        .collect();
    format!(
        "<section class=\"tiles\" id=\"audit-tally\">{tally}</section>\
         <h2>Controls that are not a pass</h2><table id=\"audit-controls\">\
         <tr><th>Control</th><th>Requirement</th><th>Status</th><th>Findings</th></tr>{rows}</table>\
         <h2>The full report</h2>"
    )
}

/// `POST /audit/run` (form: csrf).
pub(super) async fn run(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let who = match c
        .authorise_post(
            &headers,
            &uri,
            client_of(ext),
            &form,
            AdminRole::Auditor,
            "run the audit",
        )
        .await
    {
        Ok(w) => w,
        Err(r) => return r,
    };
    if RUNNING.swap(true, Ordering::SeqCst) {
        return super::forbidden("An audit is running already; its report shows here when done.");
    }
    c.record(&who, "console", "ran the audit".into(), None)
        .await;
    let config = c.config.as_ref().clone();
    let config_path = c.config_path.clone();
    let (html, json) = (html_path(&c), json_path(&c));
    let done = tokio::task::spawn_blocking(move || {
        let facts = crate::audit_local::gather(&config, config_path.as_deref(), Vec::new())?;
        let report = rampart_audit::report::Report::gather(&facts);
        write_private(&html, &rampart_audit::html::render(&report))?;
        write_private(&json, &report.to_json())
    })
    .await;
    RUNNING.store(false, Ordering::SeqCst);
    match done {
        Ok(Ok(())) => see_other("/audit"),
        Ok(Err(e)) => super::forbidden(&format!("The audit could not run: {e}")),
        Err(_) => super::forbidden("The audit could not run."),
    }
}

/// Writes `text` whole to `path`, readable by the server's user only.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[derive(serde::Deserialize, Default)]
pub(super) struct ReportQuery {
    download: Option<String>,
}

/// `GET /audit/report.html[?download=1]`: the renderer's page as it was written.
pub(super) async fn report(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    if c.signed(&headers, client_of(ext)).await.is_none() {
        return rampart_http::respond::status_page(StatusCode::UNAUTHORIZED);
    }
    let Ok(html) = tokio::fs::read(html_path(&c)).await else {
        return rampart_http::respond::status_page(StatusCode::NOT_FOUND);
    };
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPORT_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    if q.download.is_some() {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"rampart-audit.html\""),
        );
    }
    r
}
