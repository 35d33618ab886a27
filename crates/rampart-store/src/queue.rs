//! The durable queue: message files and the rows that say who still has to receive them.
//!
//! A message is accepted in three steps, and the 250 is sent only after the last:
//! 1. its file is written and fsync'd ([`SpoolFile::finish`], see [`crate::spool`]);
//! 2. the writer fsyncs the message directory, so the file's name survives a crash;
//! 3. the writer commits the `messages` and `queue` rows ([`Store::enqueue`]).
//!
//! A file without a row is a message that was never acknowledged; [`Store::remove_orphans`]
//! deletes such files at start-up. A row always has its file.
//!
//! The file begins with a `Return-Path:` line whose length is kept in the row: local delivery
//! keeps it (RFC 5321 section 4.4), relaying skips it.

use crate::lifecycle::release_if_unreferenced;
// The spool was written here first; its names stay reachable from this module.
pub use crate::spool::{SpoolFile, Spooled, INLINE_MAX, SPOOL_BUFFER};
use crate::status::{Column, RecipientStatus};
use crate::{io_err, now_micros, Result, Store, StoreError, TraceEvent, Writer};
use rusqlite::{params, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Queue id: 13 hex digits of microseconds and 4 of a counter; sortable by arrival, unique in
/// a process for up to 65,536 messages a microsecond.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueId(pub String);

impl QueueId {
    pub fn generate() -> QueueId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff;
        QueueId(format!(
            "{:013X}{:04X}",
            now_micros() as u64 & 0xf_ffff_ffff_ffff,
            n
        ))
    }

    /// Queue ids are upper-case hex; anything else is not one (and never becomes a path).
    pub fn parse(s: &str) -> Option<QueueId> {
        (s.len() == 17
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
        .then(|| QueueId(s.to_string()))
    }
}

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How far ahead of their time retries are taken, to batch them per destination. Well under
/// the shortest retry interval (1 s), so a deferred message is never retried at once.
const COALESCE_MICROS: i64 = 200_000;

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// A local mailbox, or the remote address to deliver to.
    pub address: String,
    /// Delivered into a local mailbox (true) or over SMTP (false).
    pub local: bool,
}

/// A received message to be made durable.
#[derive(Debug, Clone)]
pub struct Enqueue {
    pub id: QueueId,
    pub sender: String,
    /// Size of the file, Return-Path and Received lines included.
    pub size: u64,
    pub message_id: Option<String>,
    pub return_path_len: usize,
    pub client: Option<String>,
    /// Final recipients: local mailboxes and remote addresses.
    pub recipients: Vec<QueuedRecipient>,
    /// Trace events that become durable with the message.
    pub events: Vec<TraceEvent>,
    /// Hold in quarantine instead of delivering: (reason, every verdict in words).
    pub quarantine: Option<(String, String)>,
    /// The message itself when it has no file ([`Spooled::inline`]): committed with the rows.
    pub inline: Option<Vec<u8>>,
    /// Deliver to the local mailboxes in the same commit, instead of leaving it to the queue
    /// manager: for a server with nothing to check again at delivery. Ignored when held.
    pub deliver_local_now: bool,
    /// The gateway tagged the message as spam: local delivery files it in each user's Junk
    /// mailbox rather than the Inbox (kept on the message row, so a later delivery knows too).
    pub junk: bool,
    /// AL-1.2: the From address (lower case) when the authentication check found its domain
    /// authenticated; a user who trusts it ([`crate::TrustedSenders`]) gets the message in the
    /// Inbox even when it was tagged. None when not authenticated, or not checked.
    pub authenticated_from: Option<String>,
}

/// A bounce (DSN) for failures being recorded, queued in the same commit as the failures it
/// reports: the failed message can then go in that commit too, and the bounce is never lost
/// between the two ([`Store::record_attempts`]).
#[derive(Debug, Clone)]
pub struct Bounce {
    /// The DSN, as [`Store::generated`] prepares it.
    pub message: Enqueue,
    /// The bounced message's trace event naming the DSN.
    pub event: TraceEvent,
}

/// The Return-Path of every message this server writes itself (bounces, notices): the null
/// sender, so that nothing answers it.
pub const GENERATED_RETURN_PATH: &str = "Return-Path: <>\r\n";

