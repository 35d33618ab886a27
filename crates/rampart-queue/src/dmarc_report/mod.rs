//! DMARC aggregate reports (AL-2.3, RFC 7489 section 7.2; RFC 9990's format as mail-auth
//! writes it): every DMARC evaluation of inbound mail is recorded ([`record`]); once a day the
//! evaluations of each domain whose record asks for them (`rua=`) go to it as one gzip'd XML
//! report ([`send`]). Reports other receivers send about our domains are taken in by
//! [`incoming`].

pub mod incoming;
pub mod send;

use mail_auth::dmarc::{Alignment, Dmarc, Policy};
use rampart_checks::auth::{AuthOutcome, DkimResult, DmarcResult, SpfResult};
use rampart_checks::{Action, Envelope};
use rampart_store::{AnyStore, DkimEvaluation, DmarcEvaluation};

/// The check name the authentication check gives a verdict that DMARC's policy decided.
const CHECK_DMARC: &str = "dmarc";

/// The evaluation of one inbound message, as a report row will show it; None when no DMARC
/// evaluation took place (outbound mail, no From domain).
pub fn evaluation(outcome: &AuthOutcome, env: &Envelope<'_>) -> Option<DmarcEvaluation> {
    let dmarc = &outcome.dmarc;
    let domain = dmarc.domain().to_ascii_lowercase();
    if domain.is_empty() || outcome.authentication_results.is_none() {
        return None;
    }
    let spf = &outcome.spf_mail_from;
    let envelope_from = env
        .mail_from
        .rsplit_once('@')
        .map_or(env.helo, |(_, d)| d)
        .to_ascii_lowercase();
    // RFC 7489 section 7.2: the disposition is what we did about DMARC's policy.
    let disposition = match (&outcome.verdict.action, outcome.verdict.check) {
        (Action::Reject(_), CHECK_DMARC) => "reject",
        (Action::Quarantine, CHECK_DMARC) => "quarantine",
        _ => "none",
    };
    let record = dmarc.dmarc_record();
    Some(DmarcEvaluation {
        id: 0,
        at: rampart_store::now_micros(),
        domain: domain.clone(),
        source_ip: env.client_ip.to_string(),
        header_from: domain,
        envelope_from,
        envelope_to: env
            .rcpts
            .first()
            .and_then(|r| r.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default(),
        spf_domain: spf.domain().to_ascii_lowercase(),
        spf_scope: if env.mail_from.is_empty() {
            "helo"
        } else {
            "mfrom"
        }
        .into(),
        spf_result: spf_word(spf.result()).into(),
        dkim: outcome
            .dkim
            .iter()
            .filter(|d| !d.domain.is_empty())
            .map(|d| DkimEvaluation {
                domain: d.domain.to_ascii_lowercase(),
                selector: d.selector.clone(),
                result: dkim_word(&d.result).into(),
            })
            .collect(),
        spf_aligned: aligned(dmarc.spf_result()).into(),
        dkim_aligned: aligned(dmarc.dkim_result()).into(),
        disposition: disposition.into(),
        policy: policy_word(dmarc.policy()).into(),
        published: record.map(published).unwrap_or_default(),
        rua: record
            .map(|r| {
                r.rua()
                    .iter()
                    // mail-auth keeps only mailto URIs, as the bare address.
                    .map(|u| {
                        let to = u.uri();
                        let to = to.strip_prefix("mailto:").unwrap_or(to);
                        format!("mailto:{to}!{}", u.max_size())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Records `outcome`'s evaluation, without waiting for it to be durable (it is committed with
/// the message, or before it). A failure to record is logged, never the message's failure.
pub async fn record(store: &AnyStore, outcome: &AuthOutcome, env: &Envelope<'_>) {
    let Some(e) = evaluation(outcome, env) else {
        return;
    };
    let domain = e.domain.clone();
    if let Err(err) = store.dmarc_evaluation_note(e).await {
        tracing::error!(error = %err, %domain, "recording a DMARC evaluation failed");
    }
}

/// RFC 7489 appendix C `DMARCResultType`: DMARC's SPF or DKIM part passed aligned, or not.
fn aligned(r: &DmarcResult) -> &'static str {
    if *r == DmarcResult::Pass {
        "pass"
    } else {
        "fail"
    }
}

fn spf_word(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_word(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Fail(_) => "fail",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::TempError(_) => "temperror",
        DkimResult::PermError(_) => "permerror",
        DkimResult::None => "none",
    }
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Quarantine => "quarantine",
        Policy::Reject => "reject",
        Policy::None | Policy::Unspecified => "none",
    }
}

/// The record as published, in the tag words a report's `policy_published` repeats; tags the
/// record left out are left out (`sp`, `np`).
fn published(r: &Dmarc) -> String {
    let align = |a: &Alignment| match a {
        Alignment::Strict => "s",
        Alignment::Relaxed => "r",
    };
    let mut out = format!("p={}", policy_word(r.p));
    if r.sp != Policy::Unspecified {
        out.push_str(&format!("; sp={}", policy_word(r.sp)));
    }
    if r.np != Policy::Unspecified {
        out.push_str(&format!("; np={}", policy_word(r.np)));
    }
    out.push_str(&format!(
        "; adkim={}; aspf={}; t={}",
        align(&r.adkim),
        align(&r.aspf),
        if r.t { "y" } else { "n" }
    ));
    out
}

/// Days since the epoch (UTC) of a time in microseconds.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(86_400 * 1_000_000)
}
