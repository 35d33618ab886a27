//! Blob upload and download (RFC 8620 §6). Uploads are kept by the store per account for 24
//! hours, counted against the account's quota; an email's blob is its stored message, and each
//! body part has a blob of its own (see `rampart_jmap_mail::ids::BlobRef`), read only within the
//! account that holds the email.
//!
//! AL-3.1: downloading an email or one of its parts reads mail content and is recorded in the
//! mailbox audit (`read`), with the user's origin, as the JMAP methods record theirs.

use axum::body::Bytes;
use rampart_jmap::http::{Blob, BlobError, BlobInfo};
use rampart_jmap::User;
use rampart_jmap_mail::email::blob;
use rampart_jmap_mail::ids;
use rampart_store::mail::MailError;
use rampart_store::mailbox_audit::op;
use rampart_store::{ActorKind, MailboxEvent};

use super::JmapBackend;

pub(super) async fn upload(
    b: &JmapBackend,
    user: &User,
    account_id: &str,
    content_type: &str,
    data: Bytes,
) -> Result<BlobInfo, BlobError> {
    // The handler checked the account is the user's and writable.
    let Some(account) = user.account(account_id) else {
        return Err(BlobError::Forbidden);
    };
    match b
        .store
        .upload_blob(&account.owner, content_type, data.to_vec())
        .await
    {
        Ok(u) => Ok(BlobInfo {
            blob_id: ids::make(ids::UPLOAD_BLOB, u.id),
            content_type: u.content_type,
            size: u.size,
        }),
        Err(MailError::OverQuota) => Err(BlobError::OverQuota),
        Err(MailError::Store(e)) if e.is_full() => Err(BlobError::Full),
        Err(e) => Err(BlobError::Internal(e.to_string())),
    }
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
    let data = blob::fetch(&b.store, &account.owner, blob_id)
        .await
        .map_err(|e| BlobError::Internal(e.to_string()))?;
    let Some(data) = data else {
        return Ok(None);
    };
    if data.is_mail_content {
        // AL-3.1: MailItemsAccessed for a download, by the owner or a delegate.
        let origin = &user.origin;
        let mut e = MailboxEvent::new(
            &account.owner,
            origin.service,
            op::READ,
            format!("download {blob_id}"),
        );
        e.actor = user.username.to_ascii_lowercase();
        e.actor_kind = if account.access.is_delegate() {
            ActorKind::Delegate
        } else {
            ActorKind::Owner
        };
        e.client = origin.ip.map(|ip| ip.to_string());
        e.user_agent = origin.user_agent.clone();
        b.store.mailbox_record(vec![e]).await;
    }
    let bytes = data.bytes;
    Ok(Some(Blob {
        size: Some(bytes.len() as u64),
        body: Box::pin(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(Bytes::from(bytes))
        })),
    }))
}
