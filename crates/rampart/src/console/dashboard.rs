//! The dashboard: the last 24 hours at a glance, computed from the trace, the queue, the
//! quarantine and the bans; the hourly chart drawn here as SVG (no script).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use rampart_store::{TraceEvent, TraceFilter};

use super::{client_of, escape, page, see_other, Console};

const HOUR: i64 = 3_600_000_000;
/// Events read for the day's numbers at most.
const MAX_EVENTS: usize = 100_000;

/// The day's numbers, as the dashboard shows them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DaySummary {
    /// Messages received (queued) in each of the last 24 hours, oldest first.
    pub in_per_hour: [u64; 24],
    /// Deliveries in each of the last 24 hours, oldest first.
    pub out_per_hour: [u64; 24],
    /// Events of each kind that stand for a decision: refused, quarantined, bounce, …
    pub verdicts: Vec<(String, u64)>,
    /// Messages refused or held by a check.
    pub threats_blocked: u64,
    pub top_senders: Vec<(String, u64)>,
    pub top_recipients: Vec<(String, u64)>,
    pub auth_failures: u64,
}

/// The dashboard's numbers from the trace events of the last 24 hours before `now`. A simple
/// count of the trace; the report module (`report_summary`) is to take its place once merged.
pub fn summary_from_trace(events: &[TraceEvent], now: i64) -> DaySummary {
    let mut s = DaySummary::default();
    let mut verdicts: HashMap<String, u64> = HashMap::new();
    let mut senders: HashMap<String, u64> = HashMap::new();
    let mut recipients: HashMap<String, u64> = HashMap::new();
    for e in events {
        let age = now - e.ts;
        if !(0..24 * HOUR).contains(&age) {
            continue;
        }
        let slot = 23 - usize::try_from(age / HOUR).unwrap_or(23).min(23);
        match e.event.as_str() {
            "queued" => {
                s.in_per_hour[slot] += 1;
                if let Some(f) = e.sender.as_deref().filter(|f| !f.is_empty()) {
                    *senders.entry(f.to_ascii_lowercase()).or_default() += 1;
                }
            }
            "delivered" => {
                s.out_per_hour[slot] += 1;
                if let Some(r) = &e.recipient {
                    *recipients.entry(r.to_ascii_lowercase()).or_default() += 1;
                }
            }
            "auth" if e.detail.starts_with("failed") => s.auth_failures += 1,
            "refused" | "quarantined" | "bounce" | "failed" | "expired" => {
                *verdicts.entry(e.event.clone()).or_default() += 1;
                if e.event == "quarantined" || (e.event == "refused" && e.detail.contains("5.7.1"))
                {
                    s.threats_blocked += 1;
                }
            }
            _ => {}
        }
    }
    let top = |m: HashMap<String, u64>| {
        let mut v: Vec<(String, u64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(10);
        v
    };
    s.verdicts = top(verdicts);
    s.top_senders = top(senders);
    s.top_recipients = top(recipients);
    s
}

/// `GET /`.
pub(super) async fn page_handler(
    c: &Console,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
) -> Response {
    let Some(who) = c.signed(headers, client).await else {
        return see_other("/login");
    };
    let now = rampart_store::now_micros();
    let events = c
        .store
        .trace(&TraceFilter {
            since: Some(now - 24 * HOUR),
            limit: MAX_EVENTS,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let s = summary_from_trace(&events, now);
    let queue = c.store.queue_list().await.map(|q| q.len()).unwrap_or(0);
    let held = c
        .store
        .quarantine_list()
        .await
        .map(|q| q.len())
        .unwrap_or(0);
    let store = c.sqlite.store().clone();
    let bans = tokio::task::spawn_blocking(move || store.ids_list_active(now))
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|b| b.len())
        .unwrap_or(0);
    let ages = crate::freshness::source_ages(&c.config).await;
    let fresh: String = ages
        .iter()
        .map(|a| {
            let age = a
                .age(std::time::SystemTime::now())
                .map(|d| format!("{} h", d.as_secs() / 3600))
                .unwrap_or_else(|| "unknown".into());
            let name = match &a.path {
                Some(p) => format!("{} ({})", a.source, p.display()),
                None => a.source.to_string(),
            };
            format!("<li>{}: {}</li>", escape(&name), escape(&age))
        })
        .collect();
    let fresh = if fresh.is_empty() {
        "<li>no signature or feed source configured</li>".to_string()
    } else {
        fresh
    };
    let integrity = if c.config.integrity.enabled {
        "on (findings are mailed to the postmaster; see <code>rampart integrity check</code>)"
    } else {
        "off"
    };
    let list = |v: &[(String, u64)]| -> String {
        if v.is_empty() {
            return "<p>none</p>".into();
        }
        let rows: String = v
            .iter()
            .map(|(k, n)| format!("<tr><td>{}</td><td>{n}</td></tr>", escape(k)))
            .collect();
        format!("<table>{rows}</table>")
    };
    let total_in: u64 = s.in_per_hour.iter().sum();
    let total_out: u64 = s.out_per_hour.iter().sum();
    let body = format!(
        "<section class=\"tiles\">\
         <div><b id=\"in\">{total_in}</b> in (24 h)</div><div><b id=\"out\">{total_out}</b> delivered</div>\
         <div><b id=\"threats\">{}</b> threats blocked</div><div><b id=\"auth-failures\">{}</b> failed logins</div>\
         <div><b id=\"queue-size\">{queue}</b> in the queue</div><div><b id=\"held\">{held}</b> in quarantine</div>\
         <div><b id=\"bans\">{bans}</b> bans in force</div></section>\
         <h2>Messages per hour</h2>{}\
         <div class=\"cols\"><section><h2>Verdicts</h2>{}</section>\
         <section><h2>Top senders</h2>{}</section><section><h2>Top recipients</h2>{}</section></div>\
         <h2>Signatures and feeds</h2><ul>{fresh}</ul><h2>Integrity check</h2><p>{integrity}</p>",
        s.threats_blocked,
        s.auth_failures,
        chart(&s.in_per_hour, &s.out_per_hour),
        list(&s.verdicts),
        list(&s.top_senders),
        list(&s.top_recipients),
    );
    page(Some(&who), "Dashboard", &body)
}

pub(super) async fn page_route(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    page_handler(&c, &headers, client_of(ext)).await
}

/// Two bars per hour (in, out) as SVG; presentation attributes only, so no style is inline.
fn chart(inbound: &[u64; 24], outbound: &[u64; 24]) -> String {
    let max = inbound
        .iter()
        .chain(outbound)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h) = (24 * 20, 120u64);
    let mut bars = String::new();
    for i in 0..24 {
        for (k, v, colour) in [(0, inbound[i], "#2b6cb0"), (1, outbound[i], "#2f855a")] {
            let bh = v * h / max;
            bars.push_str(&format!(
                "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"{bh}\" fill=\"{colour}\"><title>{v}</title></rect>",
                i * 20 + k * 9 + 1,
                h - bh
            ));
        }
    }
    format!(
        "<svg id=\"chart\" role=\"img\" aria-label=\"messages in (blue) and delivered (green) per hour\" \
         viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">{bars}</svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, ts: i64, detail: &str) -> TraceEvent {
        let mut e = TraceEvent::new(event, detail);
        e.ts = ts;
        e.sender = Some("a@x.test".into());
        e.recipient = Some("b@y.test".into());
        e
    }

    #[test]
    fn the_day_is_counted_per_hour_and_older_events_are_not() {
        let now = 100 * HOUR;
        let s = summary_from_trace(
            &[
                ev("queued", now - 10, ""),
                ev("queued", now - 2 * HOUR - 5, ""),
                ev("delivered", now - 10, ""),
                ev("quarantined", now - 10, "held"),
                ev("auth", now - 10, "failed for x"),
                ev("auth", now - 10, "authenticated as x"),
                ev("queued", now - 25 * HOUR, ""),
            ],
            now,
        );
        assert_eq!(s.in_per_hour[23], 1);
        assert_eq!(s.in_per_hour[21], 1);
        assert_eq!(s.in_per_hour.iter().sum::<u64>(), 2);
        assert_eq!(s.out_per_hour[23], 1);
        assert_eq!(s.threats_blocked, 1);
        assert_eq!(s.auth_failures, 1);
        assert_eq!(s.top_senders, vec![("a@x.test".to_string(), 2)]);
    }
}
