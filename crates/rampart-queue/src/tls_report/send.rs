//! The daily aggregate report (RFC 8460 section 4) and its delivery (section 3): for each
//! policy domain with counted outcomes on a day that is over, the `_smtp._tls` TXT record is
//! looked up, and the report goes to every `rua` there: `mailto:` as a message of its own
//! (section 5.3: multipart/report, report-type=tlsrpt, the gzip'd JSON as
//! `application/tlsrpt+gzip`), queued like every outgoing message and so DKIM-signed when its
//! From domain has a key (section 3 requires the signature); `https:` POSTed (section 3).

use super::ResultType;
use flate2::write::GzEncoder;
use hickory_resolver::TokioResolver;
use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy, PolicyDetails, PolicyType, Summary, TlsReport,
};
use rampart_config::Config;
use rampart_store::{AnyStore, TlsOutcomeCount};
use rustls::RootCertStore;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// A day's counts of one domain are given up when no report could be sent for this many days.
const KEEP_DAYS: i64 = 7;
/// Time for one HTTPS POST.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who makes the reports.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// `organization-name`.
    pub organization: String,
    /// The domain named as submitter (`TLS-Report-Submitter`), ours.
    pub domain: String,
    /// `contact-info`, and the From of the messages.
    pub contact: String,
}

impl Submitter {
    /// From the configuration and the represented domains: the first domain is the submitter.
    pub fn new(config: &Config, domains: &[String]) -> Submitter {
        let hostname = config.hostname.get_ref().clone();
        let domain = domains.first().cloned().unwrap_or_else(|| hostname.clone());
        Submitter {
            organization: config
                .delivery
                .tls_reports_organization
                .clone()
                .unwrap_or(hostname),
            contact: format!("postmaster@{domain}"),
            domain,
        }
    }
}

/// The reports of `counts`: one per (day, policy domain), in that order.
pub fn build(counts: &[TlsOutcomeCount], submitter: &Submitter) -> Vec<(i64, String, TlsReport)> {
    let mut by_report: BTreeMap<(i64, &str), Vec<&TlsOutcomeCount>> = BTreeMap::new();
    for c in counts {
        by_report
            .entry((c.day, c.policy_domain.as_str()))
            .or_default()
            .push(c);
    }
    by_report
        .into_iter()
        .map(|((day, domain), counts)| {
            (
                day,
                domain.to_string(),
                report(day, domain, &counts, submitter),
            )
        })
        .collect()
}

fn report(day: i64, domain: &str, counts: &[&TlsOutcomeCount], s: &Submitter) -> TlsReport {
    // One policy entry per policy (type and text) applied that day.
    let mut policies: BTreeMap<(&str, &str), Vec<&TlsOutcomeCount>> = BTreeMap::new();
    for c in counts {
        policies
            .entry((c.policy_type.as_str(), c.policy_strings.as_str()))
            .or_default()
            .push(c);
    }
    let start = day * 86_400;
    TlsReport {
        organization_name: Some(s.organization.clone()),
        date_range: DateRange::from_timestamps(start, start + 86_399),
        contact_info: Some(s.contact.clone()),
        report_id: format!(
            "{}.{domain}.{day}@{}",
            rampart_store::QueueId::generate().0,
            s.domain
        ),
        policies: policies
            .into_iter()
            .map(|((ptype, strings), counts)| policy(domain, ptype, strings, &counts))
            .collect(),
    }
}

fn policy(domain: &str, ptype: &str, strings: &str, counts: &[&TlsOutcomeCount]) -> Policy {
    let lines: Vec<String> = strings
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let mx_host = lines
        .iter()
        .filter_map(|l| l.strip_prefix("mx:").map(|m| m.trim().to_string()))
        .collect();
    let mut summary = Summary {
        total_success: 0,
        total_failure: 0,
    };
    let mut failure_details = Vec::new();
    for c in counts {
        let n = u32::try_from(c.count).unwrap_or(u32::MAX);
        match ResultType::parse(&c.result_type) {
            Some(ResultType::Success) => {
                summary.total_success = summary.total_success.saturating_add(n)
            }
            other => {
                summary.total_failure = summary.total_failure.saturating_add(n);
                let mut f = FailureDetails::new(
                    other.map_or(mail_auth::report::tlsrpt::ResultType::Other, to_mail_auth),
                );
                f.failed_session_count = n;
                f.receiving_mx_hostname = Some(c.mx_host.clone()).filter(|h| !h.is_empty());
                f.receiving_ip = c.receiving_ip.parse().ok();
                f.failure_reason_code = Some(c.reason.clone()).filter(|r| !r.is_empty());
                failure_details.push(f);
            }
        }
    }
    Policy {
        policy: PolicyDetails {
            policy_type: match ptype {
                "sts" => PolicyType::Sts,
                "tlsa" => PolicyType::Tlsa,
                _ => PolicyType::NoPolicyFound,
            },
            policy_string: lines,
            policy_domain: domain.to_string(),
            mx_host,
        },
        summary,
        failure_details,
    }
}

