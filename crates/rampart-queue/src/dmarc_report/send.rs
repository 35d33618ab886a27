//! The daily aggregate report (RFC 7489 section 7.2) and its delivery: for each policy domain
//! with recorded evaluations, one report (mail-auth's XML, gzip'd, as an attachment) to every
//! `mailto:` of the `rua` the domain published, queued like every outgoing message and so
//! DKIM-signed by the From domain's key. A `rua` in another domain is used only when that
//! domain agrees to receive it (section 7.1), and a report larger than the URI's `!size` is
//! not sent there (section 7.2.1.1).

use hickory_resolver::TokioResolver;
use mail_auth::report::{
    ActionDisposition, Alignment, AuthResult, DKIMAuthResult, DateRange, Disposition, DkimResult,
    DmarcResult, Identifier, PolicyEvaluated, PolicyPublished, Record, Report, ReportMetadata, Row,
    SPFAuthResult, SPFDomainScope, SpfResult,
};
use rampart_config::Config;
use rampart_store::{AnyStore, DmarcEvaluation};
use std::collections::BTreeMap;

/// Evaluations whose report could not be sent (DNS did not answer) are given up after this
/// many days.
const KEEP_DAYS: i64 = 7;

/// Who makes the reports.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// `org_name`.
    pub organization: String,
    /// The domain named as submitter in the subject and the file name: the From's domain.
    pub domain: String,
    /// `email`, and the From of the messages.
    pub from: String,
}

impl Submitter {
    /// From `[dmarc_reports]` and the represented domains.
    pub fn new(config: &Config, domains: &[String]) -> Submitter {
        let hostname = config.hostname.get_ref().clone();
        let from = config.dmarc_reports.from.clone().unwrap_or_else(|| {
            format!(
                "postmaster@{}",
                domains.first().cloned().unwrap_or_else(|| hostname.clone())
            )
        });
        Submitter {
            organization: config
                .dmarc_reports
                .organization
                .clone()
                .unwrap_or(hostname.clone()),
            domain: from
                .rsplit_once('@')
                .map_or(hostname, |(_, d)| d.to_ascii_lowercase()),
            from,
        }
    }
}

/// One report to go: about `domain`, covering the evaluations `ids`, to the `rua` URIs.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub domain: String,
    pub report: Report,
    pub ids: Vec<i64>,
    /// The record's `rua` (as stored: `uri!max_size`).
    pub rua: Vec<String>,
}

