//! Uploaded blobs (RFC 8620 section 6.1) on PostgreSQL, as the embedded store's
//! `mail::blobs`: per account, counted against its quota while they live, expiring 24 hours
//! after upload ([`rampart_store::mail::UPLOAD_TTL_MICROS`]).

use super::emails::quota_get;
use super::{clean, mdb};
use rampart_store::mail::{MailError, MailResult, Upload, UPLOAD_TTL_MICROS};
use rampart_store::Result;
use tokio_postgres::{GenericClient, Transaction};

/// Stores an upload inside `tx` (which holds the account's lock): refused as over quota when
/// the account's emails and live uploads with this one would pass its limit. The account's
/// expired uploads go in the same commit.
pub(crate) async fn upload_blob(
    tx: &Transaction<'_>,
    account: &str,
    content_type: &str,
    data: &[u8],
    now: i64,
) -> MailResult<Upload> {
    tx.execute(
        "DELETE FROM mail_uploads WHERE account = $1 AND expires <= $2",
        &[&account, &now],
    )
    .await
    .map_err(mdb)?;
    let pending: i64 = tx
        .query_one(
            "SELECT coalesce(sum(size), 0)::bigint FROM mail_uploads WHERE account = $1",
            &[&account],
        )
        .await
        .map_err(mdb)?
        .get(0);
    let quota = quota_get(tx, account).await?;
    let size = data.len() as u64;
    // RFC 9425 / RFC 8620 section 6.1: an upload counts against the quota until it expires.
    if let Some(limit) = quota.limit {
        if quota.used + pending.max(0) as u64 + size > limit {
            return Err(MailError::OverQuota);
        }
    }
    let expires = now + UPLOAD_TTL_MICROS;
    let content_type = clean(content_type);
    let id: i64 = tx
        .query_one(
            "INSERT INTO mail_uploads(account, content_type, size, created, expires, data)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &account,
                &content_type,
                &(size as i64),
                &now,
                &expires,
                &data,
            ],
        )
        .await
        .map_err(mdb)?
        .get(0);
    Ok(Upload {
        id,
        content_type,
        size,
        expires,
    })
}

/// An upload of `account` that has not expired at `now`, with its bytes.
pub(crate) async fn upload_get<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    id: i64,
    now: i64,
) -> Result<Option<(Upload, Vec<u8>)>> {
    Ok(c.query_opt(
        "SELECT id, content_type, size, expires, data FROM mail_uploads
             WHERE account = $1 AND id = $2 AND expires > $3",
        &[&account, &id, &now],
    )
    .await
    .map_err(crate::db)?
    .map(|r| {
        (
            Upload {
                id: r.get(0),
                content_type: r.get(1),
                size: r.get::<_, i64>(2).max(0) as u64,
                expires: r.get(3),
            },
            r.get(4),
        )
    }))
}
