//! Aggregate reports other receivers send about our domains (AL-2.3, RFC 7489 section 7.2),
//! arriving at the address our DMARC records name in `rua` (`[dmarc_reports] address`): parsed
//! with mail-auth (the XML plain, gzip'd or zipped), stored beside the mailbox delivery, and
//! summarised per source for `rampart report dmarc` and the console — above all the sources
//! that fail SPF or DKIM alignment for our domains.

use crate::report_mailbox::Cursor;
use mail_auth::report::{ActionDisposition, DmarcResult, Report};
use rampart_store::{AnyStore, ReceivedDmarcReport};
use serde::Serialize;
use std::collections::BTreeMap;

/// The report in a message, as the store keeps it. A message holding no report, a report
/// that does not parse, or one larger than `max_size` once uncompressed is an Err.
pub fn parse(message: &[u8], sender: &str, max_size: usize) -> Result<ReceivedDmarcReport, String> {
    let report = Report::parse_rfc5322(message, max_size).map_err(|e| format!("{e:?}"))?;
    let json = serde_json::to_string(&report).map_err(|e| e.to_string())?;
    Ok(ReceivedDmarcReport {
        id: 0,
        received: rampart_store::now_micros(),
        sender: sender.to_string(),
        organization: report.org_name().to_string(),
        report_id: report.report_id().to_string(),
        domain: report.domain().to_ascii_lowercase(),
        begin: i64::try_from(report.date_range_begin()).unwrap_or(0),
        end: i64::try_from(report.date_range_end()).unwrap_or(0),
        json,
    })
}

/// Takes in the reports delivered to the report address's mailbox, each message once per run;
/// the store keeps each (sender, report id) once across restarts.
#[derive(Default)]
pub struct Intake {
    mailbox: Cursor,
}

impl Intake {
    /// Parses and stores the reports that arrived at `address` since the last call. A message
    /// that holds no usable report stays in the mailbox, and is logged.
    pub async fn poll(&mut self, store: &AnyStore, address: &str, max_size: usize) {
        for m in self.mailbox.arrived(store, address, "DMARC report").await {
            match parse(&m.bytes, &m.sender, max_size) {
                Ok(r) => {
                    let (report_id, sender, domain) =
                        (r.report_id.clone(), r.sender.clone(), r.domain.clone());
                    match store.dmarc_report_received(r).await {
                        Ok(Some(_)) => {
                            tracing::info!(%report_id, %sender, %domain, "DMARC aggregate report received")
                        }
                        Ok(None) => {
                            tracing::info!(%report_id, %sender, "DMARC aggregate report already stored")
                        }
                        Err(e) => tracing::error!(error = %e, "storing a DMARC report failed"),
                    }
                }
                Err(err) => {
                    // AL-2.3: a bad or oversized report is ignored, and said so.
                    tracing::warn!(mailbox_id = m.id, sender = %m.sender, error = %err, "a message to the DMARC report address was ignored: no usable aggregate report")
                }
            }
        }
    }
}

/// One source as the reports received show it: mail claiming one of our domains, from one
/// address, as one reporter saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// Our domain the mail claimed (the report's policy domain).
    pub domain: String,
    /// The reporting organisation.
    pub reporter: String,
    pub source_ip: String,
    /// Messages.
    pub count: u64,
    /// Messages whose SPF did not pass aligned with the From domain.
    pub spf_alignment_failures: u64,
    /// Messages whose DKIM did not pass aligned with the From domain.
    pub dkim_alignment_failures: u64,
    /// Messages by the disposition the reporter applied (`none`, `quarantine`, `reject`).
    pub dispositions: BTreeMap<String, u64>,
    /// The RFC5322.From domains seen.
    pub header_from: Vec<String>,
}

impl SourceSummary {
    /// Whether some of this source's mail failed DMARC (neither SPF nor DKIM aligned).
    pub fn fails(&self) -> bool {
        self.spf_alignment_failures > 0 || self.dkim_alignment_failures > 0
    }
}

