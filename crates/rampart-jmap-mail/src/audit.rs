//! The mailbox audit (AL-3.1) from the JMAP side: an event for the account a call touched, with
//! the request's origin and whether the caller is the owner or a delegate.

use rampart_jmap::{CallContext, User};
use rampart_store::{ActorKind, MailboxEvent};

use crate::account::MailAccount;
use crate::MailMethods;

/// An event about `account` by the caller of `cx` (owner or delegate).
pub fn event(
    cx: &CallContext,
    account: &MailAccount,
    operation: &str,
    detail: impl Into<String>,
) -> MailboxEvent {
    user_event(&cx.user, account, operation, detail)
}

/// [`event`] for a caller outside a JMAP call (the webmail's message view): the same actor,
/// service and origin fields, from the signed-in `user`.
pub fn user_event(
    user: &User,
    account: &MailAccount,
    operation: &str,
    detail: impl Into<String>,
) -> MailboxEvent {
    let origin = &user.origin;
    let mut e = MailboxEvent::new(&account.owner, origin.service, operation, detail);
    e.actor = user.username.to_ascii_lowercase();
    e.actor_kind = if account.access.is_delegate() {
        ActorKind::Delegate
    } else {
        ActorKind::Owner
    };
    e.client = origin.ip.map(|ip| ip.to_string());
    e.user_agent = origin.user_agent.clone();
    e
}

impl MailMethods {
    /// Records events (nothing when empty). Never fails the call: see
    /// [`rampart_store::MailboxAudit::mailbox_record`].
    pub async fn audit(&self, events: Vec<MailboxEvent>) {
        self.store.mailbox_record(events).await;
    }

    /// Records one event about `account` by the caller.
    pub async fn audit_one(
        &self,
        cx: &CallContext,
        account: &MailAccount,
        operation: &str,
        detail: impl Into<String>,
    ) {
        self.audit(vec![event(cx, account, operation, detail)])
            .await;
    }
}
