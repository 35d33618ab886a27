//! Spam and phishing score for inbound mail (AL-1.2).
//!
//! Each rule that matches adds its weight (all configurable under `weights`):
//!
//! | rule | matches when | default weight |
//! |---|---|---|
//! | `ip_blocklisted` | the connecting IP is listed by a configured DNS blocklist (reversed octets / nibbles), per list | 6 |
//! | `auth_failed` | the authentication checks (SPF/DKIM/DMARC, given by the caller in [`SpamSignals`]) failed | 5 |
//! | `display_name_impersonation` | the From display name contains an own domain or an own address while the address itself is outside | 6 |
//! | `lookalike_domain` | the From, Reply-To or envelope sender domain looks like an own domain ([`lookalike`]: one edit, homoglyphs, other TLD, own domain as a foreign label) | 8 |
//! | `reply_to_mismatch` | the Reply-To domain differs from the From domain (neither a subdomain of the other) | 1 |
//! | `mismatched_link` | a link's text shows another host than its target (from the URL check's report), once however many links do | 1.5 |
//! | `html_form` | an HTML part contains a `<form>` | 1.5 |
//! | `url_listed` | the URL check found a listed URL (feeds or URI lists) | 10 |
//!
//! On top of these, the content rules ([`rules`]: header, body, URI, raw, meta and check rules
//! read as data, a default set built in and the administrator's `rule_files`) add their scores;
//! each one that matches is listed in the verdict as `NAME(score)`.
//!
//! Thresholds (defaults): score ≥ 5 tags (headers `X-Spam-Flag: YES`, `X-Spam-Score`, and an
//! optional subject prefix), ≥ 10 quarantines, ≥ 15 refuses with `554 5.7.1`. Any
//! `X-Spam-Flag`/`X-Spam-Score`/`X-Spam-Status` fields a sender wrote themselves are removed
//! from inbound mail, so downstream filters never trust a forged verdict.
//!
//! A DNS list that does not answer in time adds nothing and is noted in the reason, or gives
//! `451 4.7.1` with `tempfail_on_dns_timeout`.
//!
//! The statistical classifier ([`bayes`]) adds its score (rule `bayes`) once trained, and says
//! in the reason when it is not yet.

pub mod bayes;
pub mod lookalike;
pub mod rspamd;
pub mod rules;

use std::path::PathBuf;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};

use crate::dnsbl::{is_public, query_all, reversed_ip, DnsList, ListAnswer, Question};
use crate::mime::{printable, walk, PartKind};
use crate::urls::UrlReport;
use crate::{Action, Context, Direction, EnhancedStatus, Modification, Refusal, Verdict};
pub use lookalike::lookalike;

/// The check's name in verdicts.
pub const CHECK: &str = "spam";

/// Rule weights (see the table in the module documentation).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamWeights {
    /// Per DNS blocklist listing the connecting IP. Default 6.
    pub ip_blocklisted: f32,
    /// Authentication failed. Default 5.
    pub auth_failed: f32,
    /// Display name shows an own domain or address; the address is foreign. Default 6.
    pub display_name_impersonation: f32,
    /// A sender domain looks like an own domain. Default 8.
    pub lookalike_domain: f32,
    /// Reply-To domain differs from From domain. Default 1: mailing lists set Reply-To to the
    /// list, so on its own it is weak (in the SpamAssassin corpus it marks 4 times more ham than
    /// spam, docs/ANTISPAM.md); phishing rules combine it with stronger signals.
    pub reply_to_mismatch: f32,
    /// A mismatched link (counted once, however many). Default 1.5: newsletters link through
    /// click-tracking hosts while the text shows their own, so on its own it is weak; the
    /// phishing meta rules (`PHISH_COMBINED`) add the weight when other signals join it.
    pub mismatched_link: f32,
    /// An HTML form. Default 1.5: weak alone (newsletters carry search and subscription forms);
    /// a password field (`LOGIN_FORM_*`) and `PHISH_COMBINED` add to it.
    pub html_form: f32,
    /// A URL listed by a feed or URI list. Default 10.
    pub url_listed: f32,
}

