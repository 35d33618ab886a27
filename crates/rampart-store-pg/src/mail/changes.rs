//! The change log (RFC 8620 section 5.1-5.2) on PostgreSQL: per account and type a counter (the
//! state string) and one row per object that changed, as in the embedded store. The paging of
//! /changes is `rampart_store::mail::rules::changes_page`.

use super::{kind_name, DB_NOW};
use crate::db;
use rampart_store::mail::rules::{changes_page, ChangeRow};
use rampart_store::mail::{Changes, Kind, MailError, MailResult};
use rampart_store::Result;
use tokio_postgres::{GenericClient, Transaction};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Created,
    Updated,
    Destroyed,
}

/// Records that object `id` of `kind` was created, updated or destroyed: raises the account's
/// counter (under the account's lock, see [`super::lock_account`]) and notes the object at the
/// new value.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    account: &str,
    kind: Kind,
    id: i64,
    op: Op,
) -> Result<()> {
    let k = kind_name(kind);
    let modseq: i64 = tx
        .query_one(
            &format!(
                "INSERT INTO mail_state(account, kind, modseq, touched) VALUES ($1, $2, 1, {DB_NOW})
                 ON CONFLICT (account, kind) DO UPDATE SET
                     modseq = mail_state.modseq + 1, touched = excluded.touched
                 RETURNING modseq"
            ),
            &[&account, &k],
        )
        .await
        .map_err(db)?
        .get(0);
    // `created` is the state the object appeared at; 0 when that is older than the log.
    let created = if op == Op::Created { modseq } else { 0 };
    tx.execute(
        "INSERT INTO mail_changes(account, kind, id, created, modseq, destroyed)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account, kind, id) DO UPDATE SET
             modseq = excluded.modseq,
             destroyed = excluded.destroyed,
             created = CASE WHEN excluded.created > 0 THEN excluded.created
                            ELSE mail_changes.created END",
        &[&account, &k, &id, &created, &modseq, &(op == Op::Destroyed)],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// The counter of `kind` for `account`, and the oldest state the log can answer from.
pub(crate) async fn counters<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    kind: Kind,
) -> Result<(i64, i64)> {
    Ok(c.query_opt(
        "SELECT modseq, oldest FROM mail_state WHERE account = $1 AND kind = $2",
        &[&account, &kind_name(kind)],
    )
    .await
    .map_err(db)?
    .map(|r| (r.get(0), r.get(1)))
    .unwrap_or((0, 0)))
}

/// What changed in `kind` since state `since`, at most `max` ids when given. Refused as
/// cannotCalculateChanges for a state that is not a number, newer than the current one, or older
/// than the log keeps. Read in one repeatable-read snapshot, so the counter and the rows agree
/// while other nodes write.
pub(crate) async fn mail_changes(
    conn: &mut tokio_postgres::Client,
    account: &str,
    kind: Kind,
    since: &str,
    max: Option<usize>,
) -> MailResult<Changes> {
    let since: i64 = since
        .parse()
        .map_err(|_| MailError::CannotCalculateChanges)?;
    let tx = conn
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(super::mdb)?;
    let (current, oldest) = counters(&tx, account, kind).await?;
    if since > current || since < oldest || since < 0 {
        return Err(MailError::CannotCalculateChanges);
    }
    let rows: Vec<ChangeRow> = tx
        .query(
            "SELECT id, created, modseq, destroyed FROM mail_changes
             WHERE account = $1 AND kind = $2 AND modseq > $3 ORDER BY modseq",
            &[&account, &kind_name(kind), &since],
        )
        .await
        .map_err(super::mdb)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    tx.commit().await.map_err(super::mdb)?;
    changes_page(since, current, rows, max).ok_or(MailError::CannotCalculateChanges)
}

/// Forgets the change rows of destroyed objects older than the newest `keep` states, as the
/// embedded store's `mail_prune_changes`; /changes from before that is then refused.
pub(crate) async fn prune(
    tx: &Transaction<'_>,
    account: &str,
    kind: Kind,
    keep: i64,
) -> Result<()> {
    let (current, _) = counters(tx, account, kind).await?;
    let floor = (current - keep).max(0);
    tx.execute(
        "DELETE FROM mail_changes WHERE account = $1 AND kind = $2 AND destroyed AND modseq <= $3",
        &[&account, &kind_name(kind), &floor],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "UPDATE mail_state SET oldest = greatest(oldest, $3) WHERE account = $1 AND kind = $2",
        &[&account, &kind_name(kind), &floor],
    )
    .await
    .map_err(db)?;
    Ok(())
}
