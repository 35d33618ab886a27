//! The push feed across nodes: LISTEN/NOTIFY. Each commit that changes mail data sends, inside
//! its transaction, a notification on [`super::CHANNEL`] naming the account and the kinds that
//! changed; PostgreSQL delivers it to every listening connection only if the commit happened.

use rampart_store::mail::Kind;

/// The notification's payload: `{"account": …, "kinds": [ "Email", … ]}`.
pub(crate) fn payload(account: &str, kinds: &[Kind]) -> String {
    serde_json::json!({
        "account": account,
        "kinds": kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
    })
    .to_string()
}
