//! The quarantine: held messages with their check results; release and delete (operator and
//! up; a message held by the antivirus check by an administrator only); who did what, from
//! the trace. Reading a held message's text is reading a user's mail: it needs a reason, which
//! is recorded (AL-3.1) with the administrator's name.
//!
//! The preview is the webmail's (issue 13): the message's htmlBody as rampart-jmap-mail's view
//! builds it, cleaned by the webmail's sanitiser, served as its own document under the
//! webmail's CSP (no script, nothing remote) into a frame sandboxed as the webmail's is. The
//! frame's address carries a token bound to the session and the message, made only when the
//! reason was recorded, so there is no way to the text around the reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use rampart_store::admins::AdminRole;
use rampart_store::quarantine::Held;
use rampart_store::{QueueId, TraceFilter};

use super::{client_of, confirm_page, escape, page, see_other, when, Console, Form};

type St = State<Arc<Console>>;

/// Held by the antivirus check (the reason names the check that decided).
pub fn is_virus(h: &Held) -> bool {
    h.reason.starts_with("antivirus")
}

/// The role a release or delete of `h` needs: virus quarantine is an administrator's alone.
pub fn role_to_act_on(h: &Held) -> AdminRole {
    if is_virus(h) {
        AdminRole::Administrator
    } else {
        AdminRole::Operator
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    sender: Option<String>,
    recipient: Option<String>,
    reason: Option<String>,
}

/// `GET /quarantine?sender=&recipient=&reason=`: substring filters.
pub(super) async fn list(
    State(c): St,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let held = match c.store.quarantine_list().await {
        Ok(held) => held,
        Err(e) => return super::unreadable(Some(&who), "Quarantine", &e),
    };
    let has = |field: &str, want: &Option<String>| {
        want.as_deref()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .is_none_or(|w| field.to_lowercase().contains(&w.to_lowercase()))
    };
    let rows: String = held
        .iter()
        .filter(|h| {
            has(&h.sender, &q.sender)
                && has(&h.recipients.join(" "), &q.recipient)
                && has(&h.reason, &q.reason)
        })
        .map(|h| {
            format!(
                "<tr><td>{}</td><td><a href=\"/quarantine/{id}\" class=\"held\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(h.held),
                escape(&h.sender),
                escape(&h.recipients.join(", ")),
                escape(&h.reason),
                if is_virus(h) { "virus" } else { "" },
                id = escape(&h.queue_id),
            )
        })
        .collect();
    let history = match history(&c).await {
        Ok(h) => h,
        Err(e) => return super::unreadable(Some(&who), "Quarantine", &e),
    };
    let v = |o: &Option<String>| escape(o.as_deref().unwrap_or(""));
    let body = format!(
        "<form method=\"get\" action=\"/quarantine\">\
         <input name=\"sender\" placeholder=\"sender\" value=\"{}\"> <input name=\"recipient\" placeholder=\"recipient\" value=\"{}\"> \
         <input name=\"reason\" placeholder=\"reason\" value=\"{}\"> <button>Filter</button></form>\
         <table id=\"quarantine\"><tr><th>Held</th><th>Queue id</th><th>Sender</th><th>Recipients</th><th>Reason</th><th></th></tr>{rows}</table>{}",
        v(&q.sender),
        v(&q.recipient),
        v(&q.reason),
        history,
    )
    ;
    page(Some(&who), "Quarantine", &body)
}

/// Who released and deleted what, and when: the trace's own record of it.
async fn history(c: &Console) -> rampart_store::Result<String> {
    let now = rampart_store::now_micros();
    let events = c
        .store
        .trace(&TraceFilter {
            since: Some(now - 30 * 86_400 * 1_000_000),
            events: rampart_store::trace::ADMIN_EVENTS,
            newest_first: true,
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let rows: String = events
        .iter()
        .filter(|e| {
            e.event == "released" || (e.event == "deleted" && e.detail.contains("quarantine"))
        })
        .take(50)
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(e.ts),
                escape(&e.event),
                escape(e.queue_id.as_deref().unwrap_or("")),
                escape(&e.detail)
            )
        })
        .collect();
    Ok(format!("<h2>Released and deleted (30 days)</h2><table id=\"history\"><tr><th>When</th><th>What</th><th>Queue id</th><th>Who</th></tr>{rows}</table>"))
}

