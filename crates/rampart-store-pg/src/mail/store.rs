//! [`MailStore`] and [`Mailboxes`] for [`PgStore`]: reads on a connection of the sessions pool,
//! each write in one transaction that holds the account's lock, records its changes and
//! notifies every node's push feed once it commits ([`super::feed`]).

use super::{account_key, blobs, changes, emails, mailboxes, mdb, query, threads};
use super::{lock_account, notify, ALL};
use crate::{db, PgStore};
use async_trait::async_trait;
use rampart_store::api::{MailChange, MailStore, Mailboxes};
use rampart_store::mail::rules::{normalise_keywords, placement, Facts};
use rampart_store::mail::{
    Changes, EmailQuery, EmailRecord, Kind, MailError, MailResult, MailboxInfo, MailboxUpdate,
    NewMailbox, QueryResult, Quota, Upload,
};
use rampart_store::mailbox::MailboxEntry;
use rampart_store::{now_micros, QueueId, Result};
use std::collections::BTreeSet;

/// Begins a transaction on `$conn` that holds `$account`'s write lock.
macro_rules! begin {
    ($store:expr, $conn:ident, $tx:ident, $account:expr) => {
        let mut $conn = $store.conn(&$store.sessions).await?;
        let $tx = $conn.transaction().await.map_err(mdb)?;
        lock_account(&$tx, $account).await?;
    };
}