/// The sources of `reports` (those about `domain` when given), failing ones first, then by
/// count.
pub fn sources(reports: &[ReceivedDmarcReport], domain: Option<&str>) -> Vec<SourceSummary> {
    let mut by: BTreeMap<(String, String, String), SourceSummary> = BTreeMap::new();
    for stored in reports {
        if domain.is_some_and(|d| !d.eq_ignore_ascii_case(&stored.domain)) {
            continue;
        }
        let Ok(report) = serde_json::from_str::<Report>(&stored.json) else {
            continue;
        };
        for rec in report.records() {
            let ip = rec.source_ip().map(|i| i.to_string()).unwrap_or_default();
            let key = (stored.domain.clone(), report.org_name().to_string(), ip);
            let s = by.entry(key.clone()).or_insert_with(|| SourceSummary {
                domain: key.0.clone(),
                reporter: key.1.clone(),
                source_ip: key.2.clone(),
                count: 0,
                spf_alignment_failures: 0,
                dkim_alignment_failures: 0,
                dispositions: BTreeMap::new(),
                header_from: Vec::new(),
            });
            let n = u64::from(rec.count());
            s.count += n;
            if rec.dmarc_spf_result() != DmarcResult::Pass {
                s.spf_alignment_failures += n;
            }
            if rec.dmarc_dkim_result() != DmarcResult::Pass {
                s.dkim_alignment_failures += n;
            }
            let d = match rec.action_disposition() {
                ActionDisposition::Reject => "reject",
                ActionDisposition::Quarantine => "quarantine",
                ActionDisposition::Pass => "pass",
                _ => "none",
            };
            *s.dispositions.entry(d.to_string()).or_default() += n;
            let from = rec.header_from().to_ascii_lowercase();
            if !from.is_empty() && !s.header_from.contains(&from) {
                s.header_from.push(from);
            }
        }
    }
    let mut out: Vec<SourceSummary> = by.into_values().collect();
    out.sort_by(|a, b| {
        b.fails()
            .cmp(&a.fails())
            .then(b.count.cmp(&a.count))
            .then(a.source_ip.cmp(&b.source_ip))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dmarc_report::send::{build, message, Submitter};
    use rampart_store::DmarcEvaluation;

    fn report_message() -> Vec<u8> {
        let e = DmarcEvaluation {
            id: 1,
            at: 1_700_000_000_000_000,
            domain: "agency.example".into(),
            source_ip: "198.51.100.7".into(),
            header_from: "agency.example".into(),
            envelope_from: "spoofer.example".into(),
            envelope_to: "remote.example".into(),
            spf_domain: "spoofer.example".into(),
            spf_scope: "mfrom".into(),
            spf_result: "pass".into(),
            dkim: Vec::new(),
            spf_aligned: "fail".into(),
            dkim_aligned: "fail".into(),
            disposition: "reject".into(),
            policy: "reject".into(),
            published: "p=reject".into(),
            rua: Vec::new(),
        };
        let s = Submitter {
            organization: "Remote".into(),
            domain: "remote.example".into(),
            from: "reports@remote.example".into(),
        };
        let out = build(&[e], &s, 1_700_086_399).remove(0);
        message(&out, &s, "dmarc@agency.example")
    }

    #[test]
    fn al_2_3_a_received_report_names_its_failing_source() {
        let r = parse(&report_message(), "reports@remote.example", 1 << 20).unwrap();
        assert_eq!(
            (r.domain.as_str(), r.organization.as_str()),
            ("agency.example", "Remote")
        );
        let list = sources(&[r], Some("agency.example"));
        assert_eq!(list.len(), 1);
        assert!(list[0].fails());
        assert_eq!(list[0].source_ip, "198.51.100.7");
        assert_eq!(
            (
                list[0].spf_alignment_failures,
                list[0].dkim_alignment_failures
            ),
            (1, 1)
        );
        assert_eq!(list[0].dispositions.get("reject"), Some(&1));
    }

    #[test]
    fn al_2_3_oversized_or_broken_reports_are_refused() {
        // Larger than allowed once uncompressed: refused, not read to the end.
        let err = parse(&report_message(), "r@remote.example", 64).unwrap_err();
        assert!(err.contains("TooLarge"), "{err}");
        assert!(parse(
            b"Subject: hi\r\n\r\nno report\r\n",
            "r@remote.example",
            1 << 20
        )
        .is_err());
        assert!(parse(b"\xff\xfe\x00garbage", "r@remote.example", 1 << 20).is_err());
    }
}
