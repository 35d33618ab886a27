//! The mailbox a report address delivers to (TLS reports, DMARC aggregate reports), read by
//! the queue manager each time it wakes: each message is handed over once per run.

use rampart_store::AnyStore;

/// One message that arrived at a report address.
pub struct Arrived {
    /// Its id in the mailbox.
    pub id: i64,
    /// The envelope sender.
    pub sender: String,
    pub bytes: Vec<u8>,
}

/// How far a report mailbox has been read.
#[derive(Default)]
pub struct Cursor {
    /// The highest mailbox id handed over.
    seen: i64,
}

impl Cursor {
    /// The messages delivered to `address` since the last call. `what` names the reports in
    /// the log.
    pub async fn arrived(&mut self, store: &AnyStore, address: &str, what: &str) -> Vec<Arrived> {
        let entries = match store.mailbox_list(address).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%address, error = %e, "reading the {what} mailbox failed");
                return Vec::new();
            }
        };
        let since = self.seen;
        let mut out = Vec::new();
        for e in entries.iter().filter(|e| e.id > since) {
            self.seen = self.seen.max(e.id);
            if let Ok(Some(bytes)) = store.mailbox_message(address, e.id).await {
                out.push(Arrived {
                    id: e.id,
                    sender: e.sender.clone(),
                    bytes,
                });
            }
        }
        out
    }
}
