//! Message trace search (AL-3.1), with the CLI's filters (`rampart trace`): queue id,
//! Message-ID, sender, recipient, client address, and a time range; the result is each
//! matching message's whole timeline.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use rampart_store::TraceFilter;

use super::{client_of, escape, see_other, when, Console};

/// Events shown at most.
const LIMIT: usize = 2000;

#[derive(serde::Deserialize, Default)]
pub(super) struct TraceQuery {
    queue_id: Option<String>,
    message_id: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
    client: Option<String>,
    /// Hours back from now (text: an empty field is no limit, not a malformed request).
    hours: Option<String>,
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `GET /trace?...`.
pub(super) async fn search(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<TraceQuery>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    // A malformed "hours back" is said, not read as "no limit".
    let hours = match q.hours.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(None),
        Some(h) => h.parse::<u32>().map(Some).map_err(|_| {
            format!("“{h}” is not a number of hours; give a whole number, such as 24")
        }),
    };
    let filter = TraceFilter {
        queue_id: some(&q.queue_id),
        message_id: some(&q.message_id),
        sender: some(&q.sender),
        recipient: some(&q.recipient),
        client: some(&q.client),
        since: hours
            .clone()
            .ok()
            .flatten()
            .map(|h| rampart_store::now_micros() - i64::from(h) * 3_600_000_000),
        until: None,
        limit: LIMIT,
        ..TraceFilter::default()
    };
    let asked = filter.queue_id.is_some()
        || filter.message_id.is_some()
        || filter.sender.is_some()
        || filter.recipient.is_some()
        || filter.client.is_some();
    // A refused field is a 400 and an unreadable store a 503, each with its sentence under the
    // form as the user filled it in.
    let (status, results) = match hours {
        Err(why) => (
            StatusCode::BAD_REQUEST,
            format!("<p class=\"error\" id=\"refused\">{}</p>", escape(&why)),
        ),
        Ok(_) if !asked => (
            StatusCode::OK,
            "<p>Give at least one of the fields above.</p>".into(),
        ),
        Ok(_) => match c.store.trace(&filter).await {
            Ok(events) => (StatusCode::OK, timeline(&events, LIMIT)),
            Err(e) => {
                tracing::warn!(error = %e, "console: the trace could not be read");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "<p class=\"error\" id=\"refused\">The trace could not be read just now; \
                     search again.</p>"
                        .into(),
                )
            }
        },
    };
    let v = |o: &Option<String>| escape(o.as_deref().unwrap_or(""));
    let body = format!(
        "<form method=\"get\" action=\"/trace\">\
         <input name=\"queue_id\" id=\"t-queue-id\" placeholder=\"queue id\" value=\"{}\"> \
         <input name=\"message_id\" id=\"t-message-id\" placeholder=\"Message-ID\" value=\"{}\"> \
         <input name=\"sender\" id=\"t-sender\" placeholder=\"sender\" value=\"{}\"> \
         <input name=\"recipient\" id=\"t-recipient\" placeholder=\"recipient\" value=\"{}\"> \
         <input name=\"client\" id=\"t-client\" placeholder=\"client address\" value=\"{}\"> \
         <input name=\"hours\" placeholder=\"hours back\" size=\"6\" value=\"{}\"> \
         <button id=\"search\">Search</button></form>{results}",
        v(&q.queue_id),
        v(&q.message_id),
        v(&q.sender),
        v(&q.recipient),
        v(&q.client),
        v(&q.hours),
    );
    super::page_status(status, Some(&who), "Message trace", &body)
}

/// The timeline table of `events`, saying so when the search stopped at `limit` events.
fn timeline(events: &[rampart_store::TraceEvent], limit: usize) -> String {
    let rows: String = events
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(e.ts),
                escape(&e.event),
                escape(e.queue_id.as_deref().unwrap_or("")),
                escape(e.client.as_deref().unwrap_or("")),
                escape(e.sender.as_deref().unwrap_or("")),
                escape(e.recipient.as_deref().unwrap_or("")),
                escape(&e.detail),
            )
        })
        .collect();
    let cut = if events.len() >= limit {
        format!(
            "<p id=\"cut\">The first {limit} events, oldest first: give \"hours back\" or more \
             fields to see the rest.</p>"
        )
    } else {
        String::new()
    };
    format!(
        "<h2>Timeline</h2><p id=\"count\">{} event(s)</p>{cut}<table id=\"timeline\"><tr><th>When</th><th>Event</th><th>Queue id</th><th>Client</th><th>Sender</th><th>Recipient</th><th>Detail</th></tr>{rows}</table>",
        events.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AL-3.1: a timeline cut at the limit says so; a whole one does not.
    #[test]
    fn al_3_1_a_cut_timeline_says_so() {
        let e = rampart_store::TraceEvent::new("queued", "<b>1</b> message");
        let whole = timeline(&[e.clone(), e.clone()], 3);
        assert!(whole.contains("2 event(s)"), "{whole}");
        assert!(!whole.contains("id=\"cut\""), "{whole}");
        assert!(whole.contains("&lt;b&gt;1&lt;/b&gt;"), "{whole}");
        let cut = timeline(&[e.clone(), e.clone(), e], 3);
        assert!(cut.contains("<p id=\"cut\">The first 3 events"), "{cut}");
    }
}
