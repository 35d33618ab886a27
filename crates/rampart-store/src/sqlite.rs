//! The embedded backend: [`Store`] (SQLite in WAL mode, bodies inline or as files) and its
//! [`Writer`] thread, behind the traits of [`crate::api`].
//!
//! Reads run on tokio's blocking pool, never on an async worker; writes go to the writer thread's
//! group commit.

use crate::api::{Ban, Directory, Mailboxes, Quarantine, Queue, SharedState, Trace};
use crate::directory::{Recipient, RecipientError};
use crate::mailbox::MailboxEntry;
use crate::quarantine::Held;
use crate::queue::{Bounce, DueMessage, Enqueue, QueueEntry, QueueId, SpoolFile};
use crate::spool::MemoryBudget;
use crate::status::RecipientStatus;
use crate::trace::{TraceEvent, TraceFilter, TraceSummary};
use crate::{Result, Store, StoreError, Writer};
use async_trait::async_trait;

/// The embedded store and its writer.
#[derive(Clone)]
pub struct Sqlite {
    store: Store,
    writer: Writer,
    /// Committed mail changes, for push ([`crate::api::MailStore::mail_changes_feed`]).
    pub(crate) feed: tokio::sync::broadcast::Sender<crate::api::MailChange>,
}

/// Changes a push subscriber may fall behind by before it is told it lagged.
const FEED_CAPACITY: usize = 1024;

impl Sqlite {
    /// Wraps an open store and its running writer.
    pub fn new(store: Store, writer: Writer) -> Sqlite {
        let (feed, _) = tokio::sync::broadcast::channel(FEED_CAPACITY);
        Sqlite {
            store,
            writer,
            feed,
        }
    }

    /// Opens the store in `dir` and starts its writer thread; the thread ends once every handle
    /// is dropped.
    pub fn open(dir: &std::path::Path) -> Result<(Sqlite, std::thread::JoinHandle<()>)> {
        let store = Store::open(dir)?;
        let (writer, thread) = Writer::start(&store)?;
        Ok((Sqlite::new(store, writer), thread))
    }

    /// The store underneath, for the administrative commands that work on it directly.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs a blocking read of the store on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Invalid(format!("a store task failed: {e}")))?
    }

    /// A point read on the calling task: one or two rows by their index, for the lookups every
    /// message makes (its recipients, the local domains, the recipients' vacation settings).
    /// A read of the WAL-mode database waits for neither the writer nor the checkpoint, and the
    /// hop to the blocking pool and back cost more than the read itself (issue 23: three such
    /// hops were about 9% of the CPU per message at 50 sessions).
    pub(crate) fn read_now<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        f(&self.store)
    }
}

#[async_trait]
impl Directory for Sqlite {
    async fn add_domain(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.read(move |s| s.add_domain(&name)).await
    }
    async fn domains(&self) -> Result<Vec<String>> {
        self.read_now(|s| s.domains())
    }
    async fn is_local_domain(&self, domain: &str) -> Result<bool> {
        self.read_now(|s| s.is_local_domain(domain))
    }
    async fn add_user(&self, address: &str, password: &str) -> Result<()> {
        let (a, p) = (address.to_string(), password.to_string());
        self.read(move |s| s.add_user(&a, &p)).await
    }
    async fn users(&self) -> Result<Vec<String>> {
        self.read(|s| s.users()).await
    }
    async fn verify_password(&self, address: &str, password: &str) -> Result<bool> {
        let (a, p) = (address.to_string(), password.to_string());
        self.read(move |s| s.verify_password(&a, &p)).await
    }
    async fn add_alias(&self, alias: &str, target: &str) -> Result<()> {
        let (a, t) = (alias.to_string(), target.to_string());
        self.read(move |s| s.add_alias(&a, &t)).await
    }
    async fn aliases(&self) -> Result<Vec<(String, String)>> {
        self.read(|s| s.aliases()).await
    }
    async fn add_send_as(&self, user: &str, address: &str) -> Result<()> {
        let (u, a) = (user.to_string(), address.to_string());
        self.read(move |s| s.add_send_as(&u, &a)).await
    }
    async fn may_send_as(&self, user: &str, address: &str) -> Result<bool> {
        let (u, a) = (user.to_string(), address.to_string());
        self.read(move |s| s.may_send_as(&u, &a)).await
    }
    async fn resolve_recipient(
        &self,
        address: &str,
    ) -> Result<std::result::Result<Recipient, RecipientError>> {
        self.read_now(|s| s.resolve_recipient(address))
    }
}

