//! The null-client mode in a session (NC-2.1.9): the client is a local application on this host
//! (every listener is on loopback, see rampart-config's `null_client`), so it needs neither TLS
//! nor AUTH; it may send only as the represented domains (NC-2.1.7); every recipient goes to the
//! primary server, none to a local mailbox; the envelope sender becomes the bounce address.

use super::Session;
use crate::reply::{EnhancedStatus, Reply};
use rampart_config::null_client::is_loopback;
use rampart_config::NullClientConfig;
use rampart_store::QueuedRecipient;

impl Session {
    /// The null-client settings when this session serves a local client in that mode. A peer
    /// off loopback gets nothing of it (it cannot reach a loopback listener anyway).
    pub(super) fn null_client(&self) -> Option<&NullClientConfig> {
        self.ctx
            .config
            .null_client
            .as_ref()
            .filter(|_| is_loopback(self.peer.ip()))
    }

    /// NC-2.1.7: the envelope sender must be in a represented domain; the null sender (cron's
    /// `-f '<>'`) is taken, as it is rewritten to the bounce address anyway.
    pub(super) fn null_client_sender(nc: &NullClientConfig, sender: &str) -> Result<(), Reply> {
        if sender.is_empty() || nc.represents(sender) {
            return Ok(());
        }
        Err(Reply::new(
            550,
            EnhancedStatus::NOT_AUTHORIZED,
            format!(
                "Sender <{sender}> is not in a domain this host sends for ({})",
                nc.domains.join(", ")
            ),
        ))
    }

    /// NC-2.1.9: every recipient, the represented domains' own users included, is queued for the
    /// primary server; nothing is delivered here.
    pub(super) fn null_client_recipient(address: &str) -> Result<Vec<QueuedRecipient>, Reply> {
        if address.is_empty() {
            // <postmaster> without a domain names this host's, and this host has no mailbox.
            return Err(Reply::new(
                550,
                EnhancedStatus::BAD_MAILBOX,
                "This host delivers no mail locally; give a full address",
            ));
        }
        Ok(vec![QueuedRecipient {
            address: address.to_string(),
            local: false,
        }])
    }
}
