//! When a stored message goes: the rule the queue, the quarantine and the mailboxes share. A
//! message (its `messages` row and its body) stays while a recipient is still queued or held, a
//! message is in quarantine, or an email of any account points at it; it goes, in the
//! transaction that removed its last reference, with the last. The same rule as the embedded
//! store's (`rampart_store::lifecycle`).

use crate::db;
use rampart_store::Result;
use tokio_postgres::Transaction;

/// Queue statuses that still need the message (as in SQLite's `queue.status` column).
const PENDING: [&str; 2] = ["queued", "held"];

/// Removes message `id` inside `tx` when nothing needs it any more: its finished queue rows once
/// no recipient is pending or held and it is not in quarantine, and the message with its body
/// once no email points at it either. Returns whether the message itself went.
pub async fn release_if_unreferenced(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    let row = tx
        .query_one(
            "SELECT (SELECT count(*) FROM queue WHERE message = $1 AND status = ANY($2)),
                    (SELECT count(*) FROM quarantine WHERE message = $1),
                    (SELECT count(*) FROM mail_emails WHERE message = $1)",
            &[&id, &&PENDING[..]],
        )
        .await
        .map_err(db)?;
    let (pending, held, emails): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    if pending > 0 || held > 0 {
        return Ok(false);
    }
    // Every recipient is done with: the queue rows have served their purpose.
    tx.execute("DELETE FROM queue WHERE message = $1", &[&id])
        .await
        .map_err(db)?;
    if emails > 0 {
        return Ok(false);
    }
    // The body goes with its row (ON DELETE CASCADE).
    let gone = tx
        .execute("DELETE FROM messages WHERE id = $1", &[&id])
        .await
        .map_err(db)?;
    Ok(gone > 0)
}
