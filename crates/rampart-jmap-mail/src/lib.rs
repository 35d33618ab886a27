//! JMAP Mail (RFC 8621) on the store's mailbox model: Mailbox, Thread, Email, SearchSnippet,
//! Identity, EmailSubmission, VacationResponse, and Quota (RFC 9425). The JMAP Core engine
//! (`rampart-jmap`) parses requests and resolves references; this crate is its data layer,
//! implementing [`rampart_jmap::Methods`] over an [`AnyStore`].
//!
//! ```text
//! engine ──Methods::call(name)──▶ MailMethods::call ──▶ mailbox | thread | email::{get, query,
//!                                     │                  set, copy, import, parse} | snippet |
//!                                     │                  identity | submission | vacation | quota
//!                                     ├── account::resolve: accountId ──▶ owner address + access
//!                                     ├── ids: "M12" ◀──▶ mailbox 12 (one letter per type)
//!                                     └── audit: every mailbox event (AL-3.1) through the store
//! ```
//!
//! Sending (EmailSubmission) does not deliver anything itself: it hands the message to a
//! [`Submitter`], which the server implements with its SMTP submission pipeline, so mail sent
//! over JMAP meets exactly the checks mail sent over SMTP meets.

pub mod account;
pub mod audit;
pub mod email;
pub mod error;
pub mod identity;
pub mod ids;
pub mod mailbox;
pub mod quota;
pub mod snippet;
pub mod submission;
#[cfg(test)]
mod testutil;
pub mod thread;
pub mod trusted;
pub mod vacation;

use std::sync::Arc;

use async_trait::async_trait;
use rampart_jmap::{CallContext, MethodError, Methods};
use rampart_store::AnyStore;
use serde_json::{json, Map, Value};

pub use submission::Submitter;

/// The capability URIs this layer serves.
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
pub const SUBMISSION: &str = "urn:ietf:params:jmap:submission";
pub const VACATION: &str = "urn:ietf:params:jmap:vacationresponse";
pub const QUOTA: &str = "urn:ietf:params:jmap:quota";
/// This server's extension: the senders a user trusts (AL-1.2, [`trusted`]).
pub const TRUSTED: &str = "urn:rampart:params:jmap:trustedsenders";

/// A method's responses: each a name and its arguments.
pub type Responses = Vec<(String, Map<String, Value>)>;

/// The JMAP Mail methods over a store.
pub struct MailMethods {
    pub store: AnyStore,
    /// Sends mail for EmailSubmission; None: EmailSubmission/set refuses to send.
    pub submitter: Option<Arc<dyn Submitter>>,
    /// The largest message Email/import and Email/set create accept (the SMTP limit).
    pub max_message_size: u64,
    /// The Rspamd beside Rampart as configured at the moment, asked at each move to or out of
    /// Junk (AL-1.2): with a controller, the move teaches Rspamd's Bayes too. None: no Rspamd.
    pub rspamd: Option<RspamdNow>,
}

/// Gives `[checks.spam.rspamd]` as it is now (a reload may change it).
pub type RspamdNow =
    Arc<dyn Fn() -> Option<rampart_checks::spam::rspamd::RspamdConfig> + Send + Sync>;

impl MailMethods {
    pub fn new(store: AnyStore) -> Self {
        MailMethods {
            store,
            submitter: None,
            max_message_size: 50 * 1024 * 1024,
            rspamd: None,
        }
    }

    pub fn with_submitter(mut self, submitter: Arc<dyn Submitter>) -> Self {
        self.submitter = Some(submitter);
        self
    }
}

/// The account-level capability objects (RFC 8621 §1.3, §1.3.2, §1.3.3; RFC 9425) of an
/// account reached with `access`.
pub fn account_capabilities(access: rampart_jmap::Access) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        MAIL.into(),
        json!({
            "maxMailboxesPerEmail": null,
            "maxMailboxDepth": 64,
            "maxSizeMailboxName": 255,
            "maxSizeAttachmentsPerEmail": 50_000_000,
            "emailQuerySortOptions": ["receivedAt", "size", "from", "to", "subject", "sentAt",
                "hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"],
            "mayCreateTopLevelMailbox": matches!(access, rampart_jmap::Access::Owner | rampart_jmap::Access::DelegateFull),
        }),
    );
    if access.may_send() {
        m.insert(
            SUBMISSION.into(),
            json!({"maxDelayedSend": 0, "submissionExtensions": {}}),
        );
    }
    if !access.is_delegate() {
        m.insert(VACATION.into(), json!({}));
        m.insert(TRUSTED.into(), json!({}));
    }
    m.insert(QUOTA.into(), json!({}));
    m
}

#[async_trait]
impl Methods for MailMethods {
    fn capabilities(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(MAIL.into(), json!({}));
        m.insert(SUBMISSION.into(), json!({}));
        m.insert(VACATION.into(), json!({}));
        m.insert(QUOTA.into(), json!({}));
        m.insert(TRUSTED.into(), json!({}));
        m
    }

    fn method_capability(&self, method: &str) -> Option<&'static str> {
        let (ty, _) = method.split_once('/')?;
        Some(match ty {
            "Mailbox" | "Thread" | "Email" | "SearchSnippet" => MAIL,
            "Identity" | "EmailSubmission" => SUBMISSION,
            "VacationResponse" => VACATION,
            "Quota" => QUOTA,
            "TrustedSender" => TRUSTED,
            _ => return None,
        })
    }

    async fn call(
        &self,
        cx: &mut CallContext,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Responses, MethodError> {
        let Some((ty, method)) = name.split_once('/') else {
            return Err(MethodError::unknown_method(name));
        };
        match ty {
            "Mailbox" => mailbox::call(self, cx, method, args).await,
            "Thread" => thread::call(self, cx, method, args).await,
            "Email" => email::call(self, cx, method, args).await,
            "SearchSnippet" => snippet::call(self, cx, method, args).await,
            "Identity" => identity::call(self, cx, method, args).await,
            "EmailSubmission" => submission::call(self, cx, method, args).await,
            "VacationResponse" => vacation::call(self, cx, method, args).await,
            "Quota" => quota::call(self, cx, method, args).await,
            "TrustedSender" => trusted::call(self, cx, method, args).await,
            _ => Err(MethodError::unknown_method(name)),
        }
    }
}
