//! Mailboxes (RFC 8621 section 2) on PostgreSQL: the role mailboxes of an account, the list with
//! its counts, create, update, destroy. The rules are the embedded store's: roles unique in an
//! account, names unique among siblings, the Inbox neither destroyed nor stripped of its role.

use super::changes::{record, Op};
use super::emails::destroy_email;
use super::mdb;
use crate::db;
use rampart_store::mail::rules::{check_name, check_role, DEPTH_MAX};
use rampart_store::mail::{
    Kind, MailError, MailResult, MailboxInfo, MailboxUpdate, NewMailbox, ROLES,
};
use rampart_store::{Result, StoreError};
use tokio_postgres::{GenericClient, Transaction};

/// Gives `account` the six role mailboxes when it has no mailbox at all. Inside a transaction
/// that holds the account's lock, so two nodes delivering the first mail at once make one set.
pub(crate) async fn ensure_mailboxes(tx: &Transaction<'_>, account: &str) -> Result<()> {
    if any_mailbox(tx, account).await? {
        return Ok(());
    }
    for (i, (role, name)) in ROLES.iter().enumerate() {
        let id: i64 = tx
            .query_one(
                "INSERT INTO mail_mailboxes(account, name, role, sort_order) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&account, name, role, &(i as i64)],
            )
            .await
            .map_err(db)?
            .get(0);
        record(tx, account, Kind::Mailbox, id, Op::Created).await?;
    }
    Ok(())
}

pub(crate) async fn any_mailbox<C: GenericClient + Sync>(c: &C, account: &str) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM mail_mailboxes WHERE account = $1 LIMIT 1",
        &[&account],
    )
    .await
    .map_err(db)?
    .is_some())
}

/// The mailbox of `account` with `role`, if there is one.
pub(crate) async fn role_mailbox<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    role: &str,
) -> Result<Option<i64>> {
    Ok(c.query_opt(
        "SELECT id FROM mail_mailboxes WHERE account = $1 AND role = $2",
        &[&account, &role],
    )
    .await
    .map_err(db)?
    .map(|r| r.get(0)))
}

/// (name, parent, role) of mailbox `id` of `account`.
type Row = (String, Option<i64>, Option<String>);

async fn mailbox_row(tx: &Transaction<'_>, account: &str, id: i64) -> MailResult<Row> {
    tx.query_opt(
        "SELECT name, parent, role FROM mail_mailboxes WHERE account = $1 AND id = $2",
        &[&account, &id],
    )
    .await
    .map_err(mdb)?
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .ok_or(MailError::NotFound)
}

/// Refuses a parent that is not the account's, or that is `id` itself or below it.
async fn check_parent(
    tx: &Transaction<'_>,
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
        at = mailbox_row(tx, account, p)
            .await
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

/// The unique indexes' refusal as the property at fault.
fn constraint(e: tokio_postgres::Error) -> MailError {
    if crate::is_unique_violation(&e) {
        let role = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .is_some_and(|c| c.contains("role"));
        return MailError::InvalidProperties(if role {
            "role: another mailbox has this role".into()
        } else {
            "name: a sibling has this name".into()
        });
    }
    mdb(e)
}

/// Every mailbox of `account` with its counts, by sort order then name.
pub(crate) async fn mailbox_get<C: GenericClient + Sync>(
    c: &C,
    account: &str,
) -> Result<Vec<MailboxInfo>> {
    // RFC 8621 section 2.1: unreadThreads counts threads with an email in this mailbox and an
    // email (anywhere in the account) that is neither $seen nor $draft.
    let rows = c
        .query(
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
             FROM mail_mailboxes b WHERE b.account = $1
             ORDER BY b.sort_order, b.name COLLATE \"C\"",
            &[&account],
        )
        .await
        .map_err(db)?;
    let n = |r: &tokio_postgres::Row, i: usize| r.get::<_, i64>(i).max(0) as u64;
    Ok(rows
        .iter()
        .map(|r| MailboxInfo {
            id: r.get(0),
            name: r.get(1),
            parent: r.get(2),
            role: r.get(3),
            sort_order: r.get(4),
            subscribed: r.get(5),
            total_emails: n(r, 6),
            unread_emails: n(r, 7),
            total_threads: n(r, 8),
            unread_threads: n(r, 9),
        })
        .collect())
}

/// Mailbox/set create, inside `tx` (which holds the account's lock). Returns the new id.
pub(crate) async fn mailbox_create(
    tx: &Transaction<'_>,
    account: &str,
    new: &NewMailbox,
) -> MailResult<i64> {
    check_name(&new.name)?;
    let role = check_role(&new.role)?;
    ensure_mailboxes(tx, account).await?;
    check_parent(tx, account, None, new.parent).await?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO mail_mailboxes(account, name, parent, role, sort_order, subscribed)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &account,
                &new.name,
                &new.parent,
                &role,
                &new.sort_order,
                &new.subscribed,
            ],
        )
        .await
        .map_err(constraint)?
        .get(0);
    record(tx, account, Kind::Mailbox, id, Op::Created).await?;
    Ok(id)
}