impl Default for SpamWeights {
    fn default() -> Self {
        SpamWeights {
            ip_blocklisted: 6.0,
            auth_failed: 5.0,
            display_name_impersonation: 6.0,
            lookalike_domain: 8.0,
            reply_to_mismatch: 1.0,
            mismatched_link: 1.5,
            html_form: 1.5,
            url_listed: 10.0,
        }
    }
}

/// Spam scoring settings (AL-1.2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamConfig {
    /// Score inbound mail. Default true; `rampart audit` reports false.
    pub enabled: bool,
    /// DNS blocklists asked about the connecting IP, e.g.
    /// `{ zone = "zen.spamhaus.org", codes = ["127.0.0.2", "127.0.0.3", "127.0.0.4"] }`.
    /// Default none (lists need network access and often a licence).
    pub ip_blocklists: Vec<DnsList>,
    /// Timeout per DNS query, in milliseconds. Default 2000.
    pub dns_timeout_ms: u64,
    /// Answer `451 4.7.1` when a blocklist does not answer in time. Default false.
    pub tempfail_on_dns_timeout: bool,
    /// Rule weights.
    pub weights: SpamWeights,
    /// Score from which the message is tagged. Default 5.
    pub tag_threshold: f32,
    /// Score from which it is quarantined. Default 10.
    pub quarantine_threshold: f32,
    /// Score from which it is refused. Default 15.
    pub reject_threshold: f32,
    /// Subject prefix for tagged mail, e.g. `[SPAM]`. Default none (headers only).
    pub tag_subject_prefix: Option<String>,
    /// Content rule files read at start on top of the built-in default rules, in order (format
    /// in docs/CHECKS.md); a rule of the same name overrides the default, `score NAME 0` switches
    /// it off. A bad file is a configuration error naming the file, line and rule. Default none.
    pub rule_files: Vec<PathBuf>,
    /// The statistical classifier, trained by users' moves to and out of Junk and by
    /// `rampart spam train` (AL-1.2).
    pub bayes: bayes::BayesConfig,
    /// Rspamd as a second engine (`[checks.spam.rspamd]`); unset: not asked.
    pub rspamd: Option<rspamd::RspamdConfig>,
}

impl Default for SpamConfig {
    fn default() -> Self {
        SpamConfig {
            enabled: true,
            ip_blocklists: Vec::new(),
            dns_timeout_ms: 2000,
            tempfail_on_dns_timeout: false,
            weights: SpamWeights::default(),
            tag_threshold: 5.0,
            quarantine_threshold: 10.0,
            reject_threshold: 15.0,
            tag_subject_prefix: None,
            rule_files: Vec::new(),
            bayes: bayes::BayesConfig::default(),
            rspamd: None,
        }
    }
}

/// Inputs from other checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpamSignals<'a> {
    /// SPF/DKIM/DMARC did not pass (as the authentication checks judged it).
    pub auth_failed: bool,
    /// The From domain is authenticated ([`crate::auth::AuthOutcome::from_aligned`]): the
    /// content rules' `from_authenticated`, which binds an allow rule to the real sender.
    pub from_authenticated: bool,
    /// The URL check's report for this message, if it ran.
    pub urls: Option<&'a UrlReport>,
    /// The classifier's answer, when it ran ([`bayes::classify`]).
    pub bayes: Option<&'a bayes::Outcome>,
}

/// One rule that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    pub rule: &'static str,
    pub weight: f32,
    pub detail: String,
}

/// The score and the rules behind it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub total: f32,
    pub rules: Vec<RuleHit>,
    /// Content rules that matched ([`rules`]), in the trace as `NAME(score)`.
    pub content: Vec<rules::Hit>,
}

impl Score {
    fn add(&mut self, rule: &'static str, weight: f32, detail: String) {
        if weight != 0.0 {
            self.total += weight;
            self.rules.push(RuleHit {
                rule,
                weight,
                detail,
            });
        }
    }
}

