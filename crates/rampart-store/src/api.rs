//! The store as the rest of Rampart sees it: async traits, one per concern, with no database type
//! in any signature. SQLite ([`crate::sqlite::Sqlite`]) is the embedded implementation; a shared
//! database for several nodes implements the same traits and passes the same conformance suite
//! ([`crate::conformance`], behind the `conformance` feature).
//!
//! Callers hold an [`AnyStore`] (`Arc<dyn Backend>`) and never see files, paths or connections:
//! a message body goes in through [`Queue::spool`] and comes out through [`Queue::message_bytes`].
//!
//! Every method may run on an async worker: an implementation does its blocking work elsewhere
//! (the SQLite one on tokio's blocking pool and its writer thread).

use crate::directory::{Recipient, RecipientError};
use crate::mail::{
    Changes, EmailQuery, EmailRecord, Kind, MailResult, MailboxInfo, MailboxUpdate, NewMailbox,
    QueryResult, Quota, Upload,
};
use crate::mailbox::MailboxEntry;
use crate::mailbox_audit::{MailboxEvent, MailboxEventFilter};
use crate::quarantine::Held;
use crate::queue::{Bounce, DueMessage, Enqueue, QueueEntry, QueueId, SpoolFile};
use crate::spool::MemoryBudget;
use crate::status::RecipientStatus;
pub use crate::submission::SubmissionStore;
use crate::trace::{TraceEvent, TraceFilter, TraceSummary};
use crate::Result;
use async_trait::async_trait;
use std::sync::Arc;

/// Who this server receives for, and who may log in (NC-2.1.2, NC-2.1.6).
#[async_trait]
pub trait Directory: Send + Sync {
    /// Adds a domain we receive for; an error when it exists already.
    async fn add_domain(&self, name: &str) -> Result<()>;
    /// Every local domain, sorted.
    async fn domains(&self) -> Result<Vec<String>>;
    async fn is_local_domain(&self, domain: &str) -> Result<bool>;
    /// Adds a user with an Argon2id hash of `password` (NC-2.1.2: only accounts the administrator
    /// creates exist). The domain must be local.
    async fn add_user(&self, address: &str, password: &str) -> Result<()>;
    /// Every user's address, sorted.
    async fn users(&self) -> Result<Vec<String>>;
    /// True when `password` is `address`'s; false for a wrong password or an unknown user.
    async fn verify_password(&self, address: &str, password: &str) -> Result<bool>;
    async fn add_alias(&self, alias: &str, target: &str) -> Result<()>;
    /// Every (alias, target), sorted.
    async fn aliases(&self) -> Result<Vec<(String, String)>>;
    /// Lets `user` send as `address` besides its own address (NC-2.1.7).
    async fn add_send_as(&self, user: &str, address: &str) -> Result<()>;
    async fn may_send_as(&self, user: &str, address: &str) -> Result<bool>;
    /// NC-2.1.6: the one answer to "do we receive for this address", and where it lands.
    async fn resolve_recipient(
        &self,
        address: &str,
    ) -> Result<std::result::Result<Recipient, RecipientError>>;
}

