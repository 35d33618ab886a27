//! Email/changes (RFC 8621 §4.3): the store's change log of the account's emails.

use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::Kind;
use serde_json::{Map, Value};

use crate::{ids, MailMethods, Responses};

pub(crate) async fn changes(
    m: &MailMethods,
    cx: &mut CallContext,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    let out = crate::mailbox::changes(m, cx, args, Kind::Email, ids::EMAIL).await?;
    Ok(vec![("Email/changes".into(), out)])
}
