//! Emails on PostgreSQL: local delivery into Inbox or Junk, get, keywords, mailbox membership,
//! destroy, import, copy and the quota, as the embedded store's `mail::emails`.
//!
//! Single copy: an email points at its message (`messages` and its body in `message_bodies`);
//! delivering one message to several accounts, or copying an email, adds rows, never bytes. The
//! message goes with its last reference ([`crate::lifecycle::release_if_unreferenced`]).

use super::changes::{record, Op};
use super::mailboxes::{ensure_mailboxes, no_inbox, role_mailbox};
use super::{account_key, lock_account, mdb, notify, ALL};
use crate::db;
use crate::lifecycle::release_if_unreferenced;
use rampart_store::mail::{EmailAddress, EmailRecord, Kind, MailError, MailResult, Quota};
use rampart_store::trusted_senders::Filed;
use rampart_store::{QueueId, Result};
use std::collections::BTreeSet;
use tokio_postgres::{GenericClient, Transaction};

/// Inserts an email row (header facts pending) and records its creation.
pub(crate) async fn insert_email(
    tx: &Transaction<'_>,
    account: &str,
    message: &str,
    received_at: i64,
    size: i64,
) -> Result<i64> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO mail_emails(account, message, received_at, size) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[&account, &message, &received_at, &size],
        )
        .await
        .map_err(db)?
        .get(0);
    record(tx, account, Kind::Email, id, Op::Created).await?;
    Ok(id)
}

/// Puts `email` into `mailbox`; records the change of the mailbox's counts. False when it was
/// there already.
pub(crate) async fn add_to_mailbox(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
    mailbox: i64,
) -> Result<bool> {
    let n = tx
        .execute(
            "INSERT INTO mail_email_mailboxes(email, mailbox) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&email, &mailbox],
        )
        .await
        .map_err(db)?;
    if n > 0 {
        record(tx, account, Kind::Mailbox, mailbox, Op::Updated).await?;
    }
    Ok(n > 0)
}

async fn remove_from_mailbox(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
    mailbox: i64,
) -> Result<bool> {
    let n = tx
        .execute(
            "DELETE FROM mail_email_mailboxes WHERE email = $1 AND mailbox = $2",
            &[&email, &mailbox],
        )
        .await
        .map_err(db)?;
    if n > 0 {
        record(tx, account, Kind::Mailbox, mailbox, Op::Updated).await?;
    }
    Ok(n > 0)
}

/// Local delivery of stored message `message` to `account`, inside the delivery's transaction
/// `tx` (the queue's, whose commit is the delivery): the account's role mailboxes if it has none,
/// the email row in Junk when the gateway tagged the message as spam (`messages.junk`) and the
/// account has a Junk mailbox, else in the Inbox, the change log, and the notification that
/// tells every node's push feed once `tx` commits. Returns the email's id.
///
/// It takes the account's write lock (see [`super::lock_account`]): a transaction delivering to
/// several accounts should call it in sorted account order.
// The queue's local delivery calls it (and, until that is in this crate, the test cluster).
#[cfg_attr(not(feature = "test-cluster"), allow(dead_code))]
pub(crate) async fn deliver_email(
    tx: &Transaction<'_>,
    account: &str,
    message: &str,
    now: i64,
) -> Result<(i64, Filed)> {
    let account = account_key(account);
    lock_account(tx, &account).await?;
    ensure_mailboxes(tx, &account).await?;
    let row = tx
        .query_one(
            "SELECT size, junk, authenticated_from,
                    EXISTS (SELECT 1 FROM spam_trusted_senders t
                            WHERE t.account = $2 AND t.address = m.authenticated_from)
             FROM messages m WHERE id = $1",
            &[&message, &account],
        )
        .await
        .map_err(db)?;
    let (size, junk): (i64, bool) = (row.get(0), row.get(1));
    // AL-1.2: mail the spam check tagged is filed in Junk, out of the user's way, unless the
    // user trusts its authenticated From.
    let trusted = match (junk, row.get::<_, Option<String>>(2), row.get::<_, bool>(3)) {
        (true, Some(from), true) => Some(from),
        _ => None,
    };
    let junk_box = if junk && trusted.is_none() {
        role_mailbox(tx, &account, "junk").await?
    } else {
        None
    };
    let target = match junk_box {
        Some(j) => j,
        None => role_mailbox(tx, &account, "inbox")
            .await?
            .ok_or_else(|| no_inbox(&account))?,
    };
    let email = insert_email(tx, &account, message, now, size).await?;
    add_to_mailbox(tx, &account, email, target).await?;
    notify(tx, &account, &ALL).await?;
    Ok((email, Filed::of(junk_box, trusted)))
}

