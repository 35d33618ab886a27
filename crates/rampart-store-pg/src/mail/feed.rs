//! The push feed across nodes: LISTEN/NOTIFY.
//!
//! Each commit that changes mail data sends, inside its transaction, a notification on
//! [`super::CHANNEL`] naming the account and the kinds that changed; PostgreSQL delivers it to
//! every listening connection only if the commit happened, after it. Each [`PgStore`] keeps one
//! connection of its own (not from the pools) that LISTENs, and turns each notification into a
//! [`MailChange`] on the broadcast channel [`MailStore::mail_changes_feed`] hands out: a node's
//! own changes come back the same way, so there is one path for all.
//!
//! A notification sent while no connection listens is lost. So the listener pings the database
//! every [`PING_EVERY`] (a server that stopped answering is noticed, not waited on forever),
//! remembers the database's clock at its last good answer, and after reconnecting announces
//! "everything may have changed" (every kind) for each account whose mail changed since then
//! (`mail_state.touched`), with a margin for transactions that wrote before and committed after.
//! Nothing is missed silently; a client may hear of an account once more than needed.
//!
//! [`PgStore`]: crate::PgStore
//! [`MailStore::mail_changes_feed`]: rampart_store::api::MailStore::mail_changes_feed

use super::{kind_from, CHANNEL, DB_NOW};
use crate::db;
use rampart_store::api::MailChange;
use rampart_store::mail::Kind;
use rampart_store::{Result, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How many changes a slow subscriber may fall behind before it sees `Lagged` (as the embedded
/// store's feed).
const CAPACITY: usize = 1024;
/// How often the listener asks the database whether it is still there.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// The longest wait between two attempts to reconnect.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The notification's payload: `{"account": …, "kinds": ["Email", …]}`.
pub(crate) fn payload(account: &str, kinds: &[Kind]) -> String {
    serde_json::json!({
        "account": account,
        "kinds": kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A payload read back; `None` for one that is not ours.
fn parse(payload: &str) -> Option<MailChange> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let account = v.get("account")?.as_str()?.to_string();
    let kinds = v
        .get("kinds")?
        .as_array()?
        .iter()
        .filter_map(|k| kind_from(k.as_str()?))
        .collect();
    Some(MailChange { account, kinds })
}

/// The feed of one [`crate::PgStore`] and its listener. Dropped with the last handle of the
/// store, it stops the listener.
pub(crate) struct Feed {
    sender: broadcast::Sender<MailChange>,
    stop: Arc<Notify>,
    /// Where to connect, and whether the listener runs.
    connect: (tokio_postgres::Config, MakeRustlsConnect),
    started: Mutex<bool>,
    /// How far back to look after a reconnection: a transaction writes and commits within it.
    margin_micros: i64,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

impl Feed {
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        statement_timeout: Duration,
    ) -> Feed {
        let (sender, _) = broadcast::channel(CAPACITY);
        // Named, so an operator tells it apart in pg_stat_activity.
        let mut config = config;
        let name = format!(
            "{} mail listener",
            config.get_application_name().unwrap_or("rampart")
        );
        config.application_name(&name);
        let margin = statement_timeout * 2 + Duration::from_secs(60);
        Feed {
            sender,
            stop: Arc::new(Notify::new()),
            connect: (config, tls),
            started: Mutex::new(false),
            margin_micros: margin.as_micros().min(i64::MAX as u128) as i64,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<MailChange> {
        self.sender.subscribe()
    }

    /// Starts the listener (once) and waits until it LISTENs, so that every change committed
    /// after this returns reaches the feed; an error when the first connection fails within
    /// `wait`. The listener then keeps reconnecting on its own until the store is dropped.
    pub(crate) async fn start(&self, wait: Duration) -> Result<()> {
        {
            let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
            if *started {
                return Ok(());
            }
            *started = true;
        }
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = Listener {
            config: self.connect.0.clone(),
            tls: self.connect.1.clone(),
            sender: self.sender.clone(),
            margin_micros: self.margin_micros,
            alive_at: None,
            ready: Some(ready_tx),
        };
        tokio::spawn(listener.run(self.stop.clone()));
        let failed = |why: String| {
            // The store may still work without push; the listener keeps trying.
            StoreError::Db(format!("the mail change listener could not start: {why}"))
        };
        match tokio::time::timeout(wait, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(failed(e.to_string())),
            Ok(Err(_)) => Err(failed("it ended".into())),
            Err(_) => Err(failed("timed out".into())),
        }
    }
}

/// The task that owns the listening connection.
struct Listener {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    sender: broadcast::Sender<MailChange>,
    margin_micros: i64,
    /// The database's clock at the last moment the connection was known to listen.
    alive_at: Option<i64>,
    /// Told once: the first LISTEN is in place, or the first attempt failed.
    ready: Option<oneshot::Sender<Result<()>>>,
}

impl Listener {
    async fn run(mut self, stop: Arc<Notify>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut listened = false;
            let outcome = tokio::select! {
                _ = stop.notified() => return,
                r = self.session(&mut listened) => r,
            };
            if let Err(e) = outcome {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(e));
                } else {
                    tracing::warn!(error = %e, "mail change listener lost its connection; reconnecting");
                }
            }
            if listened {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                _ = stop.notified() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection's life: connect, LISTEN, catch up after a reconnection, then relay
    /// notifications until the connection fails or stops answering.
    async fn session(&mut self, listened: &mut bool) -> Result<()> {
        let (client, mut connection) = self.config.connect(self.tls.clone()).await.map_err(db)?;
        let (ntx, mut nrx) = mpsc::unbounded_channel::<String>();
        // The connection delivers notifications only while it is polled: a task of its own.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if ntx.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        let _driver = AbortOnDrop(driver);
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(db)?;
        let now: i64 = client
            .query_one(&format!("SELECT {DB_NOW}"), &[])
            .await
            .map_err(db)?
            .get(0);
        if let Some(before) = self.alive_at {
            // Reconnected: whatever was committed while nobody listened was not heard.
            let rows = client
                .query(
                    "SELECT DISTINCT account FROM mail_state WHERE touched >= $1",
                    &[&(before - self.margin_micros)],
                )
                .await
                .map_err(db)?;
            tracing::info!(
                accounts = rows.len(),
                "mail change listener reconnected; announcing the accounts changed meanwhile"
            );
            for r in rows {
                let _ = self.sender.send(MailChange {
                    account: r.get(0),
                    kinds: super::ALL.to_vec(),
                });
            }
        }
        self.alive_at = Some(now);
        *listened = true;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Ok(()));
        }
        let ask_now = format!("SELECT {DB_NOW}");
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                n = nrx.recv() => match n {
                    Some(p) => {
                        if let Some(change) = parse(&p) {
                            // No subscriber is no error.
                            let _ = self.sender.send(change);
                        }
                    }
                    None => return Err(StoreError::Db("the listening connection closed".into())),
                },
                _ = ping.tick() => {
                    let asked = client.query_one(ask_now.as_str(), &[]);
                    match tokio::time::timeout(PING_EVERY, asked).await {
                        Ok(Ok(row)) => self.alive_at = Some(row.get(0)),
                        Ok(Err(e)) => return Err(db(e)),
                        Err(_) => {
                            return Err(StoreError::Db(
                                "the database did not answer the listener's ping".into(),
                            ))
                        }
                    }
                }
            }
        }
    }
}

/// Ends the connection's task with the session that owns it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let p = payload("user@local.example", &[Kind::Email, Kind::Mailbox]);
        assert_eq!(
            parse(&p),
            Some(MailChange {
                account: "user@local.example".into(),
                kinds: vec![Kind::Email, Kind::Mailbox],
            })
        );
        assert_eq!(parse("not json"), None);
    }
}
