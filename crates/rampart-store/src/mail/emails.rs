//! Emails: delivery into Inbox or Junk, get, keywords, mailbox membership, destroy, import,
//! copy, and the quota they count against.
//!
//! Single copy: an email points at its message (`messages`, inline or a file); delivering one
//! message to several users, or copying an email, adds rows, never bytes. A destroyed email
//! releases its message through the storage lifecycle, which removes it once no email, queue
//! row or quarantine row refers to it.

use super::changes::record;
use super::{account_key, write, Kind, MailError, MailResult, Op};
use crate::lifecycle::release_if_unreferenced;
use crate::queue::INLINE_MAX;
use crate::{io_err, now_micros, QueueId, Removed, Result, Store, Writer};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// An address of a From/To/Cc/Bcc header field (RFC 8621 section 4.1.2.3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub email: String,
}

/// One email as the JMAP layer sees it. The header facts are `None`/empty until the email has
/// been indexed ([`Store::index_pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRecord {
    pub id: i64,
    /// The stored message (the blob): shared by every email made from it.
    pub message: QueueId,
    pub thread: Option<i64>,
    pub mailboxes: Vec<i64>,
    /// Lower case, sorted.
    pub keywords: Vec<String>,
    /// Microseconds since the epoch.
    pub received_at: i64,
    pub size: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    /// The Date header field, seconds since the epoch.
    pub sent_at: Option<i64>,
    pub has_attachment: bool,
    pub preview: Option<String>,
}

/// Bytes an account uses and may use (RFC 9425, resource type "mail", scope "account").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The sizes of the account's emails; a message shared with another account counts for both.
    pub used: u64,
    pub limit: Option<u64>,
}

/// Inserts an email row (header facts pending) and records its creation.
pub(crate) fn insert_email(
    conn: &Connection,
    id: Option<i64>,
    account: &str,
    message: &str,
    received_at: i64,
    size: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO mail_emails(id, account, message, received_at, size) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, account, message, received_at, size])?;
    let id = conn.last_insert_rowid();
    record(conn, account, Kind::Email, id, Op::Created)?;
    Ok(id)
}

/// Puts email `email` into `mailbox`; records the change of the mailbox's counts. Returns false
/// when it was there already.
pub(crate) fn add_to_mailbox(
    conn: &Connection,
    account: &str,
    email: i64,
    mailbox: i64,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO mail_email_mailboxes(email, mailbox) VALUES (?1, ?2)",
        )?
        .execute(params![email, mailbox])?;
    if n > 0 {
        record(conn, account, Kind::Mailbox, mailbox, Op::Updated)?;
    }
    Ok(n > 0)
}

fn remove_from_mailbox(conn: &Connection, account: &str, email: i64, mailbox: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM mail_email_mailboxes WHERE email = ?1 AND mailbox = ?2")?
        .execute(params![email, mailbox])?;
    if n > 0 {
        record(conn, account, Kind::Mailbox, mailbox, Op::Updated)?;
    }
    Ok(n > 0)
}

