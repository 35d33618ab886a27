//! Threads (RFC 8621 section 3). The RFC leaves the algorithm to the server; ours:
//!
//! An email joins the thread of any Message-ID it shares with the account's earlier mail — its
//! own Message-ID (a reply that arrived first named it) or one of its In-Reply-To and
//! References — provided its normalised subject (no `Re:`/`Fwd:`/list tags, lower case) is the
//! thread's. Otherwise it starts a thread. The subject rule keeps unrelated mail out of a
//! thread when a client reuses a reply to start a new conversation, at the cost of splitting a
//! conversation whose subject was changed. Threads are never merged: an email's thread id does
//! not change once given (RFC 8621 section 4.1.1, threadId is immutable).

use super::changes::record;
use super::index::Facts;
use super::{account_key, Kind, Op};
use crate::{Result, Store};
use rusqlite::{params, Connection, OptionalExtension};

/// Puts `email` into its thread (see the module doc) and notes its Message-IDs for the emails
/// that come later.
pub(crate) fn assign(conn: &Connection, account: &str, email: i64, f: &Facts) -> Result<i64> {
    let ids: Vec<&String> = f.message_id.iter().chain(f.refs.iter()).collect();
    let mut found = None;
    {
        let mut st = conn.prepare_cached(
            "SELECT t.id FROM mail_thread_refs r JOIN mail_threads t ON t.id = r.thread
             WHERE r.account = ?1 AND r.message_id = ?2 AND t.subject = ?3",
        )?;
        for id in &ids {
            if let Some(t) = st
                .query_row(params![account, id, f.sort_subject], |r| r.get::<_, i64>(0))
                .optional()?
            {
                // The oldest of the candidate threads, so the choice does not depend on order.
                found = Some(found.map_or(t, |f: i64| f.min(t)));
            }
        }
    }
    let thread = match found {
        Some(t) => {
            record(conn, account, Kind::Thread, t, Op::Updated)?;
            // The thread's mailboxes may count one more unread thread now.
            thread_mailboxes_changed(conn, account, t, email)?;
            t
        }
        None => {
            conn.prepare_cached("INSERT INTO mail_threads(account, subject) VALUES (?1, ?2)")?
                .execute(params![account, f.sort_subject])?;
            let t = conn.last_insert_rowid();
            record(conn, account, Kind::Thread, t, Op::Created)?;
            t
        }
    };
    conn.prepare_cached("UPDATE mail_emails SET thread = ?2 WHERE id = ?1")?
        .execute(params![email, thread])?;
    let mut note = conn.prepare_cached(
        "INSERT OR IGNORE INTO mail_thread_refs(account, message_id, thread) VALUES (?1, ?2, ?3)",
    )?;
    for id in ids {
        note.execute(params![account, id, thread])?;
    }
    Ok(thread)
}

/// An email of thread `thread` was destroyed: the thread changed, or is gone with its last email.
pub(crate) fn email_left_thread(conn: &Connection, account: &str, thread: i64) -> Result<()> {
    let left = conn
        .prepare_cached("SELECT 1 FROM mail_emails WHERE thread = ?1 LIMIT 1")?
        .exists([thread])?;
    if left {
        record(conn, account, Kind::Thread, thread, Op::Updated)?;
        thread_mailboxes_changed(conn, account, thread, 0)?;
    } else {
        conn.prepare_cached("DELETE FROM mail_thread_refs WHERE thread = ?1")?
            .execute([thread])?;
        conn.prepare_cached("DELETE FROM mail_threads WHERE id = ?1")?
            .execute([thread])?;
        record(conn, account, Kind::Thread, thread, Op::Destroyed)?;
    }
    Ok(())
}

/// The thread's unread state may have changed: every mailbox holding one of its emails (other
/// than `except`, whose own mailboxes the caller records) has new counts (RFC 8621 section 2:
/// unreadThreads), so a changed Mailbox state.
pub(crate) fn thread_mailboxes_changed(
    conn: &Connection,
    account: &str,
    thread: i64,
    except: i64,
) -> Result<()> {
    let boxes: Vec<i64> = {
        let mut st = conn.prepare_cached(
            "SELECT DISTINCT x.mailbox FROM mail_emails e
             JOIN mail_email_mailboxes x ON x.email = e.id WHERE e.thread = ?1 AND e.id != ?2",
        )?;
        let rows = st.query_map(params![thread, except], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for m in boxes {
        record(conn, account, Kind::Mailbox, m, Op::Updated)?;
    }
    Ok(())
}

impl Store {
    /// Thread/get: for each thread of `account` that exists, its email ids oldest first
    /// (RFC 8621 section 3: sorted by receivedAt).
    pub fn thread_get(&self, account: &str, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>> {
        let account = account_key(account);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM mail_emails WHERE account = ?1 AND thread = ?2
                 ORDER BY received_at, id",
            )?;
            let mut out = Vec::new();
            for t in ids {
                let rows = st.query_map(params![account, t], |r| r.get(0))?;
                let emails: Vec<i64> = rows.collect::<rusqlite::Result<_>>()?;
                if !emails.is_empty() {
                    out.push((*t, emails));
                }
            }
            Ok(out)
        })
    }
}
