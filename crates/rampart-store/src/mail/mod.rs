//! The mail model JMAP Mail (RFC 8621) is built on: per account, mailboxes with roles, emails
//! with keywords and threads, a change log whose counters are the JMAP state strings, full-text
//! search and quotas.
//!
//! ```text
//! messages(id) ◀── mail_emails(id, account, thread, facts…) ──▶ mail_email_mailboxes ──▶ mail_mailboxes
//!   one stored copy       one row per email of an account         many-to-many            roles, tree
//!                          │
//!                          ├── mail_keywords            ($seen, $flagged, …)
//!                          ├── mail_threads             (Message-ID / In-Reply-To / References)
//!                          └── mail_fts                 (FTS5: subject, addresses, text parts)
//! mail_state, mail_changes: per account and type, the modseq counter and what changed
//! ```
//!
//! Delivery is cheap (it rides in the group commit of the hot path): it inserts the email row,
//! its Inbox or Junk membership and the change rows. Parsing the headers into the facts, the
//! thread and the search index waits for [`Store::index_pending`], which the JMAP layer calls
//! before it answers a read for the account.
//!
//! Ids are integers (the JMAP layer makes strings of them); an account is the user's address
//! in lower case. Reads take the pool; writes go through the [`Writer`](crate::Writer).
//!
//! What does not live here: JMAP requests, responses and their JSON (the JMAP crate).

mod blobs;
mod changes;
mod emails;
mod headers;
mod index;
mod mailboxes;
mod query;
pub(crate) mod schema;
mod threads;

pub use blobs::{Upload, UPLOAD_TTL_MICROS};
pub use changes::Changes;
pub use emails::{EmailAddress, EmailRecord, Quota};
pub use mailboxes::{MailboxInfo, MailboxUpdate, NewMailbox};
pub use query::{Comparator, EmailFilter, EmailQuery, FilterCondition, QueryResult, SortProperty};
pub use schema::ROLES;

pub(crate) use emails::{deliver_email, destroy_email};

/// The pure rules of the mail model (parsing, validation, paging), for the other backend
/// (rampart-store-pg) to call rather than copy: one message, one meaning.
pub mod rules {
    pub use super::changes::{page as changes_page, Row as ChangeRow};
    pub use super::emails::{normalise_keywords, placement};
    pub use super::headers::{
        conditions as header_conditions, fields as header_fields, satisfies as header_satisfies,
        HeaderMatches, HEADER_MAX,
    };
    pub use super::index::{address_sort, address_text, Facts, INDEX_BATCH};
    pub use super::mailboxes::{check_name, check_role, DEPTH_MAX};
    pub use super::query::{filter, window, window_start, FilterSql};
}

use crate::{StoreError, Writer};
use rusqlite::Transaction;

/// The types whose state strings the change log keeps (RFC 8620 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mailbox,
    Email,
    Thread,
}

impl Kind {
    /// The type's name in the change log and in JMAP (`Mailbox`, `Email`, `Thread`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mailbox => "Mailbox",
            Kind::Email => "Email",
            Kind::Thread => "Thread",
        }
    }
}

/// What happened to an object, for the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Created,
    Updated,
    Destroyed,
}

/// Why a mail operation was refused, in the terms of RFC 8620/8621 SetError and method errors,
/// or the store's own failure.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The id does not name an object of this account.
    #[error("not found")]
    NotFound,
    /// A property has a value the RFC or this server does not accept.
    #[error("invalid properties: {0}")]
    InvalidProperties(String),
    /// RFC 8621 section 2.5: a mailbox with children cannot be destroyed.
    #[error("the mailbox has child mailboxes")]
    MailboxHasChild,
    /// RFC 8621 section 2.5: a mailbox holding emails is destroyed only with
    /// onDestroyRemoveEmails.
    #[error("the mailbox holds emails")]
    MailboxHasEmail,
    /// The server does not allow this (the Inbox cannot be destroyed or lose its role).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// RFC 9425: the account's quota would be exceeded.
    #[error("over quota")]
    OverQuota,
    /// RFC 8620 section 5.5: a filter this server does not implement.
    #[error("unsupported filter: {0}")]
    UnsupportedFilter(String),
    /// RFC 8620 section 5.5: a sort this server does not implement.
    #[error("unsupported sort: {0}")]
    UnsupportedSort(String),
    /// RFC 8620 section 5.5: the anchor is not in the results.
    #[error("anchor not found")]
    AnchorNotFound,
    /// RFC 8620 section 5.2: the state is unknown or older than the change log keeps.
    #[error("cannot calculate changes")]
    CannotCalculateChanges,
}

impl From<rusqlite::Error> for MailError {
    fn from(e: rusqlite::Error) -> Self {
        MailError::Store(StoreError::from(e))
    }
}

pub type MailResult<T> = std::result::Result<T, MailError>;

/// The account key: the user's address in lower case.
pub(crate) fn account_key(account: &str) -> String {
    account.to_ascii_lowercase()
}

/// Runs `f` in the next group commit and hands back its value, or its refusal. A refusal rolls
/// back what `f` did (its own savepoint) and is an answer, not a failure: the batch goes on and
/// nothing is logged. A failure of the store itself is the writer's to report.
pub(crate) async fn write<T, F>(writer: &Writer, sync_dir: bool, f: F) -> MailResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Transaction) -> MailResult<T> + Send + 'static,
{
    let (tx_out, rx_out) = std::sync::mpsc::channel();
    writer
        .run(sync_dir, move |tx| {
            tx.execute_batch("SAVEPOINT mail_op")?;
            match f(tx) {
                Ok(v) => {
                    tx.execute_batch("RELEASE mail_op")?;
                    let _ = tx_out.send(Ok(v));
                    Ok(())
                }
                // The writer rolls back the operation's savepoint, which holds this one.
                Err(MailError::Store(e)) => Err(e),
                Err(refused) => {
                    tx.execute_batch("ROLLBACK TO mail_op; RELEASE mail_op")?;
                    let _ = tx_out.send(Err(refused));
                    Ok(())
                }
            }
        })
        .await?;
    // Only read once the commit is durable: a value is never handed out for a lost commit.
    rx_out.try_recv().map_err(|_| StoreError::Closed)?
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_index;
#[cfg(test)]
mod tests_mailboxes;
#[cfg(test)]
mod tests_query;