/// Mailbox/set update. Returns whether anything changed.
pub(crate) async fn mailbox_update(
    tx: &Transaction<'_>,
    account: &str,
    id: i64,
    update: &MailboxUpdate,
) -> MailResult<bool> {
    if let Some(n) = &update.name {
        check_name(n)?;
    }
    let role = match &update.role {
        Some(r) => Some(check_role(r)?),
        None => None,
    };
    let (_, _, old_role) = mailbox_row(tx, account, id).await?;
    if old_role.as_deref() == Some("inbox")
        && role.as_ref().is_some_and(|r| r.as_deref() != Some("inbox"))
    {
        return Err(MailError::Forbidden("the Inbox keeps its role".into()));
    }
    if let Some(parent) = update.parent {
        check_parent(tx, account, Some(id), parent).await?;
    }
    let n = tx
        .execute(
            "UPDATE mail_mailboxes SET
                name = coalesce($3::text, name),
                parent = CASE WHEN $4::boolean THEN $5::bigint ELSE parent END,
                role = CASE WHEN $6::boolean THEN $7::text ELSE role END,
                sort_order = coalesce($8::bigint, sort_order),
                subscribed = coalesce($9::boolean, subscribed)
             WHERE account = $1 AND id = $2
             AND (name IS DISTINCT FROM coalesce($3::text, name)
                  OR parent IS DISTINCT FROM (CASE WHEN $4::boolean THEN $5::bigint ELSE parent END)
                  OR role IS DISTINCT FROM (CASE WHEN $6::boolean THEN $7::text ELSE role END)
                  OR sort_order IS DISTINCT FROM coalesce($8::bigint, sort_order)
                  OR subscribed IS DISTINCT FROM coalesce($9::boolean, subscribed))",
            &[
                &account,
                &id,
                &update.name,
                &update.parent.is_some(),
                &update.parent.flatten(),
                &role.is_some(),
                &role.flatten(),
                &update.sort_order,
                &update.subscribed,
            ],
        )
        .await
        .map_err(constraint)?;
    if n > 0 {
        record(tx, account, Kind::Mailbox, id, Op::Updated).await?;
        // RFC 8621 section 2.2: a change of its own properties, not of its counts.
        tx.execute(
            "INSERT INTO mail_mailbox_props(mailbox, account, modseq)
             SELECT $1, $2, modseq FROM mail_state WHERE account = $2 AND kind = 'Mailbox'
             ON CONFLICT (mailbox) DO UPDATE SET modseq = excluded.modseq",
            &[&id, &account],
        )
        .await
        .map_err(mdb)?;
    }
    Ok(n > 0)
}

/// Mailbox/set destroy: refused with children, and with emails unless `remove_emails`
/// (onDestroyRemoveEmails), when the emails only in it are destroyed and the others leave it.
pub(crate) async fn mailbox_destroy(
    tx: &Transaction<'_>,
    account: &str,
    id: i64,
    remove_emails: bool,
) -> MailResult<()> {
    let (_, _, role) = mailbox_row(tx, account, id).await?;
    if role.as_deref() == Some("inbox") {
        return Err(MailError::Forbidden("the Inbox cannot be destroyed".into()));
    }
    let children = tx
        .query_opt(
            "SELECT 1 FROM mail_mailboxes WHERE parent = $1 LIMIT 1",
            &[&id],
        )
        .await
        .map_err(mdb)?
        .is_some();
    if children {
        return Err(MailError::MailboxHasChild);
    }
    let emails: Vec<(i64, i64)> = tx
        .query(
            "SELECT x.email, (SELECT count(*) FROM mail_email_mailboxes y WHERE y.email = x.email)
             FROM mail_email_mailboxes x WHERE x.mailbox = $1",
            &[&id],
        )
        .await
        .map_err(mdb)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if !emails.is_empty() && !remove_emails {
        return Err(MailError::MailboxHasEmail);
    }
    for (email, holders) in emails {
        if holders > 1 {
            tx.execute(
                "DELETE FROM mail_email_mailboxes WHERE email = $1 AND mailbox = $2",
                &[&email, &id],
            )
            .await
            .map_err(mdb)?;
            record(tx, account, Kind::Email, email, Op::Updated).await?;
        } else {
            destroy_email(tx, account, email).await?;
        }
    }
    tx.execute("DELETE FROM mail_mailboxes WHERE id = $1", &[&id])
        .await
        .map_err(mdb)?;
    tx.execute("DELETE FROM mail_mailbox_props WHERE mailbox = $1", &[&id])
        .await
        .map_err(mdb)?;
    record(tx, account, Kind::Mailbox, id, Op::Destroyed).await?;
    Ok(())
}

/// The mailboxes whose own properties changed after state `since` (RFC 8621 section 2.2).
pub(crate) async fn props_changed<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    since: &str,
) -> MailResult<Vec<i64>> {
    let since: i64 = since
        .parse()
        .map_err(|_| MailError::CannotCalculateChanges)?;
    Ok(c.query(
        "SELECT mailbox FROM mail_mailbox_props WHERE account = $1 AND modseq > $2
             ORDER BY mailbox",
        &[&account, &since],
    )
    .await
    .map_err(mdb)?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// A mailbox that should exist and does not: the account lost its Inbox.
pub(crate) fn no_inbox(account: &str) -> StoreError {
    StoreError::Invalid(format!("{account} has mailboxes but no Inbox"))
}
