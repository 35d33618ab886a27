//! Bouncing a queued message by hand (`rampart queue bounce ID` and the console's Bounce
//! button): every recipient still waiting fails for good, and the sender gets a delivery status
//! notification (RFC 3464, rampart-queue's `dsn`) saying the delivery was cancelled, queued in
//! the commit that fails them (rampart-store's `queue_bounce`), so the notification is never
//! lost and never sent for a message that was not bounced. AL-3.1: the store's trace event
//! records the action.

use rampart_config::Config;
use rampart_store::{Failure, QueueId, QueuedRecipient, Store, StoreError};

/// The enhanced status and reason a bounced recipient fails with (RFC 3463: 5.0.0, other).
pub const BOUNCE_STATUS: &str = "5.0.0";
pub const BOUNCE_REASON: &str = "delivery cancelled by the administrator";

/// Bounces `id`: a DSN to its sender (as a failed delivery's is built, from `MAILER-DAEMON` or
/// a null client's bounce address), queued in the commit that fails its recipients. False when
/// no queued message has the id.
pub async fn bounce(store: &Store, config: &Config, id: &QueueId) -> rampart_store::Result<bool> {
    let join = |e: tokio::task::JoinError| StoreError::Invalid(e.to_string());
    let plan = {
        let (s, q) = (store.clone(), id.clone());
        tokio::task::spawn_blocking(move || s.queue_bounce_plan(&q))
            .await
            .map_err(join)??
    };
    let Some(plan) = plan else { return Ok(false) };
    let failure = Failure {
        status: BOUNCE_STATUS.into(),
        reply: BOUNCE_REASON.into(),
        remote_mta: None,
    };
    // A message from the null sender (a bounce itself) is removed without a notification.
    let dsn = if plan.sender.is_empty() {
        None
    } else {
        let original = {
            let (s, q) = (store.clone(), id.clone());
            tokio::task::spawn_blocking(move || s.message_bytes(&q, false))
                .await
                .map_err(join)?
                .unwrap_or_default()
        };
        let hostname = config.hostname.get_ref();
        let null_client = config.null_client.as_ref();
        let daemon = match null_client {
            Some(nc) => nc.bounce().to_string(),
            None => format!("MAILER-DAEMON@{hostname}"),
        };
        let failed: Vec<(String, Failure)> = plan
            .recipients
            .iter()
            .map(|r| (r.clone(), failure.clone()))
            .collect();
        let body = rampart_queue::dsn::build(
            hostname,
            &daemon,
            &id.0,
            &plan.sender,
            &failed,
            &original,
            &rampart_store::rfc5322_date(plan.received / 1_000_000),
        );
        // NC-2.1.9: a null client's bounces go to its bounce address, through the primary.
        let to = match null_client {
            Some(nc) => nc.bounce().to_string(),
            None => plan.sender.clone(),
        };
        let mut m = store
            .generated(
                &to,
                body,
                format!("{}.dsn@{hostname}", id.0),
                &format!("delivery status notification for {id} (bounced by an administrator)"),
            )
            .await?;
        if null_client.is_some() {
            m.recipients = vec![QueuedRecipient {
                address: to,
                local: false,
            }];
        }
        Some(m)
    };
    let (store, q) = (store.clone(), id.clone());
    tokio::task::spawn_blocking(move || store.queue_bounce(&q, &failure, dsn))
        .await
        .map_err(join)?
}
