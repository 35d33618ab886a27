//! Which mail account a call is about, and what the caller may do in it.

use rampart_jmap::{Access, CallContext, MethodError, MethodErrorType};

/// The account a call names, resolved against the caller's accounts.
#[derive(Debug, Clone)]
pub struct MailAccount {
    /// The JMAP account id.
    pub id: String,
    /// The owner's address, lower case: the store's key.
    pub owner: String,
    pub access: Access,
}

impl MailAccount {
    /// May change the mailbox (not a read-only or send-as delegate).
    pub fn may_write(&self) -> bool {
        matches!(self.access, Access::Owner | Access::DelegateFull)
    }
}

/// The account in `accountId`, or accountNotFound (another user's account looks exactly like one
/// that does not exist: RFC 8620 §3.6.2).
pub fn resolve(cx: &CallContext, account_id: &str) -> Result<MailAccount, MethodError> {
    let a = cx.account(account_id)?;
    Ok(MailAccount {
        id: a.id.clone(),
        owner: a.owner.to_ascii_lowercase(),
        access: a.access,
    })
}

/// The account for a method that changes the mailbox: accountReadOnly unless the caller may.
pub fn resolve_writable(cx: &CallContext, account_id: &str) -> Result<MailAccount, MethodError> {
    let a = resolve(cx, account_id)?;
    if !a.may_write() {
        return Err(MethodError::new(MethodErrorType::AccountReadOnly));
    }
    Ok(a)
}

/// Forbidden for a delegate: `what` (a setting that is the owner's own judgement, such as the
/// vacation response or the trusted senders) is not offered through delegated access.
pub fn owner_only(a: &MailAccount, what: &str) -> Result<(), MethodError> {
    if a.access.is_delegate() {
        return Err(MethodError::with(
            MethodErrorType::Forbidden,
            format!("{what} are the account owner's"),
        ));
    }
    Ok(())
}

/// The account id from the arguments, or the user's primary mail account when omitted where the
/// RFC allows that (it does not for most methods: then invalidArguments).
pub fn account_id_arg(
    args: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, MethodError> {
    match args.get("accountId") {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(MethodError::with(
            MethodErrorType::InvalidArguments,
            "accountId must be a string",
        )),
        None => Err(MethodError::with(
            MethodErrorType::InvalidArguments,
            "accountId is required",
        )),
    }
}
