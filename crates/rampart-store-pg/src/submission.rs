//! What sending over JMAP keeps (RFC 8621 sections 6-8) on PostgreSQL: identities, email
//! submissions, the vacation response and whom it answered, with a state counter and a change
//! log per type, as the embedded store keeps them ([`rampart_store::submission`]).
//!
//! Several nodes: a state step is an upsert of the `sub_state` row, which holds that row's lock
//! until the commit, so the changes of one account and type are numbered one after another
//! whichever nodes make them. The account's own identity is made once (a unique index of its
//! own); the vacation response answers a sender once per period (RFC 3834 section 2) in one
//! conditional upsert, however many nodes deliver that sender's mail at the same moment.

use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::submission::{
    change_log, Identity, IdentityFields, LogEntry, SubKind, Submission, SubmissionStore, Vacation,
};
use rampart_store::{Result, StoreError};
use tokio_postgres::{GenericClient, Transaction};

/// Adds one to the type's state; returns the new state. The row stays locked until the commit.
async fn bump(tx: &Transaction<'_>, account: &str, kind: SubKind) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO sub_state(account, kind, state) VALUES ($1, $2, 1)
             ON CONFLICT (account, kind) DO UPDATE SET state = sub_state.state + 1
             RETURNING state",
            &[&account, &kind.as_str()],
        )
        .await
        .map_err(db)?;
    Ok(row.get(0))
}

async fn state_of<C: GenericClient>(c: &C, account: &str, kind: SubKind) -> Result<i64> {
    let row = c
        .query_opt(
            "SELECT state FROM sub_state WHERE account = $1 AND kind = $2",
            &[&account, &kind.as_str()],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|r| r.get(0)).unwrap_or(0))
}

const IDENTITY_COLUMNS: &str =
    "id, name, email, reply_to, bcc, text_signature, html_signature, may_delete";

fn identity_row(r: &tokio_postgres::Row) -> Identity {
    Identity {
        id: r.get(0),
        fields: IdentityFields {
            name: r.get(1),
            email: r.get(2),
            reply_to: r.get(3),
            bcc: r.get(4),
            text_signature: r.get(5),
            html_signature: r.get(6),
        },
        may_delete: r.get(7),
    }
}

/// Inserts an identity at the next Identity state; None when it is the account's own identity
/// and that exists already (the caller then rolls back, undoing the state step).
async fn insert_identity(
    tx: &Transaction<'_>,
    account: &str,
    f: &IdentityFields,
    may_delete: bool,
) -> Result<Option<i64>> {
    let state = bump(tx, account, SubKind::Identity).await?;
    let row = tx
        .query_opt(
            "INSERT INTO sub_identities(account, email, name, reply_to, bcc, text_signature,
                 html_signature, may_delete, created_state, updated_state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (account) WHERE NOT may_delete DO NOTHING
             RETURNING id",
            &[
                &account,
                &f.email.to_ascii_lowercase(),
                &f.name,
                &f.reply_to,
                &f.bcc,
                &f.text_signature,
                &f.html_signature,
                &may_delete,
                &state,
            ],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|r| r.get(0)))
}

/// Which table keeps a type's records (the vacation response has no change log).
fn table(kind: SubKind) -> Result<&'static str> {
    match kind {
        SubKind::Identity => Ok("sub_identities"),
        SubKind::Submission => Ok("sub_submissions"),
        SubKind::Vacation => Err(StoreError::Invalid(
            "the vacation response has no change log".into(),
        )),
    }
}

