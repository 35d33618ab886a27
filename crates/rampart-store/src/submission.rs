//! What sending over JMAP keeps (RFC 8621 §6–§8): each account's identities, its email
//! submissions, its vacation response and the senders it already answered, plus a state counter
//! and a change log per type for /changes. The JMAP layer (rampart-jmap-mail) owns the JSON; the
//! store keeps opaque text where the RFC's values are structured (replyTo, bcc, envelope).
//!
//! Records are never removed when destroyed: a row keeps the state at which it was created,
//! last updated and destroyed, which is the change log /changes reads.

use crate::sqlite::Sqlite;
use crate::{Result, Store, StoreError, Writer};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS sub_identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    reply_to TEXT,
    bcc TEXT,
    text_signature TEXT NOT NULL DEFAULT '',
    html_signature TEXT NOT NULL DEFAULT '',
    may_delete INTEGER NOT NULL,
    created_state INTEGER NOT NULL,
    updated_state INTEGER NOT NULL,
    destroyed_state INTEGER
);
CREATE INDEX IF NOT EXISTS sub_identities_account ON sub_identities(account, updated_state);
CREATE TABLE IF NOT EXISTS sub_submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    identity INTEGER NOT NULL,
    email INTEGER NOT NULL,
    thread INTEGER,
    envelope TEXT NOT NULL,
    send_at INTEGER NOT NULL,
    queue_id TEXT NOT NULL,
    recipients TEXT NOT NULL,
    created_state INTEGER NOT NULL,
    updated_state INTEGER NOT NULL,
    destroyed_state INTEGER
);
CREATE INDEX IF NOT EXISTS sub_submissions_account ON sub_submissions(account, updated_state);
-- Per account and type (identity, submission, vacation): the state counter.
CREATE TABLE IF NOT EXISTS sub_state (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    state INTEGER NOT NULL,
    PRIMARY KEY (account, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sub_vacation (
    account TEXT PRIMARY KEY,
    is_enabled INTEGER NOT NULL,
    from_date INTEGER,
    to_date INTEGER,
    subject TEXT,
    text_body TEXT,
    html_body TEXT
);
-- RFC 3834 section 2: whom an automatic reply went to, and when, so each sender gets one per
-- period.
CREATE TABLE IF NOT EXISTS sub_vacation_replied (
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, sender)
) WITHOUT ROWID;
"#;

/// The three types with a state of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    Identity,
    Submission,
    Vacation,
}

impl SubKind {
    /// The `sub_state.kind` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SubKind::Identity => "identity",
            SubKind::Submission => "submission",
            SubKind::Vacation => "vacation",
        }
    }
}

/// An identity's settable properties (RFC 8621 §6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityFields {
    pub name: String,
    /// The address mail is sent from.
    pub email: String,
    /// JSON text of `EmailAddress[]`, or None for null.
    pub reply_to: Option<String>,
    pub bcc: Option<String>,
    pub text_signature: String,
    pub html_signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: i64,
    pub fields: IdentityFields,
    pub may_delete: bool,
}

/// An email submission as recorded once the pipeline queued it (RFC 8621 §7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    pub id: i64,
    pub identity: i64,
    pub email: i64,
    pub thread: Option<i64>,
    /// JSON text of the `Envelope` used.
    pub envelope: String,
    /// Seconds since the epoch.
    pub send_at: i64,
    /// The queue id the pipeline gave.
    pub queue_id: String,
    /// The envelope recipients, for deliveryStatus.
    pub recipients: Vec<String>,
}

/// The vacation response of an account (RFC 8621 §8); dates in seconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vacation {
    pub is_enabled: bool,
    pub from_date: Option<i64>,
    pub to_date: Option<i64>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
}

impl Vacation {
    /// Enabled and `now` (seconds) inside its dates.
    pub fn active_at(&self, now: i64) -> bool {
        self.is_enabled
            && self.from_date.is_none_or(|f| now >= f)
            && self.to_date.is_none_or(|t| now < t)
    }
}

/// What happened to a record at a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Created,
    Updated,
    Destroyed,
}