/// Local delivery of message `message` to `account`, inside the delivery's transaction: the
/// email row, into the Junk mailbox when the gateway tagged the message as spam and the account
/// has one (and does not trust its authenticated From, [`crate::TrustedSenders`]), else into
/// the Inbox. The account gets its role mailboxes first if it has none.
pub(crate) fn deliver_email(
    conn: &Connection,
    account: &str,
    message: &str,
    now: i64,
) -> Result<(i64, crate::trusted_senders::Filed)> {
    let account = account_key(account);
    super::schema::ensure_mailboxes(conn, &account)?;
    let (size, junk, from): (i64, bool, Option<String>) = conn
        .prepare_cached("SELECT size, junk, authenticated_from FROM messages WHERE id = ?1")?
        .query_row([message], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    // AL-1.2: mail the spam check tagged is filed in Junk, out of the user's way, unless the
    // user trusts its authenticated From.
    let trusted = match (junk, from) {
        (true, Some(f)) => crate::trusted_senders::trusts(conn, &account, &f)?.then_some(f),
        _ => None,
    };
    let junk_box = if junk && trusted.is_none() {
        super::schema::role_mailbox(conn, &account, "junk")?
    } else {
        None
    };
    let target = match junk_box {
        Some(j) => j,
        None => super::schema::role_mailbox(conn, &account, "inbox")?.ok_or_else(|| {
            crate::StoreError::Invalid(format!("{account} has mailboxes but no Inbox"))
        })?,
    };
    let email = insert_email(conn, None, &account, message, now, size)?;
    add_to_mailbox(conn, &account, email, target)?;
    Ok((email, crate::trusted_senders::Filed::of(junk_box, trusted)))
}

/// The message and account-checked existence of an email.
fn email_message(conn: &Connection, account: &str, id: i64) -> MailResult<String> {
    conn.prepare_cached("SELECT message FROM mail_emails WHERE account = ?1 AND id = ?2")?
        .query_row(params![account, id], |r| r.get(0))
        .optional()?
        .ok_or(MailError::NotFound)
}

fn mailboxes_of(conn: &Connection, email: i64) -> Result<BTreeSet<i64>> {
    let mut st =
        conn.prepare_cached("SELECT mailbox FROM mail_email_mailboxes WHERE email = ?1")?;
    let rows = st.query_map([email], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn keywords_of(conn: &Connection, email: i64) -> Result<BTreeSet<String>> {
    let mut st = conn.prepare_cached("SELECT keyword FROM mail_keywords WHERE email = ?1")?;
    let rows = st.query_map([email], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// RFC 8621 section 4.1.1: a keyword is 1-255 characters of %x21-7E except `( ) { ] % * " \`;
/// Where a new email goes (Email/import, Email/copy): its mailboxes, at least one, and its
/// keywords, normalised.
pub fn placement(
    mailboxes: Vec<i64>,
    keywords: &[String],
) -> MailResult<(BTreeSet<i64>, BTreeSet<String>)> {
    let keywords = normalise_keywords(keywords)?;
    let mailboxes: BTreeSet<i64> = mailboxes.into_iter().collect();
    if mailboxes.is_empty() {
        return Err(MailError::InvalidProperties(
            "mailboxIds: at least one mailbox".into(),
        ));
    }
    Ok((mailboxes, keywords))
}

/// compared case-insensitively, so kept in lower case.
pub fn normalise_keywords(keywords: &[String]) -> MailResult<BTreeSet<String>> {
    keywords
        .iter()
        .map(|k| {
            let ok = !k.is_empty()
                && k.len() <= 255
                && k.bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && !b"(){]%*\"\\".contains(&b));
            if ok {
                Ok(k.to_ascii_lowercase())
            } else {
                Err(MailError::InvalidProperties(format!(
                    "keywords: {k:?} is not a keyword"
                )))
            }
        })
        .collect()
}

/// Checks that every mailbox id is one of `account`'s.
fn check_mailboxes(conn: &Connection, account: &str, ids: &BTreeSet<i64>) -> MailResult<()> {
    let mut st =
        conn.prepare_cached("SELECT 1 FROM mail_mailboxes WHERE account = ?1 AND id = ?2")?;
    for id in ids {
        if !st.exists(params![account, id])? {
            return Err(MailError::InvalidProperties(format!(
                "mailboxIds: no mailbox {id}"
            )));
        }
    }
    Ok(())
}

/// Replaces the keywords of `email`; records changes only when they differ. `$seen` changes
/// the unread counts of its mailboxes, so those change too.
fn replace_keywords(
    conn: &Connection,
    account: &str,
    email: i64,
    new: &BTreeSet<String>,
) -> Result<bool> {
    let old = keywords_of(conn, email)?;
    if &old == new {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM mail_keywords WHERE email = ?1")?
        .execute([email])?;
    let mut ins =
        conn.prepare_cached("INSERT INTO mail_keywords(email, keyword) VALUES (?1, ?2)")?;
    for k in new {
        ins.execute(params![email, k])?;
    }
    record(conn, account, Kind::Email, email, Op::Updated)?;
    if old.contains("$seen") != new.contains("$seen")
        || old.contains("$draft") != new.contains("$draft")
    {
        // unreadEmails of its mailboxes, and unreadThreads of every mailbox holding its thread.
        for m in mailboxes_of(conn, email)? {
            record(conn, account, Kind::Mailbox, m, Op::Updated)?;
        }
        let thread: Option<i64> = conn
            .prepare_cached("SELECT thread FROM mail_emails WHERE id = ?1")?
            .query_row([email], |r| r.get(0))?;
        if let Some(t) = thread {
            super::threads::thread_mailboxes_changed(conn, account, t, email)?;
        }
    }
    Ok(true)
}

/// Destroys `email` inside `conn`'s transaction: its rows, its search entry, its place in its
/// thread; and its message when nothing else refers to it (returned, to unlink after commit).
pub(crate) fn destroy_email(
    conn: &rusqlite::Transaction,
    account: &str,
    email: i64,
) -> MailResult<Option<Removed>> {
    let (message, thread): (String, Option<i64>) = conn
        .prepare_cached("SELECT message, thread FROM mail_emails WHERE account = ?1 AND id = ?2")?
        .query_row(params![account, email], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(MailError::NotFound)?;
    for m in mailboxes_of(conn, email)? {
        remove_from_mailbox(conn, account, email, m)?;
    }
    conn.prepare_cached("DELETE FROM mail_keywords WHERE email = ?1")?
        .execute([email])?;
    conn.prepare_cached("DELETE FROM mail_fts WHERE rowid = ?1")?
        .execute([email])?;
    conn.prepare_cached("DELETE FROM mail_emails WHERE id = ?1")?
        .execute([email])?;
    record(conn, account, Kind::Email, email, Op::Destroyed)?;
    if let Some(t) = thread {
        super::threads::email_left_thread(conn, account, t)?;
    }
    Ok(release_if_unreferenced(conn, &message)?)
}

impl Store {
    /// The emails `ids` of `account` that exist, in the order asked.
    pub fn email_get(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRecord>> {
        let account = account_key(account);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, message, thread, received_at, size, message_id, subject, from_json,
                        to_json, cc_json, bcc_json, sent_at, has_attachment, preview
                 FROM mail_emails WHERE account = ?1 AND id = ?2",
            )?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let row = st
                    .query_row(params![account, id], |r| {
                        let addrs = |i: usize| -> rusqlite::Result<Vec<EmailAddress>> {
                            let json: Option<String> = r.get(i)?;
                            Ok(json
                                .and_then(|j| serde_json::from_str(&j).ok())
                                .unwrap_or_default())
                        };
                        Ok(EmailRecord {
                            id: r.get(0)?,
                            message: QueueId(r.get(1)?),
                            thread: r.get(2)?,
                            mailboxes: Vec::new(),
                            keywords: Vec::new(),
                            received_at: r.get(3)?,
                            size: r.get(4)?,
                            message_id: r.get(5)?,
                            subject: r.get(6)?,
                            from: addrs(7)?,
                            to: addrs(8)?,
                            cc: addrs(9)?,
                            bcc: addrs(10)?,
                            sent_at: r.get(11)?,
                            has_attachment: r.get(12)?,
                            preview: r.get(13)?,
                        })
                    })
                    .optional()?;
                if let Some(mut e) = row {
                    e.mailboxes = mailboxes_of(c, e.id)?.into_iter().collect();
                    e.keywords = keywords_of(c, e.id)?.into_iter().collect();
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    /// Sets the keywords of an email (Email/set `keywords`). Returns whether anything changed:
    /// setting the keywords it has already changes no state.
    pub async fn email_set_keywords(
        &self,
        writer: &Writer,
        account: &str,
        id: i64,
        keywords: Vec<String>,
    ) -> MailResult<bool> {
        let account = account_key(account);
        let new = normalise_keywords(&keywords)?;
        write(writer, false, move |tx| {
            email_message(tx, &account, id)?;
            Ok(replace_keywords(tx, &account, id, &new)?)
        })
        .await
    }

    /// Sets the mailboxes of an email (Email/set `mailboxIds`: a move or a copy within the
    /// account). An empty set destroys the email (RFC 8621 section 4.1.1: an email is in at least
    /// one mailbox). Returns whether anything changed.
    pub async fn email_set_mailboxes(
        &self,
        writer: &Writer,
        account: &str,
        id: i64,
        mailboxes: Vec<i64>,
    ) -> MailResult<bool> {
        let account = account_key(account);
        let new: BTreeSet<i64> = mailboxes.into_iter().collect();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let changed = write(writer, false, move |tx| {
            email_message(tx, &account, id)?;
            if new.is_empty() {
                let _ = done_tx.send(destroy_email(tx, &account, id)?);
                return Ok(true);
            }
            check_mailboxes(tx, &account, &new)?;
            let old = mailboxes_of(tx, id)?;
            if old == new {
                return Ok(false);
            }
            for m in old.difference(&new) {
                remove_from_mailbox(tx, &account, id, *m)?;
            }
            for m in new.difference(&old) {
                add_to_mailbox(tx, &account, id, *m)?;
            }
            record(tx, &account, Kind::Email, id, Op::Updated)?;
            Ok(true)
        })
        .await?;
        if let Ok(Some(r)) = done_rx.try_recv() {
            self.unlink_removed(&[r])?;
        }
        Ok(changed)
    }

    /// Destroys emails (Email/set `destroy`): a hard delete. The message goes with the last
    /// email (of any account) that refers to it. Returns, per id, whether it existed.
    pub async fn email_destroy(
        &self,
        writer: &Writer,
        account: &str,
        ids: Vec<i64>,
    ) -> MailResult<Vec<bool>> {
        let account = account_key(account);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let found = write(writer, false, move |tx| {
            let mut found = Vec::with_capacity(ids.len());
            let mut removed = Vec::new();
            for id in ids {
                match destroy_email(tx, &account, id) {
                    Ok(r) => {
                        removed.extend(r);
                        found.push(true);
                    }
                    Err(MailError::NotFound) => found.push(false),
                    Err(e) => return Err(e),
                }
            }
            let _ = done_tx.send(removed);
            Ok(found)
        })
        .await?;
        self.unlink_removed(&done_rx.try_recv().unwrap_or_default())?;
        Ok(found)
    }

    /// Imports a raw message into `account` (Email/import; a draft, a Sent copy): stores it as a
    /// new message, inline or in a file as delivery would, with the given mailboxes and keywords,
    /// and indexes it at once. `received_at` in microseconds, now when `None`.
    pub async fn email_import(
        &self,
        writer: &Writer,
        account: &str,
        raw: Vec<u8>,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
        received_at: Option<i64>,
    ) -> MailResult<i64> {
        let account = account_key(account);
        let (mailboxes, keywords) = placement(mailboxes, &keywords)?;
        let quota = self.quota_get(&account)?;
        if quota
            .limit
            .is_some_and(|l| quota.used + raw.len() as u64 > l)
        {
            return Err(MailError::OverQuota);
        }
        let facts = super::index::Facts::parse(&raw);
        let id = QueueId::generate();
        let size = raw.len() as i64;
        let inline = if raw.len() <= INLINE_MAX {
            Some(raw)
        } else {
            let path = self.message_path(&id);
            write_file(path, raw).await?;
            None
        };
        let has_file = inline.is_none();
        let received_at = received_at.unwrap_or_else(now_micros);
        let msg_id = id.0.clone();
        let out = write(writer, has_file, move |tx| {
            check_mailboxes(tx, &account, &mailboxes)?;
            tx.prepare_cached(
                "INSERT INTO messages(id, received, sender, size, message_id, return_path_len, client)
                 VALUES (?1, ?2, '', ?3, ?4, 0, NULL)",
            )?
            .execute(params![msg_id, received_at, size, facts.message_id])?;
            if let Some(data) = &inline {
                tx.prepare_cached("INSERT INTO message_bodies(id, data) VALUES (?1, ?2)")?
                    .execute(params![msg_id, data])?;
            }
            let email = insert_email(tx, None, &account, &msg_id, received_at, size)?;
            for m in &mailboxes {
                add_to_mailbox(tx, &account, email, *m)?;
            }
            replace_keywords(tx, &account, email, &keywords)?;
            super::index::store_facts(tx, &account, email, &facts)?;
            Ok(email)
        })
        .await;
        if out.is_err() && has_file {
            // Nothing refers to the file: it goes now rather than at the next start.
            let _ = std::fs::remove_file(self.message_path(&id));
        }
        out
    }

    /// Copies an email into another account (Email/copy): a new email there, pointing at the
    /// same stored message. Returns the new email's id.
    pub async fn email_copy(
        &self,
        writer: &Writer,
        from_account: &str,
        id: i64,
        to_account: &str,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
    ) -> MailResult<i64> {
        let (from, to) = (account_key(from_account), account_key(to_account));
        let (mailboxes, keywords) = placement(mailboxes, &keywords)?;
        let source = self
            .email_get(&from, &[id])?
            .pop()
            .ok_or(MailError::NotFound)?;
        let quota = self.quota_get(&to)?;
        if quota
            .limit
            .is_some_and(|l| quota.used + source.size as u64 > l)
        {
            return Err(MailError::OverQuota);
        }
        write(writer, false, move |tx| {
            check_mailboxes(tx, &to, &mailboxes)?;
            // Still there: the read above was outside this transaction.
            email_message(tx, &from, id)?;
            let email = insert_email(
                tx,
                None,
                &to,
                &source.message.0,
                source.received_at,
                source.size,
            )?;
            for m in &mailboxes {
                add_to_mailbox(tx, &to, email, *m)?;
            }
            replace_keywords(tx, &to, email, &keywords)?;
            Ok(email)
        })
        .await
    }

    /// The quota of `account`: bytes used and the limit, if one is set.
    pub fn quota_get(&self, account: &str) -> Result<Quota> {
        let account = account_key(account);
        self.read(|c| {
            let used: i64 = c
                .prepare_cached(
                    "SELECT coalesce(sum(size), 0) FROM mail_emails WHERE account = ?1",
                )?
                .query_row([&account], |r| r.get(0))?;
            let limit: Option<i64> = c
                .prepare_cached("SELECT limit_bytes FROM mail_quotas WHERE account = ?1")?
                .query_row([&account], |r| r.get(0))
                .optional()?
                .flatten();
            Ok(Quota {
                used: used.max(0) as u64,
                limit: limit.map(|l| l.max(0) as u64),
            })
        })
    }

    /// Sets (or with `None` removes) the byte limit of `account`.
    pub async fn quota_set_limit(
        &self,
        writer: &Writer,
        account: &str,
        limit: Option<u64>,
    ) -> Result<()> {
        let account = account_key(account);
        writer
            .run(false, move |tx| {
                tx.execute(
                    "INSERT INTO mail_quotas(account, limit_bytes) VALUES (?1, ?2)
                     ON CONFLICT(account) DO UPDATE SET limit_bytes = excluded.limit_bytes",
                    params![account, limit.map(|l| l.min(i64::MAX as u64) as i64)],
                )?;
                Ok(())
            })
            .await
    }
}

/// Writes an imported message's file, owner-only, and fsyncs it (the writer syncs the directory).
async fn write_file(path: std::path::PathBuf, data: Vec<u8>) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(&data).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))
    })
    .await
    .map_err(|e| crate::StoreError::Invalid(e.to_string()))?
}