#[derive(serde::Deserialize, Default)]
pub(super) struct ShowQuery {
    /// Why the administrator reads the message (AL-3.1); without it, no preview.
    reason: Option<String>,
}

/// `GET /quarantine/{id}[?reason=...]`: the check results; with a reason, a safe preview.
pub(super) async fn show(
    State(c): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return see_other("/login");
    };
    let found = match c.store.quarantine_get(&id).await {
        Ok(found) => found,
        Err(e) => return super::unreadable(Some(&who), "Quarantine", &e),
    };
    let Some(h) = found else {
        return super::page_status(
            StatusCode::NOT_FOUND,
            Some(&who),
            "Not in quarantine",
            "<p>No such message in quarantine.</p>",
        );
    };
    let verdicts: String = h
        .verdicts
        .split("; ")
        .filter(|v| !v.is_empty())
        .map(|v| format!("<li>{}</li>", escape(v)))
        .collect();
    let preview = match q.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => {
            // AL-3.1: the read and its reason are in the trace, naming the administrator.
            c.record(
                &who,
                "console-read",
                format!("read held message {id}; reason: {reason}"),
                Some(&h.queue_id),
            )
            .await;
            format!(
                "<h2>Preview</h2><p>Shown as the webmail shows mail: no script runs, nothing \
                 remote loads. Your reason is in the trace.</p>\
                 <iframe id=\"preview\" title=\"the held message\" \
                 sandbox=\"allow-popups allow-popups-to-escape-sandbox\" \
                 src=\"/quarantine/{}/preview?read={}\"></iframe>",
                escape(&h.queue_id),
                read_token(&who, &h.queue_id)
            )
        }
        None => format!(
            "<h2>Preview</h2><form method=\"get\" action=\"/quarantine/{}\">\
             <label>Reason for reading this message (recorded) <input name=\"reason\" id=\"read-reason\" required></label> \
             <button>Show</button></form>",
            escape(&h.queue_id)
        ),
    };
    let csrf = who.csrf();
    // Buttons only for a role that may use them (the POST checks again): an auditor sees none,
    // an operator none on virus quarantine.
    let actions = if who.admin.role < role_to_act_on(&h) {
        format!(
            "<span class=\"warn\" id=\"read-only\">Your role ({}) may not release or delete this message; it needs {}.</span>",
            who.admin.role,
            role_to_act_on(&h)
        )
    } else {
        format!(
        "<form method=\"post\" class=\"inline\" action=\"/quarantine/{id}/release\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button id=\"release\">Release</button></form> \
         <form method=\"post\" class=\"inline\" action=\"/quarantine/{id}/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button id=\"delete\" class=\"danger\">Delete</button></form>{}",
        if is_virus(&h) { " <span class=\"warn\">virus quarantine: only an administrator may release or delete it</span>" } else { "" },
        id = escape(&h.queue_id),
    )
    };
    let body = format!(
        "<table><tr><th>Queue id</th><td id=\"queue-id\">{}</td></tr><tr><th>Held</th><td>{}</td></tr>\
         <tr><th>Sender</th><td>{}</td></tr><tr><th>Recipients</th><td>{}</td></tr>\
         <tr><th>Size</th><td>{} bytes</td></tr><tr><th>Message-ID</th><td>{}</td></tr>\
         <tr><th>Held because</th><td id=\"reason\">{}</td></tr></table>\
         <h2>Check results</h2><ul id=\"verdicts\">{verdicts}</ul><p>{actions}</p>{preview}",
        escape(&h.queue_id),
        when(h.held),
        escape(&h.sender),
        escape(&h.recipients.join(", ")),
        h.size,
        escape(h.message_id.as_deref().unwrap_or("")),
        escape(&h.reason),
    );
    super::allow_frames(page(Some(&who), "Held message", &body))
}

/// AL-3.1: the preview's key, bound to this session and this message; the show page makes it
/// only after recording the reason.
fn read_token(who: &super::Signed, id: &str) -> String {
    rampart_store::web_sessions::csrf_token(&format!("{}\0read\0{id}", who.token))
}

#[derive(serde::Deserialize, Default)]
pub(super) struct PreviewQuery {
    read: Option<String>,
}

