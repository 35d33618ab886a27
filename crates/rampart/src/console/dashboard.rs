//! The dashboard: the last day at a glance. Its numbers are the system report's (AL-3.2):
//! [`rampart_store::summary`] counted from the trace, the same [`Summary`] `rampart report
//! summary` prints, drawn with the report's own SVG charts (`report_summary::chart`), so the
//! console and the report never disagree. Beside it what is true now: the queue, the
//! quarantine, bans in force, signature and feed ages (NC-2.4.4) and the integrity check
//! (NC-2.2).
//!
//! `GET /?until=WHEN` shows the day before WHEN (a date, RFC 3339 UTC or Unix seconds, as
//! `rampart report summary --until` reads it); without it, the day before now.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use rampart_store::summary::{Count, Period, Summary, SystemReports};

use super::{client_of, escape, page, see_other, when, Console};
use crate::report_summary::{chart, html};

#[derive(serde::Deserialize, Default)]
pub(super) struct DashQuery {
    until: Option<String>,
}

/// What is true now, beside the day's numbers.
struct Now {
    /// Messages with a recipient still to deliver, and the oldest one's arrival.
    queue: (u64, Option<i64>),
    held: usize,
    bans_in_force: usize,
}

pub(super) async fn page_route(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<DashQuery>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let now = rampart_store::now_micros();
    let until = match q.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => now,
        Some(u) => match crate::admin::parse_time(u, now) {
            Ok(t) => t,
            Err(e) => {
                return super::page_status(
                    StatusCode::BAD_REQUEST,
                    Some(&who),
                    "Dashboard",
                    &format!(
                        "<p class=\"error\" id=\"refused\">until: {}</p>",
                        escape(&e.to_string())
                    ),
                )
            }
        },
    };
    let (since, until) = Period::Day.range(until);
    // Through the store's traits: on PostgreSQL the figures are every node's.
    let store = c.store.clone();
    let read = async {
        let summary = SystemReports::summary(&*store, Period::Day, since, until).await?;
        let current = Now {
            queue: store.queue_gauge().await?,
            held: store.quarantine_list().await?.len(),
            bans_in_force: store.list_active(now).await?.len(),
        };
        Ok::<_, rampart_store::StoreError>((summary, current))
    }
    .await;
    let (s, current) = match read {
        Ok(r) => r,
        Err(e) => return super::unreadable(Some(&who), "Dashboard", &e),
    };
    let body = render(&c, &s, &current).await;
    page(Some(&who), "Dashboard", &body)
}

/// A tile: the number (with an id the tests read) and what it counts.
fn tile(id: &str, n: impl std::fmt::Display, what: &str) -> String {
    format!(
        "<div><b id=\"{id}\">{n}</b> {}</div>",
        escape(what),
        id = escape(id)
    )
}

fn top(title: &str, id: &str, rows: &[Count]) -> String {
    let rows: String = if rows.is_empty() {
        "<tr><td colspan=\"2\">none</td></tr>".into()
    } else {
        rows.iter()
            .map(|c| format!("<tr><td>{}</td><td>{}</td></tr>", escape(&c.name), c.count))
            .collect()
    };
    format!(
        "<section><h2>{}</h2><table id=\"{}\">{rows}</table></section>",
        escape(title),
        escape(id)
    )
}

