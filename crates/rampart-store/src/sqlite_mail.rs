//! The mailbox model and the mailbox audit of the embedded store, behind
//! [`MailStore`] and [`MailboxAudit`]: reads on the blocking pool, writes in the writer's group
//! commit, and after each write that changed mail data a [`MailChange`] on the push feed.

use crate::api::{MailChange, MailStore, MailboxAudit};
use crate::mail::{
    Changes, EmailQuery, EmailRecord, Kind, MailResult, MailboxInfo, MailboxUpdate, NewMailbox,
    QueryResult, Quota, Upload,
};
use crate::mailbox_audit::{MailboxEvent, MailboxEventFilter};
use crate::sqlite::Sqlite;
use crate::{Result, Store, StoreError};
use async_trait::async_trait;

impl Sqlite {
    /// A blocking read whose answer may be a refusal (a [`MailError`]).
    async fn mail_read<T, F>(&self, f: F) -> MailResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> MailResult<T> + Send + 'static,
    {
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Invalid(format!("a store task failed: {e}")))?
    }

    /// Tells push subscribers that `kinds` of `account` changed (no subscriber is no error).
    fn changed(&self, account: &str, kinds: &[Kind]) {
        let _ = self.feed.send(MailChange {
            account: account.to_ascii_lowercase(),
            kinds: kinds.to_vec(),
        });
    }

    /// After a delivery: each account got an email (and so a thread and mailbox counts).
    pub(crate) fn delivered(&self, accounts: Vec<String>) {
        for a in accounts {
            self.changed(&a, &[Kind::Email, Kind::Thread, Kind::Mailbox]);
        }
    }
}

const ALL: [Kind; 3] = [Kind::Email, Kind::Thread, Kind::Mailbox];