/// `GET /quarantine/{id}/preview?read=TOKEN`: the held message as the webmail shows mail, for
/// the show page's sandboxed frame.
pub(super) async fn preview(
    State(c): St,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    ext: Option<Extension<SocketAddr>>,
    Query(q): Query<PreviewQuery>,
) -> Response {
    if action != "preview" {
        return rampart_http::respond::status_page(StatusCode::NOT_FOUND);
    }
    let Some(who) = c.signed(&headers, client_of(ext)).await else {
        return rampart_http::respond::status_page(StatusCode::UNAUTHORIZED);
    };
    let allowed = q
        .read
        .as_deref()
        .is_some_and(|t| crate::jmap::auth::constant_eq(t, &read_token(&who, &id)));
    if !allowed {
        // Only through the show page, which records the reason first.
        return rampart_http::respond::status_page(StatusCode::FORBIDDEN);
    }
    let Some(qid) = QueueId::parse(&id) else {
        return rampart_http::respond::status_page(StatusCode::NOT_FOUND);
    };
    let Ok(raw) = c.store.message_bytes(&qid, false).await else {
        return rampart_http::respond::status_page(StatusCode::NOT_FOUND);
    };
    let cleaned = tokio::task::spawn_blocking(move || {
        let view = rampart_jmap_mail::email::view::view_of_raw(&raw);
        Some(crate::webmail::sanitize::clean(
            &view.html,
            &view.inline,
            false,
        ))
    })
    .await;
    match cleaned {
        Ok(Some(c)) => crate::webmail::render::document(&c, false),
        _ => rampart_http::respond::status_page(StatusCode::NOT_FOUND),
    }
}

/// `POST /quarantine/{id}/{release|delete}` (form: csrf, confirm for delete).
pub(super) async fn act(
    State(c): St,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    ext: Option<Extension<SocketAddr>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let client = client_of(ext);
    // Read before the session is checked (the role needed depends on the message): a store
    // failure is a 503 with no one named, and nothing is done.
    let h = match c.store.quarantine_get(&id).await {
        Ok(Some(h)) => h,
        Ok(None) => return super::forbidden("No such message in quarantine."),
        Err(e) => return super::unreadable(None, "Quarantine", &e),
    };
    if action != "release" && action != "delete" {
        return super::forbidden("No such action.");
    }
    let what = format!(
        "{action} {}messages from quarantine",
        if is_virus(&h) { "virus " } else { "" }
    );
    let who = match c
        .authorise_post(&headers, &uri, client, &form, role_to_act_on(&h), &what)
        .await
    {
        Ok(w) => w,
        Err(r) => return r,
    };
    if action == "delete" && form.get("confirm") != Some("yes") {
        return confirm_page(
            &who,
            &format!("/quarantine/{id}/delete"),
            &format!("Delete held message {id} from {} for good?", h.sender),
            &[],
        );
    }
    let by = format!("{} (console, {})", who.admin.name, who.admin.role);
    let done = if action == "release" {
        c.store.quarantine_release(&id, &by).await
    } else {
        c.store.quarantine_delete(&id, &by).await
    };
    match done {
        Ok(()) => {
            c.record(
                &who,
                "console",
                format!("{action}d held message {id}"),
                Some(&id),
            )
            .await;
            // A released message is due now: the queue manager is told.
            c.notify.notify_one();
            see_other("/quarantine")
        }
        Err(e) => super::forbidden(&format!("It could not be done: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(reason: &str) -> Held {
        Held {
            queue_id: "q".into(),
            held: 0,
            sender: "a@x.test".into(),
            recipients: vec![],
            size: 1,
            message_id: None,
            reason: reason.into(),
            verdicts: String::new(),
        }
    }

    #[test]
    fn only_an_administrator_acts_on_virus_quarantine() {
        assert_eq!(
            role_to_act_on(&held("antivirus: Eicar-Test-Signature")),
            AdminRole::Administrator
        );
        assert_eq!(
            role_to_act_on(&held("attachments: executable")),
            AdminRole::Operator
        );
        assert!(AdminRole::Operator < AdminRole::Administrator);
        assert!(AdminRole::Auditor < AdminRole::Operator);
    }
}
