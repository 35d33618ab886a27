//! The store's refusals in JMAP's terms: a method error for the whole call, or a SetError for
//! one record.

use rampart_jmap::{MethodError, MethodErrorType, SetError, SetErrorType};
use rampart_store::mail::MailError;
use rampart_store::StoreError;

/// A failure of the store itself: serverFail, with the cause logged, not shown. A full disk is
/// serverUnavailable (RFC 8620 section 3.6.2: a resource temporarily unavailable; the same
/// call later may succeed).
pub fn server_fail(e: &StoreError) -> MethodError {
    tracing::error!(error = %e, "the store failed during a JMAP call");
    if e.is_full() {
        return MethodError::with(
            MethodErrorType::ServerUnavailable,
            "the server's storage is full; try again later",
        );
    }
    MethodError::with(
        MethodErrorType::ServerFail,
        "the server could not complete the call",
    )
}

/// A mail refusal as a method error (for /query, /changes and other whole-call answers).
pub fn method_error(e: MailError) -> MethodError {
    match e {
        MailError::Store(s) => server_fail(&s),
        MailError::UnsupportedFilter(d) => MethodError::with(MethodErrorType::UnsupportedFilter, d),
        MailError::UnsupportedSort(d) => MethodError::with(MethodErrorType::UnsupportedSort, d),
        MailError::AnchorNotFound => MethodError::new(MethodErrorType::AnchorNotFound),
        MailError::CannotCalculateChanges => {
            MethodError::new(MethodErrorType::CannotCalculateChanges)
        }
        MailError::InvalidProperties(d) => MethodError::with(MethodErrorType::InvalidArguments, d),
        MailError::Forbidden(d) => MethodError::with(MethodErrorType::Forbidden, d),
        other => MethodError::with(MethodErrorType::InvalidArguments, other.to_string()),
    }
}

/// A mail refusal as a SetError for one record; a store failure stays a method error.
pub fn set_error(e: MailError) -> Result<SetError, MethodError> {
    Ok(match e {
        MailError::Store(s) => return Err(server_fail(&s)),
        MailError::NotFound => SetError::new(SetErrorType::NotFound),
        MailError::InvalidProperties(d) => SetError::with(SetErrorType::InvalidProperties, d),
        MailError::MailboxHasChild => SetError::new(SetErrorType::Other("mailboxHasChild")),
        MailError::MailboxHasEmail => SetError::new(SetErrorType::Other("mailboxHasEmail")),
        MailError::Forbidden(d) => SetError::with(SetErrorType::Forbidden, d),
        MailError::OverQuota => SetError::new(SetErrorType::OverQuota),
        other => SetError::with(SetErrorType::InvalidProperties, other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8620 section 3.6.2: a full disk is temporary (serverUnavailable), any other store
    /// failure serverFail; neither shows the cause.
    #[test]
    fn a_full_store_is_server_unavailable() {
        let full = server_fail(&StoreError::Full("/var/lib/rampart: no space".into()));
        let other = server_fail(&StoreError::Db("disk I/O error".into()));
        let json = |e: &MethodError| serde_json::Value::Object(e.to_arguments());
        assert_eq!(json(&full)["type"], "serverUnavailable");
        assert_eq!(
            json(&full)["description"],
            "the server's storage is full; try again later"
        );
        assert_eq!(json(&other)["type"], "serverFail");
        assert!(!json(&full).to_string().contains("/var/lib"));
    }
}