impl PgStore {
    /// Makes the account's own identity if it has none yet.
    async fn identity_ensure(&self, account: &str) -> Result<()> {
        let mut c = self.conn(&self.sessions).await?;
        let exists = c
            .query_opt(
                "SELECT 1 FROM sub_identities WHERE account = $1 AND NOT may_delete",
                &[&account],
            )
            .await
            .map_err(db)?
            .is_some();
        if exists {
            return Ok(());
        }
        let tx = c.transaction().await.map_err(db)?;
        let f = IdentityFields {
            email: account.to_string(),
            ..IdentityFields::default()
        };
        match insert_identity(&tx, account, &f, false).await? {
            Some(_) => tx.commit().await.map_err(db),
            // Another session (or node) made it first: nothing of ours to keep.
            None => tx.rollback().await.map_err(db),
        }
    }

    /// Marks a live record of `kind` destroyed; false when there is none.
    async fn destroy_record(
        &self,
        account: &str,
        id: i64,
        kind: SubKind,
        extra: &str,
    ) -> Result<bool> {
        let table = table(kind)?;
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let live = tx
            .query_opt(
                &format!(
                    "SELECT 1 FROM {table} WHERE account = $1 AND id = $2
                     AND destroyed_state IS NULL{extra} FOR UPDATE"
                ),
                &[&account, &id],
            )
            .await
            .map_err(db)?
            .is_some();
        if !live {
            return Ok(false);
        }
        let state = bump(&tx, account, kind).await?;
        tx.execute(
            &format!("UPDATE {table} SET destroyed_state = $1, updated_state = $1 WHERE id = $2"),
            &[&state, &id],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

#[async_trait]
impl SubmissionStore for PgStore {
    async fn identity_list(&self, account: &str) -> Result<Vec<Identity>> {
        let a = account.to_ascii_lowercase();
        self.identity_ensure(&a).await?;
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {IDENTITY_COLUMNS} FROM sub_identities
                     WHERE account = $1 AND destroyed_state IS NULL ORDER BY id"
                ),
                &[&a],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(identity_row).collect())
    }

    async fn identity_create(&self, account: &str, f: IdentityFields) -> Result<i64> {
        let a = account.to_ascii_lowercase();
        self.identity_ensure(&a).await?;
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let id = insert_identity(&tx, &a, &f, true)
            .await?
            .ok_or_else(|| StoreError::Db("identity not inserted".into()))?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    }

    async fn identity_update(&self, account: &str, id: i64, f: IdentityFields) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let live = tx
            .query_opt(
                "SELECT 1 FROM sub_identities WHERE account = $1 AND id = $2
                 AND destroyed_state IS NULL FOR UPDATE",
                &[&a, &id],
            )
            .await
            .map_err(db)?
            .is_some();
        if !live {
            return Ok(false);
        }
        let state = bump(&tx, &a, SubKind::Identity).await?;
        tx.execute(
            "UPDATE sub_identities SET name = $1, reply_to = $2, bcc = $3,
                 text_signature = $4, html_signature = $5, updated_state = $6 WHERE id = $7",
            &[
                &f.name,
                &f.reply_to,
                &f.bcc,
                &f.text_signature,
                &f.html_signature,
                &state,
                &id,
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn identity_destroy(&self, account: &str, id: i64) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        self.destroy_record(&a, id, SubKind::Identity, " AND may_delete")
            .await
    }

    async fn submission_list(&self, account: &str) -> Result<Vec<Submission>> {
        let a = account.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT id, identity, email, thread, envelope, send_at, queue_id, recipients
                 FROM sub_submissions WHERE account = $1 AND destroyed_state IS NULL ORDER BY id",
                &[&a],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| {
                let recipients: String = r.get(7);
                Submission {
                    id: r.get(0),
                    identity: r.get(1),
                    email: r.get(2),
                    thread: r.get(3),
                    envelope: r.get(4),
                    send_at: r.get(5),
                    queue_id: r.get(6),
                    recipients: recipients
                        .split('\n')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                }
            })
            .collect())
    }