#[async_trait]
impl Queue for Sqlite {
    fn spool(&self, id: &QueueId, hold: Option<&MemoryBudget>) -> SpoolFile {
        self.store.spool(id, hold)
    }
    async fn enqueue(&self, msg: Enqueue) -> Result<()> {
        let file = msg
            .inline
            .is_none()
            .then(|| self.store.message_path(&msg.id));
        let delivered: Vec<String> = if msg.deliver_local_now {
            local_accounts(msg.recipients.iter().map(|r| (r.local, r.address.as_str())))
        } else {
            Vec::new()
        };
        let result = self.store.enqueue(&self.writer, msg).await;
        if let (Err(_), Some(path)) = (&result, file) {
            // Not acknowledged: the file would otherwise wait for the next start's orphan sweep.
            let _ = std::fs::remove_file(path);
        }
        if result.is_ok() {
            self.delivered(delivered);
        }
        result
    }
    async fn enqueue_generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<QueueId> {
        self.store
            .enqueue_generated(&self.writer, to, body, message_id, what)
            .await
    }
    async fn due(&self, limit: usize) -> Result<Vec<DueMessage>> {
        self.read(move |s| s.due(limit)).await
    }
    async fn deliver_local(&self, batch: Vec<DueMessage>) -> Result<usize> {
        let accounts = local_accounts(
            batch
                .iter()
                .flat_map(|m| m.recipients.iter().map(|r| (r.local, r.address.as_str()))),
        );
        let n = self.store.deliver_local(&self.writer, batch).await?;
        if n > 0 {
            self.delivered(accounts);
        }
        Ok(n)
    }
    async fn generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<Enqueue> {
        self.store.generated(to, body, message_id, what).await
    }
    async fn record_attempts(
        &self,
        id: &QueueId,
        outcomes: Vec<(String, RecipientStatus)>,
        events: Vec<TraceEvent>,
        bounce: Option<Bounce>,
    ) -> Result<bool> {
        self.store
            .record_attempts(&self.writer, id, outcomes, events, bounce)
            .await
    }
    async fn next_attempt_at(&self) -> Result<Option<i64>> {
        self.read(|s| s.next_attempt_at()).await
    }
    async fn queue_list(&self) -> Result<Vec<QueueEntry>> {
        self.read(|s| s.queue_list()).await
    }
    async fn message_bytes(&self, id: &QueueId, with_return_path: bool) -> Result<Vec<u8>> {
        let id = id.clone();
        self.read(move |s| s.message_bytes(&id, with_return_path))
            .await
    }
    async fn remove_orphans(&self) -> Result<usize> {
        self.read(|s| s.remove_orphans()).await
    }
}

#[async_trait]
impl Mailboxes for Sqlite {
    async fn mailbox_list(&self, user: &str) -> Result<Vec<MailboxEntry>> {
        let u = user.to_string();
        self.read(move |s| s.mailbox_list(&u)).await
    }
    async fn mailbox_message(&self, user: &str, id: i64) -> Result<Option<Vec<u8>>> {
        let u = user.to_string();
        self.read(move |s| s.mailbox_message(&u, id)).await
    }
    async fn mailbox_delete(&self, user: &str, id: i64) -> Result<bool> {
        let u = user.to_string();
        self.read(move |s| s.mailbox_delete(&u, id)).await
    }
}

#[async_trait]
impl Quarantine for Sqlite {
    async fn quarantine_list(&self) -> Result<Vec<Held>> {
        self.read(|s| s.quarantine_list()).await
    }
    async fn quarantine_get(&self, id: &str) -> Result<Option<Held>> {
        let id = id.to_string();
        self.read(move |s| s.quarantine_get(&id)).await
    }
    async fn quarantine_release(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_string(), by.to_string());
        self.read(move |s| s.quarantine_release(&id, &by)).await
    }
    async fn quarantine_delete(&self, id: &str, by: &str) -> Result<()> {
        let (id, by) = (id.to_string(), by.to_string());
        self.read(move |s| s.quarantine_delete(&id, &by)).await
    }
    async fn hold(
        &self,
        id: &QueueId,
        message_id: Option<String>,
        reason: String,
        verdicts: String,
    ) -> Result<()> {
        self.store
            .hold(&self.writer, id, message_id, reason, verdicts)
            .await
    }
}

#[async_trait]
impl Trace for Sqlite {
    async fn record(&self, event: TraceEvent) {
        self.writer.trace(event).await
    }
    async fn trace(&self, filter: &TraceFilter) -> Result<Vec<TraceEvent>> {
        let filter = filter.clone();
        self.read(move |s| s.trace(&filter)).await
    }
    async fn prune_trace(&self, days: u32) -> Result<usize> {
        self.read(move |s| s.prune_trace(days)).await
    }
    async fn trace_summary(&self, since: i64) -> Result<TraceSummary> {
        self.read(move |s| s.trace_summary(since)).await
    }
}

#[async_trait]
impl SharedState for Sqlite {
    async fn count_in_window(
        &self,
        key: &str,
        now: i64,
        window_micros: i64,
        n: u64,
    ) -> Result<u64> {
        self.store
            .count_in_window(&self.writer, key, now, window_micros, n)
            .await
    }
    async fn auth_failure(&self, key: &str, now: i64, window_micros: i64) -> Result<u32> {
        self.store
            .auth_failure(&self.writer, key, now, window_micros)
            .await
    }
    async fn auth_success(&self, key: &str) -> Result<()> {
        self.store.auth_success(&self.writer, key).await
    }
    async fn ban(&self, subject: &str, now: i64, until: i64, reason: &str) -> Result<()> {
        self.store
            .ban(&self.writer, subject, now, until, reason)
            .await
    }
    async fn banned(&self, subject: &str, now: i64) -> Result<Option<Ban>> {
        let subject = subject.to_string();
        self.read(move |s| s.banned(&subject, now)).await
    }
    async fn bans(&self, now: i64) -> Result<Vec<Ban>> {
        self.read(move |s| s.bans(now)).await
    }
    async fn unban(&self, subject: &str, now: i64) -> Result<bool> {
        self.store.unban(&self.writer, subject, now).await
    }
}

/// The distinct accounts among local recipients, lower case.
fn local_accounts<'a>(recipients: impl Iterator<Item = (bool, &'a str)>) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = recipients
        .filter(|(local, _)| *local)
        .map(|(_, a)| a.to_ascii_lowercase())
        .collect();
    set.into_iter().collect()
}
