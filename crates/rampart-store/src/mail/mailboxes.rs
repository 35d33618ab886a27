//! Mailboxes (RFC 8621 section 2): create, update (rename, move, role, order, subscription),
//! destroy, and the list with its counts.
//!
//! Roles are unique in an account. The Inbox cannot be destroyed nor lose its role: delivery
//! needs it. Every other mailbox, role or not, may be destroyed; mail the gateway tags as spam
//! then goes to the Inbox when the account has no Junk mailbox.

use super::changes::record;
use super::emails::destroy_email;
use super::{account_key, write, Kind, MailError, MailResult, Op};
use crate::{Result, Store, Writer};
use rusqlite::{params, Connection, OptionalExtension};

/// Longest mailbox name, in bytes (RFC 8621 leaves the limit to the server).
const NAME_MAX: usize = 255;
/// Deepest nesting of mailboxes: bounds the walk that refuses cycles.
pub const DEPTH_MAX: usize = 64;

/// A mailbox with its counts (RFC 8621 section 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: i64,
    pub name: String,
    pub parent: Option<i64>,
    pub role: Option<String>,
    pub sort_order: i64,
    pub subscribed: bool,
    pub total_emails: u64,
    pub unread_emails: u64,
    pub total_threads: u64,
    pub unread_threads: u64,
}

/// Mailbox/set create.
#[derive(Debug, Clone, Default)]
pub struct NewMailbox {
    pub name: String,
    pub parent: Option<i64>,
    pub role: Option<String>,
    pub sort_order: i64,
    pub subscribed: bool,
}

/// Mailbox/set update: the properties to change (`None` leaves one as it is; `parent` and
/// `role` are `Some(None)` to clear).
#[derive(Debug, Clone, Default)]
pub struct MailboxUpdate {
    pub name: Option<String>,
    pub parent: Option<Option<i64>>,
    pub role: Option<Option<String>>,
    pub sort_order: Option<i64>,
    pub subscribed: Option<bool>,
}

/// The roles this server accepts: the IANA registry's (RFC 8457) that make sense for a mailbox
/// store; lower case.
const KNOWN_ROLES: [&str; 10] = [
    "all",
    "archive",
    "drafts",
    "flagged",
    "important",
    "inbox",
    "junk",
    "sent",
    "subscribed",
    "trash",
];

pub fn check_name(name: &str) -> MailResult<()> {
    // RFC 8621 section 2.1: the name is not empty; control characters make no sense in it.
    if name.trim().is_empty() || name.len() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(MailError::InvalidProperties(format!(
            "name: {name:?} is not a mailbox name"
        )));
    }
    Ok(())
}

pub fn check_role(role: &Option<String>) -> MailResult<Option<String>> {
    match role {
        None => Ok(None),
        Some(r) => {
            let r = r.to_ascii_lowercase();
            if KNOWN_ROLES.contains(&r.as_str()) {
                Ok(Some(r))
            } else {
                Err(MailError::InvalidProperties(format!(
                    "role: {r:?} is not a known role"
                )))
            }
        }
    }
}

/// (name, parent, role) of mailbox `id` of `account`.
type Row = (String, Option<i64>, Option<String>);

fn mailbox_row(conn: &Connection, account: &str, id: i64) -> MailResult<Row> {
    conn.prepare_cached(
        "SELECT name, parent, role FROM mail_mailboxes WHERE account = ?1 AND id = ?2",
    )?
    .query_row(params![account, id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()?
    .ok_or(MailError::NotFound)
}

/// Refuses a parent that is not the account's, or that is `id` itself or below it.
fn check_parent(
    conn: &Connection,
    account: &str,
    id: Option<i64>,
    parent: Option<i64>,
) -> MailResult<()> {
    let mut at = parent;
    for _ in 0..DEPTH_MAX {
        let Some(p) = at else { return Ok(()) };
        if Some(p) == id {
            return Err(MailError::InvalidProperties(
                "parentId: would make a cycle".into(),
            ));
        }
        at = mailbox_row(conn, account, p)
            .map_err(|e| match e {
                MailError::NotFound => {
                    MailError::InvalidProperties(format!("parentId: no mailbox {p}"))
                }
                e => e,
            })?
            .1;
    }
    Err(MailError::InvalidProperties(
        "parentId: nested too deep".into(),
    ))
}

/// Names are unique among siblings, roles in the account: the unique indexes say so; this
/// turns their refusal into the property at fault.
fn constraint(e: rusqlite::Error) -> MailError {
    match &e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            if msg.contains("role") {
                MailError::InvalidProperties("role: another mailbox has this role".into())
            } else {
                MailError::InvalidProperties("name: a sibling has this name".into())
            }
        }
        _ => e.into(),
    }
}