fn to_mail_auth(r: ResultType) -> mail_auth::report::tlsrpt::ResultType {
    use mail_auth::report::tlsrpt::ResultType as M;
    match r {
        ResultType::Success => M::Other,
        ResultType::StartTlsNotSupported => M::StartTlsNotSupported,
        ResultType::CertificateHostMismatch => M::CertificateHostMismatch,
        ResultType::CertificateExpired => M::CertificateExpired,
        ResultType::CertificateNotTrusted => M::CertificateNotTrusted,
        ResultType::ValidationFailure => M::ValidationFailure,
        ResultType::TlsaInvalid => M::TlsaInvalid,
        ResultType::DnssecInvalid => M::DnssecInvalid,
        ResultType::DaneRequired => M::DaneRequired,
        ResultType::StsPolicyFetchError => M::StsPolicyFetchError,
        ResultType::StsPolicyInvalid => M::StsPolicyInvalid,
        ResultType::StsWebpkiInvalid => M::StsWebpkiInvalid,
    }
}

/// The report as the RFC's media type `application/tlsrpt+gzip` carries it.
pub fn gzip_json(report: &TlsReport) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(report.to_json().as_bytes());
    e.finish().unwrap_or_default()
}

/// The report message to `to` (section 5.3).
pub fn message(report: &TlsReport, domain: &str, submitter: &Submitter, to: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = report.write_rfc5322(
        domain,
        &submitter.domain,
        submitter.contact.as_str(),
        to.iter().copied(),
        &mut out,
    ) {
        tracing::error!(error = %e, "writing a TLS report failed");
    }
    out
}

/// The `rua` destinations of `_smtp._tls.<domain>` (section 3). Ok(empty): no record.
pub async fn rua(resolver: &TokioResolver, domain: &str) -> Result<Vec<String>, String> {
    Ok(crate::dns::txt(resolver, &format!("_smtp._tls.{domain}"))
        .await?
        .iter()
        .filter_map(|txt| parse_tlsrpt(txt))
        .next()
        .unwrap_or_default())
}

/// `v=TLSRPTv1; rua=mailto:a@b,https://c/d`: the rua URIs.
pub fn parse_tlsrpt(txt: &str) -> Option<Vec<String>> {
    let mut fields = txt.split(';').map(str::trim);
    if fields.next()? != "v=TLSRPTv1" {
        return None;
    }
    let rua = fields.find_map(|f| f.strip_prefix("rua="))?;
    Some(
        rua.split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| u.starts_with("mailto:") || u.starts_with("https://"))
            .collect(),
    )
}

/// Which days' reports [`send_due`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The daily schedule: a day's reports once `[delivery] tls_reports_hour` (UTC) of the day
    /// after it has passed.
    Scheduled,
    /// At once (`rampart report tls --send-now`): the reports of every day that is over.
    Now,
}

/// The first day whose reports are not due at `now` (microseconds since the epoch).
pub fn not_due_from(now: i64, when: When, hour: u8) -> i64 {
    let today = super::day_of(now);
    let hour_now = now.div_euclid(3_600 * 1_000_000).rem_euclid(24);
    match when {
        When::Scheduled if hour_now < i64::from(hour) => today - 1,
        _ => today,
    }
}

