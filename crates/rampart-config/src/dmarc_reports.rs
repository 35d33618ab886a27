//! `[dmarc_reports]`: DMARC aggregate reports (AL-2.3, RFC 7489 section 7.2), the ones we send
//! to the domains whose mail we received and the ones others send about our domains.

use serde::{Deserialize, Serialize};

/// DMARC aggregate reporting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmarcReportsConfig {
    /// Send each domain whose DMARC record asks for aggregate reports (`rua=`) a daily report of
    /// the DMARC evaluations of its mail. Default true.
    pub send: bool,
    /// The From address of the reports sent (`report_metadata/email` too); its domain's DKIM key
    /// signs them. Default `postmaster@<first local domain>`.
    pub from: Option<String>,
    /// The organisation named in the reports sent (`org_name`); default: the host name.
    pub organization: Option<String>,
    /// The address our own DMARC records name in `rua=mailto:...`: aggregate reports delivered
    /// to it are parsed and stored, and `rampart report dmarc` shows them. It must be a local
    /// recipient (user or alias).
    pub address: Option<String>,
    /// A received report larger than this once uncompressed (bytes) is ignored. Default 10 MiB.
    pub max_report_size: usize,
}

impl Default for DmarcReportsConfig {
    fn default() -> Self {
        DmarcReportsConfig {
            send: true,
            from: None,
            organization: None,
            address: None,
            max_report_size: 10 * 1024 * 1024,
        }
    }
}
