//! The domain's published records, asked of `--dns` (or the system's resolver): SPF (AL-2.1),
//! DKIM keys (AL-2.2), DMARC at quarantine or reject (AL-2.3), and for TLS in transit (AL-1.1)
//! MTA-STS, TLS-RPT and TLSA at `_25._tcp.<mx>` where published.

use super::Target;
use crate::{Finding, Status};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

/// Selectors tried when none is given: what common providers and Rampart's examples use.
pub const COMMON_SELECTORS: &[&str] = &[
    "default",
    "mail",
    "dkim",
    "rampart",
    "selector1",
    "selector2",
    "google",
    "s1",
    "s2",
    "k1",
];

fn resolver(target: &Target) -> Result<TokioResolver, String> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut opts = ResolverOpts::default();
    opts.timeout = target.timeout;
    opts.attempts = 2;
    let builder = match target.dns {
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("reading the system DNS configuration: {e}"))?,
        Some(server) => {
            let mut rc = ResolverConfig::from_parts(None, vec![], vec![]);
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for c in ns.connections.iter_mut() {
                c.port = server.port();
            }
            rc.add_name_server(ns);
            TokioResolver::builder_with_config(rc, TokioRuntimeProvider::default())
        }
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| format!("building the DNS resolver: {e}"))
}

/// The TXT strings at `name` (each record's strings joined), `Ok(empty)` when there are none.
async fn txt(r: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    match r.txt_lookup(format!("{name}.")).await {
        Ok(l) => Ok(l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(format!("TXT {name}: {e}")),
    }
}

/// AL-2.1: one SPF record, ending in `-all` (pass), `~all` (warn), anything else fails.
pub(crate) fn judge_spf(domain: &str, records: &[String]) -> Finding {
    let spf: Vec<&String> = records
        .iter()
        .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
        .collect();
    let check = format!("SPF {domain}");
    let remedy = "publish `v=spf1 mx -all` (rampart dns-records prints it)";
    match spf.as_slice() {
        [] => Finding::fail("AL-2.1", check, "no SPF record", remedy),
        [one] => {
            let last = one
                .split_whitespace()
                .last()
                .unwrap_or("")
                .to_ascii_lowercase();
            match last.as_str() {
                "-all" => Finding::pass("AL-2.1", check, one.to_string()),
                "~all" => Finding::warn("AL-2.1", check, format!("soft fail only: {one}"), remedy),
                _ => Finding::fail(
                    "AL-2.1",
                    check,
                    format!("does not end in -all: {one}"),
                    remedy,
                ),
            }
        }
        many => Finding::fail(
            "AL-2.1",
            check,
            format!(
                "{} SPF records (a permerror, RFC 7208 section 4.5)",
                many.len()
            ),
            remedy,
        ),
    }
}

/// The value of tag `k` in a `k=v; k=v` record.
fn tag<'a>(record: &'a str, k: &str) -> Option<&'a str> {
    record.split(';').find_map(|kv| {
        let (key, v) = kv.split_once('=')?;
        key.trim().eq_ignore_ascii_case(k).then_some(v.trim())
    })
}

/// AL-2.3: a DMARC record with p=quarantine or p=reject.
pub(crate) fn judge_dmarc(domain: &str, records: &[String]) -> Finding {
    let check = format!("DMARC _dmarc.{domain}");
    let remedy = "publish `v=DMARC1; p=reject` (or quarantine) at _dmarc";
    let dmarc: Vec<&String> = records
        .iter()
        .filter(|t| t.trim_start().to_ascii_uppercase().starts_with("V=DMARC1"))
        .collect();
    match dmarc.as_slice() {
        [] => Finding::fail("AL-2.3", check, "no DMARC record", remedy),
        [one] => match tag(one, "p").map(str::to_ascii_lowercase).as_deref() {
            Some("reject") | Some("quarantine") => Finding::pass("AL-2.3", check, one.to_string()),
            _ => Finding::fail(
                "AL-2.3",
                check,
                format!("policy is not quarantine or reject: {one}"),
                remedy,
            ),
        },
        many => Finding::fail(
            "AL-2.3",
            check,
            format!(
                "{} DMARC records (RFC 7489 section 6.6.3: none applies)",
                many.len()
            ),
            remedy,
        ),
    }
}