/// A message this server writes itself, before its rows are made: what both stores'
/// `generated` know once they have looked its recipient up and stored its bytes.
pub struct Generated<'a, E> {
    pub id: QueueId,
    pub to: &'a str,
    /// The directory's answer for `to`: its local mailboxes, or (anything else) a remote address.
    pub resolved: Result<std::result::Result<crate::Recipient, E>>,
    pub message_id: String,
    /// What it is, in the trace ("a bounce for ...").
    pub what: &'a str,
}

impl<E> Generated<'_, E> {
    /// The [`Enqueue`] from the null sender, with its "queued" trace event; `size` counts the
    /// Return-Path line, `inline` is the message when it has no file.
    pub fn enqueue(self, size: u64, inline: Option<Vec<u8>>) -> Enqueue {
        let recipients = match self.resolved {
            Ok(Ok(r)) => r
                .mailboxes
                .into_iter()
                .map(|m| QueuedRecipient {
                    address: m,
                    local: true,
                })
                .collect(),
            _ => vec![QueuedRecipient {
                address: self.to.to_string(),
                local: false,
            }],
        };
        let mut e = TraceEvent::new("queued", format!("{size} bytes: {}", self.what));
        e.queue_id = Some(self.id.0.clone());
        e.message_id = Some(self.message_id.clone());
        e.recipient = Some(self.to.to_string());
        Enqueue {
            id: self.id,
            sender: String::new(),
            size,
            message_id: Some(self.message_id),
            return_path_len: GENERATED_RETURN_PATH.len(),
            client: None,
            recipients,
            events: vec![e],
            quarantine: None,
            inline,
            deliver_local_now: false,
            junk: false,
            authenticated_from: None,
        }
    }
}

/// One recipient in the queue, for `rampart queue list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub message: QueueId,
    pub recipient: String,
    pub attempts: u32,
    pub status: RecipientStatus,
}

/// A queued message with the recipients still due.
#[derive(Debug, Clone)]
pub struct DueMessage {
    pub id: QueueId,
    pub sender: String,
    pub message_id: Option<String>,
    /// When it was received, microseconds since the epoch.
    pub received: i64,
    pub size: i64,
    /// Released from quarantine by an administrator: not held again at delivery.
    pub released: bool,
    pub recipients: Vec<DueRecipient>,
}

/// A recipient due for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRecipient {
    pub address: String,
    pub local: bool,
    /// Attempts made so far.
    pub attempts: u32,
}

impl Store {
    /// Makes a received message durable: the caller has finished (fsync'd) its file, or hands
    /// the message over inline; this waits for the group commit that syncs the directory (for a
    /// file) and commits the rows (and an inline message). When that fails the message was never
    /// accepted, and its file is removed here.
    pub async fn enqueue(&self, writer: &Writer, msg: Enqueue) -> Result<()> {
        let file = msg.inline.is_none().then(|| self.message_path(&msg.id));
        // Repeatable: the rows are all it writes (issue 23, see [`Writer::run_repeatable`]).
        let committed = writer
            .run_repeatable(file.is_some(), move |tx| insert_enqueued(tx, &msg))
            .await;
        if let (Err(_), Some(path)) = (&committed, &file) {
            // No row names the file: it would only wait for remove_orphans at the next start.
            let _ = std::fs::remove_file(path);
        }
        committed
    }

