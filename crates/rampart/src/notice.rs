//! Notices to the postmaster from the server's own watchers (NC-2.2 file integrity, NC-2.4.4
//! signature freshness): each finding is logged, written to the trace, and mailed through the
//! queue like any message this server writes itself (a bounce's path: `enqueue_generated`).

use rampart_store::{AnyStore, TraceEvent};
use tokio::sync::Notify;

/// The postmaster's address: `postmaster@` the host name, its parent domain or a domain
/// served here, the first that resolves to a local mailbox (as RFC 5321 4.5.1's
/// `<postmaster>`). A notice is never sent off this host: its findings name local files.
pub async fn postmaster(store: &AnyStore, hostname: &str) -> Option<String> {
    let parent = hostname.split_once('.').map(|(_, p)| p).unwrap_or(hostname);
    let mut domains = vec![hostname.to_string(), parent.to_string()];
    domains.extend(store.domains().await.unwrap_or_default());
    for d in domains {
        let a = format!("postmaster@{d}");
        if matches!(store.resolve_recipient(&a).await, Ok(Ok(_))) {
            return Some(a);
        }
    }
    None
}

/// Writes every finding to the trace as a `what` event, and mails them, one message, to the
/// postmaster.
pub async fn report(
    store: &AnyStore,
    notify: &Notify,
    hostname: &str,
    what: &str,
    subject: &str,
    findings: &[String],
) {
    for f in findings {
        store.record(TraceEvent::new(what, f.clone())).await;
    }
    let Some(to) = postmaster(store, hostname).await else {
        tracing::warn!(
            event = what,
            "no postmaster address to mail the findings to"
        );
        return;
    };
    let now = rampart_store::now_micros();
    let id = format!("{what}.{now}@{hostname}");
    let mut body = format!(
        "From: \"Mail Server\" <MAILER-DAEMON@{hostname}>\r\nTo: <{to}>\r\nSubject: {}\r\n\
         Date: {}\r\nMessage-ID: <{id}>\r\nAuto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        clean(subject),
        rampart_store::rfc5322_date(now / 1_000_000),
    );
    body.push_str(&format!("The server {hostname} found:\r\n\r\n"));
    for f in findings {
        body.push_str(&format!("- {}\r\n", clean(f)));
    }
    match store
        .enqueue_generated(&to, body.into_bytes(), id, subject)
        .await
    {
        Ok(qid) => {
            store
                .record(TraceEvent::new(
                    what,
                    format!("notice {qid} queued for <{to}>"),
                ))
                .await;
            notify.notify_one();
        }
        Err(e) => {
            tracing::warn!(error = %e, event = what, "the notice to the postmaster could not be queued")
        }
    }
}

/// One line of printable text: a path with a control character cannot break the header.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(900)
        .collect()
}