/// One entry of a type's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub id: i64,
    pub kind: LogKind,
    pub state: i64,
}

/// A type's change log since state `since`, from its records' rows (id, created, updated,
/// destroyed state) changed after it: each record's creation, then its destruction or else its
/// last update, in the order of their states. Both stores read the rows; this writes the log.
pub fn change_log(
    rows: impl IntoIterator<Item = (i64, i64, i64, Option<i64>)>,
    since: i64,
) -> Vec<LogEntry> {
    let mut log = Vec::new();
    for (id, created, updated, destroyed) in rows {
        if created > since {
            log.push(LogEntry {
                id,
                kind: LogKind::Created,
                state: created,
            });
        }
        match destroyed {
            Some(d) => log.push(LogEntry {
                id,
                kind: LogKind::Destroyed,
                state: d,
            }),
            None if updated != created => log.push(LogEntry {
                id,
                kind: LogKind::Updated,
                state: updated,
            }),
            None => {}
        }
    }
    log.sort_by_key(|e| (e.state, e.id));
    log
}

/// Identities, submissions and vacation responses (RFC 8621 §6–§8), per account (the owner's
/// address, lower case).
#[async_trait]
pub trait SubmissionStore: Send + Sync {
    /// The account's identities (not destroyed), oldest first. The first call for an account
    /// creates its identity for its own address, which may not be deleted.
    async fn identity_list(&self, account: &str) -> Result<Vec<Identity>>;
    async fn identity_create(&self, account: &str, f: IdentityFields) -> Result<i64>;
    /// False when there is no such identity. The address of an identity does not change.
    async fn identity_update(&self, account: &str, id: i64, f: IdentityFields) -> Result<bool>;
    /// False when there is no such identity or it may not be deleted.
    async fn identity_destroy(&self, account: &str, id: i64) -> Result<bool>;
    async fn submission_list(&self, account: &str) -> Result<Vec<Submission>>;
    async fn submission_create(&self, account: &str, s: Submission) -> Result<i64>;
    async fn submission_destroy(&self, account: &str, id: i64) -> Result<bool>;
    /// The type's state string.
    async fn sub_state(&self, account: &str, kind: SubKind) -> Result<String>;
    /// The log entries after state `since`, by state; None when `since` is not a state this
    /// account had (the client must start over).
    async fn sub_changes(
        &self,
        account: &str,
        kind: SubKind,
        since: &str,
    ) -> Result<Option<Vec<LogEntry>>>;
    async fn vacation_get(&self, account: &str) -> Result<Vacation>;
    async fn vacation_set(&self, account: &str, v: Vacation) -> Result<()>;
    /// RFC 3834 section 2: true when `sender` got no automatic reply from `account` within
    /// `period_secs` before `now` (seconds); records the reply about to be sent, in the same
    /// commit, so two deliveries at once answer once.
    async fn vacation_claim_reply(
        &self,
        account: &str,
        sender: &str,
        now: i64,
        period_secs: i64,
    ) -> Result<bool>;
}

/// Adds one to the type's state; returns the new state.
fn bump(tx: &rusqlite::Transaction, account: &str, kind: SubKind) -> Result<i64> {
    tx.execute(
        "INSERT INTO sub_state(account, kind, state) VALUES (?1, ?2, 1)
         ON CONFLICT(account, kind) DO UPDATE SET state = state + 1",
        params![account, kind.as_str()],
    )?;
    Ok(tx.query_row(
        "SELECT state FROM sub_state WHERE account = ?1 AND kind = ?2",
        params![account, kind.as_str()],
        |r| r.get(0),
    )?)
}

fn state_of(c: &rusqlite::Connection, account: &str, kind: SubKind) -> Result<i64> {
    Ok(c.query_row(
        "SELECT state FROM sub_state WHERE account = ?1 AND kind = ?2",
        params![account, kind.as_str()],
        |r| r.get(0),
    )
    .optional()?
    .unwrap_or(0))
}

const IDENTITY_COLUMNS: &str =
    "id, name, email, reply_to, bcc, text_signature, html_signature, may_delete";

