//! The submission policy on headers of relayed mail (NC-2.1.7 sender alignment, AL-4.2 no
//! automatic forwarding outside). AUTH lives in [`super::auth`].

use super::Session;
use crate::policy::submission_headers;
use crate::reply::{EnhancedStatus, Reply};
use rampart_checks::message::Message;

impl Session {
    /// NC-2.1.7 on headers and AL-4.2 for relayed mail: From and Sender must be addresses the
    /// identity may use; automatically forwarded mail may not leave for outside recipients.
    pub(super) async fn header_policy(&self, message: &Message<'_>) -> Option<Reply> {
        let h = submission_headers(message);
        if h.from.is_empty() {
            return Some(Reply::new(
                550,
                EnhancedStatus::MEDIA_OTHER,
                "Message has no From header with an address",
            ));
        }
        let fields = h
            .from
            .iter()
            .map(|a| ("From", a))
            .chain(h.sender.iter().map(|a| ("Sender", a)));
        for (field, a) in fields {
            match self.may_use_address(a).await {
                Ok(true) => {}
                Ok(false) => {
                    return Some(Reply::new(
                        550,
                        EnhancedStatus::NOT_AUTHORIZED,
                        format!("Header {field} <{a}> is not an address you may send as"),
                    ))
                }
                Err(r) => return Some(r),
            }
        }
        let external = self
            .tx
            .as_ref()
            .is_some_and(|t| t.recipients.iter().any(|r| !r.local));
        if let (Some(mark), true) = (&h.auto_forward_mark, external) {
            return Some(Reply::new(
                550,
                EnhancedStatus::NOT_AUTHORIZED,
                format!(
                    "Automatically forwarded mail ({mark} header) may not go to outside recipients"
                ),
            ));
        }
        None
    }
}
