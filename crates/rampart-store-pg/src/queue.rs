//! The queue on PostgreSQL: one queue for every node, each queued recipient attempted by one
//! node at a time.
//!
//! **Durability.** A message's body goes into `message_bodies` (bytea) in the transaction that
//! inserts its `messages` and `queue` rows and its trace events; every connection commits
//! synchronously ([`crate::PgStore::connect`]), so [`Queue::enqueue`] returns, and the 250 after
//! DATA is sent, only once the message and its rows are on the primary's disk. A message larger
//! than memory while it arrives is spooled to this node's own directory
//! ([`crate::PgOptions::spool_dir`]) and read into the database by enqueue, which then removes
//! the file; a file left there is a message never acknowledged, which
//! [`Queue::remove_orphans`] removes at start.
//!
//! **Concurrency.** Each enqueue is its own transaction on the queue pool, touching only its own
//! rows: sessions never wait for one another's locks. Their commits share write-ahead-log
//! flushes as PostgreSQL arranges (group commit is the server's own; `commit_delay` and
//! `commit_siblings` are the DBA's to tune), where the embedded store batches commits itself.
//!
//! **Leases** (docs/SCALING.md, "Queue leases"). [`Queue::due`] claims due recipients for this
//! node: `lease_owner` = the node's id, `lease_until` = now + [`crate::PgOptions::lease`], in one
//! `UPDATE` whose rows are chosen `FOR UPDATE SKIP LOCKED`, so two nodes claiming at once take
//! disjoint sets without waiting for each other. A recipient this node holds is due to it again
//! (as in the embedded store, where rows in flight stay due; the delivery manager keeps track of
//! what it is attempting), and not to another node until the lease runs out. Recording an
//! outcome, delivering locally or holding clears the lease in the same commit. While this node
//! holds leases, a task on the leases pool renews them every third of the lease; a node that
//! dies stops renewing, and another node's `due()` takes its recipients over once the leases
//! have run out. Lease times are the nodes' own clocks, as `next_attempt` is: nodes keep time
//! by NTP, seconds apart at worst against leases of minutes.

use crate::lifecycle::release_if_unreferenced;
use crate::mail::deliver_email;
use crate::{db, trace, PgOptions, PgStore};
use async_trait::async_trait;
use rampart_store::api::{Directory, Queue};
use rampart_store::spool::MemoryBudget;
use rampart_store::{
    now_micros, Bounce, DueMessage, DueRecipient, Enqueue, Generated, QueueEntry, QueueId,
    RecipientStatus, Result, SpoolFile, StoreError, TraceEvent, GENERATED_RETURN_PATH,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Transaction;

/// How far ahead of their time retries are taken, to batch them per destination (as in the
/// embedded store).
const COALESCE_MICROS: i64 = 200_000;

/// `queue.status` values (the embedded store's spelling, [`RecipientStatus::row_values`]).
pub(crate) const QUEUED: &str = "queued";
pub(crate) const HELD: &str = "held";

/// This node, as the queue knows it.
#[derive(Debug)]
pub struct Node {
    /// host, process id and a random part: unique among nodes, and new at each start, so a
    /// restarted node never mistakes its predecessor's leases for its own.
    pub(crate) id: String,
    pub(crate) lease_micros: i64,
    pub(crate) spool_dir: PathBuf,
    /// Set once the renewal task runs.
    renewing: AtomicBool,
}

impl Node {
    pub(crate) fn new(options: &PgOptions) -> Node {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into());
        let r: [u8; 4] = rampart_store::random_bytes();
        let id = format!(
            "{host}:{}:{}",
            std::process::id(),
            r.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        if let Err(e) = create_private_dir(&options.spool_dir) {
            // Only messages larger than memory need it; their enqueue then names the problem.
            tracing::warn!(dir = %options.spool_dir.display(), error = %e, "spool directory not created");
        }
        Node {
            id,
            lease_micros: i64::try_from(options.lease.as_micros())
                .unwrap_or(i64::MAX)
                .max(1),
            spool_dir: options.spool_dir.clone(),
            renewing: AtomicBool::new(false),
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl PgStore {
    /// This node's id in the queue's leases (`queue.lease_owner`).
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// Gives up every lease this node holds, so another node (or this one after a restart,
    /// under a new id) may attempt those recipients at once rather than when the leases run
    /// out: for a graceful shutdown, after the deliveries in flight have been recorded.
    /// Returns how many recipients were released.
    pub async fn release_leases(&self) -> Result<u64> {
        let c = self.conn(&self.leases).await?;
        c.execute(
            "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            &[&self.node.id],
        )
        .await
        .map_err(db)
    }

    fn spool_path(&self, id: &QueueId) -> PathBuf {
        self.node.spool_dir.join(&id.0)
    }

    /// The body of `msg` as enqueue stores it: its inline bytes, or its spool file read whole.
    async fn body_of(&self, msg: &Enqueue) -> Result<Option<Vec<u8>>> {
        if msg.inline.is_some() {
            return Ok(None);
        }
        let path = self.spool_path(&msg.id);
        let read = tokio::task::spawn_blocking({
            let path = path.clone();
            move || std::fs::read(&path)
        })
        .await
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
        read.map(Some)
            .map_err(|source| StoreError::Io { path, source })
    }

    /// Removes a spool file whose message is now in the database, or was refused.
    async fn drop_spool_file(&self, id: &QueueId) {
        let path = self.spool_path(id);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    }

    /// Starts the task that renews this node's leases, once.
    fn renew_leases_in_background(&self) {
        if self.node.renewing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.node.renewing.store(false, Ordering::SeqCst);
            return;
        };
        let node = Arc::downgrade(&self.node);
        let pool = self.leases.clone();
        let every = Duration::from_micros((self.node.lease_micros / 3).max(100_000) as u64);
        // The task holds the node weakly: when the last handle of this store goes, it ends.
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(node) = node.upgrade() else { break };
                if let Err(e) = renew(&pool, &node).await {
                    tracing::warn!(error = %e, node = node.id.as_str(), "queue leases not renewed; retrying");
                }
            }
        });
    }
}

