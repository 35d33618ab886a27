//! URL inspection (AL-1.3: "inspect embedded URLs at the time of delivery; if a URL links to a
//! known malicious or phishing site, block the message").
//!
//! URLs are taken from every part of the message: text and HTML bodies, and HTML, SVG, Office,
//! RTF, PDF and text attachments ([`extract`], [`parts`], [`html`]), read the way a browser
//! reads them ([`normalize`]), then checked against local feed files ([`feeds`], reloaded when
//! they change) and DNS URI blocklists ([`crate::dnsbl`]; the registrable-looking parts of each
//! host — its last two and last three labels — or the reversed IP are asked).
//!
//! A hit refuses the message (`554 5.7.1`) or quarantines it (`action`). Every URL is checked:
//! a message with more distinct URLs than `max_urls`, or needing more DNS queries than
//! `max_dns_queries`, is quarantined ("too many URLs to inspect"), never passed half-checked.
//! A DNS timeout is a
//! temporary failure only when `tempfail_on_dns_timeout` is set; otherwise it is written in the
//! reason. Anchors whose text shows another host than their target are reported in the reason
//! and in [`UrlReport::extracted`] for the spam score; they do not block by themselves.
//!
//! [`inspect`] is a function of the message and the current feeds and lists, and [`verdict`]
//! of its report, so the same check runs at receive time and again at delivery time (with feeds
//! updated in between). The caller decides which mail is inspected: inbound, and outbound only
//! with `check_outbound` (asking public URI lists about internal links would leak them).

pub mod extract;
pub mod feeds;
pub mod html;
pub mod normalize;
pub mod parts;

use std::path::PathBuf;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use mail_parser::Message;
use serde::{Deserialize, Serialize};

use crate::attachments::PolicyAction;
use crate::dnsbl::{query_all, DnsList, ListAnswer, Question};
use crate::mime::printable;
use crate::{Action, EnhancedStatus, Refusal, Verdict};
pub use extract::{Extracted, FoundUrl, Mismatch};
pub use feeds::{FeedHit, FeedList, UrlFeeds};
pub use normalize::{normalize_host, normalize_url, NormalizedUrl};

/// The check's name in verdicts.
pub const CHECK: &str = "urls";

/// Default bound on distinct URLs per message: far above what real mail carries (a long
/// newsletter has a few hundred links, most of them to the same few pages).
pub const MAX_URLS: usize = 1000;

/// Default bound on DNS list queries per message: with the usual two lists, a hundred distinct
/// domains, asked concurrently within one timeout.
pub const MAX_DNS_QUERIES: usize = 200;

/// URL inspection settings (AL-1.3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UrlConfig {
    /// Inspect URLs. Default true; `rampart audit` reports false.
    pub enabled: bool,
    /// Local feed files (see [`feeds`] for the format). Default none. Build one shared
    /// [`UrlFeeds`] from them with [`UrlFeeds::new`] at start-up; it reloads changed files.
    pub feeds: Vec<PathBuf>,
    /// DNS URI blocklists, e.g. `{ zone = "multi.uribl.com", bitmask = 14 }`. Default none.
    pub uri_blocklists: Vec<DnsList>,
    /// Timeout per DNS query, in milliseconds. Default 2000.
    pub dns_timeout_ms: u64,
    /// Answer `451 4.7.1` when a DNS list does not answer in time. Default false: the message
    /// is judged on what did answer and the reason records the timeout.
    pub tempfail_on_dns_timeout: bool,
    /// What a listed URL does: `reject` (default) or `quarantine`.
    pub action: PolicyAction,
    /// Also inspect outbound mail. Default false.
    pub check_outbound: bool,
    /// Distinct URLs (by normalised host and path) inspected per message. Every one is checked;
    /// a message with more is quarantined as too many to inspect. Default 1000.
    pub max_urls: usize,
    /// DNS queries per message (distinct domains × lists), asked concurrently. A message that
    /// needs more is quarantined as too many to inspect. Default 200.
    pub max_dns_queries: usize,
}

