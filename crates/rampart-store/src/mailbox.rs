//! Every email of a user, for `rampart mailbox list/show`: a flat view over the mail model
//! ([`crate::mail`]), whichever mailboxes hold them.

use crate::{QueueId, Result, Store};
use rusqlite::{params, OptionalExtension};

/// One message in a mailbox.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailboxEntry {
    pub id: i64,
    pub queue_id: String,
    pub delivered: i64,
    pub sender: String,
    pub size: i64,
    pub message_id: Option<String>,
}

impl Store {
    pub fn mailbox_list(&self, user: &str) -> Result<Vec<MailboxEntry>> {
        let user = user.to_ascii_lowercase();
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT e.id, e.message, e.received_at, m.sender, m.size, m.message_id
                 FROM mail_emails e JOIN messages m ON m.id = e.message WHERE e.account = ?1
                 ORDER BY e.id",
            )?;
            let rows = st.query_map([user], |r| {
                Ok(MailboxEntry {
                    id: r.get(0)?,
                    queue_id: r.get(1)?,
                    delivered: r.get(2)?,
                    sender: r.get(3)?,
                    size: r.get(4)?,
                    message_id: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The message `id` of `user`'s mailbox, as stored (Return-Path first).
    pub fn mailbox_message(&self, user: &str, id: i64) -> Result<Option<Vec<u8>>> {
        let user = user.to_ascii_lowercase();
        let qid: Option<String> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT message FROM mail_emails WHERE account = ?1 AND id = ?2")?
                    .query_row(params![user, id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        match qid {
            Some(q) => Ok(Some(self.message_bytes(&QueueId(q), true)?)),
            None => Ok(None),
        }
    }
}