/// The account-checked existence of an email: its message.
async fn email_message(tx: &Transaction<'_>, account: &str, id: i64) -> MailResult<String> {
    tx.query_opt(
        "SELECT message FROM mail_emails WHERE account = $1 AND id = $2",
        &[&account, &id],
    )
    .await
    .map_err(mdb)?
    .map(|r| r.get(0))
    .ok_or(MailError::NotFound)
}

async fn mailboxes_of<C: GenericClient + Sync>(c: &C, email: i64) -> Result<BTreeSet<i64>> {
    Ok(c.query(
        "SELECT mailbox FROM mail_email_mailboxes WHERE email = $1",
        &[&email],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

async fn keywords_of<C: GenericClient + Sync>(c: &C, email: i64) -> Result<BTreeSet<String>> {
    Ok(c.query(
        "SELECT keyword FROM mail_keywords WHERE email = $1",
        &[&email],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Checks that every mailbox id is one of `account`'s.
async fn check_mailboxes(
    tx: &Transaction<'_>,
    account: &str,
    ids: &BTreeSet<i64>,
) -> MailResult<()> {
    let list: Vec<i64> = ids.iter().copied().collect();
    let found: BTreeSet<i64> = tx
        .query(
            "SELECT id FROM mail_mailboxes WHERE account = $1 AND id = ANY($2)",
            &[&account, &list],
        )
        .await
        .map_err(mdb)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    match ids.iter().find(|id| !found.contains(id)) {
        Some(id) => Err(MailError::InvalidProperties(format!(
            "mailboxIds: no mailbox {id}"
        ))),
        None => Ok(()),
    }
}

/// Replaces the keywords of `email`; records changes only when they differ. `$seen` and
/// `$draft` change the unread counts of its mailboxes and of its thread's, so those change too.
async fn replace_keywords(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
    new: &BTreeSet<String>,
) -> Result<bool> {
    let old = keywords_of(tx, email).await?;
    if &old == new {
        return Ok(false);
    }
    tx.execute("DELETE FROM mail_keywords WHERE email = $1", &[&email])
        .await
        .map_err(db)?;
    let list: Vec<&str> = new.iter().map(String::as_str).collect();
    tx.execute(
        "INSERT INTO mail_keywords(email, keyword) SELECT $1, k FROM unnest($2::text[]) AS k",
        &[&email, &list],
    )
    .await
    .map_err(db)?;
    record(tx, account, Kind::Email, email, Op::Updated).await?;
    if old.contains("$seen") != new.contains("$seen")
        || old.contains("$draft") != new.contains("$draft")
    {
        for m in mailboxes_of(tx, email).await? {
            record(tx, account, Kind::Mailbox, m, Op::Updated).await?;
        }
        let thread: Option<i64> = tx
            .query_one("SELECT thread FROM mail_emails WHERE id = $1", &[&email])
            .await
            .map_err(db)?
            .get(0);
        if let Some(t) = thread {
            super::threads::thread_mailboxes_changed(tx, account, t, email).await?;
        }
    }
    Ok(true)
}

/// Destroys `email` of `account` inside `tx`: its rows (search entry and keywords go by
/// cascade), its place in its thread, and its message when nothing else refers to it.
pub(crate) async fn destroy_email(
    tx: &Transaction<'_>,
    account: &str,
    email: i64,
) -> MailResult<()> {
    let row = tx
        .query_opt(
            "SELECT message, thread FROM mail_emails WHERE account = $1 AND id = $2",
            &[&account, &email],
        )
        .await
        .map_err(mdb)?
        .ok_or(MailError::NotFound)?;
    let (message, thread): (String, Option<i64>) = (row.get(0), row.get(1));
    for m in mailboxes_of(tx, email).await? {
        remove_from_mailbox(tx, account, email, m).await?;
    }
    tx.execute("DELETE FROM mail_emails WHERE id = $1", &[&email])
        .await
        .map_err(mdb)?;
    record(tx, account, Kind::Email, email, Op::Destroyed).await?;
    if let Some(t) = thread {
        super::threads::email_left_thread(tx, account, t).await?;
    }
    release_if_unreferenced(tx, &message).await?;
    Ok(())
}

/// The emails `ids` of `account` that exist, in the order asked.
pub(crate) async fn email_get<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    ids: &[i64],
) -> Result<Vec<EmailRecord>> {
    let rows = c
        .query(
            "SELECT id, message, thread, received_at, size, message_id, subject, from_json,
                    to_json, cc_json, bcc_json, sent_at, has_attachment, preview,
                    ARRAY(SELECT mailbox FROM mail_email_mailboxes x WHERE x.email = e.id
                          ORDER BY mailbox),
                    ARRAY(SELECT keyword FROM mail_keywords k WHERE k.email = e.id
                          ORDER BY keyword COLLATE \"C\")
             FROM mail_emails e WHERE account = $1 AND id = ANY($2)",
            &[&account, &ids],
        )
        .await
        .map_err(db)?;
    let by_id: std::collections::HashMap<i64, EmailRecord> = rows
        .iter()
        .map(|r| {
            let addrs = |i: usize| -> Vec<EmailAddress> {
                r.get::<_, Option<String>>(i)
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default()
            };
            let e = EmailRecord {
                id: r.get(0),
                message: QueueId(r.get(1)),
                thread: r.get(2),
                mailboxes: r.get(14),
                keywords: r.get(15),
                received_at: r.get(3),
                size: r.get(4),
                message_id: r.get(5),
                subject: r.get(6),
                from: addrs(7),
                to: addrs(8),
                cc: addrs(9),
                bcc: addrs(10),
                sent_at: r.get(11),
                has_attachment: r.get(12),
                preview: r.get(13),
            };
            (e.id, e)
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
}

/// Email/set `keywords`, inside `tx`. Whether anything changed.
pub(crate) async fn set_keywords(
    tx: &Transaction<'_>,
    account: &str,
    id: i64,
    new: &BTreeSet<String>,
) -> MailResult<bool> {
    email_message(tx, account, id).await?;
    Ok(replace_keywords(tx, account, id, new).await?)
}

/// Email/set `mailboxIds`, inside `tx`: a move or a copy within the account; an empty set
/// destroys the email (RFC 8621 section 4.1.1: an email is in at least one mailbox).
pub(crate) async fn set_mailboxes(
    tx: &Transaction<'_>,
    account: &str,
    id: i64,
    new: &BTreeSet<i64>,
) -> MailResult<bool> {
    email_message(tx, account, id).await?;
    if new.is_empty() {
        destroy_email(tx, account, id).await?;
        return Ok(true);
    }
    check_mailboxes(tx, account, new).await?;
    let old = mailboxes_of(tx, id).await?;
    if &old == new {
        return Ok(false);
    }
    for m in old.difference(new) {
        remove_from_mailbox(tx, account, id, *m).await?;
    }
    for m in new.difference(&old) {
        add_to_mailbox(tx, account, id, *m).await?;
    }
    record(tx, account, Kind::Email, id, Op::Updated).await?;
    Ok(true)
}

/// Email/import inside `tx` (which holds the account's lock): the quota checked, the message
/// stored as a new one (its body in the database), the email with its mailboxes, keywords and
/// header facts at once. `id` is the new message's id.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn import(
    tx: &Transaction<'_>,
    account: &str,
    id: &str,
    raw: &[u8],
    mailboxes: &BTreeSet<i64>,
    keywords: &BTreeSet<String>,
    received_at: i64,
    facts: &rampart_store::mail::rules::Facts,
) -> MailResult<i64> {
    check_mailboxes(tx, account, mailboxes).await?;
    let quota = quota_get(tx, account).await?;
    if quota
        .limit
        .is_some_and(|l| quota.used + raw.len() as u64 > l)
    {
        return Err(MailError::OverQuota);
    }
    let size = raw.len() as i64;
    let message_id = facts.message_id.as_deref().map(super::clean);
    tx.execute(
        "INSERT INTO messages(id, received, sender, size, message_id, return_path_len, client)
         VALUES ($1, $2, '', $3, $4, 0, NULL)",
        &[&id, &received_at, &size, &message_id],
    )
    .await
    .map_err(mdb)?;
    tx.execute(
        "INSERT INTO message_bodies(id, data) VALUES ($1, $2)",
        &[&id, &raw],
    )
    .await
    .map_err(mdb)?;
    let email = insert_email(tx, account, id, received_at, size).await?;
    for m in mailboxes {
        add_to_mailbox(tx, account, email, *m).await?;
    }
    replace_keywords(tx, account, email, keywords).await?;
    super::index::store_facts(tx, account, email, facts).await?;
    Ok(email)
}

/// Email/copy inside `tx` (which holds `to`'s lock): a new email of `to` on the same stored
/// message.
pub(crate) async fn copy(
    tx: &Transaction<'_>,
    from: &str,
    id: i64,
    to: &str,
    mailboxes: &BTreeSet<i64>,
    keywords: &BTreeSet<String>,
) -> MailResult<i64> {
    check_mailboxes(tx, to, mailboxes).await?;
    let row = tx
        .query_opt(
            "SELECT message, received_at, size FROM mail_emails WHERE account = $1 AND id = $2",
            &[&from, &id],
        )
        .await
        .map_err(mdb)?
        .ok_or(MailError::NotFound)?;
    let (message, received_at, size): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
    // The source keeps its message while this transaction runs.
    tx.execute(
        "SELECT 1 FROM messages WHERE id = $1 FOR KEY SHARE",
        &[&message],
    )
    .await
    .map_err(mdb)?;
    let quota = quota_get(tx, to).await?;
    if quota.limit.is_some_and(|l| quota.used + size as u64 > l) {
        return Err(MailError::OverQuota);
    }
    let email = insert_email(tx, to, &message, received_at, size).await?;
    for m in mailboxes {
        add_to_mailbox(tx, to, email, *m).await?;
    }
    replace_keywords(tx, to, email, keywords).await?;
    Ok(email)
}

/// Bytes `account` uses (its emails; a message shared with another account counts for both)
/// and its limit.
pub(crate) async fn quota_get<C: GenericClient + Sync>(c: &C, account: &str) -> Result<Quota> {
    let row = c
        .query_one(
            "SELECT (SELECT coalesce(sum(size), 0)::bigint FROM mail_emails WHERE account = $1),
                    (SELECT limit_bytes FROM mail_quotas WHERE account = $1)",
            &[&account],
        )
        .await
        .map_err(db)?;
    let used: i64 = row.get(0);
    let limit: Option<i64> = row.get(1);
    Ok(Quota {
        used: used.max(0) as u64,
        limit: limit.map(|l| l.max(0) as u64),
    })
}

/// The emails of `user` for `rampart mailbox list`: (id, message, delivered, sender, size,
/// Message-ID).
pub(crate) async fn mailbox_list<C: GenericClient + Sync>(
    c: &C,
    user: &str,
) -> Result<Vec<rampart_store::mailbox::MailboxEntry>> {
    Ok(c.query(
        "SELECT e.id, e.message, e.received_at, m.sender, m.size, m.message_id
             FROM mail_emails e JOIN messages m ON m.id = e.message WHERE e.account = $1
             ORDER BY e.id",
        &[&user],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| rampart_store::mailbox::MailboxEntry {
        id: r.get(0),
        queue_id: r.get(1),
        delivered: r.get(2),
        sender: r.get(3),
        size: r.get(4),
        message_id: r.get(5),
    })
    .collect())
}

/// `rampart mailbox delete`: email `id` of `user` destroyed, with its account's lock, change log
/// and notification; false when there is no such email.
pub(crate) async fn mailbox_delete(
    conn: &mut tokio_postgres::Client,
    user: &str,
    id: i64,
) -> Result<bool> {
    let tx = conn.transaction().await.map_err(db)?;
    lock_account(&tx, user).await?;
    match destroy_email(&tx, user, id).await {
        Ok(()) => {}
        Err(MailError::NotFound) => return Ok(false),
        Err(MailError::Store(e)) => return Err(e),
        Err(e) => return Err(rampart_store::StoreError::Invalid(e.to_string())),
    }
    notify(&tx, user, &ALL).await?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}