/// Sends the reports that are due (see [`When`]); returns how many went.
///
/// Each report is claimed in the store before it goes (RFC 8460 section 4: one report per
/// day and domain), so a destination never gets a day's report twice, not even when the
/// schedule and `--send-now` run at the same time; a claim whose sending failed is given up
/// and the day's counts kept, so only the destinations that missed it are tried again.
pub async fn send_due(
    store: &AnyStore,
    resolver: &TokioResolver,
    config: &Config,
    roots: Arc<RootCertStore>,
    when: When,
) -> usize {
    let now = rampart_store::now_micros();
    let today = super::day_of(now);
    let before = not_due_from(now, when, config.delivery.tls_reports_hour);
    let counts = match store.tls_outcomes_before(before).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reading TLS outcome counts failed");
            return 0;
        }
    };
    if counts.is_empty() {
        return 0;
    }
    let domains = store.domains().await.unwrap_or_default();
    let submitter = Submitter::new(config, &domains);
    let mut sent = 0;
    for (day, domain, report) in build(&counts, &submitter) {
        // RFC 8460 section 3: a report goes only where the domain's `_smtp._tls` record says;
        // no record (or no usable rua) means no report at all.
        let destinations = match rua(resolver, &domain).await {
            Ok(d) => d,
            Err(e) if today - day <= KEEP_DAYS => {
                tracing::warn!(%domain, error = %e, "TLS report held: _smtp._tls lookup failed");
                continue;
            }
            Err(_) => Vec::new(),
        };
        let mut missed = false;
        for uri in &destinations {
            match store
                .tls_report_claim(day, &domain, uri, &report.report_id)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(%domain, to = %uri, day, "TLS report already sent for this day");
                    continue;
                }
                Err(e) => {
                    tracing::error!(%domain, error = %e, "recording a TLS report failed; not sent");
                    missed = true;
                    continue;
                }
            }
            match deliver(
                store,
                resolver,
                &report,
                &domain,
                &submitter,
                uri,
                roots.clone(),
            )
            .await
            {
                Ok(()) => {
                    sent += 1;
                    tracing::info!(%domain, to = %uri, report_id = %report.report_id, "TLS report sent");
                }
                Err(e) => {
                    tracing::warn!(%domain, to = %uri, error = %e, "TLS report not sent");
                    missed = true;
                    if let Err(e) = store.tls_report_unclaim(day, &domain, uri).await {
                        tracing::error!(error = %e, "giving up a TLS report claim failed");
                    }
                }
            }
        }
        if missed && today - day <= KEEP_DAYS {
            continue; // tried again at the next run, for the destinations that missed it
        }
        if let Err(e) = store.tls_outcomes_done(day, &domain).await {
            tracing::error!(error = %e, "forgetting reported TLS outcomes failed");
        }
    }
    sent
}

async fn deliver(
    store: &AnyStore,
    resolver: &TokioResolver,
    report: &TlsReport,
    domain: &str,
    submitter: &Submitter,
    uri: &str,
    roots: Arc<RootCertStore>,
) -> Result<(), String> {
    if let Some(to) = uri.strip_prefix("mailto:") {
        let to = to.split('?').next().unwrap_or(to);
        let body = message(report, domain, submitter, &[to]);
        let id = format!(
            "{}@{}",
            report.report_id.replace('@', "."),
            submitter.domain
        );
        store
            .enqueue_generated(to, body, id, &format!("TLS report for {domain}"))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        let post = post(resolver, uri, gzip_json(report), roots);
        tokio::time::timeout(POST_TIMEOUT, post)
            .await
            .map_err(|_| format!("POST to {uri} timed out"))?
    }
}

