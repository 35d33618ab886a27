//! Blob upload and download (RFC 8620 §6). An email's blob is its stored message, read only
//! within the account that holds the email.

use axum::body::Bytes;
use rampart_jmap::http::{Blob, BlobError, BlobInfo};
use rampart_jmap::User;
use rampart_jmap_mail::ids;

use super::JmapBackend;

pub(super) async fn upload(
    _b: &JmapBackend,
    _user: &User,
    _account_id: &str,
    _content_type: &str,
    _data: Bytes,
) -> Result<BlobInfo, BlobError> {
    Err(BlobError::Internal("uploads are not stored yet".into()))
}

pub(super) async fn download(
    b: &JmapBackend,
    user: &User,
    account_id: &str,
    blob_id: &str,
) -> Result<Option<Blob>, BlobError> {
    let Some(account) = user.account(account_id) else {
        return Ok(None);
    };
    let Some(email) = ids::parse(ids::MESSAGE_BLOB, blob_id) else {
        return Ok(None);
    };
    let raw = b
        .store
        .email_raw(&account.owner, email)
        .await
        .map_err(|e| BlobError::Internal(e.to_string()))?;
    Ok(raw.map(|bytes| Blob {
        size: Some(bytes.len() as u64),
        body: Box::pin(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(Bytes::from(bytes))
        })),
    }))
}
