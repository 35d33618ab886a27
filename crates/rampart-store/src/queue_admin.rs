//! The administrator's actions on one queued message: retry now, hold, release, delete.
//!
//! A hold sets the message's queued recipients to `held`, the status quarantine uses: the queue
//! manager takes only `queued` rows ([`Store::due`]), so a held message is never attempted until
//! it is released. What tells an administrator's hold from quarantine is the quarantine row:
//! [`Store::queue_release`] refuses a quarantined message (`rampart quarantine release` decides
//! that, with its checks' verdicts in view). A delivery already in flight when the hold comes
//! finishes; its outcome is recorded only for rows still `queued`.
//!
//! A bounce ends a message's delivery for good: its waiting recipients (queued, deferred or held)
//! fail with the administrator's reason, a delivery status notification to the sender is queued
//! in the same commit ([`Store::queue_bounce`]), and the message leaves the queue. The DSN itself
//! is written by the caller (rampart-queue's `dsn`), from [`Store::queue_bounce_plan`].
//!
//! Each action returns false when no queue row has the id (an unknown or finished message), and
//! writes a trace event (AL-3.1) in the same commit as its change.

use crate::status::Column;
use crate::{now_micros, Enqueue, Failure, QueueId, Result, Store, StoreError, TraceEvent};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

/// What a bounce of a queued message reports ([`Store::queue_bounce_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncePlan {
    /// The envelope sender the DSN goes to; empty for the null sender (nothing is sent).
    pub sender: String,
    pub message_id: Option<String>,
    /// When the message was received, microseconds since the epoch.
    pub received: i64,
    /// The recipients still waiting (queued, deferred or held): the ones the bounce fails.
    pub recipients: Vec<String>,
}

/// Who the trace names for these actions.
const BY: &str = "the administrator";

impl Store {
    /// Makes every queued recipient of `id` due now (a deferred one is retried at once). An
    /// error when the message is held (release it first).
    pub fn queue_retry_now(&self, id: &QueueId) -> Result<bool> {
        self.queue_action(id, |tx, held, _| {
            let n = tx.execute(
                "UPDATE queue SET next_attempt = ?2 WHERE message = ?1 AND status = ?3",
                params![id.0, now_micros(), Column::Queued],
            )?;
            if n == 0 && held > 0 {
                return Err(StoreError::Invalid(format!(
                    "{id} is held; release it first (`rampart queue release {id}`)"
                )));
            }
            Ok(("retry", format!("{n} recipient(s) due now, by {BY}")))
        })
    }