impl Default for UrlConfig {
    fn default() -> Self {
        UrlConfig {
            enabled: true,
            feeds: Vec::new(),
            uri_blocklists: Vec::new(),
            dns_timeout_ms: 2000,
            tempfail_on_dns_timeout: false,
            action: PolicyAction::Reject,
            check_outbound: false,
            max_urls: MAX_URLS,
            max_dns_queries: MAX_DNS_QUERIES,
        }
    }
}

/// A DNS list that listed a URL's domain or address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHit {
    pub url: NormalizedUrl,
    /// What was asked (a domain or a reversed IP).
    pub label: String,
    pub zone: String,
    pub answers: Vec<std::net::Ipv4Addr>,
}

/// Everything the inspection found.
#[derive(Debug, Clone, Default)]
pub struct UrlReport {
    pub extracted: Extracted,
    pub feed_hits: Vec<(NormalizedUrl, FeedHit)>,
    pub dns_hits: Vec<DnsHit>,
    /// DNS queries that did not answer in time.
    pub dns_timeouts: usize,
    /// More DNS queries were needed than `max_dns_queries`: some domains were not asked.
    pub dns_limit_reached: bool,
    /// Other DNS failures and feed problems, one sentence each.
    pub problems: Vec<String>,
}

impl UrlReport {
    /// True when a feed or a DNS list named a URL of the message.
    pub fn listed(&self) -> bool {
        !self.feed_hits.is_empty() || !self.dns_hits.is_empty()
    }

    /// True when some URL could not be checked because the message has too many.
    pub fn too_many(&self) -> bool {
        self.extracted.truncated || self.dns_limit_reached
    }
}

/// The labels a URI list is asked about for `url`.
fn labels(url: &NormalizedUrl) -> Vec<String> {
    if url.host.starts_with('[') {
        return Vec::new();
    }
    if let Ok(ip) = url.host.parse::<std::net::Ipv4Addr>() {
        return if crate::dnsbl::is_public(ip.into()) {
            vec![crate::dnsbl::reversed_ip(ip.into())]
        } else {
            Vec::new()
        };
    }
    let parts: Vec<&str> = url.host.split('.').collect();
    let mut out = Vec::new();
    for n in [2, 3] {
        if parts.len() >= n {
            out.push(parts[parts.len() - n..].join("."));
        }
    }
    out
}

fn is_local(host: &str, local_domains: &[String]) -> bool {
    local_domains
        .iter()
        .any(|d| host == d || host.ends_with(&format!(".{d}")))
}

/// Extracts and checks every URL of `msg` against `feeds` (refreshed first) and, with a
/// resolver, the configured URI lists. Links to `local_domains` are not asked about in DNS.
pub async fn inspect(
    cfg: &UrlConfig,
    feeds: &UrlFeeds,
    resolver: Option<&TokioResolver>,
    local_domains: &[String],
    msg: &Message<'_>,
) -> UrlReport {
    let mut report = UrlReport {
        extracted: extract::extract(msg, cfg.max_urls),
        problems: feeds.refresh(),
        ..UrlReport::default()
    };
    for u in &report.extracted.urls {
        if let Some(hit) = feeds.lookup(&u.url) {
            report.feed_hits.push((u.url.clone(), hit));
        }
    }
    if cfg.uri_blocklists.is_empty() {
        return report;
    }
    let Some(resolver) = resolver else {
        report
            .problems
            .push("no DNS resolver given: URI blocklists not asked".into());
        return report;
    };
    let mut questions: Vec<(NormalizedUrl, Question)> = Vec::new();
    let mut asked: std::collections::HashSet<String> = std::collections::HashSet::new();
    'outer: for u in &report.extracted.urls {
        if is_local(&u.url.host, local_domains) {
            continue;
        }
        for label in labels(&u.url) {
            if !asked.insert(label.clone()) {
                continue;
            }
            for list in &cfg.uri_blocklists {
                if questions.len() >= cfg.max_dns_queries {
                    // AL-1.3: not a silent pass; the verdict holds the message.
                    report.dns_limit_reached = true;
                    break 'outer;
                }
                questions.push((
                    u.url.clone(),
                    Question {
                        label: label.clone(),
                        list: list.clone(),
                    },
                ));
            }
        }
    }
    let qs: Vec<Question> = questions.iter().map(|(_, q)| q.clone()).collect();
    let answers = query_all(resolver, &qs, Duration::from_millis(cfg.dns_timeout_ms)).await;
    for ((url, q), answer) in questions.into_iter().zip(answers) {
        match answer {
            ListAnswer::Listed(answers) => report.dns_hits.push(DnsHit {
                url,
                label: q.label,
                zone: q.list.zone,
                answers,
            }),
            ListAnswer::NotListed => {}
            ListAnswer::TimedOut => report.dns_timeouts += 1,
            ListAnswer::Failed(e) => report
                .problems
                .push(format!("{} in {}: {e}", q.label, q.list.zone)),
        }
    }
    report
}

