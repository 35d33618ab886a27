//! Uploaded blobs (RFC 8620 §6.1): bytes a client uploads before it names them in
//! Email/import, Email/parse or Email/set create. One table, per account; each upload counts
//! against the account's quota while it lives and expires 24 hours after it was uploaded (the
//! RFC lets a server drop a blob not yet referenced after a while; we never extend it).
//!
//! What does not live here: the blobs of emails and their parts, which are the stored message
//! (see `emails.rs`), read through the email.

use super::{account_key, write, MailError, MailResult};
use crate::{now_micros, Result, Store, Writer};
use rusqlite::{params, OptionalExtension};

/// How long an upload lives, in microseconds: 24 hours (RFC 8620 §6.1 allows at least one).
pub const UPLOAD_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mail_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_uploads_account ON mail_uploads(account, expires);
"#;

/// An uploaded blob, as upload answers and a read finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: i64,
    /// The media type given at upload (already sanitised by the HTTP layer).
    pub content_type: String,
    pub size: u64,
    /// Microseconds since the epoch.
    pub expires: i64,
}

impl Store {
    /// Stores an upload for `account`. Refused with [`MailError::OverQuota`] when the account's
    /// emails and live uploads with this one would pass its limit. Expired uploads of the
    /// account are removed in the same commit.
    pub async fn upload_blob(
        &self,
        writer: &Writer,
        account: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> MailResult<Upload> {
        let account = account_key(account);
        let quota = self.quota_get(&account)?;
        let content_type = content_type.to_owned();
        let now = now_micros();
        write(writer, false, move |tx| {
            tx.prepare_cached("DELETE FROM mail_uploads WHERE account = ?1 AND expires <= ?2")?
                .execute(params![account, now])?;
            let pending: i64 = tx
                .prepare_cached(
                    "SELECT coalesce(sum(size), 0) FROM mail_uploads WHERE account = ?1",
                )?
                .query_row([&account], |r| r.get(0))?;
            let size = data.len() as u64;
            // RFC 9425 / RFC 8620 §6.1: an upload counts against the quota until it expires.
            if let Some(limit) = quota.limit {
                if quota.used + pending.max(0) as u64 + size > limit {
                    return Err(MailError::OverQuota);
                }
            }
            let expires = now + UPLOAD_TTL_MICROS;
            tx.prepare_cached(
                "INSERT INTO mail_uploads(account, content_type, size, created, expires, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                account,
                content_type,
                size as i64,
                now,
                expires,
                data
            ])?;
            Ok(Upload {
                id: tx.last_insert_rowid(),
                content_type,
                size,
                expires,
            })
        })
        .await
    }

    /// An upload of `account` that has not expired, with its bytes.
    pub fn upload_get(&self, account: &str, id: i64) -> Result<Option<(Upload, Vec<u8>)>> {
        let account = account_key(account);
        let now = now_micros();
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, content_type, size, expires, data FROM mail_uploads
                 WHERE account = ?1 AND id = ?2 AND expires > ?3",
            )?
            .query_row(params![account, id, now], |r| {
                Ok((
                    Upload {
                        id: r.get(0)?,
                        content_type: r.get(1)?,
                        size: r.get::<_, i64>(2)?.max(0) as u64,
                        expires: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })
            .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, A, B};
    use super::*;

    #[tokio::test]
    async fn uploads_are_per_account_counted_against_the_quota_and_expire() {
        let f = fixture();
        let u = f
            .store
            .upload_blob(&f.writer, A, "text/plain", b"hello".to_vec())
            .await
            .unwrap();
        assert_eq!(u.size, 5);
        let (got, data) = f.store.upload_get(A, u.id).unwrap().unwrap();
        assert_eq!(
            (got.content_type.as_str(), data.as_slice()),
            ("text/plain", &b"hello"[..])
        );
        // Another account's upload is no upload at all.
        assert!(f.store.upload_get(B, u.id).unwrap().is_none());
        // 5 bytes pending: a limit of 8 leaves room for 3 more, not 4.
        f.store
            .quota_set_limit(&f.writer, A, Some(8))
            .await
            .unwrap();
        let over = f
            .store
            .upload_blob(&f.writer, A, "text/plain", b"abcd".to_vec())
            .await;
        assert!(matches!(over, Err(MailError::OverQuota)), "{over:?}");
        f.store
            .upload_blob(&f.writer, A, "text/plain", b"abc".to_vec())
            .await
            .unwrap();
        // An expired upload is gone, and no longer counts.
        f.store
            .read(|c| {
                c.execute("UPDATE mail_uploads SET expires = 0", [])?;
                Ok(())
            })
            .unwrap();
        assert!(f.store.upload_get(A, u.id).unwrap().is_none());
        f.store
            .upload_blob(&f.writer, A, "text/plain", b"abcdefgh".to_vec())
            .await
            .unwrap();
    }
}