/// The durable queue: received messages, their recipients and the outcome of each attempt.
#[async_trait]
pub trait Queue: Send + Sync {
    /// A spool for the body of message `id`; hand its [`SpoolFile::finish`] result to
    /// [`Queue::enqueue`]. With `hold`, the message stays in memory within that budget until it
    /// is finished, so a message the checks change is written once.
    fn spool(&self, id: &QueueId, hold: Option<&MemoryBudget>) -> SpoolFile;
    /// Makes a received message durable; returns only once it is (the 250 after DATA waits for
    /// this). On failure nothing of the message is left behind.
    async fn enqueue(&self, msg: Enqueue) -> Result<()>;
    /// Queues a message this server writes itself (a bounce, a notice) from the null sender.
    async fn enqueue_generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<QueueId>;
    /// Messages with recipients due now, oldest first, at most `limit`.
    async fn due(&self, limit: usize) -> Result<Vec<DueMessage>>;
    /// Delivers the local recipients of `batch` into their mailboxes; returns how many.
    async fn deliver_local(&self, batch: Vec<DueMessage>) -> Result<usize>;
    /// Prepares (spools) a message this server writes itself, without queuing it: a bounce
    /// handed to [`Queue::record_attempts`] so it is queued in the commit that records the
    /// failures it reports.
    async fn generated(
        &self,
        to: &str,
        body: Vec<u8>,
        message_id: String,
        what: &str,
    ) -> Result<Enqueue>;
    /// Records the outcome for each (recipient, status) of message `id`, with trace events, and
    /// queues `bounce` in the same commit when one of the failures is newly recorded; the message
    /// is removed in that commit when nothing needs it any more. Returns whether the bounce was
    /// queued.
    async fn record_attempts(
        &self,
        id: &QueueId,
        outcomes: Vec<(String, RecipientStatus)>,
        events: Vec<TraceEvent>,
        bounce: Option<Bounce>,
    ) -> Result<bool>;
    /// When the next queued recipient is due (microseconds since the epoch).
    async fn next_attempt_at(&self) -> Result<Option<i64>>;
    /// Every queue row, for `rampart queue list`.
    async fn queue_list(&self) -> Result<Vec<QueueEntry>>;
    /// The stored message; with its Return-Path line or without (for relaying).
    async fn message_bytes(&self, id: &QueueId, with_return_path: bool) -> Result<Vec<u8>>;
    /// Removes bodies that were spooled but never acknowledged (a crash before the commit).
    async fn remove_orphans(&self) -> Result<usize>;
}

/// Local mailboxes, as the administrator's CLI sees them.
#[async_trait]
pub trait Mailboxes: Send + Sync {
    async fn mailbox_list(&self, user: &str) -> Result<Vec<MailboxEntry>>;
    async fn mailbox_message(&self, user: &str, id: i64) -> Result<Option<Vec<u8>>>;
    /// Deletes one message from `user`'s mailbox; the stored copy goes with the last reference.
    async fn mailbox_delete(&self, user: &str, id: i64) -> Result<bool>;
}

/// Messages held by the checks, for an administrator to release or delete.
#[async_trait]
pub trait Quarantine: Send + Sync {
    async fn quarantine_list(&self) -> Result<Vec<Held>>;
    async fn quarantine_get(&self, id: &str) -> Result<Option<Held>>;
    async fn quarantine_release(&self, id: &str, by: &str) -> Result<()>;
    async fn quarantine_delete(&self, id: &str, by: &str) -> Result<()>;
    /// Holds a queued message at delivery time (a check found it bad after it was accepted).
    async fn hold(
        &self,
        id: &QueueId,
        message_id: Option<String>,
        reason: String,
        verdicts: String,
    ) -> Result<()>;
}

/// The message trace (AL-3.1) and its retention (NC-2.4.3).
#[async_trait]
pub trait Trace: Send + Sync {
    /// AL-3.1: records an event; it becomes durable with the next commit, without waiting.
    async fn record(&self, event: TraceEvent);
    /// The timelines that match `filter`, oldest event first.
    async fn trace(&self, filter: &TraceFilter) -> Result<Vec<TraceEvent>>;
    /// Removes events older than `days`; returns how many.
    async fn prune_trace(&self, days: u32) -> Result<usize>;
    /// What `rampart audit` reads of the trace (NC-2.4.3, AL-3.1): the oldest event kept, the
    /// messages queued and failed authentications since `since` (microseconds since the epoch),
    /// and the mailbox audit's events kept.
    async fn trace_summary(&self, since: i64) -> Result<TraceSummary>;
}

