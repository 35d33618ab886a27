//! submission methods (to be written).

use rampart_jmap::{CallContext, MethodError};
use serde_json::{Map, Value};

use crate::{MailMethods, Responses};

pub(crate) async fn call(
    _m: &MailMethods,
    _cx: &mut CallContext,
    method: &str,
    _args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    Err(MethodError::unknown_method(method))
}

/// Sends a message through the server's submission pipeline (implemented by the server over
/// its SMTP submission code): sender alignment (NC-2.1.7), rate limits (NC-2.1.8), the content
/// checks (DLP AL-1.5, antivirus), no automatic forwarding outside (AL-4.2), DKIM signing and
/// the trace, exactly as for SMTP submission.
#[async_trait::async_trait]
pub trait Submitter: Send + Sync {
    /// Queues `message` from `mail_from` to `rcpt_to` for the authenticated `user`; the queue id,
    /// or the SMTP reply that refused it (code, enhanced status, text).
    async fn submit(
        &self,
        origin: &rampart_jmap::Origin,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: Vec<u8>,
    ) -> Result<String, Refused>;
}

/// Why a submission was refused: the SMTP reply the pipeline gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: u16,
    pub enhanced: String,
    pub text: String,
}
