//! TLS reports other senders make about our domains (RFC 8460 section 5.3), arriving at the
//! address our `_smtp._tls` record names (`[delivery] tls_reports_address`): parsed with
//! mail-auth and stored, beside the mailbox delivery, for `rampart report tls`. The queue
//! manager looks at that mailbox each time it wakes.

use mail_auth::report::tlsrpt::TlsReport;
use rampart_store::{AnyStore, ReceivedTlsReport};
use std::collections::HashSet;

/// A report message is at most this large once uncompressed.
const MAX_REPORT_SIZE: usize = 8 * 1024 * 1024;

/// The report in a message, as the store keeps it.
pub fn parse(message: &[u8], sender: &str) -> Result<ReceivedTlsReport, String> {
    let report =
        TlsReport::parse_rfc5322(message, MAX_REPORT_SIZE).map_err(|e| format!("{e:?}"))?;
    Ok(ReceivedTlsReport {
        id: 0,
        received: rampart_store::now_micros(),
        sender: sender.to_string(),
        organization: report.organization_name.clone().unwrap_or_default(),
        report_id: report.report_id.clone(),
        start: report.date_range.start_datetime.to_timestamp(),
        end: report.date_range.end_datetime.to_timestamp(),
        json: report.to_json(),
    })
}

/// Takes in the reports delivered to the report address's mailbox: each message once per
/// run, each report once (by sender and report id, across restarts).
#[derive(Default)]
pub struct Intake {
    mailbox: crate::report_mailbox::Cursor,
    /// (sender, report id) of the reports stored.
    stored: Option<HashSet<(String, String)>>,
}

impl Intake {
    /// Parses and stores the reports that arrived at `address` since the last call. A message
    /// that holds no report stays in the mailbox, and is logged.
    pub async fn poll(&mut self, store: &AnyStore, address: &str) {
        let arrived = self.mailbox.arrived(store, address, "TLS report").await;
        if arrived.is_empty() {
            return;
        }
        let stored = match &mut self.stored {
            Some(s) => s,
            None => {
                let known = store
                    .tls_reports_received(usize::MAX)
                    .await
                    .unwrap_or_default();
                self.stored
                    .insert(known.into_iter().map(|r| (r.sender, r.report_id)).collect())
            }
        };
        for m in arrived {
            match parse(&m.bytes, &m.sender) {
                Ok(r) => {
                    let key = (r.sender.clone(), r.report_id.clone());
                    if stored.contains(&key) {
                        continue;
                    }
                    match store.tls_report_received(r).await {
                        Ok(_) => {
                            tracing::info!(report_id = %key.1, sender = %key.0, "TLS report received");
                            stored.insert(key);
                        }
                        Err(e) => tracing::error!(error = %e, "storing a TLS report failed"),
                    }
                }
                Err(err) => {
                    tracing::info!(mailbox_id = m.id, error = %err, "a message to the TLS report address holds no report")
                }
            }
        }
    }
}
