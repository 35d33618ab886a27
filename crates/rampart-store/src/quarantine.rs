//! Quarantine: messages held by a check (AL-1.2, AL-1.4, AL-1.5, AL-2.4) until an administrator
//! releases or deletes them. A held message is an ordinary queued message whose recipients have
//! the status `held`; release turns them to `queued`, so delivery takes its usual path. Every
//! action is a trace event.

use crate::status::Column;
use crate::{now_micros, QueueId, Result, Store, StoreError, TraceEvent};
use rusqlite::{params, OptionalExtension};

/// One held message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Held {
    pub queue_id: String,
    pub held: i64,
    pub sender: String,
    pub recipients: Vec<String>,
    pub size: i64,
    pub message_id: Option<String>,
    pub reason: String,
    pub verdicts: String,
}

impl Store {
    pub fn quarantine_list(&self) -> Result<Vec<Held>> {
        let ids: Vec<String> = self.read(|c| {
            let mut st = c.prepare("SELECT message FROM quarantine ORDER BY held, message")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        ids.iter()
            .filter_map(|id| self.quarantine_get(id).transpose())
            .collect()
    }

    pub fn quarantine_get(&self, id: &str) -> Result<Option<Held>> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT q.held, m.sender, m.size, m.message_id, q.reason, q.verdicts
                     FROM quarantine q JOIN messages m ON m.id = q.message WHERE q.message = ?1",
                )?
                .query_row([id], |r| {
                    Ok(Held {
                        queue_id: id.to_string(),
                        held: r.get(0)?,
                        sender: r.get(1)?,
                        recipients: Vec::new(),
                        size: r.get(2)?,
                        message_id: r.get(3)?,
                        reason: r.get(4)?,
                        verdicts: r.get(5)?,
                    })
                })
                .optional()?;
            let Some(mut held) = row else { return Ok(None) };
            let mut st = c.prepare_cached(
                "SELECT recipient FROM queue WHERE message = ?1 ORDER BY recipient",
            )?;
            held.recipients = st
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(held))
        })
    }

    /// Releases a held message for delivery. `by` names who did it, for the trace.
    pub fn quarantine_release(&self, id: &str, by: &str) -> Result<()> {
        let held = self.quarantine_get(id)?.ok_or_else(|| not_held(id))?;
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE queue SET status = ?3, next_attempt = ?2 WHERE message = ?1 AND status = ?4",
            params![id, now_micros(), Column::Queued, Column::Held],
        )?;
        tx.execute("DELETE FROM quarantine WHERE message = ?1", [id])?;
        tx.execute("UPDATE messages SET released = 1 WHERE id = ?1", [id])?;
        event(
            &held,
            "released",
            format!("released from quarantine by {by} for delivery"),
        )
        .insert(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a held message: its rows and its file.
    pub fn quarantine_delete(&self, id: &str, by: &str) -> Result<()> {
        let held = self.quarantine_get(id)?.ok_or_else(|| not_held(id))?;
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM queue WHERE message = ?1 AND status = ?2",
            params![id, Column::Held],
        )?;
        tx.execute("DELETE FROM quarantine WHERE message = ?1", [id])?;
        // Delivered copies (mailboxes) keep it; otherwise it goes with its last reference.
        let removed = crate::lifecycle::release_if_unreferenced(&tx, id)?;
        event(&held, "deleted", format!("deleted from quarantine by {by}")).insert(&tx)?;
        tx.commit()?;
        if let Some(r) = removed {
            self.unlink_removed(&[r])?;
        }
        Ok(())
    }
}

impl Store {
    /// Holds a queued message at delivery time (a check found it bad after it was accepted).
    pub async fn hold(
        &self,
        writer: &crate::Writer,
        id: &QueueId,
        message_id: Option<String>,
        reason: String,
        verdicts: String,
    ) -> Result<()> {
        let id = id.0.clone();
        writer
            .run(false, move |tx| {
                let n = tx.execute(
                    "UPDATE queue SET status = ?2 WHERE message = ?1 AND status = ?3",
                    params![id, Column::Held, Column::Queued],
                )?;
                if n > 0 {
                    tx.execute(
                        "INSERT OR REPLACE INTO quarantine(message, held, reason, verdicts) VALUES (?1, ?2, ?3, ?4)",
                        params![id, now_micros(), reason, verdicts],
                    )?;
                    let mut e = TraceEvent::new("quarantined", format!("held at delivery: {reason}"));
                    e.queue_id = Some(id.clone());
                    e.message_id = message_id;
                    e.insert(tx)?;
                }
                Ok(())
            })
            .await
    }
}

fn not_held(id: &str) -> StoreError {
    StoreError::Invalid(format!(
        "no message {id} in quarantine; see `rampart quarantine list`"
    ))
}

fn event(held: &Held, kind: &str, detail: String) -> TraceEvent {
    let mut e = TraceEvent::new(kind, detail);
    e.queue_id = Some(held.queue_id.clone());
    e.message_id = held.message_id.clone();
    e.sender = Some(held.sender.clone());
    e
}
