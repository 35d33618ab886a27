//! Storage lifecycle: a message is removed once nothing refers to it any more.
//!
//! What refers to a message:
//! - a queue row still to be delivered (`queued`) or held in quarantine (`held`);
//! - a quarantine row (kept until an administrator releases or deletes it);
//! - an email of an account (`mail_emails`, see [`crate::mail`]): the one stored copy stays until
//!   every account holding it has destroyed its email.
//!
//! When a message's last queue row is final (delivered or bounced — the bounce is queued before
//! the failure is recorded — or expired), its queue rows go. When, in addition, no mailbox holds
//! it, its `messages` row and inline body go too, in the same transaction as the change that
//! released it. A message kept in a file loses its file only after that commit: if the server
//! dies in between, the file has no row and [`Store::remove_orphans`] sweeps it at the next start.
//! So a row always has its message, and a file left without a row is one nobody needs.

use crate::status::Column;
use crate::{io_err, QueueId, Result, Store};
use rusqlite::{params, Transaction};

/// A message whose rows were removed in a transaction: its file (if it has one) is unlinked once
/// that transaction is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub id: QueueId,
    /// The message was in a file of its own (not inline in the database).
    pub has_file: bool,
}

/// Inside `tx`: drops the queue rows of message `id` once every one of them is final, and the
/// message itself once no mailbox and no quarantine holds it either. Returns the message when it
/// was removed, so that the caller unlinks its file after the commit ([`Store::unlink_removed`]).
pub(crate) fn release_if_unreferenced(tx: &Transaction, id: &str) -> Result<Option<Removed>> {
    let (pending, held, mailboxes): (i64, i64, i64) = tx
        .prepare_cached(
            "SELECT (SELECT count(*) FROM queue WHERE message = ?1 AND status IN (?2, ?3)),
                    (SELECT count(*) FROM quarantine WHERE message = ?1),
                    (SELECT count(*) FROM mail_emails WHERE message = ?1)",
        )?
        .query_row(params![id, Column::Queued, Column::Held], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if pending > 0 || held > 0 {
        return Ok(None);
    }
    // Every recipient is done with: the queue rows have served their purpose.
    tx.prepare_cached("DELETE FROM queue WHERE message = ?1")?
        .execute([id])?;
    if mailboxes > 0 {
        return Ok(None);
    }
    let inline = tx
        .prepare_cached("DELETE FROM message_bodies WHERE id = ?1")?
        .execute([id])?
        > 0;
    let gone = tx
        .prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?
        > 0;
    Ok(gone.then(|| Removed {
        id: QueueId(id.to_string()),
        has_file: !inline,
    }))
}

impl Store {
    /// Unlinks the files of messages whose rows a committed transaction removed. Call only after
    /// that commit: before it, a crash would leave rows without their message.
    pub fn unlink_removed(&self, removed: &[Removed]) -> Result<()> {
        for r in removed.iter().filter(|r| r.has_file) {
            let path = self.message_path(&r.id);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(&path)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes email `id` of `user` (every mailbox of it): drops that reference, and the stored
    /// copy with it when it was the last. Returns false when the user has no such email.
    pub fn mailbox_delete(&self, user: &str, id: i64) -> Result<bool> {
        let user = user.to_ascii_lowercase();
        let mut conn = self.admin_connection()?;
        // IMMEDIATE: it reads before it writes, and the server may commit in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let removed = match crate::mail::destroy_email(&tx, &user, id) {
            Ok(r) => r,
            Err(crate::mail::MailError::NotFound) => return Ok(false),
            Err(crate::mail::MailError::Store(e)) => return Err(e),
            Err(e) => return Err(crate::StoreError::Invalid(e.to_string())),
        };
        tx.commit()?;
        if let Some(r) = removed {
            self.unlink_removed(&[r])?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
