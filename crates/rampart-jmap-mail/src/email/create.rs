//! Email/set create (RFC 8621 §4.6): written by another change; this placeholder refuses, so
//! Email/set's update and destroy stand on their own until it lands.

use rampart_jmap::{CallContext, SetError, SetErrorType};
use serde_json::{Map, Value};

use crate::account::MailAccount;
use crate::MailMethods;

/// Creates the email `object` describes; the created object's id, blobId, threadId and size.
pub(crate) async fn create(
    _m: &MailMethods,
    _cx: &CallContext,
    _account: &MailAccount,
    _creation_id: &str,
    _object: &Map<String, Value>,
) -> Result<Value, SetError> {
    Err(SetError::with(
        SetErrorType::Forbidden,
        "creating emails with Email/set is not available yet",
    ))
}
