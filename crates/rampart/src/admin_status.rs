//! The admin socket's `status` (admin_socket.rs): what the running server does, as evidence for
//! `rampart audit` — the listeners it bound (NC-2.1.1), the bans in force (NC-2.4.2), the queue
//! (NC-2.1.8), the ages of its signatures and feeds (NC-2.4.4, AL-1.2), its last file integrity
//! check (NC-2.2) and the limits it enforces (NC-2.1.8). Read from the server's own state when it
//! is asked, never from a file the audit could read itself.

use rampart_config::Config;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest the signature ages may take (clamd's VERSION is asked): the whole answer must come
/// within the admin socket's timeout.
const FRESHNESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What `status` reads.
pub struct Sources {
    /// Seconds since the epoch.
    pub started_at: u64,
    /// Each listener bound: `{"role": ..., "address": ...}`.
    pub listening: Vec<Value>,
    /// The configuration the server runs with.
    pub config: Arc<Config>,
    pub store: StatusStore,
    /// The integrity watcher's last check; `None` when integrity checking is off.
    pub integrity: Option<crate::integrity::watch::LastCheck>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where the status reads the bans and the queue from.
pub enum StatusStore {
    /// The embedded store, read directly (its queue gauge knows when the oldest arrived).
    Embedded(rampart_store::Store),
    /// A shared store (PostgreSQL), through its traits.
    Shared(rampart_store::AnyStore),
}

impl Sources {
    pub async fn status(self: Arc<Self>) -> Value {
        let now = now();
        let (bans, queue) = match &self.store {
            StatusStore::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || (bans(&store, now), queue(&store)))
                    .await
                    .unwrap_or((Value::Null, Value::Null))
            }
            StatusStore::Shared(store) => {
                (shared_bans(store, now).await, shared_queue(store).await)
            }
        };
        let freshness = match tokio::time::timeout(
            FRESHNESS_TIMEOUT,
            crate::freshness::source_ages(&self.config),
        )
        .await
        {
            Ok(ages) => Value::Array(
                ages.iter()
                    .map(|a| {
                        json!({
                            "name": match &a.path {
                                Some(p) => format!("{} ({})", a.source, p.display()),
                                None => a.source.to_string(),
                            },
                            "age_secs": a.age(SystemTime::now()).map(|d| d.as_secs()),
                        })
                    })
                    .collect(),
            ),
            Err(_) => Value::Null,
        };
        let integrity = match &self.integrity {
            None => json!({ "state": "off" }),
            Some(last) => last.get().map_or(json!({ "state": "pending" }), |mut v| {
                v["every_secs"] = json!(self.config.integrity.interval_secs.get());
                v
            }),
        };
        json!({
            "pid": std::process::id(),
            "started_at": self.started_at,
            "listeners": self.listening,
            "bans": bans,
            "queue": queue,
            "freshness": freshness,
            "integrity": integrity,
            "limits": limits(&self.config),
        })
    }
}

/// NC-2.4.2: the bans in force and the newest of them.
fn bans(store: &rampart_store::Store, now: i64) -> Value {
    match store.ids_list_active(now * 1_000_000) {
        Ok(active) => {
            let newest = active.iter().max_by_key(|b| b.created).map(|b| {
                json!({
                    "network": b.network,
                    "reason": b.reason,
                    "created": b.created / 1_000_000,
                })
            });
            json!({ "in_force": active.len(), "newest": newest })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// NC-2.4.2: [`bans`] read through the traits of a shared store.
async fn shared_bans(store: &rampart_store::AnyStore, now: i64) -> Value {
    match rampart_store::Bans::list_active(store.as_ref(), now * 1_000_000).await {
        Ok(active) => {
            let newest = active.iter().max_by_key(|b| b.created).map(|b| {
                json!({
                    "network": b.network,
                    "reason": b.reason,
                    "created": b.created / 1_000_000,
                })
            });
            json!({ "in_force": active.len(), "newest": newest })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// [`queue`] through the traits of a shared store: messages still to deliver and recipients
/// deferred (the queue list does not carry arrival times, so `oldest_received` is null).
async fn shared_queue(store: &rampart_store::AnyStore) -> Value {
    use rampart_store::RecipientStatus as S;
    match rampart_store::api::Queue::queue_list(store.as_ref()).await {
        Ok(rows) => {
            let pending: std::collections::BTreeSet<&str> = rows
                .iter()
                .filter(|r| matches!(r.status, S::Scheduled | S::TemporaryFailure { .. }))
                .map(|r| r.message.0.as_str())
                .collect();
            json!({
                "messages": pending.len(),
                "oldest_received": Value::Null,
                "deferred": rows
                    .iter()
                    .filter(|r| matches!(r.status, S::TemporaryFailure { .. }))
                    .count(),
            })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The queue: messages still to deliver, when the oldest arrived, recipients deferred.
fn queue(store: &rampart_store::Store) -> Value {
    let gauge = store.queue_gauge();
    let rows = store.queue_list();
    match (gauge, rows) {
        (Ok((messages, oldest)), Ok(rows)) => json!({
            "messages": messages,
            "oldest_received": oldest.map(|us| us / 1_000_000),
            "deferred": rows
                .iter()
                .filter(|r| matches!(r.status, rampart_store::RecipientStatus::TemporaryFailure { .. }))
                .count(),
        }),
        (Err(e), _) | (_, Err(e)) => json!({ "error": e.to_string() }),
    }
}

/// NC-2.1.8: the session limits and the rate limits the server enforces.
pub fn limits(config: &Config) -> Value {
    let l = &config.limits;
    json!({
        "max_connections": l.max_connections,
        "max_connections_per_ip": l.max_connections_per_ip,
        "max_message_size": l.max_message_size,
        "max_recipients": l.max_recipients,
        "max_errors": l.max_errors,
        "rate_limits": config
            .rate_limits
            .iter()
            .map(|r| format!("{:?}/{:?} {} per {} s", r.scope, r.what, r.limit, r.window_secs).to_lowercase())
            .collect::<Vec<_>>(),
    })
}