/// A ban of a client address or account, by intrusion prevention or an administrator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ban {
    /// What is banned: an address (`ip:192.0.2.1`), a network, or an account (`user:a@b`).
    pub subject: String,
    /// Microseconds since the epoch.
    pub since: i64,
    pub until: i64,
    pub reason: String,
}

/// State that several nodes of one installation must share: rate-limit counters (NC-2.1.8),
/// authentication failures and bans. Times are microseconds since the epoch, passed in by the
/// caller so the results do not depend on whose clock reads them.
#[async_trait]
pub trait SharedState: Send + Sync {
    /// Adds `n` to counter `key` in the fixed window of `window_micros` that holds `now`, and
    /// returns the window's count after adding. Windows before the current one are forgotten.
    async fn count_in_window(&self, key: &str, now: i64, window_micros: i64, n: u64)
        -> Result<u64>;
    /// Records a failed authentication for `key` at `now`; returns how many failures `key` has
    /// had since `now - window_micros`.
    async fn auth_failure(&self, key: &str, now: i64, window_micros: i64) -> Result<u32>;
    /// Forgets `key`'s failures (after a successful login).
    async fn auth_success(&self, key: &str) -> Result<()>;
    /// Bans `subject` until `until`, replacing an earlier ban of it.
    async fn ban(&self, subject: &str, now: i64, until: i64, reason: &str) -> Result<()>;
    /// The ban in force on `subject` at `now`, if any.
    async fn banned(&self, subject: &str, now: i64) -> Result<Option<Ban>>;
    /// Every ban in force at `now`, soonest to end first.
    async fn bans(&self, now: i64) -> Result<Vec<Ban>>;
    /// Lifts a ban; false when there was none in force.
    async fn unban(&self, subject: &str, now: i64) -> Result<bool>;
}

/// Which kinds of mail data of an account changed in one commit: what push (RFC 8620 section 7)
/// tells a client to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailChange {
    /// The account (the owner's address, lower case).
    pub account: String,
    pub kinds: Vec<Kind>,
}

