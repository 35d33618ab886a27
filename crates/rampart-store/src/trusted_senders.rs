//! Senders each user trusts (AL-1.2): a user who moves a message out of Junk says its sender's
//! mail is wanted. When that message's From domain was authenticated on arrival (the
//! authentication check's `from_aligned`, kept as `messages.authenticated_from`), the From
//! address joins the user's trusted senders; moved into Junk, it leaves them. Local delivery
//! then files a tagged message in the Inbox instead of Junk for a user who trusts its
//! authenticated From ([`crate::mail`]). Only authenticated addresses are kept and matched, so a
//! forged From earns nothing; the spam score, quarantine and refusals are not changed.

use crate::shared::write;
use crate::sqlite::Sqlite;
use crate::Result;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

/// At most this many trusted senders per account: the oldest go first.
pub const MAX_PER_ACCOUNT: i64 = 5_000;

/// Creates the table and the message column; idempotent, run at every open.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spam_trusted_senders (
             account TEXT NOT NULL,
             address TEXT NOT NULL,
             added INTEGER NOT NULL,
             PRIMARY KEY (account, address)
         ) WITHOUT ROWID;",
    )?;
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'authenticated_from'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN authenticated_from TEXT")?;
    }
    Ok(())
}

/// What a user's move did to the trusted senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustChange {
    /// The message had no authenticated From: nothing to trust or distrust.
    NotAuthenticated,
    /// The address is trusted now (it may have been before).
    Trusted(String),
    /// The address is no longer trusted (it may not have been).
    Distrusted(String),
}

/// Where local delivery filed a message, when that is worth saying in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    /// Not tagged as spam (or the account has no Junk): the Inbox, as always.
    Inbox,
    /// Tagged as spam: the Junk mailbox.
    Junk,
    /// Tagged, but the account trusts this authenticated From: the Inbox.
    Trusted(String),
}

impl Filed {
    /// From the Junk mailbox chosen (if any) and the trusted address (if any).
    pub fn of(junk_box: Option<i64>, trusted: Option<String>) -> Filed {
        match (junk_box, trusted) {
            (Some(_), _) => Filed::Junk,
            (None, Some(t)) => Filed::Trusted(t),
            (None, None) => Filed::Inbox,
        }
    }

    /// The delivery trace event's words for `account`'s mailbox.
    pub fn detail(&self, account: &str) -> String {
        match self {
            Filed::Inbox => format!("delivered to mailbox {account}"),
            Filed::Junk => format!("delivered to mailbox {account} (Junk: tagged as spam)"),
            Filed::Trusted(from) => format!(
                "delivered to mailbox {account} (Inbox: tagged as spam, but {account} trusts \
                 its authenticated sender {from}, AL-1.2)"
            ),
        }
    }
}

/// The store's part of the trusted senders.
#[async_trait]
pub trait TrustedSenders: Send + Sync {
    /// The user's judgement of their email `email`: `trust` (moved out of Junk) adds its
    /// authenticated From to the account's trusted senders, otherwise (moved into Junk) removes
    /// it. An email of another account, or none, changes nothing.
    async fn judge_sender(&self, account: &str, email: i64, trust: bool) -> Result<TrustChange>;
    /// Trusts `address` for the account directly (the administrator's `rampart spam trust`,
    /// the user's TrustedSender/set). It still matches only an authenticated From. The time it
    /// is trusted from (microseconds).
    async fn trust_sender(&self, account: &str, address: &str) -> Result<i64>;
    /// The account's trusted senders with the time each was added, newest first.
    async fn trusted_senders(&self, account: &str) -> Result<Vec<(String, i64)>>;
    /// Removes one address from the account's trusted senders; whether it was there.
    async fn untrust_sender(&self, account: &str, address: &str) -> Result<bool>;
}

/// Whether `account` trusts the authenticated From of `message`, inside a delivery.
pub(crate) fn trusts(conn: &Connection, account: &str, authenticated_from: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM spam_trusted_senders WHERE account = ?1 AND address = ?2")?
        .exists(params![account, authenticated_from])?)
}

/// Adds (or confirms) `address`, then keeps the account's newest [`MAX_PER_ACCOUNT`]; the time
/// it is trusted from.
fn insert(tx: &rusqlite::Transaction, account: &str, address: &str) -> Result<i64> {
    let now = crate::now_micros();
    tx.prepare_cached(
        "INSERT INTO spam_trusted_senders(account, address, added) VALUES (?1, ?2, ?3)
         ON CONFLICT(account, address) DO UPDATE SET added = excluded.added",
    )?
    .execute(params![account, address, now])?;
    tx.prepare_cached(
        "DELETE FROM spam_trusted_senders WHERE account = ?1 AND address IN
           (SELECT address FROM spam_trusted_senders WHERE account = ?1
            ORDER BY added DESC LIMIT -1 OFFSET ?2)",
    )?
    .execute(params![account, MAX_PER_ACCOUNT])?;
    Ok(now)
}

/// `address` as a trusted sender is kept (trimmed, lower case) when it is a plain
/// `local@domain`: a dot in the domain, at most 320 bytes, no white space, control characters
/// or address-list punctuation. The one check for every way an address is added by hand.
pub fn valid_address(address: &str) -> Option<String> {
    let a = key(address);
    let (local, domain) = a.rsplit_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && a.len() <= 320
        && a.chars().all(|c| !c.is_control() && !c.is_whitespace())
        && !a.contains(['<', '>', ',', ';']);
    ok.then_some(a)
}

/// How accounts and addresses are kept and compared: trimmed, lower case.
pub fn key(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

#[async_trait]
impl TrustedSenders for Sqlite {
    async fn judge_sender(&self, account: &str, email: i64, trust: bool) -> Result<TrustChange> {
        let account = key(account);
        write(self.writer(), move |tx| {
            let from: Option<String> = tx
                .prepare_cached(
                    "SELECT m.authenticated_from FROM mail_emails e JOIN messages m
                       ON m.id = e.message WHERE e.account = ?1 AND e.id = ?2",
                )?
                .query_row(params![account, email], |r| r.get(0))
                .optional()?
                .flatten();
            let Some(from) = from.map(|f| key(&f)).filter(|f| !f.is_empty()) else {
                return Ok(TrustChange::NotAuthenticated);
            };
            if !trust {
                tx.prepare_cached(
                    "DELETE FROM spam_trusted_senders WHERE account = ?1 AND address = ?2",
                )?
                .execute(params![account, from])?;
                return Ok(TrustChange::Distrusted(from));
            }
            insert(tx, &account, &from)?;
            Ok(TrustChange::Trusted(from))
        })
        .await
    }

    async fn trust_sender(&self, account: &str, address: &str) -> Result<i64> {
        let (account, address) = (key(account), key(address));
        write(self.writer(), move |tx| insert(tx, &account, &address)).await
    }

    async fn trusted_senders(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let account = key(account);
        self.read(move |s| {
            s.read(|c| {
                let mut st = c.prepare(
                    "SELECT address, added FROM spam_trusted_senders WHERE account = ?1
                     ORDER BY added DESC, address",
                )?;
                let rows = st.query_map([&account], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
        })
        .await
    }

    async fn untrust_sender(&self, account: &str, address: &str) -> Result<bool> {
        let (account, address) = (key(account), key(address));
        write(self.writer(), move |tx| {
            Ok(tx
                .prepare_cached(
                    "DELETE FROM spam_trusted_senders WHERE account = ?1 AND address = ?2",
                )?
                .execute(params![account, address])?
                > 0)
        })
        .await
    }
}