impl PgStore {
    /// [`Queue::record_attempts`] but for the bounce's spool file: one transaction.
    async fn record_attempts_tx(
        &self,
        id: &QueueId,
        outcomes: &[(String, RecipientStatus)],
        events: &[TraceEvent],
        bounce: Option<&Bounce>,
    ) -> Result<bool> {
        crate::trace::logged_on_commit(async {
            let bounce_body = match bounce {
                Some(b) => self.body_of(&b.message).await?,
                None => None,
            };
            let mut c = self.conn(&self.queue).await?;
            let tx = c.transaction().await.map_err(db)?;
            let st = tx
                .prepare(
                    "UPDATE queue SET status = $3, attempts = attempts + 1, next_attempt = $4,
                         last_reply = $5, lease_owner = NULL, lease_until = NULL
                     WHERE message = $1 AND recipient = $2 AND status = $6",
                )
                .await
                .map_err(db)?;
            let mut failed = 0;
            for (rcpt, o) in outcomes {
                let (status, next, reply) = o.row_values();
                let n = tx
                    .execute(&st, &[&id.0, rcpt, &status, &next, &reply, &QUEUED])
                    .await
                    .map_err(db)?;
                if n > 0 && matches!(o, RecipientStatus::PermanentFailure(_)) {
                    failed += 1;
                }
            }
            trace::insert_all_in(&tx, events).await?;
            let bounced = match bounce {
                Some(b) if failed > 0 => {
                    insert_enqueued(&tx, &b.message, bounce_body.as_deref()).await?;
                    trace::insert_in(&tx, &b.event).await?;
                    true
                }
                _ => false,
            };
            // Delivered to every remote recipient, or bounced (the bounce is queued above, in this
            // commit), or expired: nothing needs the message any more.
            release_if_unreferenced(&tx, &id.0).await?;
            tx.commit().await.map_err(db)?;
            Ok(bounced)
        })
        .await
    }
}

/// Extends every lease `node` holds on a recipient still queued.
async fn renew(pool: &deadpool_postgres::Pool, node: &Node) -> Result<u64> {
    let c = pool
        .get()
        .await
        .map_err(|e| StoreError::Db(format!("no database connection: {e}")))?;
    let until = now_micros().saturating_add(node.lease_micros);
    c.execute(
        "UPDATE queue SET lease_until = $1 WHERE lease_owner = $2 AND status = $3",
        &[&until, &node.id, &QUEUED],
    )
    .await
    .map_err(db)
}

