//! Bouncing a queued message by hand (`rampart queue bounce ID` and the console's Bounce
//! button): every recipient still waiting fails for good, and the sender gets a delivery status
//! notification (RFC 3464, rampart-queue's `dsn`) saying the delivery was cancelled, queued in
//! the commit that fails them (rampart-store's `queue_bounce`), so the notification is never
//! lost and never sent for a message that was not bounced. AL-3.1: the store's trace event
//! records the action.

use rampart_config::Config;
use rampart_store::queue_admin::BouncePlan;
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
    let failure = failure();
    // A message from the null sender (a bounce itself) is removed without a notification.
    let dsn = if plan.sender.is_empty() {
        None
    } else {
        let original = {
            let (s, q) = (store.clone(), id.clone());
            tokio::task::spawn_blocking(move || s.message_bytes(&q, false))
                .await
                .map_err(join)?
                .map_err(|e| unreadable(id, e))?
        };
        let n = notification(config, id, &plan, &failure, &original);
        let mut m = store
            .generated(&n.to, n.body, n.message_id, &n.what)
            .await?;
        address(config, &mut m, n.to);
        Some(m)
    };
    let (store, q) = (store.clone(), id.clone());
    tokio::task::spawn_blocking(move || store.queue_bounce(&q, &failure, dsn))
        .await
        .map_err(join)?
}

/// Bounces `id` on the PostgreSQL store every node shares (issue 20): the same notification,
/// queued in the commit that fails the recipients; whichever node leases it delivers it, once.
pub async fn bounce_pg(
    store: &rampart_store_pg::PgStore,
    config: &Config,
    id: &QueueId,
) -> rampart_store::Result<bool> {
    use rampart_store::api::Queue;
    let Some(plan) = store.queue_bounce_plan(id).await? else {
        return Ok(false);
    };
    let failure = failure();
    let dsn = if plan.sender.is_empty() {
        None
    } else {
        let original = store
            .message_bytes(id, false)
            .await
            .map_err(|e| unreadable(id, e))?;
        let n = notification(config, id, &plan, &failure, &original);
        let mut m = store
            .generated(&n.to, n.body, n.message_id, &n.what)
            .await?;
        address(config, &mut m, n.to);
        Some(m)
    };
    store.queue_bounce(id, &failure, dsn).await
}

/// A message whose bytes cannot be read is not bounced: the notification would go without the
/// original's headers, which tell its sender which message failed. Nothing changes; a delete
/// removes it without a notification.
fn unreadable(id: &QueueId, e: StoreError) -> StoreError {
    StoreError::Invalid(format!(
        "message {id} could not be read for the notification ({e}); nothing was bounced (`rampart queue delete {id}` removes it without one)"
    ))
}

/// The failure every waiting recipient of a bounced message gets.
fn failure() -> Failure {
    Failure {
        status: BOUNCE_STATUS.into(),
        reply: BOUNCE_REASON.into(),
        remote_mta: None,
    }
}

/// The delivery status notification of a bounce, before the store makes it a message.
struct Notification {
    to: String,
    body: Vec<u8>,
    message_id: String,
    what: String,
}

/// The DSN (RFC 3464) of bouncing `id`, from `MAILER-DAEMON` or a null client's bounce
/// address; `original` is the message as queued.
fn notification(
    config: &Config,
    id: &QueueId,
    plan: &BouncePlan,
    failure: &Failure,
    original: &[u8],
) -> Notification {
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
        original,
        &rampart_store::rfc5322_date(plan.received / 1_000_000),
    );
    // NC-2.1.9: a null client's bounces go to its bounce address, through the primary.
    let to = match null_client {
        Some(nc) => nc.bounce().to_string(),
        None => plan.sender.clone(),
    };
    Notification {
        to,
        body,
        message_id: format!("{}.dsn@{hostname}", id.0),
        what: format!("delivery status notification for {id} (bounced by an administrator)"),
    }
}

/// NC-2.1.9: on a null client the notification goes out through the primary, never locally.
fn address(config: &Config, m: &mut rampart_store::Enqueue, to: String) {
    if config.null_client.is_some() {
        m.recipients = vec![QueuedRecipient {
            address: to,
            local: false,
        }];
    }
}