fn domain_of(addr: &str) -> Option<String> {
    let d = addr.trim().trim_end_matches('>').rsplit_once('@')?.1;
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

fn related(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

fn is_own(domain: &str, own: &[String]) -> bool {
    own.iter().any(|o| related_sub(domain, o))
}

/// `domain` is `own` or below it.
fn related_sub(domain: &str, own: &str) -> bool {
    domain == own || domain.ends_with(&format!(".{own}"))
}

/// The content rules (everything but the IP blocklists), a pure function of the message and
/// the signals.
pub fn score_content(cfg: &SpamConfig, signals: &SpamSignals<'_>, ctx: &Context<'_>) -> Score {
    let w = &cfg.weights;
    let own: Vec<String> = ctx
        .local_domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let mut s = Score::default();
    if signals.auth_failed {
        s.add("auth_failed", w.auth_failed, "authentication failed".into());
    }
    let from = ctx.parsed.from().and_then(|a| a.first());
    let from_addr = from.and_then(|a| a.address()).unwrap_or("");
    let from_domain = domain_of(from_addr);
    let from_is_own = from_domain.as_deref().is_some_and(|d| is_own(d, &own));

    // Display-name impersonation: an own domain or address shown, a foreign address used.
    if let (Some(name), false) = (from.and_then(|a| a.name()), from_is_own) {
        let name = name.to_lowercase();
        if let Some(o) = own.iter().find(|o| name.contains(o.as_str())) {
            s.add(
                "display_name_impersonation",
                w.display_name_impersonation,
                format!(
                    "From name shows {o} but the address is {}",
                    printable(from_addr, 80)
                ),
            );
        }
    }

    // Look-alike sender domains (From, Reply-To, envelope).
    let reply_to = ctx
        .parsed
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(domain_of);
    let mut candidates: Vec<String> = [
        from_domain.clone(),
        reply_to.clone(),
        domain_of(ctx.envelope.mail_from),
    ]
    .into_iter()
    .flatten()
    .collect();
    candidates.dedup();
    'look: for c in &candidates {
        for o in &own {
            if let Some(why) = lookalike(c, o) {
                s.add(
                    "lookalike_domain",
                    w.lookalike_domain,
                    format!("{} looks like {o}: {why}", printable(c, 80)),
                );
                break 'look;
            }
        }
    }

    if let (Some(rt), Some(fd)) = (&reply_to, &from_domain) {
        if !related(rt, fd) {
            s.add(
                "reply_to_mismatch",
                w.reply_to_mismatch,
                format!("Reply-To {} differs from From {fd}", printable(rt, 80)),
            );
        }
    }

    if let Some(report) = signals.urls {
        // Once, however many links: newsletters link every item through a click-tracker, so
        // a second mismatch says little more (docs/ANTISPAM.md, round 3), and the content rule
        // LINK_TEXT_MISMATCH (URL check off) counts the signal once too.
        for m in report.extracted.mismatches.iter().take(1) {
            s.add(
                "mismatched_link",
                w.mismatched_link,
                format!("link text shows {} but leads to {}", m.shown, m.target),
            );
        }
        if report.listed() {
            s.add("url_listed", w.url_listed, "a URL is on a blocklist".into());
        }
    }

    let has_form = walk(ctx.parsed).leaves.iter().any(|l| {
        l.kind == PartKind::Html
            && l.text
                .as_deref()
                .is_some_and(|t| t.to_ascii_lowercase().contains("<form"))
    });
    if has_form {
        s.add("html_form", w.html_form, "HTML form in the message".into());
    }
    s
}

/// Adds the content rules that match ([`rules`]) to `score`; meta rules see the code rules
/// already in it (`bayes` and `rspamd` when they added to the score).
pub fn score_rules(
    set: &rules::RuleSet,
    signals: &SpamSignals<'_>,
    ctx: &Context<'_>,
    score: &mut Score,
) {
    let facts = rules::facts::Facts::gather(ctx, signals);
    // The classifier and Rspamd count for meta rules only when they point towards spam: a
    // negative (ham) contribution is not a match.
    let code: Vec<&str> = score
        .rules
        .iter()
        .filter(|r| !matches!(r.rule, "bayes" | "rspamd") || r.weight > 0.0)
        .map(|r| r.rule)
        .collect();
    for hit in set.evaluate(&facts, &code) {
        score.total += hit.score;
        score.content.push(hit);
    }
}

/// Scores inbound mail with the built-in content rules ([`rules::builtin`]); see
/// [`check_with_rules`].
pub async fn check(
    cfg: &SpamConfig,
    resolver: Option<&TokioResolver>,
    signals: &SpamSignals<'_>,
    ctx: &Context<'_>,
) -> Verdict {
    check_with_rules(cfg, rules::builtin(), resolver, signals, ctx).await
}

/// Scores inbound mail (code rules, IP blocklists, then the content rules `set`) and tags,
/// quarantines or refuses it by the thresholds.
pub async fn check_with_rules(
    cfg: &SpamConfig,
    set: &rules::RuleSet,
    resolver: Option<&TokioResolver>,
    signals: &SpamSignals<'_>,
    ctx: &Context<'_>,
) -> Verdict {
    if !cfg.enabled || ctx.envelope.direction != Direction::Inbound {
        let why = if cfg.enabled {
            "outbound: not scored"
        } else {
            "AL-1.2 spam scoring disabled by configuration"
        };
        let mut v = Verdict::accept(CHECK, why);
        remove_forged_verdicts(&mut v, ctx.headers);
        return v;
    }
    let mut score = score_content(cfg, signals, ctx);
    let mut notes = Vec::new();
    // AL-1.2: the classifier's probability and contribution are part of the reason either way.
    if let Some(b) = signals.bayes {
        if b.score != 0.0 {
            score.add("bayes", b.score, b.detail.clone());
        } else {
            notes.push(b.detail.clone());
        }
    }
    if let Some(r) = &cfg.rspamd {
        let req = rspamd::Request {
            ip: ctx.envelope.client_ip,
            helo: ctx.envelope.helo,
            mail_from: ctx.envelope.mail_from,
            rcpts: ctx.envelope.rcpts,
        };
        match rspamd::check(r, &req, ctx.raw).await {
            Ok(rep) => {
                let weighted = (rep.score * f64::from(r.weight)) as f32;
                let detail = format!(
                    "Rspamd score {:.1}, action {}: {}",
                    rep.score,
                    printable(&rep.action, 40),
                    rep.symbols_text()
                );
                // AL-1.2: Rspamd's answer is in the reason even when it adds nothing.
                if weighted == 0.0 {
                    notes.push(format!("rspamd +0.0 ({detail})"));
                } else {
                    score.add("rspamd", weighted, detail);
                }
            }
            // AL-1.2: fail closed, the sender retries later rather than the mail passing
            // with one engine fewer than configured.
            Err(e) if r.fail == rspamd::FailMode::Closed => {
                return Verdict::with(
                    CHECK,
                    Action::TempFail(Refusal::new(
                        451,
                        EnhancedStatus::NOT_AUTHORIZED,
                        "The spam filter could not check this message; try again later",
                    )),
                    format!("AL-1.2: {e} (fail = closed)"),
                );
            }
            Err(e) => notes.push(format!("{e}; continued without Rspamd (fail = open)")),
        }
    }
    let mut timed_out = false;
    if !cfg.ip_blocklists.is_empty() && is_public(ctx.envelope.client_ip) {
        match resolver {
            None => notes.push("no DNS resolver given: IP blocklists not asked".to_string()),
            Some(r) => {
                let label = reversed_ip(ctx.envelope.client_ip);
                let questions: Vec<Question> = cfg
                    .ip_blocklists
                    .iter()
                    .map(|l| Question {
                        label: label.clone(),
                        list: l.clone(),
                    })
                    .collect();
                let answers =
                    query_all(r, &questions, Duration::from_millis(cfg.dns_timeout_ms)).await;
                for (q, a) in questions.iter().zip(answers) {
                    match a {
                        ListAnswer::Listed(codes) => score.add(
                            "ip_blocklisted",
                            cfg.weights.ip_blocklisted,
                            format!(
                                "{} listed in {} ({codes:?})",
                                ctx.envelope.client_ip, q.list.zone
                            ),
                        ),
                        ListAnswer::NotListed => {}
                        ListAnswer::TimedOut => {
                            timed_out = true;
                            notes.push(format!("{} did not answer in time", q.list.zone));
                        }
                        ListAnswer::Failed(e) => notes.push(format!("{}: {e}", q.list.zone)),
                    }
                }
            }
        }
    }
    // AL-1.2: content rules last, so their meta rules can read blocklist hits too.
    score_rules(set, signals, ctx, &mut score);
    verdict(cfg, &score, &notes, timed_out, ctx)
}

/// The verdict fields this check writes. A store behind this server reads `X-Spam-Flag` as
/// the gateway's verdict (NC-2.3.4, `trust_gateway_verdicts`: `YES` files the message in Junk).
const VERDICT_FIELDS: [&str; 3] = ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"];

/// The removal of every verdict field a sender wrote: only this server's may reach a reader.
fn forged_verdicts(headers: &crate::message::Headers<'_>) -> Vec<Modification> {
    VERDICT_FIELDS
        .iter()
        .filter_map(|name| {
            let indices: Vec<usize> = headers.all(name).map(|(i, _)| i).collect();
            (!indices.is_empty()).then(|| Modification::RemoveFields {
                name: name.to_string(),
                indices,
            })
        })
        .collect()
}

/// AL-1.2, NC-2.3.4: removes the spam verdict fields a sender wrote, when this check did not
/// score the message (switched off, or outbound mail) and so writes none of its own, and says
/// so in `verdict`'s reason. Run by the pipeline when the check is off, and by the check for
/// mail it does not score: the fields never pass through, whatever the configuration.
pub fn remove_forged_verdicts(verdict: &mut Verdict, headers: &crate::message::Headers<'_>) {
    let mods = forged_verdicts(headers);
    if !mods.is_empty() {
        let names: Vec<&str> = mods
            .iter()
            .filter_map(|m| match m {
                Modification::RemoveFields { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        verdict.reason.push_str(&format!(
            "; removed spam verdict fields the sender wrote ({})",
            names.join(", ")
        ));
        verdict.modifications.extend(mods);
    }
}

fn verdict(
    cfg: &SpamConfig,
    score: &Score,
    notes: &[String],
    timed_out: bool,
    ctx: &Context<'_>,
) -> Verdict {
    let rules = score
        .rules
        .iter()
        .map(|r| format!("{} {:+.2} ({})", r.rule, r.weight, r.detail))
        .collect::<Vec<_>>()
        .join("; ");
    // Two decimals: with one, a total of 4.95 read "5.0" beside a tag line of 5 it had not
    // reached (the threshold compares the unrounded total).
    let mut reason = format!("AL-1.2: score {:.2}", score.total);
    if !rules.is_empty() {
        reason.push_str(&format!(": {rules}"));
    }
    // Each content rule with its score: `SUBJ_LOTTERY(2.0)`.
    if !score.content.is_empty() {
        let names: Vec<String> = score
            .content
            .iter()
            .map(|h| format!("{}({:?})", h.name, h.score))
            .collect();
        reason.push_str(&format!("; rules: {}", names.join(" ")));
    }
    for n in notes {
        reason.push_str(&format!("; {n}"));
    }
    // Forged verdict headers from outside are removed whatever the score.
    let mut mods = forged_verdicts(ctx.headers);
    let action = if score.total >= cfg.reject_threshold {
        Action::Reject(Refusal::new(
            554,
            EnhancedStatus::NOT_AUTHORIZED,
            "Message refused as spam or phishing",
        ))
    } else if score.total >= cfg.quarantine_threshold {
        Action::Quarantine
    } else if timed_out && cfg.tempfail_on_dns_timeout {
        Action::TempFail(Refusal::new(
            451,
            EnhancedStatus::NOT_AUTHORIZED,
            "Sender reputation could not be checked; try again later",
        ))
    } else if score.total >= cfg.tag_threshold {
        mods.push(Modification::AddHeader {
            name: "X-Spam-Flag".into(),
            value: "YES".into(),
        });
        mods.push(Modification::AddHeader {
            name: "X-Spam-Score".into(),
            value: format!("{:.2}", score.total),
        });
        if let Some(p) = cfg
            .tag_subject_prefix
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            mods.push(Modification::SubjectPrefix(p.trim().to_string()));
        }
        Action::Tag
    } else {
        Action::Accept
    };
    Verdict {
        check: CHECK,
        action,
        reason,
        modifications: mods,
        notices: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