pub(crate) async fn probe(target: &Target) -> Vec<Finding> {
    let Some(domain) = target.domain.as_deref() else {
        return Vec::new();
    };
    let r = match resolver(target) {
        Ok(r) => r,
        Err(e) => {
            return vec![Finding::warn(
                "AL-2.1",
                format!("DNS {domain}"),
                format!("could not ask DNS: {e}"),
                "give a reachable resolver with --dns",
            )]
        }
    };
    let mut out = Vec::new();
    let dns_warn = |control: &'static str, check: String, e: String| {
        Finding::warn(
            control,
            check,
            format!("DNS did not answer: {e}"),
            "run the audit again",
        )
    };
    match txt(&r, domain).await {
        Ok(t) => out.push(judge_spf(domain, &t)),
        Err(e) => out.push(dns_warn("AL-2.1", format!("SPF {domain}"), e)),
    }
    // A self-test compares every domain's keys with what it signs with ([`dkim_keys`]).
    if !target.self_test {
        out.push(dkim(&r, domain, &target.dkim_selectors).await);
    }
    match txt(&r, &format!("_dmarc.{domain}")).await {
        Ok(t) => out.push(judge_dmarc(domain, &t)),
        Err(e) => out.push(dns_warn("AL-2.3", format!("DMARC _dmarc.{domain}"), e)),
    }
    for (name, prefix, label) in [
        (format!("_mta-sts.{domain}"), "v=STSv1", "MTA-STS"),
        (format!("_smtp._tls.{domain}"), "v=TLSRPTv1", "TLS-RPT"),
    ] {
        let check = format!("{label} {name}");
        out.push(match txt(&r, &name).await {
            Ok(t) => match t.iter().find(|x| x.starts_with(prefix)) {
                Some(rec) => Finding::pass("AL-1.1", check, rec.clone()),
                // AL-1.1: without MTA-STS (RFC 8461) senders fall back to plaintext under attack.
                None => Finding::warn(
                    "AL-1.1",
                    check,
                    format!("no {prefix} record"),
                    format!("publish the {label} record (rampart dns-records prints it)"),
                ),
            },
            Err(e) => dns_warn("AL-1.1", check, e),
        });
    }
    out.extend(tlsa(&r, domain).await);
    out
}

/// AL-2.2: a DKIM key at one of the selectors.
async fn dkim(r: &TokioResolver, domain: &str, given: &[String]) -> Finding {
    let guessed = given.is_empty();
    let selectors: Vec<String> = if guessed {
        COMMON_SELECTORS.iter().map(|s| s.to_string()).collect()
    } else {
        given.to_vec()
    };
    let check = format!("DKIM {domain}");
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for sel in &selectors {
        let name = format!("{sel}._domainkey.{domain}");
        match txt(r, &name).await {
            Ok(t) => match t
                .iter()
                .find(|x| tag(x, "p").is_some_and(|p| !p.is_empty()))
            {
                Some(_) => found.push(sel.clone()),
                None => missing.push(sel.clone()),
            },
            Err(e) => return Finding::warn("AL-2.2", check, e, "run the audit again"),
        }
    }
    if !found.is_empty() && (guessed || missing.is_empty()) {
        Finding::pass(
            "AL-2.2",
            check,
            format!("key published for selector(s) {}", found.join(", ")),
        )
    } else if guessed {
        Finding::warn(
            "AL-2.2",
            check,
            format!("no key at the common selectors ({})", selectors.join(", ")),
            "name your selectors with --dkim-selector; publish the key (rampart dkim generate, rampart dns-records)",
        )
    } else {
        Finding::fail(
            "AL-2.2",
            check,
            format!("no key published for selector(s) {}", missing.join(", ")),
            "publish the key (rampart dns-records prints the record)",
        )
    }
}

/// One DKIM key the server signs with: its selector and the TXT value `rampart dns-records`
/// prints for it (`v=DKIM1; k=...; p=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub selector: String,
    pub record: String,
}

/// The `p=` of a DKIM record with the white space DNS tools add removed; `None` without one.
fn public_key(record: &str) -> Option<String> {
    let p: String = tag(record, "p")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (!p.is_empty()).then_some(p)
}

/// AL-2.2 (and the NC guideline on signatures): the judgement for one selector of `domain`
/// given the TXT strings published at `<selector>._domainkey.<domain>`. A pass only when a
/// published key is the key the server signs with; missing or different is a fail whose remedy
/// is the record to publish.
pub(crate) fn judge_dkim_key(domain: &str, key: &DkimKey, published: &[String]) -> Finding {
    let name = format!("{}._domainkey.{domain}", key.selector);
    let check = format!("DKIM {name}");
    let remedy = format!(
        "publish `{name}. IN TXT \"{}\"` (`rampart dns-records --domain {domain}` prints it)",
        key.record
    );
    let Some(want) = public_key(&key.record) else {
        return Finding::warn(
            "AL-2.2",
            check,
            format!(
                "the server's key for selector {} could not be read",
                key.selector
            ),
            format!(
                "re-create it: rampart dkim generate --domain {domain} --selector {}",
                key.selector
            ),
        );
    };
    let keys: Vec<String> = published.iter().filter_map(|t| public_key(t)).collect();
    let short = |p: &str| format!("p={}…", p.chars().take(24).collect::<String>());
    if keys.contains(&want) {
        Finding::pass(
            "AL-2.2",
            check,
            format!(
                "the published key is the key signed with ({})",
                short(&want)
            ),
        )
    } else if keys.is_empty() {
        Finding::fail("AL-2.2", check, "no DKIM key is published", remedy)
    } else {
        Finding::fail(
            "AL-2.2",
            check,
            format!(
                "the published key ({}) is not the key signed with ({}): receivers' DKIM checks fail",
                keys.iter().map(|p| short(p)).collect::<Vec<_>>().join(", "),
                short(&want)
            ),
            remedy,
        )
    }
}

