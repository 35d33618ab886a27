//! Recipient verification for relay domains: the gateway refuses, at RCPT, mail for anyone who
//! does not exist on the next hop (no backscatter, no directory harvest).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[relay_domain.verify]`: one method per relay domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum RecipientVerify {
    /// A fixed list of addresses and/or a file of addresses (one per line), reloaded when the
    /// file changes.
    Static {
        #[serde(default)]
        addresses: Vec<String>,
        #[serde(default)]
        file: Option<PathBuf>,
    },
    /// An LDAP or Active Directory lookup (LDAPS or StartTLS only).
    Ldap {
        /// `ldaps://host:636` or `ldap://host:389` (then StartTLS is required).
        url: String,
    },
    /// An SMTP callout: a RCPT probe at the next hop, answers cached.
    Callout {},
}