impl PgStore {
    /// Forgets the change rows of destroyed objects older than the newest `keep` states of
    /// `kind` in `account` (as the embedded store's `mail_prune_changes`).
    pub async fn mail_prune_changes(&self, account: &str, kind: Kind, keep: i64) -> Result<()> {
        let account = account_key(account);
        let mut conn = self.conn(&self.sessions).await?;
        let tx = conn.transaction().await.map_err(db)?;
        lock_account(&tx, &account).await?;
        changes::prune(&tx, &account, kind, keep).await?;
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl MailStore for PgStore {
    async fn index_pending(&self, account: &str) -> MailResult<usize> {
        self.index_pending_now(&account_key(account)).await
    }

    async fn mailbox_ensure(&self, account: &str) -> Result<()> {
        let account = account_key(account);
        // Asked at every login: a read answers once the mailboxes exist.
        if mailboxes::any_mailbox(&**self.conn(&self.sessions).await?, &account).await? {
            return Ok(());
        }
        let mut conn = self.conn(&self.sessions).await?;
        let tx = conn.transaction().await.map_err(db)?;
        lock_account(&tx, &account).await?;
        mailboxes::ensure_mailboxes(&tx, &account).await?;
        notify(&tx, &account, &[Kind::Mailbox]).await?;
        tx.commit().await.map_err(db)
    }

    async fn mailbox_get(&self, account: &str) -> Result<Vec<MailboxInfo>> {
        let conn = self.conn(&self.sessions).await?;
        mailboxes::mailbox_get(&**conn, &account_key(account)).await
    }

    async fn mailbox_create(&self, account: &str, new: NewMailbox) -> MailResult<i64> {
        let account = account_key(account);
        begin!(self, conn, tx, &account);
        let id = mailboxes::mailbox_create(&tx, &account, &new).await?;
        notify(&tx, &account, &[Kind::Mailbox]).await?;
        tx.commit().await.map_err(mdb)?;
        Ok(id)
    }

    async fn mailbox_update(&self, account: &str, id: i64, u: MailboxUpdate) -> MailResult<bool> {
        let account = account_key(account);
        begin!(self, conn, tx, &account);
        let changed = mailboxes::mailbox_update(&tx, &account, id, &u).await?;
        if changed {
            notify(&tx, &account, &[Kind::Mailbox]).await?;
        }
        tx.commit().await.map_err(mdb)?;
        Ok(changed)
    }

    async fn mailbox_destroy(&self, account: &str, id: i64, remove_emails: bool) -> MailResult<()> {
        let account = account_key(account);
        begin!(self, conn, tx, &account);
        mailboxes::mailbox_destroy(&tx, &account, id, remove_emails).await?;
        notify(&tx, &account, &ALL).await?;
        tx.commit().await.map_err(mdb)
    }

    async fn email_get(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRecord>> {
        let conn = self.conn(&self.sessions).await?;
        emails::email_get(&**conn, &account_key(account), ids).await
    }

    async fn email_set_keywords(
        &self,
        account: &str,
        id: i64,
        keywords: Vec<String>,
    ) -> MailResult<bool> {
        let account = account_key(account);
        let new = normalise_keywords(&keywords)?;
        begin!(self, conn, tx, &account);
        let changed = emails::set_keywords(&tx, &account, id, &new).await?;
        if changed {
            notify(&tx, &account, &ALL).await?;
        }
        tx.commit().await.map_err(mdb)?;
        Ok(changed)
    }

    async fn email_set_mailboxes(
        &self,
        account: &str,
        id: i64,
        mailboxes: Vec<i64>,
    ) -> MailResult<bool> {
        let account = account_key(account);
        let new: BTreeSet<i64> = mailboxes.into_iter().collect();
        begin!(self, conn, tx, &account);
        let changed = emails::set_mailboxes(&tx, &account, id, &new).await?;
        if changed {
            notify(&tx, &account, &ALL).await?;
        }
        tx.commit().await.map_err(mdb)?;
        Ok(changed)
    }

    async fn email_destroy(&self, account: &str, ids: Vec<i64>) -> MailResult<Vec<bool>> {
        let account = account_key(account);
        begin!(self, conn, tx, &account);
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            match emails::destroy_email(&tx, &account, id).await {
                Ok(()) => found.push(true),
                Err(MailError::NotFound) => found.push(false),
                Err(e) => return Err(e),
            }
        }
        if found.iter().any(|d| *d) {
            notify(&tx, &account, &ALL).await?;
        }
        tx.commit().await.map_err(mdb)?;
        Ok(found)
    }

    async fn email_import(
        &self,
        account: &str,
        raw: Vec<u8>,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
        received_at: Option<i64>,
    ) -> MailResult<i64> {
        let account = account_key(account);
        let (mailboxes, keywords) = placement(mailboxes, &keywords)?;
        let (raw, facts) = tokio::task::spawn_blocking(move || {
            let f = Facts::parse(&raw);
            (raw, f)
        })
        .await
        .map_err(|e| rampart_store::StoreError::Invalid(e.to_string()))?;
        let id = QueueId::generate();
        let received_at = received_at.unwrap_or_else(now_micros);
        begin!(self, conn, tx, &account);
        let email = emails::import(
            &tx,
            &account,
            &id.0,
            &raw,
            &mailboxes,
            &keywords,
            received_at,
            &facts,
        )
        .await?;
        notify(&tx, &account, &ALL).await?;
        tx.commit().await.map_err(mdb)?;
        Ok(email)
    }

    async fn email_copy(
        &self,
        from_account: &str,
        id: i64,
        to_account: &str,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
    ) -> MailResult<i64> {
        let (from, to) = (account_key(from_account), account_key(to_account));
        let (mailboxes, keywords) = placement(mailboxes, &keywords)?;
        // Only the target account is written; the source is read (its message kept by a key
        // share lock for the transaction).
        begin!(self, conn, tx, &to);
        let email = emails::copy(&tx, &from, id, &to, &mailboxes, &keywords).await?;
        notify(&tx, &to, &ALL).await?;
        tx.commit().await.map_err(mdb)?;
        Ok(email)
    }

    async fn email_query(&self, account: &str, q: &EmailQuery) -> MailResult<QueryResult> {
        let conn = self.conn(&self.sessions).await?;
        query::email_query(&**conn, &account_key(account), q).await
    }

    async fn email_raw(&self, account: &str, id: i64) -> Result<Option<Vec<u8>>> {
        let conn = self.conn(&self.sessions).await?;
        query::email_raw(&**conn, &account_key(account), id).await
    }

    async fn thread_get(&self, account: &str, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>> {
        let conn = self.conn(&self.sessions).await?;
        threads::thread_get(&**conn, &account_key(account), ids).await
    }

    async fn mail_state(&self, account: &str, kind: Kind) -> Result<String> {
        let conn = self.conn(&self.sessions).await?;
        Ok(changes::counters(&**conn, &account_key(account), kind)
            .await?
            .0
            .to_string())
    }

    async fn mail_changes(
        &self,
        account: &str,
        kind: Kind,
        since: &str,
        max: Option<usize>,
    ) -> MailResult<Changes> {
        let mut conn = self.conn(&self.sessions).await?;
        changes::mail_changes(&mut conn, &account_key(account), kind, since, max).await
    }

    async fn quota_get(&self, account: &str) -> Result<Quota> {
        let conn = self.conn(&self.sessions).await?;
        emails::quota_get(&**conn, &account_key(account)).await
    }

    async fn quota_set_limit(&self, account: &str, limit: Option<u64>) -> Result<()> {
        let conn = self.conn(&self.sessions).await?;
        let limit = limit.map(|l| l.min(i64::MAX as u64) as i64);
        conn.execute(
            "INSERT INTO mail_quotas(account, limit_bytes) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE SET limit_bytes = excluded.limit_bytes",
            &[&account_key(account), &limit],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    fn mail_changes_feed(&self) -> tokio::sync::broadcast::Receiver<MailChange> {
        self.feed.subscribe()
    }

    async fn upload_blob(
        &self,
        account: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> MailResult<Upload> {
        let account = account_key(account);
        begin!(self, conn, tx, &account);
        // No state changes: an upload is not mail data until it is imported.
        let up = blobs::upload_blob(&tx, &account, content_type, &data, now_micros()).await?;
        tx.commit().await.map_err(mdb)?;
        Ok(up)
    }

    async fn upload_get(&self, account: &str, id: i64) -> Result<Option<(Upload, Vec<u8>)>> {
        let conn = self.conn(&self.sessions).await?;
        blobs::upload_get(&**conn, &account_key(account), id, now_micros()).await
    }

    async fn mailbox_props_changed(&self, account: &str, since: &str) -> MailResult<Vec<i64>> {
        let conn = self.conn(&self.sessions).await?;
        mailboxes::props_changed(&**conn, &account_key(account), since).await
    }
}

#[async_trait]
impl Mailboxes for PgStore {
    async fn mailbox_list(&self, user: &str) -> Result<Vec<MailboxEntry>> {
        let conn = self.conn(&self.sessions).await?;
        emails::mailbox_list(&**conn, &account_key(user)).await
    }

    async fn mailbox_message(&self, user: &str, id: i64) -> Result<Option<Vec<u8>>> {
        let conn = self.conn(&self.sessions).await?;
        query::email_raw(&**conn, &account_key(user), id).await
    }

    async fn mailbox_delete(&self, user: &str, id: i64) -> Result<bool> {
        let mut conn = self.conn(&self.sessions).await?;
        emails::mailbox_delete(&mut conn, &account_key(user), id).await
    }
}