/// AL-2.2 for a self-test: every selector the server signs `domain` with, looked up and compared
/// with the key it signs with.
pub async fn dkim_keys(target: &Target, domain: &str, keys: &[DkimKey]) -> Vec<Finding> {
    let r = match resolver(target) {
        Ok(r) => r,
        Err(e) => {
            return vec![Finding::warn(
                "AL-2.2",
                format!("DKIM {domain}"),
                format!("could not ask DNS: {e}"),
                "set [dns] servers to a reachable resolver",
            )]
        }
    };
    let mut out = Vec::new();
    for key in keys {
        let name = format!("{}._domainkey.{domain}", key.selector);
        out.push(match txt(&r, &name).await {
            Ok(t) => judge_dkim_key(domain, key, &t),
            Err(e) => Finding::warn(
                "AL-2.2",
                format!("DKIM {name}"),
                format!("DNS did not answer: {e}"),
                "run the audit again",
            ),
        });
    }
    out
}

/// TLSA at `_25._tcp.<mx>` for each MX: a pass where published, not applicable where not (DANE
/// needs a DNSSEC-signed zone, which not every agency has).
async fn tlsa(r: &TokioResolver, domain: &str) -> Vec<Finding> {
    let mx: Vec<String> = match r.mx_lookup(format!("{domain}.")).await {
        Ok(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::MX(m) => Some(m.exchange.to_ascii().trim_end_matches('.').to_string()),
                _ => None,
            })
            .filter(|h| !h.is_empty())
            .collect(),
        Err(_) => Vec::new(),
    };
    if mx.is_empty() {
        return vec![Finding::new(
            "AL-1.1",
            format!("TLSA {domain}"),
            Status::NotApplicable,
            "no MX host to look up TLSA for",
            None,
        )];
    }
    let mut out = Vec::new();
    for host in mx {
        let name = format!("_25._tcp.{host}");
        let check = format!("TLSA {name}");
        let n = match r.lookup(format!("{name}."), RecordType::TLSA).await {
            Ok(l) => l
                .answers()
                .iter()
                .filter(|x| matches!(x.data, RData::TLSA(_)))
                .count(),
            Err(_) => 0,
        };
        out.push(if n > 0 {
            Finding::pass("AL-1.1", check, format!("{n} TLSA record(s) published"))
        } else {
            Finding::new(
                "AL-1.1",
                check,
                Status::NotApplicable,
                "no TLSA published (DANE needs a DNSSEC-signed zone)",
                None,
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn al_2_1_spf_must_end_in_minus_all() {
        assert_eq!(judge_spf("d", &v(&["v=spf1 mx -all"])).status, Status::Pass);
        assert_eq!(judge_spf("d", &v(&["v=spf1 mx ~all"])).status, Status::Warn);
        assert_eq!(judge_spf("d", &v(&["v=spf1 +all"])).status, Status::Fail);
        assert_eq!(judge_spf("d", &v(&["google-site=x"])).status, Status::Fail);
        assert_eq!(
            judge_spf("d", &v(&["v=spf1 -all", "v=spf1 mx -all"])).status,
            Status::Fail
        );
    }

    #[test]
    fn al_2_2_the_published_key_must_be_the_key_signed_with() {
        let key = DkimKey {
            selector: "s1".into(),
            record: "v=DKIM1; k=ed25519; p=AAAAright".into(),
        };
        let same = judge_dkim_key("d", &key, &v(&["v=DKIM1; k=ed25519; p=AAAA right"]));
        assert_eq!(same.status, Status::Pass, "{same:?}");
        let other = judge_dkim_key("d", &key, &v(&["v=DKIM1; k=ed25519; p=BBBBwrong"]));
        assert_eq!(other.status, Status::Fail);
        assert!(other
            .remedy
            .unwrap()
            .contains("s1._domainkey.d. IN TXT \"v=DKIM1; k=ed25519; p=AAAAright\""));
        let none = judge_dkim_key("d", &key, &v(&["v=spf1 -all"]));
        assert_eq!(none.status, Status::Fail);
        assert_eq!(none.evidence, "no DKIM key is published");
        // A revoked key (empty p=) is no key.
        assert_eq!(
            judge_dkim_key("d", &key, &v(&["v=DKIM1; p="])).status,
            Status::Fail
        );
    }

    #[test]
    fn al_2_3_dmarc_at_quarantine_or_reject() {
        assert_eq!(
            judge_dmarc("d", &v(&["v=DMARC1; p=reject"])).status,
            Status::Pass
        );
        assert_eq!(
            judge_dmarc("d", &v(&["v=DMARC1; p=quarantine; rua=mailto:x@d"])).status,
            Status::Pass
        );
        assert_eq!(
            judge_dmarc("d", &v(&["v=DMARC1; p=none"])).status,
            Status::Fail
        );
        assert_eq!(judge_dmarc("d", &v(&[])).status, Status::Fail);
    }
}