#[async_trait]
impl Queue for PgStore {
    fn spool(&self, id: &QueueId, hold: Option<&MemoryBudget>) -> SpoolFile {
        SpoolFile::in_dir(&self.node.spool_dir, id, hold)
    }

    async fn enqueue(&self, msg: Enqueue) -> Result<()> {
        crate::trace::logged_on_commit(async {
            let spooled = msg.inline.is_none();
            let result = async {
                let body = self.body_of(&msg).await?;
                let mut c = self.conn(&self.queue).await?;
                let tx = c.transaction().await.map_err(db)?;
                insert_enqueued(&tx, &msg, body.as_deref()).await?;
                tx.commit().await.map_err(db)
            }
            .await;
            if spooled {
                // In the database now, or never acknowledged: either way the file has served.
                self.drop_spool_file(&msg.id).await;
            }
            result
        })
        .await
    }

    async fn enqueue_generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<QueueId> {
        let msg = self.generated(to, body, message_id, what).await?;
        let id = msg.id.clone();
        self.enqueue(msg).await?;
        Ok(id)
    }

    async fn due(&self, limit: usize) -> Result<Vec<DueMessage>> {
        let now = now_micros();
        let until = now.saturating_add(self.node.lease_micros);
        let c = self.conn(&self.leases).await?;
        // Chosen in the order of the queue_due index, so the scan stops after `limit` rows;
        // SKIP LOCKED: rows another node is claiming this moment are left to it.
        let rows = c
            .query(
                "UPDATE queue q SET lease_owner = $1, lease_until = $2
                 FROM (SELECT message, recipient FROM queue
                       WHERE status = $6 AND next_attempt <= $3
                         AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)
                       ORDER BY next_attempt, message
                       LIMIT $5
                       FOR UPDATE SKIP LOCKED) d,
                      messages m
                 WHERE q.message = d.message AND q.recipient = d.recipient AND m.id = q.message
                 RETURNING q.message, m.sender, m.message_id, m.received, m.size, q.recipient,
                           q.local, q.attempts, m.released, q.next_attempt",
                &[
                    &self.node.id,
                    &until,
                    &(now + COALESCE_MICROS),
                    &now,
                    &(limit as i64),
                    &QUEUED,
                ],
            )
            .await
            .map_err(db)?;
        if !rows.is_empty() {
            self.renew_leases_in_background();
        }
        // RETURNING has no order: the index's, again.
        let mut rows: Vec<_> = rows.iter().collect();
        rows.sort_by_key(|r| (r.get::<_, i64>(9), r.get::<_, String>(0)));
        let mut out: Vec<DueMessage> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for r in rows {
            let id: String = r.get(0);
            let rcpt = DueRecipient {
                address: r.get(5),
                local: r.get(6),
                attempts: u32::try_from(r.get::<_, i32>(7)).unwrap_or(0),
            };
            match index.get(&id) {
                Some(&i) => out[i].recipients.push(rcpt),
                None => {
                    index.insert(id.clone(), out.len());
                    out.push(DueMessage {
                        id: QueueId(id),
                        sender: r.get(1),
                        message_id: r.get(2),
                        received: r.get(3),
                        size: r.get(4),
                        released: r.get(8),
                        recipients: vec![rcpt],
                    });
                }
            }
        }
        Ok(out)
    }

    async fn deliver_local(&self, batch: Vec<DueMessage>) -> Result<usize> {
        crate::trace::logged_on_commit(async {
            // Every (account, message) of the batch in account order: deliver_email takes each
            // account's lock, and two transactions taking locks in one order cannot deadlock.
            let mut pairs: Vec<(&str, &DueMessage)> = batch
                .iter()
                .flat_map(|m| {
                    m.recipients
                        .iter()
                        .filter(|r| r.local)
                        .map(move |r| (r.address.as_str(), m))
                })
                .collect();
            pairs.sort_by(|x, y| (x.0, &x.1.id.0).cmp(&(y.0, &y.1.id.0)));
            let mut c = self.conn(&self.queue).await?;
            let tx = c.transaction().await.map_err(db)?;
            let now = now_micros();
            let mut n = 0;
            for (account, msg) in pairs {
                let one = account.to_string();
                n += deliver_local_rows(
                    &tx,
                    &msg.id,
                    msg.message_id.as_ref(),
                    &msg.sender,
                    &[&one],
                    now,
                )
                .await?;
            }
            for msg in &batch {
                // Its remote recipients may all be done too: then only mailboxes hold it.
                release_if_unreferenced(&tx, &msg.id.0).await?;
            }
            tx.commit().await.map_err(db)?;
            Ok(n)
        })
        .await
    }

    async fn generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<Enqueue> {
        let resolved = self.resolve_recipient(to).await;
        // In memory already: it goes into the database with its rows, never through a file.
        let mut data = Vec::with_capacity(GENERATED_RETURN_PATH.len() + body.len());
        data.extend_from_slice(GENERATED_RETURN_PATH.as_bytes());
        data.extend_from_slice(&body);
        let generated = Generated {
            id: QueueId::generate(),
            to,
            resolved,
            message_id,
            what,
        };
        Ok(generated.enqueue(data.len() as u64, Some(data)))
    }

    async fn record_attempts(
        &self,
        id: &QueueId,
        outcomes: Vec<(String, RecipientStatus)>,
        events: Vec<TraceEvent>,
        bounce: Option<Bounce>,
    ) -> Result<bool> {
        let result = self
            .record_attempts_tx(id, &outcomes, &events, bounce.as_ref())
            .await;
        if let Some(b) = bounce.as_ref().filter(|b| b.message.inline.is_none()) {
            // In the database now, or not needed, or the commit failed (the failure is then
            // retried with a new bounce): either way its spool file has served.
            self.drop_spool_file(&b.message.id).await;
        }
        result
    }

    async fn next_attempt_at(&self) -> Result<Option<i64>> {
        let c = self.conn(&self.leases).await?;
        // A recipient another node holds is not this node's to attempt before its lease ends.
        let row = c
            .query_one(
                "SELECT min(CASE WHEN lease_owner IS NOT NULL AND lease_owner <> $1
                                      AND lease_until > $2
                                 THEN greatest(next_attempt, lease_until)
                                 ELSE next_attempt END)
                 FROM queue WHERE status = $3",
                &[&self.node.id, &now_micros(), &QUEUED],
            )
            .await
            .map_err(db)?;
        Ok(row.get(0))
    }

    async fn queue_list(&self) -> Result<Vec<QueueEntry>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT message, recipient, attempts, status, next_attempt, last_reply
                 FROM queue ORDER BY message, recipient",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| QueueEntry {
                message: QueueId(r.get(0)),
                recipient: r.get(1),
                attempts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                status: RecipientStatus::from_row(r.get(3), r.get(4), r.get(5)),
            })
            .collect())
    }

    async fn message_bytes(&self, id: &QueueId, with_return_path: bool) -> Result<Vec<u8>> {
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT m.return_path_len, b.data FROM messages m
                 JOIN message_bodies b ON b.id = m.id WHERE m.id = $1",
                &[&id.0],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::Invalid(format!("no message {id}")))?;
        let rp: i64 = row.get(0);
        let mut bytes: Vec<u8> = row.get(1);
        if !with_return_path {
            bytes.drain(..usize::try_from(rp).unwrap_or(0).min(bytes.len()));
        }
        Ok(bytes)
    }

    async fn remove_orphans(&self) -> Result<usize> {
        // Every file in this node's spool is a message that never became durable (enqueue
        // removes the file of each message it commits): run before the listeners start.
        let dir = self.node.spool_dir.clone();
        tokio::task::spawn_blocking(move || {
            let io = |path: &std::path::Path| {
                let path = path.to_path_buf();
                move |source| StoreError::Io { path, source }
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(io(&dir)(e)),
            };
            let mut removed = 0;
            for entry in entries {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name();
                if QueueId::parse(&name.to_string_lossy()).is_none() {
                    continue; // not a spool file of ours
                }
                let p = entry.path();
                std::fs::remove_file(&p).map_err(io(&p))?;
                removed += 1;
            }
            Ok(removed)
        })
        .await
        .map_err(|e| StoreError::Invalid(e.to_string()))?
    }
}