/// The mailbox model of JMAP Mail (RFC 8621): mailboxes, emails, threads, keywords, the change
/// log, search and quotas, per account (the owner's address). See [`crate::mail`] for what each
/// does; these are the same operations, async, with nothing of SQLite in them.
///
/// Reads may lag deliveries until [`MailStore::index_pending`] has run for the account: the JMAP
/// layer calls it before it answers a read.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Indexes the account's delivered emails whose header facts are pending; returns how many.
    async fn index_pending(&self, account: &str) -> MailResult<usize>;
    /// Creates the account's role mailboxes if they do not exist.
    async fn mailbox_ensure(&self, account: &str) -> Result<()>;
    async fn mailbox_get(&self, account: &str) -> Result<Vec<MailboxInfo>>;
    async fn mailbox_create(&self, account: &str, new: NewMailbox) -> MailResult<i64>;
    /// False when nothing changed.
    async fn mailbox_update(&self, account: &str, id: i64, u: MailboxUpdate) -> MailResult<bool>;
    async fn mailbox_destroy(&self, account: &str, id: i64, remove_emails: bool) -> MailResult<()>;
    async fn email_get(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRecord>>;
    async fn email_set_keywords(
        &self,
        account: &str,
        id: i64,
        keywords: Vec<String>,
    ) -> MailResult<bool>;
    async fn email_set_mailboxes(
        &self,
        account: &str,
        id: i64,
        mailboxes: Vec<i64>,
    ) -> MailResult<bool>;
    /// For each id, whether it was destroyed.
    async fn email_destroy(&self, account: &str, ids: Vec<i64>) -> MailResult<Vec<bool>>;
    /// Stores `raw` as a new email of the account (Email/import, Email/set create, a sent copy).
    async fn email_import(
        &self,
        account: &str,
        raw: Vec<u8>,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
        received_at: Option<i64>,
    ) -> MailResult<i64>;
    /// Email/copy: one stored body, a new email in `to_account`.
    async fn email_copy(
        &self,
        from_account: &str,
        id: i64,
        to_account: &str,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
    ) -> MailResult<i64>;
    async fn email_query(&self, account: &str, q: &EmailQuery) -> MailResult<QueryResult>;
    /// The raw message of an email (its blob).
    async fn email_raw(&self, account: &str, id: i64) -> Result<Option<Vec<u8>>>;
    /// (thread id, its email ids in order).
    async fn thread_get(&self, account: &str, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>>;
    async fn mail_state(&self, account: &str, kind: Kind) -> Result<String>;
    async fn mail_changes(
        &self,
        account: &str,
        kind: Kind,
        since: &str,
        max: Option<usize>,
    ) -> MailResult<Changes>;
    async fn quota_get(&self, account: &str) -> Result<Quota>;
    async fn quota_set_limit(&self, account: &str, limit: Option<u64>) -> Result<()>;
    /// Every committed change of mail data, for push. A slow receiver misses changes
    /// (`Lagged`) and should then report every kind as changed.
    fn mail_changes_feed(&self) -> tokio::sync::broadcast::Receiver<MailChange>;
    /// Stores an upload (RFC 8620 §6.1) for the account: counted against its quota
    /// ([`crate::mail::MailError::OverQuota`]), expiring after 24 hours.
    async fn upload_blob(
        &self,
        account: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> MailResult<Upload>;
    /// An upload of the account that has not expired, with its bytes; None for another
    /// account's upload.
    async fn upload_get(&self, account: &str, id: i64) -> Result<Option<(Upload, Vec<u8>)>>;
    /// The mailboxes whose own properties (not their counts) changed after state `since`: for
    /// Mailbox/changes' `updatedProperties` (RFC 8621 section 2.2).
    async fn mailbox_props_changed(&self, account: &str, since: &str) -> MailResult<Vec<i64>>;
}

/// The mailbox audit (AL-3.1): see [`crate::mailbox_audit`].
#[async_trait]
pub trait MailboxAudit: Send + Sync {
    /// Records events; a failure is logged by the implementation, never returned to the user's
    /// request (the request's own outcome stands).
    async fn mailbox_record(&self, events: Vec<MailboxEvent>);
    /// Selected events, oldest first.
    async fn mailbox_events(&self, filter: &MailboxEventFilter) -> Result<Vec<MailboxEvent>>;
    /// Removes events older than `days`.
    async fn prune_mailbox_events(&self, days: u32) -> Result<usize>;
}

/// Everything a Rampart node keeps: the one store handle the server passes around.
pub trait Backend:
    Directory
    + Queue
    + Mailboxes
    + Quarantine
    + Trace
    + SharedState
    + MailStore
    + MailboxAudit
    + crate::tokens::Logins
    + SubmissionStore
    + crate::web_sessions::WebSessions
    + crate::bans::Bans
    + crate::tls_reporting::TlsReporting
    + crate::spam_tokens::SpamTokens
    + crate::trusted_senders::TrustedSenders
    + crate::dmarc_reporting::DmarcReporting
    + crate::dkim_keys::DkimKeys
    + crate::summary::SystemReports
    + crate::admins::Admins
{
}

impl<T> Backend for T where
    T: Directory
        + Queue
        + Mailboxes
        + Quarantine
        + Trace
        + SharedState
        + MailStore
        + MailboxAudit
        + crate::tokens::Logins
        + SubmissionStore
        + crate::web_sessions::WebSessions
        + crate::bans::Bans
        + crate::tls_reporting::TlsReporting
        + crate::spam_tokens::SpamTokens
        + crate::trusted_senders::TrustedSenders
        + crate::dmarc_reporting::DmarcReporting
        + crate::dkim_keys::DkimKeys
        + crate::summary::SystemReports
        + crate::admins::Admins
{
}

/// A shared handle to whichever backend the configuration chose.
pub type AnyStore = Arc<dyn Backend>;