#[async_trait]
impl MailStore for Sqlite {
    async fn index_pending(&self, account: &str) -> MailResult<usize> {
        self.store().index_pending(self.writer(), account).await
    }
    async fn mailbox_ensure(&self, account: &str) -> Result<()> {
        self.store().mailbox_ensure(self.writer(), account).await
    }
    async fn mailbox_get(&self, account: &str) -> Result<Vec<MailboxInfo>> {
        let a = account.to_owned();
        self.read(move |s| s.mailbox_get(&a)).await
    }
    async fn mailbox_create(&self, account: &str, new: NewMailbox) -> MailResult<i64> {
        let id = self
            .store()
            .mailbox_create(self.writer(), account, new)
            .await?;
        self.changed(account, &[Kind::Mailbox]);
        Ok(id)
    }
    async fn mailbox_update(&self, account: &str, id: i64, u: MailboxUpdate) -> MailResult<bool> {
        let changed = self
            .store()
            .mailbox_update(self.writer(), account, id, u)
            .await?;
        if changed {
            self.changed(account, &[Kind::Mailbox]);
        }
        Ok(changed)
    }
    async fn mailbox_destroy(&self, account: &str, id: i64, remove_emails: bool) -> MailResult<()> {
        self.store()
            .mailbox_destroy(self.writer(), account, id, remove_emails)
            .await?;
        self.changed(account, &ALL);
        Ok(())
    }
    async fn email_get(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRecord>> {
        let (a, ids) = (account.to_owned(), ids.to_vec());
        self.read(move |s| s.email_get(&a, &ids)).await
    }
    async fn email_set_keywords(
        &self,
        account: &str,
        id: i64,
        keywords: Vec<String>,
    ) -> MailResult<bool> {
        let changed = self
            .store()
            .email_set_keywords(self.writer(), account, id, keywords)
            .await?;
        if changed {
            self.changed(account, &ALL);
        }
        Ok(changed)
    }
    async fn email_set_mailboxes(
        &self,
        account: &str,
        id: i64,
        mailboxes: Vec<i64>,
    ) -> MailResult<bool> {
        let changed = self
            .store()
            .email_set_mailboxes(self.writer(), account, id, mailboxes)
            .await?;
        if changed {
            self.changed(account, &ALL);
        }
        Ok(changed)
    }
    async fn email_destroy(&self, account: &str, ids: Vec<i64>) -> MailResult<Vec<bool>> {
        let done = self
            .store()
            .email_destroy(self.writer(), account, ids)
            .await?;
        if done.iter().any(|d| *d) {
            self.changed(account, &ALL);
        }
        Ok(done)
    }
    async fn email_import(
        &self,
        account: &str,
        raw: Vec<u8>,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
        received_at: Option<i64>,
    ) -> MailResult<i64> {
        let id = self
            .store()
            .email_import(
                self.writer(),
                account,
                raw,
                mailboxes,
                keywords,
                received_at,
            )
            .await?;
        self.changed(account, &ALL);
        Ok(id)
    }
    async fn email_copy(
        &self,
        from_account: &str,
        id: i64,
        to_account: &str,
        mailboxes: Vec<i64>,
        keywords: Vec<String>,
    ) -> MailResult<i64> {
        let new = self
            .store()
            .email_copy(
                self.writer(),
                from_account,
                id,
                to_account,
                mailboxes,
                keywords,
            )
            .await?;
        self.changed(to_account, &ALL);
        Ok(new)
    }
    async fn email_query(&self, account: &str, q: &EmailQuery) -> MailResult<QueryResult> {
        let (a, q) = (account.to_owned(), q.clone());
        self.mail_read(move |s| s.email_query(&a, &q)).await
    }
    async fn email_raw(&self, account: &str, id: i64) -> Result<Option<Vec<u8>>> {
        let a = account.to_owned();
        self.read(move |s| {
            let Some(e) = s.email_get(&a, &[id])?.into_iter().next() else {
                return Ok(None);
            };
            Ok(Some(s.message_bytes(&e.message, true)?))
        })
        .await
    }
    async fn thread_get(&self, account: &str, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>> {
        let (a, ids) = (account.to_owned(), ids.to_vec());
        self.read(move |s| s.thread_get(&a, &ids)).await
    }
    async fn mail_state(&self, account: &str, kind: Kind) -> Result<String> {
        let a = account.to_owned();
        self.read(move |s| s.mail_state(&a, kind)).await
    }
    async fn mail_changes(
        &self,
        account: &str,
        kind: Kind,
        since: &str,
        max: Option<usize>,
    ) -> MailResult<Changes> {
        let (a, since) = (account.to_owned(), since.to_owned());
        self.mail_read(move |s| s.mail_changes(&a, kind, &since, max))
            .await
    }
    async fn quota_get(&self, account: &str) -> Result<Quota> {
        let a = account.to_owned();
        self.read(move |s| s.quota_get(&a)).await
    }
    async fn quota_set_limit(&self, account: &str, limit: Option<u64>) -> Result<()> {
        self.store()
            .quota_set_limit(self.writer(), account, limit)
            .await
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
        // No state changes: an upload is not mail data until it is imported.
        self.store()
            .upload_blob(self.writer(), account, content_type, data)
            .await
    }
    async fn upload_get(&self, account: &str, id: i64) -> Result<Option<(Upload, Vec<u8>)>> {
        let a = account.to_owned();
        self.read(move |s| s.upload_get(&a, id)).await
    }
    async fn mailbox_props_changed(&self, account: &str, since: &str) -> MailResult<Vec<i64>> {
        let (a, since) = (account.to_owned(), since.to_owned());
        self.mail_read(move |s| s.mailbox_props_changed(&a, &since))
            .await
    }
}

#[async_trait]
impl MailboxAudit for Sqlite {
    async fn mailbox_record(&self, events: Vec<MailboxEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.store().mailbox_record(self.writer(), events).await {
            tracing::error!(error = %e, "mailbox audit events could not be recorded");
        }
    }
    async fn mailbox_events(&self, filter: &MailboxEventFilter) -> Result<Vec<MailboxEvent>> {
        let f = filter.clone();
        self.read(move |s| s.mailbox_events(&f)).await
    }
    async fn prune_mailbox_events(&self, days: u32) -> Result<usize> {
        self.read(move |s| s.prune_mailbox_events(days)).await
    }
}
