//! The mailbox audit (AL-3.1): every access to and change of a mailbox, keyed by the account it
//! concerns, with when, from where, through which service, with which client, and who acted
//! (the owner, a delegate or an administrator). Kept as long as the trace (NC-2.4.3).
//!
//! The records are written in the writer's group commit like everything else; a record that
//! cannot be written is logged, never a reason to refuse the user's request.

use crate::{now_micros, Result, Store, Writer};
use rusqlite::params;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mailbox_audit (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    account TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    service TEXT NOT NULL,
    operation TEXT NOT NULL,
    client TEXT,
    user_agent TEXT,
    location TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_audit_account ON mailbox_audit(account, ts);
CREATE INDEX IF NOT EXISTS mailbox_audit_ts ON mailbox_audit(ts);
"#;

/// Who acted on a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    Owner,
    Delegate,
    Administrator,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Owner => "owner",
            ActorKind::Delegate => "delegate",
            ActorKind::Administrator => "administrator",
        }
    }

    /// The kind [`ActorKind::as_str`] spelled; an unknown word is the owner.
    pub fn parse(s: &str) -> ActorKind {
        match s {
            "delegate" => ActorKind::Delegate,
            "administrator" => ActorKind::Administrator,
            _ => ActorKind::Owner,
        }
    }
}

/// The operations the audit names, one word each, so `--operation` can select them.
pub mod op {
    pub const LOGIN: &str = "login";
    pub const LOGIN_FAILED: &str = "login-failed";
    /// A webmail session ended by its user.
    pub const LOGOUT: &str = "logout";
    /// A body or blob fetched (Exchange's MessageBind / MailItemsAccessed).
    pub const READ: &str = "read";
    pub const CREATE: &str = "create";
    pub const IMPORT: &str = "import";
    pub const SEND: &str = "send";
    pub const MOVE: &str = "move";
    pub const COPY: &str = "copy";
    pub const KEYWORDS: &str = "keywords";
    /// Moved to Trash.
    pub const SOFT_DELETE: &str = "soft-delete";
    /// Destroyed.
    pub const HARD_DELETE: &str = "hard-delete";
    pub const MAILBOX_CREATE: &str = "mailbox-create";
    pub const MAILBOX_RENAME: &str = "mailbox-rename";
    pub const MAILBOX_DELETE: &str = "mailbox-delete";
    pub const IDENTITY: &str = "identity";
    pub const VACATION: &str = "vacation";
    pub const TOKEN_CREATE: &str = "token-create";
    pub const TOKEN_USE: &str = "token-use";
    pub const TOKEN_REVOKE: &str = "token-revoke";
    pub const GRANT: &str = "grant";
    pub const DELEGATE_ACCESS: &str = "delegate-access";
    /// An administrator read the mailbox (`rampart mailbox show --reason`).
    pub const ADMIN_READ: &str = "admin-read";

    /// Every operation, for validating `--operation`.
    pub const ALL: &[&str] = &[
        LOGIN,
        LOGIN_FAILED,
        LOGOUT,
        READ,
        CREATE,
        IMPORT,
        SEND,
        MOVE,
        COPY,
        KEYWORDS,
        SOFT_DELETE,
        HARD_DELETE,
        MAILBOX_CREATE,
        MAILBOX_RENAME,
        MAILBOX_DELETE,
        IDENTITY,
        VACATION,
        TOKEN_CREATE,
        TOKEN_USE,
        TOKEN_REVOKE,
        GRANT,
        DELEGATE_ACCESS,
        ADMIN_READ,
    ];
}

/// One mailbox event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MailboxEvent {
    /// Microseconds since the epoch.
    pub ts: i64,
    /// The mailbox owner's address, lower case.
    pub account: String,
    /// Who acted: a user's address, or `admin:<login>` for an administrator.
    pub actor: String,
    pub actor_kind: ActorKind,
    /// `jmap`, `webmail`, `submission`, `admin-cli`.
    pub service: String,
    /// One of [`op`].
    pub operation: String,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    /// Country and city of the client address, when a location database is configured.
    pub location: Option<String>,
    /// What was touched: ids, counts, names; never message content.
    pub detail: String,
}