    /// Queues a message this server writes itself (a bounce, a notice) from the null sender to
    /// `to`: a local mailbox when the address is ours, else remote. `what` names it in the trace.
    pub async fn enqueue_generated(
        &self,
        writer: &Writer,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<QueueId> {
        let msg = self.generated(to, body, message_id, what).await?;
        let id = msg.id.clone();
        self.enqueue(writer, msg).await?;
        Ok(id)
    }

    /// Prepares a message this server writes itself, as [`Store::enqueue_generated`] queues it,
    /// without queueing it: its file (when it is too large to be inline) is written and fsync'd,
    /// its rows are for the caller to commit ([`Store::record_attempts`] with a [`Bounce`]).
    pub async fn generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<Enqueue> {
        let id = QueueId::generate();
        // The directory read and the spool's write run on the blocking pool, not on a worker.
        let resolved = {
            let (store, to) = (self.clone(), to.to_string());
            tokio::task::spawn_blocking(move || store.resolve_recipient(&to))
                .await
                .map_err(|e| StoreError::Invalid(e.to_string()))?
        };
        let mut spool = SpoolFile::new(self, &id);
        spool.push(GENERATED_RETURN_PATH.as_bytes());
        spool.push(&body);
        let spooled = tokio::task::spawn_blocking(move || spool.finish())
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))??;
        let generated = Generated {
            id,
            to,
            resolved,
            message_id,
            what,
        };
        Ok(generated.enqueue(spooled.size, spooled.inline))
    }

    /// Messages with recipients due for delivery, earliest due first; at most `limit`
    /// recipients.
    pub fn due(&self, limit: usize) -> Result<Vec<DueMessage>> {
        // Retries due within the next 200 ms come along now, so messages deferred a moment
        // apart for one destination share a connection instead of taking one each.
        let now = now_micros() + COALESCE_MICROS;
        self.read(|c| {
            // In the order of the queue_due index, so the query stops after `limit` rows. Ordered
            // by message instead, it sorted the whole backlog on every round: with 60,000
            // messages waiting, some 60 ms a round, and the manager runs a round per finished
            // delivery, so a large backlog slowed its own draining.
            let mut st = c.prepare_cached(
                "SELECT q.message, m.sender, m.message_id, m.received, m.size, q.recipient, q.local, q.attempts, m.released
                 FROM queue q JOIN messages m ON m.id = q.message
                 WHERE q.status = ?3 AND q.next_attempt <= ?1
                 ORDER BY q.next_attempt, q.message LIMIT ?2",
            )?;
            let mut out: Vec<DueMessage> = Vec::new();
            // A message's recipients may be due at different times, so not in adjacent rows.
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            let mut rows = st.query(params![now, limit as i64, Column::Queued])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let rcpt = DueRecipient {
                    address: r.get(5)?,
                    local: r.get(6)?,
                    attempts: r.get(7)?,
                };
                match index.get(&id) {
                    Some(&i) => out[i].recipients.push(rcpt),
                    None => {
                        index.insert(id.clone(), out.len());
                        out.push(DueMessage {
                            id: QueueId(id),
                            sender: r.get(1)?,
                            message_id: r.get(2)?,
                            received: r.get(3)?,
                            size: r.get(4)?,
                            released: r.get(8)?,
                            recipients: vec![rcpt],
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    /// Delivers to local mailboxes, for a batch of messages in one commit: one mailbox row per
    /// recipient, all pointing at the message's one file, and the queue rows marked delivered.
    /// Returns the trace events written (one per delivered recipient).
    pub async fn deliver_local(&self, writer: &Writer, batch: Vec<DueMessage>) -> Result<usize> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        writer
            .run(false, move |tx| {
                let now = now_micros();
                let mut n = 0;
                let mut removed = Vec::new();
                for msg in &batch {
                    let local = msg
                        .recipients
                        .iter()
                        .filter(|r| r.local)
                        .map(|r| &r.address);
                    n += deliver_local_rows(
                        tx,
                        &msg.id,
                        msg.message_id.as_ref(),
                        &msg.sender,
                        local,
                        now,
                    )?;
                    // Its remote recipients may all be done too: then only mailboxes hold it.
                    removed.extend(release_if_unreferenced(tx, &msg.id.0)?);
                }
                let _ = done_tx.send((n, removed));
                Ok(())
            })
            .await?;
        let (n, removed) = done_rx.try_recv().unwrap_or_default();
        self.unlink_removed(&removed)?;
        Ok(n)
    }

    /// Records the outcome of delivery attempts to remote recipients, in one commit: each
    /// (recipient, outcome) of a message, trace events, and the bounce for the permanent failures
    /// among them. Only a recipient still queued is updated, and the bounce is queued only if one
    /// of its failures was recorded here: an attempt recorded twice bounces once. Returns whether
    /// the bounce was queued.
    pub async fn record_attempts(
        &self,
        writer: &Writer,
        id: &QueueId,
        outcomes: Vec<(String, RecipientStatus)>,
        events: Vec<TraceEvent>,
        bounce: Option<Bounce>,
    ) -> Result<bool> {
        let id = id.0.clone();
        // A bounce with a file of its own: its directory entry must be durable before the commit.
        let bounce_file = bounce
            .as_ref()
            .filter(|b| b.message.inline.is_none())
            .map(|b| b.message.id.clone());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        writer
            .run(bounce_file.is_some(), move |tx| {
                let mut st = tx.prepare_cached(
                    "UPDATE queue SET status = ?3, attempts = attempts + 1, next_attempt = ?4, last_reply = ?5
                     WHERE message = ?1 AND recipient = ?2 AND status = ?6",
                )?;
                let mut failed = 0;
                for (rcpt, o) in &outcomes {
                    let (status, next, reply) = o.column();
                    let n = st.execute(params![id, rcpt, status, next, reply, Column::Queued])?;
                    if n > 0 && matches!(o, RecipientStatus::PermanentFailure(_)) {
                        failed += 1;
                    }
                }
                for e in &events {
                    e.insert(tx)?;
                }
                let bounced = match &bounce {
                    Some(b) if failed > 0 => {
                        insert_enqueued(tx, &b.message)?;
                        b.event.insert(tx)?;
                        true
                    }
                    _ => false,
                };
                // Delivered to every remote recipient, or bounced (the bounce is queued above, in
                // this commit), or expired: nothing needs the message any more.
                let _ = done_tx.send((bounced, release_if_unreferenced(tx, &id)?));
                Ok(())
            })
            .await?;
        let (bounced, removed) = done_rx.try_recv().unwrap_or_default();
        if let Some(removed) = removed {
            self.unlink_removed(&[removed])?;
        }
        if !bounced {
            // Not needed after all (its failures were recorded before): its file goes.
            if let Some(bid) = bounce_file {
                let path = self.message_path(&bid);
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        Ok(bounced)
    }

    /// When the next queued recipient is due (microseconds since the epoch), if any is queued.
    pub fn next_attempt_at(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT min(next_attempt) FROM queue WHERE status = ?1")?
                    .query_row([Column::Queued], |r| r.get(0))?,
            )
        })
    }

    /// Every queue row, for `rampart queue list`.
    pub fn queue_list(&self) -> Result<Vec<QueueEntry>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT message, recipient, attempts, status, next_attempt, last_reply
                 FROM queue ORDER BY message, recipient",
            )?;
            let rows = st.query_map([], |r| {
                Ok(QueueEntry {
                    message: QueueId(r.get(0)?),
                    recipient: r.get(1)?,
                    attempts: r.get(2)?,
                    status: RecipientStatus::from_row(
                        &r.get::<_, String>(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The message file of a queued or stored message.
    pub fn message_path(&self, id: &QueueId) -> PathBuf {
        self.messages_dir().join(&id.0)
    }

    /// The stored message; with `with_return_path` false, without its Return-Path line.
    pub fn message_bytes(&self, id: &QueueId, with_return_path: bool) -> Result<Vec<u8>> {
        type Row = (i64, Option<Vec<u8>>);
        let row: Option<Row> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT m.return_path_len, b.data FROM messages m
                     LEFT JOIN message_bodies b ON b.id = m.id WHERE m.id = ?1",
            )?
            .query_row([&id.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
        })?;
        let (rp, inline) = row.ok_or_else(|| StoreError::Invalid(format!("no message {id}")))?;
        let mut bytes = match inline {
            Some(data) => data,
            None => {
                let path = self.message_path(id);
                std::fs::read(&path).map_err(io_err(&path))?
            }
        };
        if !with_return_path {
            bytes.drain(..(rp as usize).min(bytes.len()));
        }
        Ok(bytes)
    }

    /// Removes message files that no row names: messages whose 250 was never sent (the server
    /// stopped between writing the file and the commit). Run before listeners start.
    pub fn remove_orphans(&self) -> Result<usize> {
        let known: std::collections::HashSet<String> = self.read(|c| {
            let mut st = c.prepare("SELECT id FROM messages")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let dir = self.messages_dir();
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !known.contains(&name) {
                let p: &Path = &entry.path();
                std::fs::remove_file(p).map_err(io_err(p))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Inserts a message to be made durable inside `tx`: its rows, its inline body, its trace events,
/// and, when asked, its delivery to local mailboxes.
pub(crate) fn insert_enqueued(tx: &rusqlite::Transaction, msg: &Enqueue) -> Result<()> {
    let now = now_micros();
    tx.prepare_cached(
        "INSERT INTO messages(id, received, sender, size, message_id, return_path_len, client, junk,
                              authenticated_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        msg.id.0,
        now,
        msg.sender,
        msg.size as i64,
        msg.message_id,
        msg.return_path_len as i64,
        msg.client,
        msg.junk,
        msg.authenticated_from
    ])?;
    if let Some(data) = &msg.inline {
        tx.prepare_cached("INSERT INTO message_bodies(id, data) VALUES (?1, ?2)")?
            .execute(params![msg.id.0, data])?;
    }
    let deliver_now = msg.deliver_local_now && msg.quarantine.is_none();
    if deliver_now && !msg.recipients.is_empty() && msg.recipients.iter().all(|r| r.local) {
        // Issue 23: mail for local mailboxes only is delivered in this commit; queue rows would
        // be written, marked delivered and removed again within it, so it gets none. The
        // mailboxes hold the message from here on.
        for e in &msg.events {
            e.insert(tx)?;
        }
        let mut seen = std::collections::HashSet::new();
        for r in msg.recipients.iter().filter(|r| seen.insert(&r.address)) {
            deliver_to_mailbox(
                tx,
                &msg.id,
                msg.message_id.as_ref(),
                &msg.sender,
                &r.address,
                now,
            )?;
        }
        return Ok(());
    }
    let status = if msg.quarantine.is_some() {
        Column::Held
    } else {
        Column::Queued
    };
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO queue(message, recipient, local, status, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in &msg.recipients {
        st.execute(params![msg.id.0, r.address, r.local, status, now])?;
    }
    if let Some((reason, verdicts)) = &msg.quarantine {
        tx.prepare_cached(
            "INSERT INTO quarantine(message, held, reason, verdicts) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![msg.id.0, now, reason, verdicts])?;
        // Issue 22: the hold is a decision of its own in the trace and the mail log, as a hold
        // at delivery is (quarantine.rs).
        let mut e = TraceEvent::new("quarantined", format!("held at receipt: {reason}"));
        e.queue_id = Some(msg.id.0.clone());
        e.message_id = msg.message_id.clone();
        e.client = msg.client.clone();
        e.sender = Some(msg.sender.clone());
        e.insert(tx)?;
    }
    for e in &msg.events {
        e.insert(tx)?;
    }
    if deliver_now {
        let local = msg
            .recipients
            .iter()
            .filter(|r| r.local)
            .map(|r| &r.address);
        deliver_local_rows(
            tx,
            &msg.id,
            msg.message_id.as_ref(),
            &msg.sender,
            local,
            now,
        )?;
        // All-local mail is done with here: its queue rows go; the mailboxes keep it.
        release_if_unreferenced(tx, &msg.id.0)?;
    }
    Ok(())
}

/// Delivers a queued message to local mailboxes inside `tx`: an email in the user's Inbox (or
/// Junk, for mail tagged as spam: see [`crate::mail`]), the queue row marked delivered, and a
/// trace event per recipient. Only a row still queued is delivered, so
/// delivering the same recipient twice (a retry after a lost answer) is a no-op. Returns how
/// many were delivered.
fn deliver_local_rows<'a>(
    tx: &rusqlite::Transaction,
    id: &QueueId,
    message_id: Option<&String>,
    sender: &str,
    mailboxes: impl Iterator<Item = &'a String>,
    now: i64,
) -> Result<usize> {
    let mut upd = tx.prepare_cached(
        "UPDATE queue SET status = ?3, attempts = attempts + 1, last_reply = ?4
         WHERE message = ?1 AND recipient = ?2 AND status = ?5",
    )?;
    let (delivered, _, reply) = RecipientStatus::Delivered("delivered to mailbox".into()).column();
    let mut n = 0;
    for r in mailboxes {
        if upd.execute(params![id.0, r, delivered, reply, Column::Queued])? == 1 {
            deliver_to_mailbox(tx, id, message_id, sender, r, now)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Files a message in one local mailbox inside `tx` (Inbox or Junk) with its "delivered" trace
/// event.
fn deliver_to_mailbox(
    tx: &rusqlite::Transaction,
    id: &QueueId,
    message_id: Option<&String>,
    sender: &str,
    mailbox: &str,
    now: i64,
) -> Result<()> {
    let (_, filed) = crate::mail::deliver_email(tx, mailbox, &id.0, now)?;
    let mut e = TraceEvent::new("delivered", filed.detail(mailbox));
    e.queue_id = Some(id.0.clone());
    e.message_id = message_id.cloned();
    e.sender = Some(sender.to_string());
    e.recipient = Some(mailbox.to_string());
    e.insert(tx)
}