async fn render(c: &Console, s: &Summary, current: &Now) -> String {
    let tiles = [
        tile("sum-inbound", s.volume.inbound, "in from other servers"),
        tile("sum-outbound", s.outbound(), "out (users and this server)"),
        tile(
            "sum-accepted",
            s.decisions.accepted,
            "accepted by the checks",
        ),
        tile("sum-quarantined", s.decisions.quarantined, "quarantined"),
        tile("sum-refused", s.decisions.refused, "refused by the checks"),
        tile(
            "sum-rcpt-refused",
            s.refusals.recipients,
            "recipients refused in the dialogue",
        ),
        tile("sum-auth-failed", s.auth_failures.failed, "failed logins"),
        tile(
            "sum-auth-refused",
            s.auth_failures.refused,
            "logins refused before the password",
        ),
        tile("sum-bans", s.bans.bans, "bans"),
        tile(
            "sum-delivered",
            s.deliveries.local + s.deliveries.relayed,
            "delivered or relayed",
        ),
        tile("sum-deferred", s.deliveries.deferred, "deferred"),
        tile("sum-bounces", s.deliveries.bounces, "bounces"),
        tile(
            "sum-released",
            s.quarantine.released,
            "released from quarantine",
        ),
        // AL-1.2: the spam check's false positives and misses as users saw them.
        tile(
            "sum-out-of-junk",
            s.junk.out_of_junk,
            "moved out of Junk by users",
        ),
        tile(
            "sum-into-junk",
            s.junk.into_junk,
            "moved into Junk by users",
        ),
    ]
    .concat();
    let oldest = current
        .queue
        .1
        .map(|t| format!("oldest since {}", when(t)))
        .unwrap_or_else(|| "empty".into());
    let now_tiles = [
        tile(
            "queue-size",
            current.queue.0,
            &format!("in the queue ({oldest})"),
        ),
        tile("held", current.held, "in quarantine"),
        tile("bans", current.bans_in_force, "bans in force"),
    ]
    .concat();
    let tls: Vec<(String, u64)> = s
        .tls
        .inbound
        .iter()
        .map(|c| (format!("in {}", c.name), c.count))
        .chain(
            s.tls
                .outbound
                .iter()
                .map(|c| (format!("out {}", c.name), c.count)),
        )
        .collect();
    format!(
        "<p id=\"period\">The day from {} to {} (UTC): the numbers of <code>rampart report summary</code> \
         ({} trace events).</p>\
         <section class=\"tiles\">{tiles}</section>\
         <h2>Messages per hour</h2><div id=\"chart\">{}</div>\
         <h2>Verdicts per check</h2><div id=\"verdicts\">{}</div>\
         <div class=\"cols\">{}{}</div>\
         <div class=\"cols\">{}{}{}{}</div>\
         <h2>TLS in and out</h2><div id=\"tls\">{}</div>\
         <h2>Now</h2><section class=\"tiles\">{now_tiles}</section>\
         <h2>Signatures and feeds (NC-2.4.4)</h2><ul id=\"freshness\">{}</ul>\
         <h2>Integrity check (NC-2.2)</h2><p id=\"integrity\">{}</p>",
        when(s.since),
        when(s.until),
        s.events,
        html::hourly_chart(s),
        html::verdicts_chart(s),
        top("Top senders", "top-senders", &s.top_senders),
        top("Top recipients", "top-recipients", &s.top_recipients),
        top(
            "Top blocked senders",
            "top-blocked-senders",
            &s.top_blocked_senders
        ),
        top(
            "Top blocked domains",
            "top-blocked-domains",
            &s.top_blocked_domains
        ),
        top(
            "Failed logins by account",
            "auth-by-account",
            &s.auth_failures.by_account
        ),
        top(
            "Failed logins by address",
            "auth-by-address",
            &s.auth_failures.by_address
        ),
        chart::bars("TLS versions of sessions", &tls, "#2f855a"),
        freshness(c).await,
        integrity(c).await,
    )
}

/// NC-2.4.4: the age of each signature database and feed, past a week marked.
async fn freshness(c: &Console) -> String {
    let ages = crate::freshness::source_ages(&c.config).await;
    if ages.is_empty() {
        return "<li>no signature or feed source configured</li>".into();
    }
    let now = std::time::SystemTime::now();
    ages.iter()
        .map(|a| {
            let name = match &a.path {
                Some(p) => format!("{} ({})", a.source, p.display()),
                None => a.source.to_string(),
            };
            let (age, stale) = match a.age(now) {
                Some(d) => {
                    let h = d.as_secs() / 3600;
                    (format!("{} h old", h), h > 7 * 24)
                }
                None => ("age unknown".into(), true),
            };
            format!(
                "<li{}>{}: {}{}</li>",
                if stale { " class=\"warn\"" } else { "" },
                escape(&name),
                escape(&age),
                if stale { " (older than a week)" } else { "" }
            )
        })
        .collect()
}

/// NC-2.2: the critical files compared with the signed baseline now, as the periodic check
/// and `rampart integrity check` compare them.
async fn integrity(c: &Console) -> String {
    let i = &c.config.integrity;
    if !i.enabled {
        return "off: no periodic check of the critical files (<code>rampart integrity init</code>, \
                then [integrity] enabled = true)"
            .into();
    }
    let config = c.config.clone();
    let path = c.config_path.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        crate::integrity::check(&config, path.as_deref(), &config.integrity.public_key)
    })
    .await;
    let state = match outcome {
        Ok(crate::integrity::Outcome::Checked { files, findings }) if findings.is_empty() => {
            format!("<span class=\"ok\">{files} critical files as in the baseline</span>")
        }
        Ok(crate::integrity::Outcome::Checked { findings, .. }) => {
            let list: String = findings
                .iter()
                .map(|f| format!("<li>{}</li>", escape(&f.to_string())))
                .collect();
            format!(
                "<span class=\"error\">{} change(s) since the baseline</span><ul>{list}</ul>",
                findings.len()
            )
        }
        Ok(crate::integrity::Outcome::NoBaseline(why))
        | Ok(crate::integrity::Outcome::Untrusted(why)) => {
            format!("<span class=\"error\">{}</span>", escape(&why))
        }
        Err(_) => "<span class=\"error\">the check could not run</span>".into(),
    };
    format!("checked every {} s; now: {state}", i.interval_secs.get())
}