/// Inserts a message to be made durable inside `tx`: its rows, its body (`body` when it is not
/// inline), its trace events, and, when asked, its delivery to local mailboxes. As the
/// embedded store's `insert_enqueued`.
pub(crate) async fn insert_enqueued(
    tx: &Transaction<'_>,
    msg: &Enqueue,
    body: Option<&[u8]>,
) -> Result<()> {
    let now = now_micros();
    let data =
        msg.inline.as_deref().or(body).ok_or_else(|| {
            StoreError::Invalid(format!("message {} has no body to store", msg.id))
        })?;
    let status = if msg.quarantine.is_some() {
        HELD
    } else {
        QUEUED
    };
    let (addresses, locals): (Vec<&str>, Vec<bool>) = msg
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.local))
        .unzip();
    // The message, its body and every recipient in one statement: one round trip however long
    // the list (the foreign keys are checked at the statement's end, when all three are in).
    tx.execute(
        "WITH m AS (
             INSERT INTO messages(id, received, sender, size, message_id, return_path_len,
                                  client, junk, authenticated_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $13)),
         b AS (INSERT INTO message_bodies(id, data) VALUES ($1, $9))
         INSERT INTO queue(message, recipient, local, status, next_attempt)
         SELECT $1, r, l, $12, $2 FROM unnest($10::text[], $11::bool[]) AS u(r, l)
         ON CONFLICT (message, recipient) DO NOTHING",
        &[
            &msg.id.0,
            &now,
            &msg.sender,
            &(msg.size as i64),
            &msg.message_id,
            &(msg.return_path_len as i64),
            &msg.client,
            &msg.junk,
            &data,
            &addresses,
            &locals,
            &status,
            &msg.authenticated_from,
        ],
    )
    .await
    .map_err(db)?;
    if let Some((reason, verdicts)) = &msg.quarantine {
        tx.execute(
            "INSERT INTO quarantine(message, held, reason, verdicts) VALUES ($1, $2, $3, $4)",
            &[&msg.id.0, &now, reason, verdicts],
        )
        .await
        .map_err(db)?;
        // Issue 22: the hold is a decision of its own in the trace, as a hold at delivery is.
        let mut e = TraceEvent::new("quarantined", format!("held at receipt: {reason}"));
        e.queue_id = Some(msg.id.0.clone());
        e.message_id = msg.message_id.clone();
        e.client = msg.client.clone();
        e.sender = Some(msg.sender.clone());
        trace::insert_in(tx, &e).await?;
    }
    trace::insert_all_in(tx, &msg.events).await?;
    if msg.deliver_local_now && msg.quarantine.is_none() {
        let mut local: Vec<&String> = msg
            .recipients
            .iter()
            .filter(|r| r.local)
            .map(|r| &r.address)
            .collect();
        // In account order (see deliver_local).
        local.sort();
        deliver_local_rows(
            tx,
            &msg.id,
            msg.message_id.as_ref(),
            &msg.sender,
            &local,
            now,
        )
        .await?;
        // All-local mail is done with here: its queue rows go; the mailboxes keep it.
        release_if_unreferenced(tx, &msg.id.0).await?;
    }
    Ok(())
}

