//! The queue: every recipient still to deliver; one message's recipients, attempts and trace;
//! and the actions on it (operator and up): retry now, hold, release the hold, delete, bounce.
//!
//! The actions are the store's own (`rampart queue ...` runs the same ones, rampart-store's
//! `queue_admin`), each a trace event in the commit that makes it, plus a `console` event that
//! names the administrator (AL-3.1). Delete and bounce end a message's delivery for good: they
//! ask for confirmation first. A bounce sends the sender a delivery status notification (RFC
//! 3464, rampart-queue's `dsn`) saying the delivery was cancelled, then removes the message. A
//! message in quarantine is not the queue's: its page is the quarantine's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use rampart_store::admins::AdminRole;
use rampart_store::{QueueId, RecipientStatus, StoreError, TraceFilter};

use super::{
    client_of, confirm_page, escape, page, page_status, see_other, when, Console, Form, Signed,
};

type St = State<Arc<Console>>;

/// The actions, with what the refusal of a lesser role says it would have done.
const ACTIONS: [(&str, &str, &str); 5] = [
    ("retry", "Retry now", "retry queued messages"),
    ("hold", "Hold", "hold queued messages"),
    ("release", "Release hold", "release held messages"),
    ("delete", "Delete", "delete queued messages"),
    ("bounce", "Bounce", "bounce queued messages"),
];

/// `GET /queue`.
pub(super) async fn list(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let entries = match c.store.queue_list().await {
        Ok(entries) => entries,
        Err(e) => return super::unreadable(Some(&who), "Queue", &e),
    };
    let rows: String = entries
        .iter()
        .map(|e| {
            format!(
                "<tr><td><a href=\"/queue/{id}\" class=\"queued\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.recipient),
                escape(e.status.label()),
                e.attempts,
                escape(&e.status.to_string()),
                id = escape(&e.message.to_string()),
            )
        })
        .collect();
    let body = format!(
        "<p>{} recipient(s) in the queue. Open a queue id for its attempts and actions.</p>\
         <table id=\"queue\"><tr><th>Queue id</th><th>Recipient</th><th>State</th><th>Attempts</th><th>Last outcome</th></tr>{rows}</table>",
        entries.len()
    );
    page(Some(&who), "Queue", &body)
}

/// `GET /queue/{id}`: the message's recipients with their attempts, its trace, the actions.
pub(super) async fn show(
    State(c): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let rcpts: Vec<_> = match c.store.queue_list().await {
        Ok(all) => all.into_iter().filter(|e| e.message.0 == id).collect(),
        Err(e) => return super::unreadable(Some(&who), "Queue", &e),
    };
    if rcpts.is_empty() {
        return not_queued(&who, &id);
    }
    let rows: String = rcpts
        .iter()
        .map(|e| {
            let (reply, next) = match &e.status {
                RecipientStatus::TemporaryFailure {
                    reply,
                    next_attempt,
                } => (reply.clone(), when(*next_attempt)),
                RecipientStatus::Delivered(r) => (r.clone(), String::new()),
                RecipientStatus::PermanentFailure(f) => {
                    (format!("{} {}", f.status, f.reply), String::new())
                }
                RecipientStatus::Scheduled => (String::new(), "now".into()),
                RecipientStatus::Held => (String::new(), "not until released".into()),
            };
            format!(
                "<tr><td>{}</td><td class=\"state\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.recipient),
                escape(e.status.label()),
                e.attempts,
                escape(&reply),
                escape(&next)
            )
        })
        .collect();
    let events = match c
        .store
        .trace(&TraceFilter {
            queue_id: Some(id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await
    {
        Ok(events) => events,
        Err(e) => return super::unreadable(Some(&who), "Queue", &e),
    };
    let timeline: String = events
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(e.ts),
                escape(&e.event),
                escape(e.recipient.as_deref().unwrap_or("")),
                escape(&e.detail)
            )
        })
        .collect();
    let quarantined = match c.store.quarantine_get(&id).await {
        Ok(found) => found.is_some(),
        Err(e) => return super::unreadable(Some(&who), "Queue", &e),
    };
    let actions = if quarantined {
        format!(
            "<p class=\"warn\">This message is in quarantine: see <a href=\"/quarantine/{id}\">its quarantine page</a>.</p>",
            id = escape(&id)
        )
    } else if who.admin.role >= AdminRole::Operator {
        let csrf = who.csrf();
        // The actions that apply to the message as it stands: hold and retry while a recipient
        // waits, release while one is held, delete and bounce while any is left.
        let held = rcpts.iter().any(|e| e.status == RecipientStatus::Held);
        let waiting = rcpts.iter().any(|e| {
            matches!(
                e.status,
                RecipientStatus::Scheduled | RecipientStatus::TemporaryFailure { .. }
            )
        });
        let buttons: String = ACTIONS
            .iter()
            .filter(|(action, _, _)| match *action {
                "retry" | "hold" => waiting,
                "release" => held,
                _ => waiting || held,
            })
            .map(|(action, label, _)| {
                let danger = if matches!(*action, "delete" | "bounce") {
                    " class=\"danger\""
                } else {
                    ""
                };
                format!(
                    "<form method=\"post\" class=\"inline\" action=\"/queue/{id}/{action}\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <button id=\"{action}\"{danger}>{label}</button></form> ",
                    id = escape(&id)
                )
            })
            .collect();
        format!("<p id=\"actions\">{buttons}</p>")
    } else {
        format!(
            "<p class=\"warn\">Your role ({}) reads the queue; acting on it needs the operator role.</p>",
            who.admin.role
        )
    };
    let body = format!(
        "<p>Queue id <strong id=\"queue-id\">{}</strong></p>\
         <h2>Recipients</h2><table id=\"recipients\"><tr><th>Recipient</th><th>State</th><th>Attempts</th><th>Last reply</th><th>Next attempt</th></tr>{rows}</table>\
         {actions}<h2>Attempts and events</h2><table id=\"timeline\"><tr><th>When</th><th>Event</th><th>Recipient</th><th>Detail</th></tr>{timeline}</table>",
        escape(&id)
    );
    page(Some(&who), "Queued message", &body)
}

