//! Blobs of an account by id: an email's message, an upload, or a part of either (see
//! [`crate::ids::BlobRef`]). Used by Email/import, Email/parse and Email/set create, and by the
//! server's download handler, so a blob id means the same bytes wherever it is named.
//!
//! A part is found through the one reading of its message (rampart-checks' `message::read`),
//! and an upload is read as the server reads mail it receives: header bytes that are not UTF-8
//! repaired first (`message::repair`), as Email/parse and Email/import read it (a stored email
//! was repaired when it arrived). A message that reading refuses has no parts to name.

use rampart_store::{AnyStore, StoreError};

use super::body;
use crate::ids::{BlobBase, BlobRef};

/// A blob's bytes and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobData {
    pub bytes: Vec<u8>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// True when the blob is a body part (or an attached message): reading it reads mail
    /// content, which the mailbox audit records (AL-3.1). An upload is the client's own bytes.
    pub is_mail_content: bool,
}

/// The bytes of the blob `id` in `owner`'s account; None when the id names nothing there
/// (another account's blob included: ids are per account).
pub async fn fetch(
    store: &AnyStore,
    owner: &str,
    id: &str,
) -> Result<Option<BlobData>, StoreError> {
    let Some(r) = crate::ids::blob(id) else {
        return Ok(None);
    };
    fetch_ref(store, owner, &r).await
}

/// [`fetch`] for a blob id already read.
pub async fn fetch_ref(
    store: &AnyStore,
    owner: &str,
    r: &BlobRef,
) -> Result<Option<BlobData>, StoreError> {
    let upload = matches!(r.base, BlobBase::Upload(_));
    let (bytes, content_type, is_mail) = match r.base {
        BlobBase::Email(n) => match store.email_raw(owner, n).await? {
            Some(b) => (b, "message/rfc822".to_owned(), true),
            None => return Ok(None),
        },
        BlobBase::Upload(n) => match store.upload_get(owner, n).await? {
            Some((u, b)) => (b, u.content_type, false),
            None => return Ok(None),
        },
    };
    if r.path.is_empty() {
        return Ok(Some(BlobData {
            bytes,
            content_type,
            is_mail_content: is_mail,
        }));
    }
    // Parsing is CPU work on possibly large input: off the async workers.
    let path = r.path.clone();
    let part = tokio::task::spawn_blocking(move || {
        let bytes = if upload {
            rampart_checks::message::repair(&bytes).map_or(bytes, |r| r.bytes)
        } else {
            bytes
        };
        let msg = rampart_checks::message::read(&bytes).ok()?;
        let (container, part) = body::find(&msg.parsed, &path)?;
        Some(BlobData {
            bytes: body::part_bytes(container.raw_message.as_ref(), part),
            content_type: body::media_type(part),
            is_mail_content: is_mail,
        })
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("a blob task failed: {e}")))?;
    Ok(part)
}