fn identity_row(r: &Row) -> rusqlite::Result<Identity> {
    Ok(Identity {
        id: r.get(0)?,
        fields: IdentityFields {
            name: r.get(1)?,
            email: r.get(2)?,
            reply_to: r.get(3)?,
            bcc: r.get(4)?,
            text_signature: r.get(5)?,
            html_signature: r.get(6)?,
        },
        may_delete: r.get(7)?,
    })
}

fn insert_identity(
    tx: &rusqlite::Transaction,
    account: &str,
    f: &IdentityFields,
    may_delete: bool,
) -> Result<i64> {
    let state = bump(tx, account, SubKind::Identity)?;
    tx.execute(
        "INSERT INTO sub_identities(account, email, name, reply_to, bcc, text_signature,
             html_signature, may_delete, created_state, updated_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            account,
            f.email.to_ascii_lowercase(),
            f.name,
            f.reply_to,
            f.bcc,
            f.text_signature,
            f.html_signature,
            may_delete,
            state
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Marks a live record of `table` destroyed; false when there is none.
fn destroy_row(
    tx: &rusqlite::Transaction,
    table: &str,
    account: &str,
    id: i64,
    kind: SubKind,
    extra: &str,
) -> Result<bool> {
    let live: bool = tx
        .query_row(
            &format!(
                "SELECT 1 FROM {table} WHERE account = ?1 AND id = ?2
                 AND destroyed_state IS NULL{extra}"
            ),
            params![account, id],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !live {
        return Ok(false);
    }
    let state = bump(tx, account, kind)?;
    tx.execute(
        &format!("UPDATE {table} SET destroyed_state = ?1, updated_state = ?1 WHERE id = ?2"),
        params![state, id],
    )?;
    Ok(true)
}

impl Store {
    async fn identity_ensure(&self, writer: &Writer, account: &str) -> Result<()> {
        let exists = self.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM sub_identities WHERE account = ?1 AND may_delete = 0",
                [account],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })?;
        if exists {
            return Ok(());
        }
        let a = account.to_owned();
        crate::shared::write(writer, move |tx| {
            // Checked again inside the commit: two first calls at once create one identity.
            let again = tx
                .query_row(
                    "SELECT 1 FROM sub_identities WHERE account = ?1 AND may_delete = 0",
                    [&a],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !again {
                let f = IdentityFields {
                    email: a.clone(),
                    ..IdentityFields::default()
                };
                insert_identity(tx, &a, &f, false)?;
            }
            Ok(())
        })
        .await
    }

    fn identity_list(&self, account: &str) -> Result<Vec<Identity>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {IDENTITY_COLUMNS} FROM sub_identities
                 WHERE account = ?1 AND destroyed_state IS NULL ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([account], identity_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn submission_list(&self, account: &str) -> Result<Vec<Submission>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, identity, email, thread, envelope, send_at, queue_id, recipients
                 FROM sub_submissions WHERE account = ?1 AND destroyed_state IS NULL ORDER BY id",
            )?;
            let rows = stmt
                .query_map([account], |r| {
                    let recipients: String = r.get(7)?;
                    Ok(Submission {
                        id: r.get(0)?,
                        identity: r.get(1)?,
                        email: r.get(2)?,
                        thread: r.get(3)?,
                        envelope: r.get(4)?,
                        send_at: r.get(5)?,
                        queue_id: r.get(6)?,
                        recipients: recipients
                            .split('\n')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn sub_changes(
        &self,
        account: &str,
        kind: SubKind,
        since: &str,
    ) -> Result<Option<Vec<LogEntry>>> {
        let Ok(since) = since.parse::<i64>() else {
            return Ok(None);
        };
        let table = match kind {
            SubKind::Identity => "sub_identities",
            SubKind::Submission => "sub_submissions",
            SubKind::Vacation => {
                return Err(StoreError::Invalid(
                    "the vacation response has no change log".into(),
                ))
            }
        };
        self.read(|c| {
            if since < 0 || since > state_of(c, account, kind)? {
                return Ok(None);
            }
            let mut stmt = c.prepare(&format!(
                "SELECT id, created_state, updated_state, destroyed_state FROM {table}
                 WHERE account = ?1 AND updated_state > ?2"
            ))?;
            let rows = stmt
                .query_map(params![account, since], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(change_log(rows, since)))
        })
    }

    fn vacation_get(&self, account: &str) -> Result<Vacation> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT is_enabled, from_date, to_date, subject, text_body, html_body
                 FROM sub_vacation WHERE account = ?1",
            )?
            .query_row([account], |r| {
                Ok(Vacation {
                    is_enabled: r.get(0)?,
                    from_date: r.get(1)?,
                    to_date: r.get(2)?,
                    subject: r.get(3)?,
                    text_body: r.get(4)?,
                    html_body: r.get(5)?,
                })
            })
            .optional()?
            .unwrap_or_default())
        })
    }
}

#[async_trait]
impl SubmissionStore for Sqlite {
    async fn identity_list(&self, account: &str) -> Result<Vec<Identity>> {
        let a = account.to_ascii_lowercase();
        self.store().identity_ensure(self.writer(), &a).await?;
        self.read(move |s| s.identity_list(&a)).await
    }

    async fn identity_create(&self, account: &str, f: IdentityFields) -> Result<i64> {
        let a = account.to_ascii_lowercase();
        self.store().identity_ensure(self.writer(), &a).await?;
        crate::shared::write(self.writer(), move |tx| insert_identity(tx, &a, &f, true)).await
    }

    async fn identity_update(&self, account: &str, id: i64, f: IdentityFields) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        crate::shared::write(self.writer(), move |tx| {
            let live = tx
                .query_row(
                    "SELECT 1 FROM sub_identities WHERE account = ?1 AND id = ?2
                     AND destroyed_state IS NULL",
                    params![a, id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !live {
                return Ok(false);
            }
            let state = bump(tx, &a, SubKind::Identity)?;
            tx.execute(
                "UPDATE sub_identities SET name = ?1, reply_to = ?2, bcc = ?3,
                     text_signature = ?4, html_signature = ?5, updated_state = ?6 WHERE id = ?7",
                params![
                    f.name,
                    f.reply_to,
                    f.bcc,
                    f.text_signature,
                    f.html_signature,
                    state,
                    id
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn identity_destroy(&self, account: &str, id: i64) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        crate::shared::write(self.writer(), move |tx| {
            destroy_row(
                tx,
                "sub_identities",
                &a,
                id,
                SubKind::Identity,
                " AND may_delete = 1",
            )
        })
        .await
    }

    async fn submission_list(&self, account: &str) -> Result<Vec<Submission>> {
        let a = account.to_ascii_lowercase();
        self.read(move |s| s.submission_list(&a)).await
    }

    async fn submission_create(&self, account: &str, s: Submission) -> Result<i64> {
        let a = account.to_ascii_lowercase();
        crate::shared::write(self.writer(), move |tx| {
            let state = bump(tx, &a, SubKind::Submission)?;
            tx.execute(
                "INSERT INTO sub_submissions(account, identity, email, thread, envelope, send_at,
                     queue_id, recipients, created_state, updated_state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    a,
                    s.identity,
                    s.email,
                    s.thread,
                    s.envelope,
                    s.send_at,
                    s.queue_id,
                    s.recipients.join("\n"),
                    state
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn submission_destroy(&self, account: &str, id: i64) -> Result<bool> {
        let a = account.to_ascii_lowercase();
        crate::shared::write(self.writer(), move |tx| {
            destroy_row(tx, "sub_submissions", &a, id, SubKind::Submission, "")
        })
        .await
    }

    async fn sub_state(&self, account: &str, kind: SubKind) -> Result<String> {
        let a = account.to_ascii_lowercase();
        self.read(move |s| s.read(|c| state_of(c, &a, kind)))
            .await
            .map(|n| n.to_string())
    }

    async fn sub_changes(
        &self,
        account: &str,
        kind: SubKind,
        since: &str,
    ) -> Result<Option<Vec<LogEntry>>> {
        let (a, since) = (account.to_ascii_lowercase(), since.to_owned());
        self.read(move |s| s.sub_changes(&a, kind, &since)).await
    }

    async fn vacation_get(&self, account: &str) -> Result<Vacation> {
        // Read for every local recipient of every message: a point read on the calling task.
        self.read_now(|s| s.vacation_get(&account.to_ascii_lowercase()))
    }

    async fn vacation_set(&self, account: &str, v: Vacation) -> Result<()> {
        let a = account.to_ascii_lowercase();
        crate::shared::write(self.writer(), move |tx| {
            bump(tx, &a, SubKind::Vacation)?;
            tx.execute(
                "INSERT INTO sub_vacation(account, is_enabled, from_date, to_date, subject,
                     text_body, html_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(account) DO UPDATE SET is_enabled = ?2, from_date = ?3,
                     to_date = ?4, subject = ?5, text_body = ?6, html_body = ?7",
                params![
                    a,
                    v.is_enabled,
                    v.from_date,
                    v.to_date,
                    v.subject,
                    v.text_body,
                    v.html_body
                ],
            )?;
            // A new vacation starts a new period for every sender.
            tx.execute("DELETE FROM sub_vacation_replied WHERE account = ?1", [&a])?;
            Ok(())
        })
        .await
    }

    async fn vacation_claim_reply(
        &self,
        account: &str,
        sender: &str,
        now: i64,
        period_secs: i64,
    ) -> Result<bool> {
        let (a, s) = (account.to_ascii_lowercase(), sender.to_ascii_lowercase());
        crate::shared::write(self.writer(), move |tx| {
            let last: Option<i64> = tx
                .query_row(
                    "SELECT at FROM sub_vacation_replied WHERE account = ?1 AND sender = ?2",
                    params![a, s],
                    |r| r.get(0),
                )
                .optional()?;
            if last.is_some_and(|t| now - t < period_secs) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO sub_vacation_replied(account, sender, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(account, sender) DO UPDATE SET at = ?3",
                params![a, s, now],
            )?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (Sqlite, crate::directory::tempdir::Dir) {
        let dir = crate::directory::tempdir::Dir::new();
        let (s, _t) = Sqlite::open(dir.path()).expect("open");
        (s, dir)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn identities_changes_and_vacation_claims() {
        let (s, _d) = open();
        let a = "alice@example.test";
        let ids = s.identity_list(a).await.unwrap();
        assert_eq!(ids.len(), 1);
        assert!(!ids[0].may_delete);
        assert_eq!(ids[0].fields.email, a);
        // The own identity may not be destroyed.
        assert!(!s.identity_destroy(a, ids[0].id).await.unwrap());
        let st = s.sub_state(a, SubKind::Identity).await.unwrap();
        let f = IdentityFields {
            email: "sales@example.test".into(),
            name: "Sales".into(),
            ..IdentityFields::default()
        };
        let id = s.identity_create(a, f.clone()).await.unwrap();
        let log = s
            .sub_changes(a, SubKind::Identity, &st)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].id, log[0].kind), (id, LogKind::Created));
        assert!(s.identity_destroy(a, id).await.unwrap());
        let log = s
            .sub_changes(a, SubKind::Identity, &st)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(log.last().map(|e| e.kind), Some(LogKind::Destroyed));
        assert_eq!(s.identity_list(a).await.unwrap().len(), 1);
        assert!(s
            .sub_changes(a, SubKind::Identity, "999")
            .await
            .unwrap()
            .is_none());
        // RFC 8621 §8: active only when enabled and inside its dates (toDate exclusive).
        let v = Vacation {
            is_enabled: true,
            from_date: Some(100),
            to_date: Some(200),
            ..Vacation::default()
        };
        assert!(!v.active_at(99) && v.active_at(100) && v.active_at(199) && !v.active_at(200));
        assert!(!Vacation {
            is_enabled: false,
            ..v
        }
        .active_at(150));
        // RFC 3834: one reply per sender per period.
        assert!(s
            .vacation_claim_reply(a, "x@y.test", 1000, 10)
            .await
            .unwrap());
        assert!(!s
            .vacation_claim_reply(a, "X@y.test", 1005, 10)
            .await
            .unwrap());
        assert!(s
            .vacation_claim_reply(a, "x@y.test", 1010, 10)
            .await
            .unwrap());
    }
}