fn not_queued(who: &Signed, id: &str) -> Response {
    page_status(
        StatusCode::NOT_FOUND,
        Some(who),
        "Not in the queue",
        &format!(
            "<p class=\"error\" id=\"not-queued\">No message {} is in the queue; it may have been delivered. \
             <a href=\"/trace?queue_id={}\">Its trace</a>.</p>",
            escape(id),
            escape(id)
        ),
    )
}

/// `POST /queue/{id}/{retry|hold|release|delete|bounce}` (form: csrf; confirm for delete and
/// bounce).
pub(super) async fn act(
    State(c): St,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Some((action, label, what)) = ACTIONS.iter().find(|(a, _, _)| *a == action) else {
        return super::forbidden("No such action.");
    };
    // The role first: a forged or lesser POST learns nothing of the id.
    let who = match c
        .authorise_post(
            &headers,
            &uri,
            client_of(ext),
            &form,
            AdminRole::Operator,
            what,
        )
        .await
    {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(qid) = QueueId::parse(id.trim()) else {
        return not_queued(&who, &id);
    };
    if matches!(*action, "delete" | "bounce") && form.get("confirm") != Some("yes") {
        let question = if *action == "delete" {
            format!("Delete {qid} from the queue? Its recipients are not delivered and no bounce is sent.")
        } else {
            format!(
                "Bounce {qid}? Its waiting recipients fail for good, the sender is sent a \
                 notification that the delivery was cancelled, and the message is removed."
            )
        };
        return confirm_page(&who, &format!("/queue/{qid}/{action}"), &question, &[]);
    }
    let done = match (*action, &c.local) {
        ("bounce", super::LocalStore::Sqlite(store)) => {
            crate::queue_bounce::bounce(store, &c.config, &qid).await
        }
        // The notification is queued in the commit that fails the recipients, as `rampart queue
        // bounce` does on the shared database.
        ("bounce", super::LocalStore::Postgresql(pg)) => {
            crate::queue_bounce::bounce_pg(pg, &c.config, &qid).await
        }
        // The same actions as `rampart queue retry|hold|release|delete` on PostgreSQL: every
        // node's queue manager sees the change at its next look at the queue.
        (other, super::LocalStore::Postgresql(pg)) => match other {
            "retry" => pg.queue_retry_now(&qid).await,
            "hold" => pg.queue_hold(&qid).await,
            "release" => pg.queue_release(&qid).await,
            _ => pg.queue_delete(&qid).await,
        },
        (other, super::LocalStore::Sqlite(store)) => {
            let store = store.clone();
            let (other, q) = (other.to_string(), qid.clone());
            tokio::task::spawn_blocking(move || match other.as_str() {
                "retry" => store.queue_retry_now(&q),
                "hold" => store.queue_hold(&q),
                "release" => store.queue_release(&q),
                _ => store.queue_delete(&q),
            })
            .await
            .unwrap_or_else(|e| Err(StoreError::Invalid(e.to_string())))
        }
    };
    match done {
        Ok(true) => {
            c.record(
                &who,
                "console",
                format!("queue {action} of {qid} ({label})"),
                Some(&qid.0),
            )
            .await;
            // Retried or released: due now, and the queue manager is told at once.
            c.notify.notify_one();
            if matches!(*action, "delete" | "bounce") {
                see_other("/queue")
            } else {
                see_other(&format!("/queue/{qid}"))
            }
        }
        Ok(false) => not_queued(&who, &qid.0),
        Err(e) => page_status(
            StatusCode::CONFLICT,
            Some(&who),
            "Not done",
            &format!(
                "<p class=\"error\" id=\"not-done\">{label}: it could not be done: {}.</p><p><a href=\"/queue/{}\">Back to the message</a></p>",
                escape(&e.to_string()),
                escape(&qid.0)
            ),
        ),
    }
}