    /// Holds `id`: its queued recipients are not attempted until [`Store::queue_release`].
    pub fn queue_hold(&self, id: &QueueId) -> Result<bool> {
        self.queue_action(id, |tx, _, _| {
            let n = tx.execute(
                "UPDATE queue SET status = ?2 WHERE message = ?1 AND status = ?3",
                params![id.0, Column::Held, Column::Queued],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "{id} has no recipient waiting for delivery; nothing to hold"
                )));
            }
            Ok((
                "hold",
                format!("{n} recipient(s) held by {BY}; not attempted until released"),
            ))
        })
    }

    /// Releases a message held by [`Store::queue_hold`]: its recipients are due now. A message
    /// in quarantine is refused here: `rampart quarantine release` is the way out of it.
    pub fn queue_release(&self, id: &QueueId) -> Result<bool> {
        self.queue_action(id, |tx, _, quarantined| {
            if quarantined {
                return Err(quarantined_error(id));
            }
            let n = tx.execute(
                "UPDATE queue SET status = ?3, next_attempt = ?2 WHERE message = ?1 AND status = ?4",
                params![id.0, now_micros(), Column::Queued, Column::Held],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "{id} is not held; see `rampart queue list`"
                )));
            }
            Ok((
                "release",
                format!("{n} recipient(s) released by {BY}; due now"),
            ))
        })
    }

    /// Deletes `id` from the queue: every recipient row (no delivery, no bounce) and its
    /// quarantine row; the message itself goes unless a mailbox holds a copy.
    pub fn queue_delete(&self, id: &QueueId) -> Result<bool> {
        let mut removed = None;
        let known = self.queue_action(id, |tx, _, _| {
            let n = tx.execute("DELETE FROM queue WHERE message = ?1", [&id.0])?;
            tx.execute("DELETE FROM quarantine WHERE message = ?1", [&id.0])?;
            removed = crate::lifecycle::release_if_unreferenced(tx, &id.0)?;
            Ok((
                "deleted",
                format!("deleted from the queue by {BY}; {n} recipient(s) not delivered"),
            ))
        })?;
        if let Some(r) = removed {
            self.unlink_removed(&[r])?;
        }
        Ok(known)
    }

    /// What a bounce of `id` would report; None when no queue row has the id. An error when it
    /// is in quarantine (the quarantine's release or delete decides that) or has no recipient
    /// left waiting.
    pub fn queue_bounce_plan(&self, id: &QueueId) -> Result<Option<BouncePlan>> {
        self.read(|c| {
            let meta: Option<(String, Option<String>, i64)> = c
                .prepare_cached("SELECT sender, message_id, received FROM messages WHERE id = ?1")?
                .query_row([&id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let recipients: Vec<String> = c
                .prepare_cached(
                    "SELECT recipient FROM queue WHERE message = ?1 AND status IN (?2, ?3)
                     ORDER BY recipient",
                )?
                .query_map(params![id.0, Column::Queued, Column::Held], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let known = c
                .prepare_cached("SELECT 1 FROM queue WHERE message = ?1")?
                .exists([&id.0])?;
            let (Some((sender, message_id, received)), true) = (meta, known) else {
                return Ok(None);
            };
            if c.prepare_cached("SELECT 1 FROM quarantine WHERE message = ?1")?
                .exists([&id.0])?
            {
                return Err(quarantined_error(id));
            }
            if recipients.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "{id} has no recipient waiting for delivery; nothing to bounce"
                )));
            }
            Ok(Some(BouncePlan {
                sender,
                message_id,
                received,
                recipients,
            }))
        })
    }

    /// Bounces `id`: every recipient still waiting (queued, deferred or held) fails for good
    /// with `failure`, `dsn` (the notification to the sender, prepared with
    /// [`Store::generated`]; None for a null sender) is queued in the same commit, and the
    /// message goes unless a mailbox holds a copy. The DSN is never lost between the two, and
    /// never sent for a message that was not bounced: when nothing is bounced, its file goes.
    /// A delivery already in flight finishes; its outcome is not recorded over the bounce.
    pub fn queue_bounce(
        &self,
        id: &QueueId,
        failure: &Failure,
        dsn: Option<Enqueue>,
    ) -> Result<bool> {
        let dsn_file = dsn
            .as_ref()
            .filter(|d| d.inline.is_none())
            .map(|d| self.message_path(&d.id));
        let outcome = (|| {
            if dsn_file.is_some() {
                // The DSN's file was fsync'd when spooled; its name must be durable before the
                // commit that refers to it.
                crate::sync_dir(&self.messages_dir())?;
            }
            let mut removed = None;
            let known = self.queue_action(id, |tx, _, quarantined| {
                if quarantined {
                    return Err(quarantined_error(id));
                }
                let failed: Vec<String> = tx
                    .prepare(
                        "SELECT recipient FROM queue WHERE message = ?1 AND status IN (?2, ?3)
                         ORDER BY recipient",
                    )?
                    .query_map(params![id.0, Column::Queued, Column::Held], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                if failed.is_empty() {
                    return Err(StoreError::Invalid(format!(
                        "{id} has no recipient waiting for delivery; nothing to bounce"
                    )));
                }
                let (status, next, reply) =
                    crate::RecipientStatus::PermanentFailure(failure.clone()).column();
                tx.execute(
                    "UPDATE queue SET status = ?2, next_attempt = ?3, last_reply = ?4
                     WHERE message = ?1 AND status IN (?5, ?6)",
                    params![id.0, status, next, reply, Column::Queued, Column::Held],
                )?;
                let notice = match &dsn {
                    Some(d) => {
                        crate::queue::insert_enqueued(tx, d)?;
                        format!("a delivery status notification queued as {}", d.id)
                    }
                    None => "no notification (null sender)".to_string(),
                };
                removed = crate::lifecycle::release_if_unreferenced(tx, &id.0)?;
                Ok((
                    "bounced",
                    format!(
                        "bounced by {BY}: {} ({} {}); {notice}",
                        failed.join(", "),
                        failure.status,
                        failure.reply
                    ),
                ))
            })?;
            if let Some(r) = removed {
                self.unlink_removed(&[r])?;
            }
            Ok(known)
        })();
        if !matches!(outcome, Ok(true)) {
            if let Some(path) = &dsn_file {
                let _ = std::fs::remove_file(path);
            }
        }
        outcome
    }

    /// Runs `act` in one transaction when `id` has queue rows, with the count of its held rows
    /// and whether it is in quarantine; writes the trace event it names. False when unknown.
    fn queue_action(
        &self,
        id: &QueueId,
        act: impl FnOnce(&Transaction, i64, bool) -> Result<(&'static str, String)>,
    ) -> Result<bool> {
        let mut conn = self.admin_connection()?;
        // IMMEDIATE: it reads before it writes, and the server may commit in between.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (rows, held): (i64, i64) = tx.query_row(
            "SELECT count(*), count(*) FILTER (WHERE status = ?2) FROM queue WHERE message = ?1",
            params![id.0, Column::Held],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if rows == 0 {
            return Ok(false);
        }
        let quarantined = tx
            .prepare("SELECT 1 FROM quarantine WHERE message = ?1")?
            .exists([&id.0])?;
        let (event, detail) = act(&tx, held, quarantined)?;
        let (sender, message_id): (Option<String>, Option<String>) = tx
            .query_row(
                "SELECT sender, message_id FROM messages WHERE id = ?1",
                [&id.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((None, None));
        let mut e = TraceEvent::new(event, detail);
        e.queue_id = Some(id.0.clone());
        e.sender = sender;
        e.message_id = message_id;
        e.insert(&tx)?;
        tx.commit()?;
        Ok(true)
    }
}

/// A message in quarantine is the quarantine's to release or delete, not the queue's.
fn quarantined_error(id: &QueueId) -> StoreError {
    StoreError::Invalid(format!(
        "{id} is in quarantine; see `rampart quarantine show {id}` and release it \
         with `rampart quarantine release {id}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;
    use crate::{Enqueue, QueuedRecipient, SpoolFile, Writer};

    async fn queued(store: &Store, writer: &Writer, quarantine: bool) -> QueueId {
        let id = QueueId::generate();
        let rp = "Return-Path: <a@example.org>\r\n";
        let mut spool = SpoolFile::new(store, &id);
        spool.push(rp.as_bytes());
        spool.push(b"Subject: queue admin\r\n\r\nbody\r\n");
        let spooled = spool.finish().unwrap();
        store
            .enqueue(
                writer,
                Enqueue {
                    id: id.clone(),
                    sender: "a@example.org".into(),
                    size: spooled.size,
                    message_id: None,
                    return_path_len: rp.len(),
                    client: None,
                    recipients: vec![QueuedRecipient {
                        address: "b@remote.example".into(),
                        local: false,
                    }],
                    events: Vec::new(),
                    quarantine: quarantine.then(|| ("spam".to_string(), "{}".to_string())),
                    inline: spooled.inline,
                    deliver_local_now: false,
                    junk: false,
                    authenticated_from: None,
                },
            )
            .await
            .unwrap();
        id
    }

    fn due_ids(store: &Store) -> Vec<QueueId> {
        store.due(100).unwrap().into_iter().map(|m| m.id).collect()
    }

    #[tokio::test]
    async fn hold_keeps_a_message_from_delivery_until_release() {
        let dir = tempdir::Dir::new();
        let store = Store::open(dir.path()).unwrap();
        let (writer, _thread) = Writer::start(&store).unwrap();
        let id = queued(&store, &writer, false).await;
        assert_eq!(due_ids(&store), vec![id.clone()]);
        assert!(store.queue_hold(&id).unwrap());
        // The queue manager takes only what `due` returns: a held message is never attempted.
        assert!(due_ids(&store).is_empty());
        assert!(store.queue_retry_now(&id).is_err(), "held: release first");
        assert!(store.queue_hold(&id).is_err(), "nothing left to hold");
        assert!(store.queue_release(&id).unwrap());
        assert_eq!(due_ids(&store), vec![id.clone()]);
        assert!(store.queue_retry_now(&id).unwrap());
        assert!(store.queue_delete(&id).unwrap());
        assert!(due_ids(&store).is_empty());
        assert!(!store.queue_delete(&id).unwrap(), "gone: unknown now");
        assert!(
            store.message_bytes(&id, true).is_err(),
            "the message went too"
        );
        let events: Vec<String> = store
            .trace(&crate::TraceFilter {
                queue_id: Some(id.0.clone()),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        for e in ["hold", "release", "retry", "deleted"] {
            assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
        }
    }

    #[tokio::test]
    async fn quarantine_is_not_released_by_the_queue() {
        let dir = tempdir::Dir::new();
        let store = Store::open(dir.path()).unwrap();
        let (writer, _thread) = Writer::start(&store).unwrap();
        let id = queued(&store, &writer, true).await;
        let e = store.queue_release(&id).unwrap_err().to_string();
        assert!(e.contains("quarantine release"), "{e}");
        assert!(due_ids(&store).is_empty());
    }

    #[tokio::test]
    async fn bounce_fails_the_waiting_recipients_and_queues_the_dsn_in_one_commit() {
        let dir = tempdir::Dir::new();
        let store = Store::open(dir.path()).unwrap();
        let (writer, _thread) = Writer::start(&store).unwrap();
        let id = queued(&store, &writer, false).await;
        // A held message may be bounced too.
        assert!(store.queue_hold(&id).unwrap());
        let plan = store.queue_bounce_plan(&id).unwrap().unwrap();
        assert_eq!(plan.sender, "a@example.org");
        assert_eq!(plan.recipients, vec!["b@remote.example".to_string()]);
        let dsn = store
            .generated(
                &plan.sender,
                b"Subject: returned\r\n\r\nreturned\r\n".to_vec(),
                "dsn@test".into(),
                "test bounce",
            )
            .await
            .unwrap();
        let dsn_id = dsn.id.clone();
        let failure = Failure {
            status: "5.0.0".into(),
            reply: "delivery cancelled by the administrator".into(),
            remote_mta: None,
        };
        assert!(store.queue_bounce(&id, &failure, Some(dsn)).unwrap());
        // The original is gone; the DSN waits for delivery.
        assert!(store.message_bytes(&id, true).is_err());
        assert_eq!(due_ids(&store), vec![dsn_id]);
        assert!(store.queue_bounce_plan(&id).unwrap().is_none());
        let events = store
            .trace(&crate::TraceFilter {
                queue_id: Some(id.0.clone()),
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        let bounced = events.iter().find(|e| e.event == "bounced").unwrap();
        assert!(
            bounced.detail.contains("b@remote.example")
                && bounced
                    .detail
                    .contains("delivery cancelled by the administrator"),
            "{}",
            bounced.detail
        );
        // Unknown now: false, and a DSN prepared for it would not be queued.
        assert!(!store.queue_bounce(&id, &failure, None).unwrap());
    }

    #[tokio::test]
    async fn quarantine_is_not_bounced_by_the_queue() {
        let dir = tempdir::Dir::new();
        let store = Store::open(dir.path()).unwrap();
        let (writer, _thread) = Writer::start(&store).unwrap();
        let id = queued(&store, &writer, true).await;
        let e = store.queue_bounce_plan(&id).unwrap_err().to_string();
        assert!(e.contains("quarantine release"), "{e}");
        let failure = Failure {
            status: "5.0.0".into(),
            reply: "no".into(),
            remote_mta: None,
        };
        assert!(store.queue_bounce(&id, &failure, None).is_err());
        assert!(store.quarantine_get(&id.0).unwrap().is_some());
    }

    #[test]
    fn unknown_ids_answer_false() {
        let dir = tempdir::Dir::new();
        let store = Store::open(dir.path()).unwrap();
        let id = QueueId("0000000000000FFFF".into());
        assert!(!store.queue_retry_now(&id).unwrap());
        assert!(!store.queue_hold(&id).unwrap());
        assert!(!store.queue_release(&id).unwrap());
        assert!(!store.queue_delete(&id).unwrap());
    }
}
