//! The mail model of JMAP Mail (RFC 8621) on PostgreSQL: the same tables, rules and answers as
//! the embedded store's (`rampart_store::mail`), shared by every node.
//!
//! ```text
//! deliver_email / MailStore write ──▶ one transaction: rows, change log, pg_notify(rampart_mail)
//!                                                          │ sent only if the commit happened
//! every node: feed::Listener (its own connection, LISTEN) ◀┘──▶ broadcast ──▶ mail_changes_feed()
//! ```
//!
//! Writes of one account take a transaction-scoped advisory lock of the account first, so they
//! run one after the other as in the embedded store's single writer (the change counters, the
//! role mailboxes of a new account, threads), while different accounts are written in parallel.
//! Reads take no lock. The pure rules (keyword and name validation, header parsing, paging of
//! /changes, the window of a query) are `rampart_store::mail::rules`, called, not copied.
//!
//! What does not live here: JMAP requests and their JSON (the JMAP layer), the queue.

mod blobs;
mod changes;
mod emails;
pub mod feed;
mod index;
mod mailboxes;
mod query;
mod search;
mod store;
mod threads;

#[cfg_attr(not(feature = "test-cluster"), allow(unused_imports))]
pub(crate) use emails::deliver_email;
pub(crate) use emails::destroy_email;

use crate::db;
use rampart_store::mail::{Kind, MailError};
use rampart_store::{Result, StoreError};
use tokio_postgres::{GenericClient, Transaction};

/// The channel every node LISTENs on for committed mail changes.
pub const CHANNEL: &str = "rampart_mail";

/// The database's clock in microseconds since the epoch, as SQL.
pub(crate) const DB_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// Every kind: what a change of an email's mailboxes, keywords or existence touches.
pub(crate) const ALL: [Kind; 3] = [Kind::Email, Kind::Thread, Kind::Mailbox];

/// The account key: the user's address in lower case (as the embedded store's).
pub(crate) fn account_key(account: &str) -> String {
    account.to_ascii_lowercase()
}

/// PostgreSQL's text cannot hold NUL: a parsed header value that has one keeps a replacement
/// character in its place rather than failing the whole commit.
pub(crate) fn clean(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

pub(crate) fn kind_name(k: Kind) -> &'static str {
    k.as_str()
}

pub(crate) fn kind_from(name: &str) -> Option<Kind> {
    [Kind::Mailbox, Kind::Email, Kind::Thread]
        .into_iter()
        .find(|k| k.as_str() == name)
}

/// A database failure as the mail layer's error.
pub(crate) fn mdb(e: tokio_postgres::Error) -> MailError {
    MailError::Store(db(e))
}

/// Takes the account's write lock for the rest of `tx`: mail writes of one account are
/// serialised across every node, so its change counter moves one step at a time and no two
/// transactions give a new account its role mailboxes. A transaction that writes to several
/// accounts should lock them in sorted order (PostgreSQL breaks a deadlock by failing one).
pub(crate) async fn lock_account(tx: &Transaction<'_>, account: &str) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('mail:' || $1, 0))",
        &[&account],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Tells every node, once `tx` commits, that `kinds` of `account` changed (RFC 8620 section 7
/// push). Inside the transaction: a rolled-back change sends nothing, and PostgreSQL folds
/// identical notifications of one transaction into one.
pub(crate) async fn notify(tx: &Transaction<'_>, account: &str, kinds: &[Kind]) -> Result<()> {
    let payload = feed::payload(account, kinds);
    // PostgreSQL's limit for a payload is 8000 bytes; an address is at most a few hundred.
    if payload.len() >= 8000 {
        return Err(StoreError::Invalid(format!(
            "an account name of {} bytes is too long to announce",
            account.len()
        )));
    }
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map_err(db)?;
    Ok(())
}

/// The stored message `id`, with its Return-Path line or without.
pub(crate) async fn message_bytes<C: GenericClient + Sync>(
    c: &C,
    id: &str,
    with_return_path: bool,
) -> Result<Option<Vec<u8>>> {
    let row = c
        .query_opt(
            "SELECT m.return_path_len, b.data FROM messages m
             JOIN message_bodies b ON b.id = m.id WHERE m.id = $1",
            &[&id],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|r| {
        let rp: i64 = r.get(0);
        let mut bytes: Vec<u8> = r.get(1);
        if !with_return_path {
            bytes.drain(..(rp.max(0) as usize).min(bytes.len()));
        }
        bytes
    }))
}