impl Store {
    /// Every mailbox of `account` with its counts, by sort order then name.
    pub fn mailbox_get(&self, account: &str) -> Result<Vec<MailboxInfo>> {
        let account = account_key(account);
        self.read(|c| {
            // RFC 8621 section 2.1: unreadThreads counts threads with an email in this mailbox
            // and an email (anywhere in the account) that is neither $seen nor $draft.
            let mut st = c.prepare_cached(
                "SELECT b.id, b.name, b.parent, b.role, b.sort_order, b.subscribed,
                    (SELECT count(*) FROM mail_email_mailboxes x WHERE x.mailbox = b.id),
                    (SELECT count(*) FROM mail_email_mailboxes x WHERE x.mailbox = b.id
                        AND NOT EXISTS (SELECT 1 FROM mail_keywords k
                                        WHERE k.email = x.email AND k.keyword = '$seen')),
                    (SELECT count(DISTINCT e.thread) FROM mail_email_mailboxes x
                        JOIN mail_emails e ON e.id = x.email WHERE x.mailbox = b.id),
                    (SELECT count(DISTINCT e.thread) FROM mail_email_mailboxes x
                        JOIN mail_emails e ON e.id = x.email WHERE x.mailbox = b.id
                        AND EXISTS (SELECT 1 FROM mail_emails u WHERE u.thread = e.thread
                            AND NOT EXISTS (SELECT 1 FROM mail_keywords k WHERE k.email = u.id
                                            AND k.keyword IN ('$seen', '$draft'))))
                 FROM mail_mailboxes b WHERE b.account = ?1 ORDER BY b.sort_order, b.name",
            )?;
            let rows = st.query_map([&account], |r| {
                Ok(MailboxInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    parent: r.get(2)?,
                    role: r.get(3)?,
                    sort_order: r.get(4)?,
                    subscribed: r.get(5)?,
                    total_emails: r.get::<_, i64>(6)?.max(0) as u64,
                    unread_emails: r.get::<_, i64>(7)?.max(0) as u64,
                    total_threads: r.get::<_, i64>(8)?.max(0) as u64,
                    unread_threads: r.get::<_, i64>(9)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Mailbox/set create. Returns the new mailbox's id.
    pub async fn mailbox_create(
        &self,
        writer: &Writer,
        account: &str,
        new: NewMailbox,
    ) -> MailResult<i64> {
        let account = account_key(account);
        check_name(&new.name)?;
        let role = check_role(&new.role)?;
        write(writer, false, move |tx| {
            super::schema::ensure_mailboxes(tx, &account)?;
            check_parent(tx, &account, None, new.parent)?;
            tx.prepare_cached(
                "INSERT INTO mail_mailboxes(account, name, parent, role, sort_order, subscribed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                account,
                new.name,
                new.parent,
                role,
                new.sort_order,
                new.subscribed
            ])
            .map_err(constraint)?;
            let id = tx.last_insert_rowid();
            record(tx, &account, Kind::Mailbox, id, Op::Created)?;
            Ok(id)
        })
        .await
    }

    /// Mailbox/set update: rename, move under another parent (or to the top), change role,
    /// order or subscription. Returns whether anything changed; an update to the values the
    /// mailbox has already changes no state.
    pub async fn mailbox_update(
        &self,
        writer: &Writer,
        account: &str,
        id: i64,
        update: MailboxUpdate,
    ) -> MailResult<bool> {
        let account = account_key(account);
        if let Some(n) = &update.name {
            check_name(n)?;
        }
        let role = match &update.role {
            Some(r) => Some(check_role(r)?),
            None => None,
        };
        write(writer, false, move |tx| {
            let (_, _, old_role) = mailbox_row(tx, &account, id)?;
            if old_role.as_deref() == Some("inbox")
                && role.as_ref().is_some_and(|r| r.as_deref() != Some("inbox"))
            {
                return Err(MailError::Forbidden("the Inbox keeps its role".into()));
            }
            if let Some(parent) = update.parent {
                check_parent(tx, &account, Some(id), parent)?;
            }
            let n = tx
                .prepare_cached(
                    "UPDATE mail_mailboxes SET
                        name = coalesce(?3, name),
                        parent = CASE WHEN ?4 THEN ?5 ELSE parent END,
                        role = CASE WHEN ?6 THEN ?7 ELSE role END,
                        sort_order = coalesce(?8, sort_order),
                        subscribed = coalesce(?9, subscribed)
                     WHERE account = ?1 AND id = ?2
                     AND (name IS NOT coalesce(?3, name)
                          OR parent IS NOT (CASE WHEN ?4 THEN ?5 ELSE parent END)
                          OR role IS NOT (CASE WHEN ?6 THEN ?7 ELSE role END)
                          OR sort_order IS NOT coalesce(?8, sort_order)
                          OR subscribed IS NOT coalesce(?9, subscribed))",
                )?
                .execute(params![
                    account,
                    id,
                    update.name,
                    update.parent.is_some(),
                    update.parent.flatten(),
                    role.is_some(),
                    role.flatten(),
                    update.sort_order,
                    update.subscribed
                ])
                .map_err(constraint)?;
            if n > 0 {
                record(tx, &account, Kind::Mailbox, id, Op::Updated)?;
                // RFC 8621 section 2.2: a change of its own properties, not of its counts.
                tx.prepare_cached(
                    "INSERT INTO mail_mailbox_props(mailbox, account, modseq)
                     SELECT ?1, ?2, modseq FROM mail_state WHERE account = ?2 AND kind = 'Mailbox'
                     ON CONFLICT(mailbox) DO UPDATE SET modseq = excluded.modseq",
                )?
                .execute(params![id, account])?;
            }
            Ok(n > 0)
        })
        .await
    }

    /// Mailbox/set destroy. A mailbox with children is refused; one holding emails is refused
    /// unless `remove_emails` (onDestroyRemoveEmails): then the emails only in it are destroyed
    /// and the others leave it.
    pub async fn mailbox_destroy(
        &self,
        writer: &Writer,
        account: &str,
        id: i64,
        remove_emails: bool,
    ) -> MailResult<()> {
        let account = account_key(account);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        write(writer, false, move |tx| {
            let (_, _, role) = mailbox_row(tx, &account, id)?;
            if role.as_deref() == Some("inbox") {
                return Err(MailError::Forbidden("the Inbox cannot be destroyed".into()));
            }
            let children = tx
                .prepare_cached("SELECT 1 FROM mail_mailboxes WHERE parent = ?1 LIMIT 1")?
                .exists([id])?;
            if children {
                return Err(MailError::MailboxHasChild);
            }
            let emails: Vec<(i64, i64)> = {
                let mut st = tx.prepare_cached(
                    "SELECT x.email, (SELECT count(*) FROM mail_email_mailboxes y WHERE y.email = x.email)
                     FROM mail_email_mailboxes x WHERE x.mailbox = ?1",
                )?;
                let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if !emails.is_empty() && !remove_emails {
                return Err(MailError::MailboxHasEmail);
            }
            let mut removed = Vec::new();
            for (email, holders) in emails {
                if holders > 1 {
                    tx.prepare_cached("DELETE FROM mail_email_mailboxes WHERE email = ?1 AND mailbox = ?2")?
                        .execute(params![email, id])?;
                    record(tx, &account, Kind::Email, email, Op::Updated)?;
                } else {
                    removed.extend(destroy_email(tx, &account, email)?);
                }
            }
            tx.prepare_cached("DELETE FROM mail_mailboxes WHERE id = ?1")?
                .execute([id])?;
            tx.prepare_cached("DELETE FROM mail_mailbox_props WHERE mailbox = ?1")?
                .execute([id])?;
            record(tx, &account, Kind::Mailbox, id, Op::Destroyed)?;
            let _ = done_tx.send(removed);
            Ok(())
        })
        .await?;
        self.unlink_removed(&done_rx.try_recv().unwrap_or_default())?;
        Ok(())
    }

    /// The mailboxes of `account` whose own properties (not their counts) changed after state
    /// `since` (RFC 8621 section 2.2 updatedProperties). [`MailError::CannotCalculateChanges`]
    /// for a state that is not a number.
    pub fn mailbox_props_changed(&self, account: &str, since: &str) -> MailResult<Vec<i64>> {
        let account = account_key(account);
        let since: i64 = since
            .parse()
            .map_err(|_| MailError::CannotCalculateChanges)?;
        Ok(self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT mailbox FROM mail_mailbox_props WHERE account = ?1 AND modseq > ?2",
            )?;
            let rows = st.query_map(params![account, since], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?)
    }

    /// Gives `account` its role mailboxes if it has none (an account from before the mail
    /// model that has not received mail since).
    pub async fn mailbox_ensure(&self, writer: &Writer, account: &str) -> Result<()> {
        let account = account_key(account);
        // Asked at every login: a read answers it once the mailboxes exist, without a turn of
        // the writer.
        let exists = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM mail_mailboxes WHERE account = ?1 LIMIT 1")?
                    .exists([&account])?,
            )
        })?;
        if exists {
            return Ok(());
        }
        writer
            .run(false, move |tx| {
                super::schema::ensure_mailboxes(tx, &account)
            })
            .await
    }
}
