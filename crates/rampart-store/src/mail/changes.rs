//! The change log: per account and type a counter (the JMAP state string, RFC 8620 section
//! 5.1) and one row per object that changed since the oldest state kept.
//!
//! Every recorded change raises the counter by one, so the state string changes exactly when
//! data of that type changes: an operation that changes nothing records nothing.

use super::{Kind, MailError, MailResult, Op};
use crate::{Result, Store, Writer};
use rusqlite::{params, Connection, OptionalExtension};

/// The answer to /changes (RFC 8620 section 5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub old_state: String,
    pub new_state: String,
    pub has_more_changes: bool,
    pub created: Vec<i64>,
    pub updated: Vec<i64>,
    pub destroyed: Vec<i64>,
}

/// Records that object `id` of `kind` was created, updated or destroyed: raises the account's
/// counter and notes the object at the new value.
pub(crate) fn record(conn: &Connection, account: &str, kind: Kind, id: i64, op: Op) -> Result<()> {
    let modseq: i64 = conn
        .prepare_cached(
            "INSERT INTO mail_state(account, kind, modseq) VALUES (?1, ?2, 1)
             ON CONFLICT(account, kind) DO UPDATE SET modseq = modseq + 1
             RETURNING modseq",
        )?
        .query_row(params![account, kind.as_str()], |r| r.get(0))?;
    // `created` is the state the object appeared at; 0 when that is older than the log.
    let created = if op == Op::Created { modseq } else { 0 };
    conn.prepare_cached(
        "INSERT INTO mail_changes(account, kind, id, created, modseq, destroyed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(account, kind, id) DO UPDATE SET
             modseq = excluded.modseq,
             destroyed = excluded.destroyed,
             created = CASE WHEN excluded.created > 0 THEN excluded.created ELSE created END",
    )?
    .execute(params![
        account,
        kind.as_str(),
        id,
        created,
        modseq,
        op == Op::Destroyed
    ])?;
    Ok(())
}

/// The counter of `kind` for `account`, and the oldest state the log can answer from.
fn counters(conn: &Connection, account: &str, kind: Kind) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached("SELECT modseq, oldest FROM mail_state WHERE account = ?1 AND kind = ?2")?
        .query_row(params![account, kind.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .unwrap_or((0, 0)))
}

impl Store {
    /// The JMAP state string of `kind` in `account`.
    pub fn mail_state(&self, account: &str, kind: Kind) -> Result<String> {
        let account = super::account_key(account);
        self.read(|c| Ok(counters(c, &account, kind)?.0.to_string()))
    }

    /// What changed in `kind` since state `since` (RFC 8620 section 5.2), at most `max` ids
    /// when given. [`MailError::CannotCalculateChanges`] for a state that is not a number, is
    /// newer than the current one, or older than the log keeps.
    pub fn mail_changes(
        &self,
        account: &str,
        kind: Kind,
        since: &str,
        max: Option<usize>,
    ) -> MailResult<Changes> {
        let account = super::account_key(account);
        let since: i64 = since
            .parse()
            .map_err(|_| MailError::CannotCalculateChanges)?;
        self.read(|c| {
            let (current, oldest) = counters(c, &account, kind)?;
            Ok((current, oldest, rows_since(c, &account, kind, since)?))
        })
        .map_err(MailError::from)
        .and_then(|(current, oldest, rows)| {
            if since > current || since < oldest || since < 0 {
                return Err(MailError::CannotCalculateChanges);
            }
            Ok(page(since, current, rows, max))
        })
        .and_then(|c| c.ok_or(MailError::CannotCalculateChanges))
    }

    /// Forgets the change rows of destroyed objects older than the newest `keep` states of
    /// `kind` in `account`; /changes from a state older than that is then refused as
    /// cannotCalculateChanges.
    pub async fn mail_prune_changes(
        &self,
        writer: &Writer,
        account: &str,
        kind: Kind,
        keep: i64,
    ) -> Result<()> {
        let account = super::account_key(account);
        writer
            .run(false, move |tx| {
                let (current, _) = counters(tx, &account, kind)?;
                let floor = (current - keep).max(0);
                tx.execute(
                    "DELETE FROM mail_changes WHERE account = ?1 AND kind = ?2 AND destroyed = 1
                     AND modseq <= ?3",
                    params![account, kind.as_str(), floor],
                )?;
                tx.execute(
                    "UPDATE mail_state SET oldest = max(oldest, ?3) WHERE account = ?1 AND kind = ?2",
                    params![account, kind.as_str(), floor],
                )?;
                Ok(())
            })
            .await
    }
}

/// (id, created, modseq, destroyed) of every object changed after `since`, oldest change first.
pub type Row = (i64, i64, i64, bool);

fn rows_since(conn: &Connection, account: &str, kind: Kind, since: i64) -> Result<Vec<Row>> {
    let mut st = conn.prepare_cached(
        "SELECT id, created, modseq, destroyed FROM mail_changes
         WHERE account = ?1 AND kind = ?2 AND modseq > ?3 ORDER BY modseq",
    )?;
    let rows = st.query_map(params![account, kind.as_str(), since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Sorts the rows into created/updated/destroyed. With `max`, stops after at most that many
/// ids: the new state is then the modseq of the last row taken, and `hasMoreChanges` is set.
/// `None` when `max` is 0 (nothing can be answered).
pub fn page(since: i64, current: i64, rows: Vec<Row>, max: Option<usize>) -> Option<Changes> {
    let mut out = Changes {
        old_state: since.to_string(),
        new_state: current.to_string(),
        ..Changes::default()
    };
    let limit = max.unwrap_or(usize::MAX);
    if limit == 0 && !rows.is_empty() {
        return None;
    }
    for (taken, (id, created, modseq, destroyed)) in rows.into_iter().enumerate() {
        if taken == limit {
            out.has_more_changes = true;
            break;
        }
        // Each change has its own modseq, so stopping after any row leaves a consistent state.
        out.new_state = modseq.to_string();
        match (destroyed, created > since) {
            // Created and destroyed since: the client never saw it.
            (true, true) => {}
            (true, false) => out.destroyed.push(id),
            (false, true) => out.created.push(id),
            (false, false) => out.updated.push(id),
        }
    }
    if !out.has_more_changes {
        out.new_state = current.to_string();
    }
    Some(out)
}