impl MailboxEvent {
    /// An event now, by the owner, with no client details yet.
    pub fn new(account: &str, service: &str, operation: &str, detail: impl Into<String>) -> Self {
        MailboxEvent {
            ts: now_micros(),
            account: account.to_ascii_lowercase(),
            actor: account.to_ascii_lowercase(),
            actor_kind: ActorKind::Owner,
            service: service.to_owned(),
            operation: operation.to_owned(),
            client: None,
            user_agent: None,
            location: None,
            detail: detail.into(),
        }
    }
}

/// What `mailbox_events` selects.
#[derive(Debug, Clone, Default)]
pub struct MailboxEventFilter {
    /// The account (lower case); None: every account.
    pub account: Option<String>,
    /// Only events at or after this time (microseconds).
    pub since: Option<i64>,
    /// Only these operations; empty: all.
    pub operations: Vec<String>,
    /// At most this many, newest kept (None: 10,000).
    pub limit: Option<usize>,
}

const DEFAULT_LIMIT: usize = 10_000;

impl Store {
    /// Events in time order (the newest `limit` of those selected).
    pub fn mailbox_events(&self, f: &MailboxEventFilter) -> Result<Vec<MailboxEvent>> {
        self.read(|c| {
            let mut sql = String::from(
                "SELECT ts, account, actor, actor_kind, service, operation, client, user_agent,
                        location, detail FROM mailbox_audit WHERE 1=1",
            );
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(a) = &f.account {
                sql.push_str(" AND account = ?");
                args.push(a.to_ascii_lowercase().into());
            }
            if let Some(s) = f.since {
                sql.push_str(" AND ts >= ?");
                args.push(s.into());
            }
            if !f.operations.is_empty() {
                sql.push_str(" AND operation IN (");
                sql.push_str(&vec!["?"; f.operations.len()].join(","));
                sql.push(')');
                args.extend(f.operations.iter().map(|o| o.clone().into()));
            }
            let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
            sql.push_str(&format!(" ORDER BY ts DESC, id DESC LIMIT {limit}"));
            let mut stmt = c.prepare(&sql)?;
            let mut out = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok(MailboxEvent {
                        ts: r.get(0)?,
                        account: r.get(1)?,
                        actor: r.get(2)?,
                        actor_kind: ActorKind::parse(&r.get::<_, String>(3)?),
                        service: r.get(4)?,
                        operation: r.get(5)?,
                        client: r.get(6)?,
                        user_agent: r.get(7)?,
                        location: r.get(8)?,
                        detail: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.reverse();
            Ok(out)
        })
    }

    /// Records events in the writer's next commit.
    pub async fn mailbox_record(&self, writer: &Writer, events: Vec<MailboxEvent>) -> Result<()> {
        crate::shared::write(writer, move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO mailbox_audit(ts, account, actor, actor_kind, service, operation,
                     client, user_agent, location, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for e in &events {
                stmt.execute(params![
                    e.ts,
                    e.account,
                    e.actor,
                    e.actor_kind.as_str(),
                    e.service,
                    e.operation,
                    e.client,
                    e.user_agent,
                    e.location,
                    e.detail
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// Records events at once, outside the writer thread: for the administrative commands, which
    /// run without one (SQLite in WAL mode lets them write beside a live server).
    pub fn mailbox_record_now(&self, events: &[MailboxEvent]) -> Result<()> {
        let mut conn = self.admin_connection()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for e in events {
            tx.execute(
                "INSERT INTO mailbox_audit(ts, account, actor, actor_kind, service, operation,
                     client, user_agent, location, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    e.ts,
                    e.account,
                    e.actor,
                    e.actor_kind.as_str(),
                    e.service,
                    e.operation,
                    e.client,
                    e.user_agent,
                    e.location,
                    e.detail
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes events older than `days` (NC-2.4.3 keeps at least 90; the caller enforces that).
    pub fn prune_mailbox_events(&self, days: u32) -> Result<usize> {
        let cutoff = now_micros() - i64::from(days) * 86_400 * 1_000_000;
        let conn = self.admin_connection()?;
        Ok(conn.execute("DELETE FROM mailbox_audit WHERE ts < ?1", [cutoff])?)
    }
}