/// The verdict for a report.
pub fn verdict(cfg: &UrlConfig, report: &UrlReport) -> Verdict {
    let mut notes: Vec<String> = Vec::new();
    for m in report.extracted.mismatches.iter().take(5) {
        notes.push(format!(
            "phishing signal: link text shows {} but leads to {}",
            m.shown, m.target
        ));
    }
    if report.extracted.truncated {
        notes.push(format!("more than {} distinct URLs", cfg.max_urls));
    }
    if report.dns_limit_reached {
        notes.push(format!(
            "more than {} DNS list queries needed",
            cfg.max_dns_queries
        ));
    }
    if report.dns_timeouts > 0 {
        notes.push(format!(
            "{} DNS list query(ies) timed out",
            report.dns_timeouts
        ));
    }
    notes.extend(
        report
            .problems
            .iter()
            .chain(&report.extracted.problems)
            .take(5)
            .cloned(),
    );
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };

    let mut hits: Vec<String> = report
        .feed_hits
        .iter()
        .map(|(u, h)| format!("{} listed in {} ({})", u.host, h.feed.display(), h.entry))
        .collect();
    hits.extend(
        report
            .dns_hits
            .iter()
            .map(|h| format!("{} listed in {} ({:?})", h.url.host, h.zone, h.answers)),
    );
    let first_host = report
        .feed_hits
        .first()
        .map(|(u, _)| u.host.clone())
        .or_else(|| report.dns_hits.first().map(|h| h.url.host.clone()));
    if let Some(host) = first_host {
        let reason = format!("AL-1.3: {}{notes}", printable(&hits.join("; "), 400));
        let action = match cfg.action {
            PolicyAction::Reject => Action::Reject(Refusal::new(
                554,
                EnhancedStatus::NOT_AUTHORIZED,
                format!(
                    "Message refused: it links to a site known as malicious or phishing ({})",
                    printable(&host, 100)
                ),
            )),
            PolicyAction::Quarantine => Action::Quarantine,
        };
        return Verdict::with(CHECK, action, reason);
    }
    if report.too_many() {
        // AL-1.3: every URL is checked or the message is held; never a pass on a partial look.
        return Verdict::with(
            CHECK,
            Action::Quarantine,
            format!("AL-1.3: too many URLs to inspect{notes}"),
        );
    }
    if report.dns_timeouts > 0 && cfg.tempfail_on_dns_timeout {
        return Verdict::with(
            CHECK,
            Action::TempFail(Refusal::new(
                451,
                EnhancedStatus::NOT_AUTHORIZED,
                "URL reputation could not be checked; try again later",
            )),
            format!("AL-1.3: DNS lists did not answer{notes}"),
        );
    }
    Verdict::accept(
        CHECK,
        format!(
            "AL-1.3: {} URL(s), none listed{notes}",
            report.extracted.urls.len()
        ),
    )
}

#[cfg(test)]
mod tests;
