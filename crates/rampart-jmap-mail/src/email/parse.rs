//! Email/parse (to be written).

use rampart_jmap::{CallContext, MethodError};
use serde_json::{Map, Value};

use crate::{MailMethods, Responses};

pub(crate) async fn parse(
    _m: &MailMethods,
    _cx: &mut CallContext,
    _args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    Err(MethodError::unknown_method("Email/parse"))
}