    async fn submission_create(&self, account: &str, s: Submission) -> Result<i64> {
        let a = account.to_ascii_lowercase();
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        let state = bump(&tx, &a, SubKind::Submission).await?;
        let row = tx
            .query_one(
                "INSERT INTO sub_submissions(account, identity, email, thread, envelope, send_at,
                     queue_id, recipients, created_state, updated_state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                 RETURNING id",
                &[
                    &a,
                    &s.identity,
                    &s.email,
                    &s.thread,
                    &s.envelope,
                    &s.send_at,
                    &s.queue_id,
                    &s.recipients.join("\n"),
                    &state,
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.get(0))
    }

    async fn submission_destroy(&self, account: &str, id: i64) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        self.destroy_record(&a, id, SubKind::Submission, "").await
    }

    async fn sub_state(&self, account: &str, kind: SubKind) -> Result<String> {
        let a = account.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        Ok(state_of(&**c, &a, kind).await?.to_string())
    }

    async fn sub_changes(
        &self,
        account: &str,
        kind: SubKind,
        since: &str,
    ) -> Result<Option<Vec<LogEntry>>> {
        let a = account.to_ascii_lowercase();
        let Ok(since) = since.parse::<i64>() else {
            return Ok(None);
        };
        let table = table(kind)?;
        let c = self.conn(&self.sessions).await?;
        if since < 0 || since > state_of(&**c, &a, kind).await? {
            return Ok(None);
        }
        let rows = c
            .query(
                &format!(
                    "SELECT id, created_state, updated_state, destroyed_state FROM {table}
                     WHERE account = $1 AND updated_state > $2"
                ),
                &[&a, &since],
            )
            .await
            .map_err(db)?;
        Ok(Some(change_log(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))),
            since,
        )))
    }

    async fn vacation_get(&self, account: &str) -> Result<Vacation> {
        let a = account.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        let row = c
            .query_opt(
                "SELECT is_enabled, from_date, to_date, subject, text_body, html_body
                 FROM sub_vacation WHERE account = $1",
                &[&a],
            )
            .await
            .map_err(db)?;
        Ok(row
            .map(|r| Vacation {
                is_enabled: r.get(0),
                from_date: r.get(1),
                to_date: r.get(2),
                subject: r.get(3),
                text_body: r.get(4),
                html_body: r.get(5),
            })
            .unwrap_or_default())
    }

    async fn vacation_set(&self, account: &str, v: Vacation) -> Result<()> {
        let a = account.to_ascii_lowercase();
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        bump(&tx, &a, SubKind::Vacation).await?;
        tx.execute(
            "INSERT INTO sub_vacation(account, is_enabled, from_date, to_date, subject,
                 text_body, html_body) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account) DO UPDATE SET is_enabled = $2, from_date = $3,
                 to_date = $4, subject = $5, text_body = $6, html_body = $7",
            &[
                &a,
                &v.is_enabled,
                &v.from_date,
                &v.to_date,
                &v.subject,
                &v.text_body,
                &v.html_body,
            ],
        )
        .await
        .map_err(db)?;
        // A new vacation starts a new period for every sender.
        tx.execute("DELETE FROM sub_vacation_replied WHERE account = $1", &[&a])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn vacation_claim_reply(
        &self,
        account: &str,
        sender: &str,
        now: i64,
        period_secs: i64,
    ) -> Result<bool> {
        let (a, s) = (account.to_ascii_lowercase(), sender.to_ascii_lowercase());
        let c = self.conn(&self.sessions).await?;
        // RFC 3834 section 2: the row is taken (inserted, or moved on when its period is over)
        // by exactly one of any number of concurrent claims; the others find it taken.
        let claimed = c
            .query_opt(
                "INSERT INTO sub_vacation_replied(account, sender, at) VALUES ($1, $2, $3)
                 ON CONFLICT (account, sender) DO UPDATE SET at = EXCLUDED.at
                 WHERE sub_vacation_replied.at <= $3 - $4
                 RETURNING 1",
                &[&a, &s, &now, &period_secs],
            )
            .await
            .map_err(db)?;
        Ok(claimed.is_some())
    }
}
