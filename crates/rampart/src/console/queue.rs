//! The queue: every recipient still to deliver, with its attempts and state.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;

use super::{client_of, escape, page, see_other, Console};

/// `GET /queue`.
pub(super) async fn list(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let entries = c.store.queue_list().await.unwrap_or_default();
    let rows: String = entries
        .iter()
        .map(|e| {
            format!(
                "<tr><td><a href=\"/trace?queue_id={id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.recipient),
                e.attempts,
                escape(&e.status.to_string()),
                id = escape(&e.message.to_string()),
            )
        })
        .collect();
    let body = format!(
        "<p>{} recipient(s) in the queue.</p><table id=\"queue\"><tr><th>Queue id</th><th>Recipient</th><th>Attempts</th><th>State</th></tr>{rows}</table>",
        entries.len()
    );
    page(Some(&who), "Queue", &body)
}