/// The reports of `evaluations`: one per policy domain, in domain order. The period is from
/// the first evaluation's day to `end` (seconds).
pub fn build(evaluations: &[DmarcEvaluation], submitter: &Submitter, end: i64) -> Vec<Outgoing> {
    let mut by_domain: BTreeMap<&str, Vec<&DmarcEvaluation>> = BTreeMap::new();
    for e in evaluations {
        by_domain.entry(e.domain.as_str()).or_default().push(e);
    }
    by_domain
        .into_iter()
        .map(|(domain, evals)| {
            // The newest evaluation says what the domain publishes now.
            let newest = evals.iter().max_by_key(|e| (e.at, e.id)).copied();
            let begin = evals.iter().map(|e| e.at).min().unwrap_or(0) / 1_000_000;
            let begin = begin - begin.rem_euclid(86_400);
            Outgoing {
                domain: domain.to_string(),
                report: report(domain, &evals, submitter, begin, end.max(begin)),
                ids: evals.iter().map(|e| e.id).collect(),
                rua: newest.map(|e| e.rua.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn report(domain: &str, evals: &[&DmarcEvaluation], s: &Submitter, begin: i64, end: i64) -> Report {
    let published = evals
        .iter()
        .max_by_key(|e| (e.at, e.id))
        .map_or("", |e| e.published.as_str());
    // Rows: evaluations alike in every reported field are counted together.
    let mut rows: BTreeMap<String, (Record, u32)> = BTreeMap::new();
    for e in evals {
        let r = record(e);
        let key = format!("{r:?}");
        let entry = rows.entry(key).or_insert((r, 0));
        entry.1 = entry.1.saturating_add(1);
    }
    Report {
        // RFC 9990 section 3.1.1.2: the format's version.
        version: 1.0,
        report_metadata: ReportMetadata {
            org_name: s.organization.clone(),
            email: s.from.clone(),
            extra_contact_info: None,
            report_id: format!(
                "{}.{domain}.{begin}@{}",
                rampart_store::QueueId::generate().0,
                s.domain
            ),
            date_range: DateRange {
                begin: u64::try_from(begin).unwrap_or(0),
                end: u64::try_from(end).unwrap_or(0),
            },
            error: Vec::new(),
            generator: Some(format!("Rampart {}", env!("CARGO_PKG_VERSION"))),
        },
        policy_published: policy_published(domain, published),
        record: rows
            .into_values()
            .map(|(mut r, n)| {
                r.row.count = n;
                r
            })
            .collect(),
        extensions: Vec::new(),
    }
}

fn record(e: &DmarcEvaluation) -> Record {
    let dmarc = |w: &str| {
        if w == "pass" {
            DmarcResult::Pass
        } else {
            DmarcResult::Fail
        }
    };
    Record {
        row: Row {
            source_ip: e.source_ip.parse().ok(),
            count: 1,
            policy_evaluated: PolicyEvaluated {
                disposition: match e.disposition.as_str() {
                    "reject" => ActionDisposition::Reject,
                    "quarantine" => ActionDisposition::Quarantine,
                    _ => ActionDisposition::None,
                },
                dkim: dmarc(&e.dkim_aligned),
                spf: dmarc(&e.spf_aligned),
                reason: Vec::new(),
            },
        },
        identifiers: Identifier {
            envelope_to: Some(e.envelope_to.clone()).filter(|t| !t.is_empty()),
            envelope_from: e.envelope_from.clone(),
            header_from: e.header_from.clone(),
        },
        auth_results: AuthResult {
            dkim: e
                .dkim
                .iter()
                .map(|d| DKIMAuthResult {
                    domain: d.domain.clone(),
                    selector: d.selector.clone(),
                    result: match d.result.as_str() {
                        "pass" => DkimResult::Pass,
                        "fail" => DkimResult::Fail,
                        "neutral" => DkimResult::Neutral,
                        "temperror" => DkimResult::TempError,
                        "permerror" => DkimResult::PermError,
                        _ => DkimResult::None,
                    },
                    human_result: None,
                })
                .collect(),
            spf: vec![SPFAuthResult {
                domain: e.spf_domain.clone(),
                scope: if e.spf_scope == "helo" {
                    SPFDomainScope::Helo
                } else {
                    SPFDomainScope::MailFrom
                },
                result: match e.spf_result.as_str() {
                    "pass" => SpfResult::Pass,
                    "fail" => SpfResult::Fail,
                    "softfail" => SpfResult::SoftFail,
                    "neutral" => SpfResult::Neutral,
                    "temperror" => SpfResult::TempError,
                    "permerror" => SpfResult::PermError,
                    _ => SpfResult::None,
                },
                human_result: None,
            }],
        },
        extensions: Vec::new(),
    }
}

/// `policy_published` from the stored tags (`p=reject; sp=none; adkim=r; aspf=s; t=n`).
fn policy_published(domain: &str, tags: &str) -> PolicyPublished {
    let mut p = PolicyPublished {
        domain: domain.to_string(),
        p: Disposition::None,
        ..Default::default()
    };
    let disposition = |v: &str| match v {
        "reject" => Disposition::Reject,
        "quarantine" => Disposition::Quarantine,
        _ => Disposition::None,
    };
    let alignment = |v: &str| {
        if v == "s" {
            Alignment::Strict
        } else {
            Alignment::Relaxed
        }
    };
    for (k, v) in tags
        .split(';')
        .filter_map(|t| t.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
    {
        match k {
            "p" => p.p = disposition(v),
            "sp" => p.sp = disposition(v),
            "np" => p.np = disposition(v),
            "adkim" => p.adkim = alignment(v),
            "aspf" => p.aspf = alignment(v),
            "t" => p.testing = v == "y",
            _ => {}
        }
    }
    p
}

/// The report message to `to`: mail-auth's (section 7.2.1.1: the subject, the gzip'd XML
/// attachment named `submitter!domain!begin!end.xml.gz`).
pub fn message(out: &Outgoing, submitter: &Submitter, to: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Err(e) = out.report.write_rfc5322(
        &submitter.domain,
        submitter.from.as_str(),
        std::iter::once(to),
        &mut buf,
    ) {
        tracing::error!(error = %e, "writing a DMARC report failed");
    }
    buf
}

/// Whether `a` and `b` are the same domain or one is under the other: a report to such a `rua`
/// needs no agreement. Without the public suffix list, siblings under one organisational domain
/// count as external and are asked for the record too (a lookup more, never a report less safe).
fn same_organisation(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

/// RFC 7489 section 7.1: whether `rua_domain` agrees to receive reports about `domain`: a TXT
/// record at `<domain>._report._dmarc.<rua_domain>` beginning `v=DMARC1`. Err: DNS did not
/// answer (try again later).
pub async fn destination_verified(
    resolver: &TokioResolver,
    domain: &str,
    rua_domain: &str,
) -> Result<bool, String> {
    if same_organisation(domain, rua_domain) {
        return Ok(true);
    }
    let name = format!("{domain}._report._dmarc.{rua_domain}");
    let records = crate::dns::txt(resolver, &name).await?;
    Ok(records.iter().any(|t| {
        t.split(';')
            .next()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("v=DMARC1"))
    }))
}

/// Sends a report for every evaluation made before `before` (microseconds): the schedule
/// passes the start of today, `rampart report dmarc --send-now` the present. Returns how many
/// reports were queued and, in words, what was held or not sent. Evaluations reported (or of domains that want no report) are forgotten,
/// so a restart does not send them again.
pub async fn send_due(
    store: &AnyStore,
    resolver: &TokioResolver,
    config: &Config,
    before: i64,
) -> (usize, Vec<String>) {
    let mut notes = Vec::new();
    let evaluations = match store.dmarc_evaluations_before(before).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "reading DMARC evaluations failed");
            notes.push(format!("reading DMARC evaluations failed: {e}"));
            return (0, notes);
        }
    };
    if evaluations.is_empty() {
        return (0, notes);
    }
    let domains = store.domains().await.unwrap_or_default();
    let submitter = Submitter::new(config, &domains);
    let today = super::day_of(rampart_store::now_micros());
    let mut sent = 0;
    for out in build(&evaluations, &submitter, before / 1_000_000 - 1) {
        let oldest = evaluations
            .iter()
            .filter(|e| e.domain == out.domain)
            .map(|e| super::day_of(e.at))
            .min()
            .unwrap_or(today);
        match deliver_all(store, resolver, &out, &submitter, &mut notes).await {
            Ok(n) => sent += n,
            Err(e) if today - oldest <= KEEP_DAYS => {
                tracing::warn!(domain = %out.domain, error = %e, "DMARC report held: DNS did not answer");
                notes.push(format!("{}: held, DNS did not answer: {e}", out.domain));
                continue;
            }
            Err(e) => {
                tracing::warn!(domain = %out.domain, error = %e, "DMARC report given up after a week");
                notes.push(format!("{}: given up after a week: {e}", out.domain));
            }
        }
        if let Err(e) = store.dmarc_evaluations_done(out.ids.clone()).await {
            tracing::error!(error = %e, "forgetting reported DMARC evaluations failed");
        }
    }
    (sent, notes)
}

/// Queues the report to every destination that may have it; Err when a verification lookup
/// did not answer (the whole report waits for the next run).
async fn deliver_all(
    store: &AnyStore,
    resolver: &TokioResolver,
    out: &Outgoing,
    submitter: &Submitter,
    notes: &mut Vec<String>,
) -> Result<usize, String> {
    let mut destinations = Vec::new();
    for uri in &out.rua {
        let (uri, max_size) = uri.rsplit_once('!').unwrap_or((uri, "0"));
        let Some(to) = uri.strip_prefix("mailto:") else {
            // RFC 7489 section 7.2.1: mailto is the one method defined.
            tracing::info!(domain = %out.domain, %uri, "DMARC report: rua scheme not supported");
            continue;
        };
        let to = to.split('?').next().unwrap_or(to).trim();
        let Some((_, rua_domain)) = to.rsplit_once('@') else {
            continue;
        };
        // AL-2.3, RFC 7489 section 7.1: a rua in another domain must have agreed.
        if !destination_verified(resolver, &out.domain, rua_domain).await? {
            let why = format!(
                "{}: not sent to {to}: {rua_domain} does not publish {}._report._dmarc.{rua_domain}",
                out.domain, out.domain
            );
            tracing::warn!("DMARC report {why}");
            notes.push(why);
            continue;
        }
        destinations.push((to.to_string(), max_size.parse::<usize>().unwrap_or(0)));
    }
    let mut sent = 0;
    for (to, max_size) in destinations {
        let body = message(out, submitter, &to);
        // RFC 7489 section 7.2.1.1: larger than the URI's limit, the report does not go there.
        if max_size > 0 && body.len() > max_size {
            tracing::warn!(domain = %out.domain, %to, size = body.len(), max_size, "DMARC report not sent: larger than the rua's size limit");
            notes.push(format!(
                "{}: not sent to {to}: {} bytes, the rua allows {max_size}",
                out.domain,
                body.len()
            ));
            continue;
        }
        let id = format!(
            "{}@{}",
            out.report.report_metadata.report_id.replace('@', "."),
            submitter.domain
        );
        match store
            .enqueue_generated(&to, body, id, &format!("DMARC report for {}", out.domain))
            .await
        {
            Ok(_) => {
                sent += 1;
                tracing::info!(domain = %out.domain, %to, report_id = %out.report.report_metadata.report_id, "DMARC report sent");
            }
            Err(e) => {
                tracing::warn!(domain = %out.domain, %to, error = %e, "DMARC report not queued")
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_store::DkimEvaluation;

    fn eval(id: i64, domain: &str, ip: &str, spf: &str) -> DmarcEvaluation {
        DmarcEvaluation {
            id,
            at: 1_700_000_000_000_000 + id,
            domain: domain.into(),
            source_ip: ip.into(),
            header_from: domain.into(),
            envelope_from: domain.into(),
            envelope_to: "agency.example".into(),
            spf_domain: domain.into(),
            spf_scope: "mfrom".into(),
            spf_result: spf.into(),
            dkim: vec![DkimEvaluation {
                domain: domain.into(),
                selector: "s1".into(),
                result: "pass".into(),
            }],
            spf_aligned: spf.into(),
            dkim_aligned: "pass".into(),
            disposition: "none".into(),
            policy: "reject".into(),
            published: "p=reject; sp=quarantine; adkim=s; aspf=r; t=n".into(),
            rua: vec!["mailto:dmarc@remote.example!10485760".into()],
        }
    }

    fn submitter() -> Submitter {
        Submitter {
            organization: "Agency".into(),
            domain: "agency.example".into(),
            from: "dmarc@agency.example".into(),
        }
    }

    #[test]
    fn al_2_3_one_report_per_domain_with_alike_rows_counted() {
        let evals = [
            eval(1, "remote.example", "192.0.2.1", "pass"),
            eval(2, "remote.example", "192.0.2.1", "pass"),
            eval(3, "remote.example", "192.0.2.9", "fail"),
            eval(4, "other.example", "192.0.2.1", "pass"),
        ];
        let out = build(&evals, &submitter(), 1_700_086_399);
        assert_eq!(out.len(), 2);
        let r = &out[1];
        assert_eq!(r.domain, "remote.example");
        assert_eq!(r.ids, vec![1, 2, 3]);
        assert_eq!(r.rua, vec!["mailto:dmarc@remote.example!10485760"]);
        let mut counts: Vec<(String, u32, DmarcResult)> = r
            .report
            .records()
            .iter()
            .map(|x| {
                (
                    x.source_ip().unwrap().to_string(),
                    x.count(),
                    x.dmarc_spf_result(),
                )
            })
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            counts,
            vec![
                ("192.0.2.1".into(), 2, DmarcResult::Pass),
                ("192.0.2.9".into(), 1, DmarcResult::Fail)
            ]
        );
        let p = &r.report.policy_published;
        assert_eq!(
            (p.p, p.sp, p.adkim, p.aspf),
            (
                Disposition::Reject,
                Disposition::Quarantine,
                Alignment::Strict,
                Alignment::Relaxed
            )
        );
        // The XML and the message read back through mail-auth's parser.
        let back = Report::parse_xml(r.report.to_xml().as_bytes()).unwrap();
        assert_eq!(back.records().len(), 2);
        let m = message(r, &submitter(), "dmarc@remote.example");
        let parsed = Report::parse_rfc5322(&m, 1 << 20).unwrap();
        assert_eq!(parsed.domain(), "remote.example");
    }

    #[test]
    fn al_2_3_rfc7489_7_1_external_destinations_are_told_apart() {
        assert!(same_organisation("agency.example", "agency.example"));
        assert!(same_organisation("mail.agency.example", "agency.example"));
        assert!(same_organisation(
            "agency.example",
            "reports.agency.example"
        ));
        assert!(!same_organisation("agency.example", "thirdparty.example"));
        // A suffix that is not a label boundary is another domain.
        assert!(!same_organisation("xagency.example", "agency.example"));
    }
}