/// Delivers a queued message to local mailboxes inside `tx`: an email per recipient (the mail
/// module's [`deliver_email`], called in the order given: sorted, by the callers), the queue row marked delivered and its lease cleared, and a
/// trace event per recipient. Only a row still queued is delivered, so delivering the same
/// recipient twice (a retry after a lost answer) is a no-op. Returns how many were delivered.
async fn deliver_local_rows(
    tx: &Transaction<'_>,
    id: &QueueId,
    message_id: Option<&String>,
    sender: &str,
    mailboxes: &[&String],
    now: i64,
) -> Result<usize> {
    let (delivered, _, reply) =
        RecipientStatus::Delivered("delivered to mailbox".into()).row_values();
    let upd = tx
        .prepare(
            "UPDATE queue SET status = $3, attempts = attempts + 1, last_reply = $4,
                 lease_owner = NULL, lease_until = NULL
             WHERE message = $1 AND recipient = $2 AND status = $5",
        )
        .await
        .map_err(db)?;
    let mut n = 0;
    for r in mailboxes {
        let updated = tx
            .execute(&upd, &[&id.0, *r, &delivered, &reply, &QUEUED])
            .await
            .map_err(db)?;
        if updated == 1 {
            let (_, filed) = deliver_email(tx, r, &id.0, now).await?;
            let mut e = TraceEvent::new("delivered", filed.detail(r));
            e.queue_id = Some(id.0.clone());
            e.message_id = message_id.cloned();
            e.sender = Some(sender.to_string());
            e.recipient = Some((*r).clone());
            trace::insert_in(tx, &e).await?;
            n += 1;
        }
    }
    Ok(n)
}