/// POSTs the report to an `https:` rua (section 3): 2xx is success.
async fn post(
    resolver: &TokioResolver,
    uri: &str,
    body: Vec<u8>,
    roots: Arc<RootCertStore>,
) -> Result<(), String> {
    let parsed: hyper::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let host = parsed
        .host()
        .ok_or_else(|| format!("{uri}: no host"))?
        .to_string();
    let port = parsed.port_u16().unwrap_or(443);
    // The host is looked up with the configured resolver, like every other name we send to.
    let ips = match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => crate::dns::addresses(resolver, &host)
            .await
            .map_err(|(_, e)| e)?,
    };
    let addrs: Vec<std::net::SocketAddr> = ips
        .into_iter()
        .map(|ip| std::net::SocketAddr::new(ip, port))
        .collect();
    let tcp = tokio::net::TcpStream::connect(&addrs[..])
        .await
        .map_err(|e| format!("connecting to {host}: {e}"))?;
    let config = Arc::new(
        rustls::ClientConfig::builder_with_protocol_versions(crate::client::VERSIONS)
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|_| format!("{host} is not a valid TLS server name"))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = parsed
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/tlsrpt+gzip")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let r = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    driver.abort();
    let status = r?.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{uri} answered HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(result: &str, n: u64) -> TlsOutcomeCount {
        TlsOutcomeCount {
            day: 20_000,
            policy_domain: "remote.example".into(),
            policy_type: "sts".into(),
            policy_strings: "version: STSv1\nmode: testing\nmx: mx.remote.example\nmax_age: 86400"
                .into(),
            mx_host: "mx.remote.example".into(),
            result_type: result.into(),
            receiving_ip: "192.0.2.7".into(),
            reason: if result == "success" { "" } else { "bad" }.into(),
            count: n,
        }
    }

    fn submitter() -> Submitter {
        Submitter {
            organization: "Example Agency".into(),
            domain: "agency.example".into(),
            contact: "postmaster@agency.example".into(),
        }
    }

    #[test]
    fn rfc8460_4_a_day_of_counts_is_one_report_per_domain() {
        let counts = vec![
            count("success", 5),
            count("certificate-host-mismatch", 2),
            count("starttls-not-supported", 1),
        ];
        let reports = build(&counts, &submitter());
        assert_eq!(reports.len(), 1);
        let (day, domain, r) = &reports[0];
        assert_eq!((*day, domain.as_str()), (20_000, "remote.example"));
        assert_eq!(r.policies.len(), 1);
        let p = &r.policies[0];
        assert_eq!((p.summary.total_success, p.summary.total_failure), (5, 3));
        assert_eq!(p.policy.policy_type, PolicyType::Sts);
        assert_eq!(p.policy.mx_host, vec!["mx.remote.example"]);
        assert_eq!(p.failure_details.len(), 2);
        // The JSON round-trips through mail-auth's parser.
        let back = TlsReport::parse_json(r.to_json().as_bytes()).unwrap();
        assert_eq!(&back, r);
    }

    #[test]
    fn rfc8460_5_3_the_message_carries_the_gzip_report() {
        let counts = vec![count("success", 1)];
        let (_, domain, r) = build(&counts, &submitter()).remove(0);
        let m = message(&r, &domain, &submitter(), &["tlsrpt@remote.example"]);
        let text = String::from_utf8_lossy(&m);
        assert!(
            text.contains("report-type=\"tlsrpt\"") || text.contains("report-type=tlsrpt"),
            "{text}"
        );
        assert!(text.contains("application/tlsrpt+gzip"), "{text}");
        // Section 5.3's subject (mail-builder may write it as an RFC 2047 encoded word).
        let parsed = mail_parser::MessageParser::new().parse(&m).unwrap();
        let subject = parsed.subject().unwrap_or_default();
        assert!(
            subject.starts_with(
                "Report Domain: remote.example Submitter: agency.example Report-ID: <"
            ),
            "{subject}"
        );
        assert!(text.contains("TLS-Report-Domain: remote.example"), "{text}");
        let parsed = TlsReport::parse_rfc5322(&m, 1 << 20).unwrap();
        assert_eq!(parsed, r);
    }

    #[test]
    fn rfc8460_4_a_day_is_due_after_the_configured_hour_of_the_next() {
        let day = 20_000_i64;
        let at = |hour: i64| (day * 86_400 + hour * 3_600) * 1_000_000;
        // Before the hour, yesterday is not due yet; from the hour on, it is.
        assert_eq!(not_due_from(at(0), When::Scheduled, 1), day - 1);
        assert_eq!(not_due_from(at(1), When::Scheduled, 1), day);
        assert_eq!(not_due_from(at(23), When::Scheduled, 1), day);
        // --send-now: every day that is over, whatever the hour; today never.
        assert_eq!(not_due_from(at(0), When::Now, 5), day);
    }

    #[test]
    fn rfc8460_3_the_record_names_the_destinations() {
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=mailto:tls@remote.example,https://r.example/tls"),
            Some(vec![
                "mailto:tls@remote.example".into(),
                "https://r.example/tls".into()
            ])
        );
        assert_eq!(parse_tlsrpt("v=spf1 -all"), None);
        assert_eq!(parse_tlsrpt("v=TLSRPTv1; rua=ftp://x"), Some(vec![]));
    }
}
