//! Outbound data loss prevention (AL-1.5).
//!
//! Rules look at every place of outbound mail a person can read (all headers, bodies,
//! attachments and their names: see [`extract`]), after one normalisation that every rule reads
//! ([`normalize`]: NFKC, invisible characters, digits of other scripts, separators of every
//! kind), and count what they find across the whole message:
//!
//! | rule | counts | default |
//! |---|---|---|
//! | `ssn` | distinct valid US social security numbers ([`detectors`]) | threshold 1, reject |
//! | `payment_card` | distinct card numbers passing issuer and Luhn checks | threshold 1, reject |
//! | `aba_routing` | distinct ABA routing numbers with a keyword nearby | threshold 1, notify |
//! | `patterns` | distinct matches of an administrator's regular expression | threshold 1, reject |
//! | `dictionaries` | occurrences of an administrator's keywords (case-insensitive, whole words) | threshold 1, reject |
//!
//! A rule fires when its count reaches its threshold; the strongest action of the fired rules
//! decides ([`DlpAction`]). Reasons and reply texts name the rule and a count, never a value
//! (a place whose own name matches a rule, like an attachment named after an SSN, is named by
//! its part number instead).
//!
//! Text is inspected up to `max_text_bytes` per message. Mail with more text than that, or
//! with parts that could not be opened within the nesting and archive limits, is held in
//! quarantine ("too much text to inspect"), never accepted: DLP does not fail open on size.
//!
//! **Notify** gives [`Action::Tag`] with no modification and the rule in [`Verdict::notices`]. The
//! caller delivers the message as usual and sends a notice (rule, count, sender, recipients,
//! queue id — never the matched values) to the configured DLP contact and, where policy says
//! so, to the sender. Tag is used rather than Accept so that [`crate::decide`] records `dlp`
//! as the deciding check.

pub mod detectors;
pub mod extract;
mod headers;
pub mod html;
pub mod normalize;

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::mime::printable;
use crate::{Action, Context, Direction, EnhancedStatus, Refusal, Verdict};

/// The check's name in verdicts.
pub const CHECK: &str = "dlp";

/// What a fired rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DlpAction {
    /// Deliver, and notify (see the module documentation).
    Notify,
    /// Hold in quarantine.
    Quarantine,
    /// Refuse with `550 5.7.1` naming the rule.
    Reject,
}

/// A built-in detector's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Whether the detector runs. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Distinct values needed to fire. Default 1.
    #[serde(default = "one")]
    pub threshold: usize,
    /// What to do when it fires. Default: `reject` for `ssn` and `payment_card`, `notify`
    /// for `aba_routing` (routing numbers identify banks, not people, and appear in ordinary
    /// payment instructions).
    #[serde(default)]
    pub action: Option<DlpAction>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            enabled: true,
            threshold: 1,
            action: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn reject() -> DlpAction {
    DlpAction::Reject
}

/// An administrator's regular expression (Rust `regex` syntax: linear time, no backtracking).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// The rule's name, shown in reasons and refusals.
    pub name: String,
    /// The expression, e.g. `\bEMP-\d{6}\b`.
    pub pattern: String,
    /// Distinct matches needed to fire. Default 1.
    #[serde(default = "one")]
    pub threshold: usize,
    /// Default `reject`.
    #[serde(default = "reject")]
    pub action: DlpAction,
}

/// An administrator's keyword list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DictionaryRule {
    /// The rule's name, shown in reasons and refusals.
    pub name: String,
    /// Words or phrases, matched case-insensitively as whole words.
    pub keywords: Vec<String>,
    /// Occurrences (all keywords together) needed to fire. Default 1.
    #[serde(default = "one")]
    pub threshold: usize,
    /// Default `reject`.
    #[serde(default = "reject")]
    pub action: DlpAction,
}

/// DLP settings (AL-1.5). Applies to outbound mail only.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlpConfig {
    /// Run DLP on outbound mail. Default true; `rampart audit` reports false.
    pub enabled: bool,
    /// US social security numbers.
    pub ssn: DetectorConfig,
    /// Payment card numbers.
    pub payment_card: DetectorConfig,
    /// ABA routing numbers.
    pub aba_routing: DetectorConfig,
    /// Regular-expression rules. Default none.
    pub patterns: Vec<PatternRule>,
    /// Keyword rules. Default none.
    pub dictionaries: Vec<DictionaryRule>,
    /// Text inspected per message, in bytes (headers, bodies, names and attachment text
    /// together, before normalisation). A message with more is held in quarantine, since
    /// the rest could not be inspected (AL-1.5: never fail open on size). Default 16 MiB.
    pub max_text_bytes: usize,
}

impl Default for DlpConfig {
    fn default() -> Self {
        DlpConfig {
            enabled: true,
            ssn: DetectorConfig::default(),
            payment_card: DetectorConfig::default(),
            aba_routing: DetectorConfig::default(),
            patterns: Vec::new(),
            dictionaries: Vec::new(),
            max_text_bytes: 16 << 20,
        }
    }
}

/// The compiled rules: build once from the configuration, use for every message.
#[derive(Debug, Clone)]
pub struct Dlp {
    cfg: DlpConfig,
    patterns: Vec<Regex>,
    dictionaries: Vec<Vec<String>>,
}

/// Compiled regex size limit per pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Dlp {
    /// Compiles the rules; every invalid one is reported, each with its name.
    pub fn new(cfg: DlpConfig) -> Result<Dlp, Vec<String>> {
        let mut errors = Vec::new();
        let mut patterns = Vec::new();
        for p in &cfg.patterns {
            match RegexBuilder::new(&p.pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(r) => patterns.push(r),
                Err(e) => errors.push(format!("dlp pattern {:?}: {e}", p.name)),
            }
        }
        let mut dictionaries = Vec::new();
        for d in &cfg.dictionaries {
            let words: Vec<String> = d
                .keywords
                .iter()
                .map(|k| k.trim().to_lowercase())
                .filter(|k| !k.is_empty())
                .collect();
            if words.is_empty() {
                errors.push(format!("dlp dictionary {:?}: no keywords", d.name));
            }
            dictionaries.push(words);
        }
        for (name, t) in [
            ("ssn", cfg.ssn.threshold),
            ("payment_card", cfg.payment_card.threshold),
            ("aba_routing", cfg.aba_routing.threshold),
        ]
        .into_iter()
        .chain(cfg.patterns.iter().map(|p| (p.name.as_str(), p.threshold)))
        .chain(
            cfg.dictionaries
                .iter()
                .map(|d| (d.name.as_str(), d.threshold)),
        ) {
            if t == 0 {
                errors.push(format!("dlp rule {name:?}: threshold must be at least 1"));
            }
        }
        if errors.is_empty() {
            Ok(Dlp {
                cfg,
                patterns,
                dictionaries,
            })
        } else {
            Err(errors)
        }
    }

    pub fn config(&self) -> &DlpConfig {
        &self.cfg
    }
}

/// Checks a DLP configuration without building it, for the configuration loader: every
/// problem as (key under `[checks.dlp]`, with list positions as numbers, e.g.
/// `patterns.0.pattern`; one-line message). [`Dlp::new`] refuses the same configurations.
pub fn config_problems(cfg: &DlpConfig) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, p) in cfg.patterns.iter().enumerate() {
        if let Err(e) = RegexBuilder::new(&p.pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            // regex's messages span several lines (the pattern, a caret, the cause): keep the cause.
            let text = e.to_string();
            let cause = text
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error:"))
                .map(|l| l.trim().trim_start_matches("error:").trim().to_string())
                .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
            problems.push((
                format!("patterns.{i}.pattern"),
                format!(
                    "rule {:?}: not a valid regular expression ({cause}); fix it (Rust regex syntax)",
                    p.name
                ),
            ));
        }
        if p.threshold == 0 {
            problems.push((
                format!("patterns.{i}.threshold"),
                format!("rule {:?}: must be at least 1", p.name),
            ));
        }
    }
    for (i, d) in cfg.dictionaries.iter().enumerate() {
        if d.keywords.iter().all(|k| k.trim().is_empty()) {
            problems.push((
                format!("dictionaries.{i}.keywords"),
                format!("rule {:?}: no keywords; list at least one word", d.name),
            ));
        }
        if d.threshold == 0 {
            problems.push((
                format!("dictionaries.{i}.threshold"),
                format!("rule {:?}: must be at least 1", d.name),
            ));
        }
    }
    for (name, t) in [
        ("ssn", &cfg.ssn),
        ("payment_card", &cfg.payment_card),
        ("aba_routing", &cfg.aba_routing),
    ] {
        if t.threshold == 0 {
            problems.push((format!("{name}.threshold"), "must be at least 1".into()));
        }
    }
    problems
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    /// The rule's name (`ssn`, `payment_card`, `aba_routing`, or the administrator's name).
    pub rule: String,
    /// What it detects, in words (`payment card numbers`).
    pub what: String,
    /// Distinct values (detectors, patterns) or occurrences (dictionaries).
    pub count: usize,
    pub action: DlpAction,
    /// Where matches were found (`body`, attachment names).
    pub locations: Vec<String>,
}

/// Runs every rule over `segments` (location, text) and returns those that fired.
pub fn evaluate(dlp: &Dlp, segments: &[extract::Segment]) -> Vec<RuleHit> {
    let cfg = &dlp.cfg;
    let mut hits = Vec::new();
    type Finder = fn(&str) -> Vec<String>;
    let builtins: [(&str, &str, &DetectorConfig, DlpAction, Finder); 3] = [
        (
            "ssn",
            "US social security numbers",
            &cfg.ssn,
            DlpAction::Reject,
            detectors::find_ssns,
        ),
        (
            "payment_card",
            "payment card numbers",
            &cfg.payment_card,
            DlpAction::Reject,
            detectors::find_cards,
        ),
        (
            "aba_routing",
            "bank routing numbers",
            &cfg.aba_routing,
            DlpAction::Notify,
            detectors::find_routing_numbers,
        ),
    ];
    for (rule, what, det, default_action, find) in builtins {
        if !det.enabled {
            continue;
        }
        let (count, locations) = distinct(segments, find);
        if count >= det.threshold {
            hits.push(RuleHit {
                rule: rule.into(),
                what: what.into(),
                count,
                action: det.action.unwrap_or(default_action),
                locations,
            });
        }
    }
    for (p, re) in cfg.patterns.iter().zip(&dlp.patterns) {
        let (count, locations) = distinct(segments, |t| {
            re.find_iter(t).map(|m| m.as_str().to_string()).collect()
        });
        if count >= p.threshold {
            hits.push(RuleHit {
                rule: p.name.clone(),
                what: format!("data matching the {} pattern", p.name),
                count,
                action: p.action,
                locations,
            });
        }
    }
    for (d, words) in cfg.dictionaries.iter().zip(&dlp.dictionaries) {
        let mut count = 0;
        let mut locations = Vec::new();
        // Occurrences in the reading before, so that an alternate reading of the same text
        // (visible HTML, a second charset) adds only what the first did not find.
        let mut previous = 0;
        for seg in segments {
            let lower = seg.text.to_lowercase();
            let n: usize = words.iter().map(|w| count_words(&lower, w)).sum();
            if n > 0 && !locations.contains(&seg.location) {
                locations.push(seg.location.clone());
            }
            if seg.alternate {
                count += n.saturating_sub(previous);
                previous = previous.max(n);
            } else {
                count += n;
                previous = n;
            }
        }
        if count >= d.threshold {
            hits.push(RuleHit {
                rule: d.name.clone(),
                what: format!("terms from the {} list", d.name),
                count,
                action: d.action,
                locations,
            });
        }
    }
    hits
}

fn distinct(
    segments: &[extract::Segment],
    find: impl Fn(&str) -> Vec<String>,
) -> (usize, Vec<String>) {
    let mut values: Vec<String> = Vec::new();
    let mut locations = Vec::new();
    for seg in segments {
        let found = find(&seg.text);
        if !found.is_empty() && !locations.contains(&seg.location) {
            locations.push(seg.location.clone());
        }
        for v in found {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    (values.len(), locations)
}

/// Whole-word occurrences of `word` (both lower case) in `text`.
fn count_words(text: &str, word: &str) -> usize {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    text.match_indices(word)
        .filter(|(i, _)| {
            !is_word(text[..*i].chars().next_back())
                && !is_word(text[i + word.len()..].chars().next())
        })
        .count()
}

/// DLP on outbound mail (AL-1.5). Inbound mail is not inspected.
pub fn check(dlp: &Dlp, ctx: &Context<'_>) -> Verdict {
    if !dlp.cfg.enabled {
        return Verdict::accept(CHECK, "AL-1.5 DLP disabled by configuration");
    }
    if ctx.envelope.direction != Direction::Outbound {
        return Verdict::accept(CHECK, "DLP applies to outbound mail");
    }
    let mut x = extract::message_text(ctx.parsed, dlp.cfg.max_text_bytes);
    redact_locations(dlp, &mut x.segments);
    let hits = evaluate(dlp, &x.segments);
    // AL-1.5: text that could not be inspected holds the message; it is never accepted.
    let unread = if x.over_limit {
        Some(format!(
            "too much text to inspect (over {} bytes)",
            dlp.cfg.max_text_bytes
        ))
    } else if x.incomplete {
        Some("too much text to inspect (nesting or archive limits reached)".to_string())
    } else {
        None
    };
    let top = hits.iter().max_by_key(|h| h.action);
    let summary = hits
        .iter()
        .map(|h| {
            format!(
                "rule {} matched {} time(s) in {}",
                printable(&h.rule, 60),
                h.count,
                printable(&h.locations.join(", "), 120)
            )
        })
        .chain(unread.clone())
        .collect::<Vec<_>>()
        .join("; ");
    match (top, unread) {
        (None, None) => Verdict::accept(CHECK, "no DLP rule matched"),
        // AL-1.5: the reply names the rule, never the value.
        (Some(top), _) if top.action == DlpAction::Reject => Verdict::with(
            CHECK,
            Action::Reject(Refusal::new(
                550,
                EnhancedStatus::NOT_AUTHORIZED,
                format!(
                    "Message refused: it appears to contain {} (data protection rule \"{}\"); \
                     remove them or contact your administrator",
                    printable(&top.what, 80),
                    printable(&top.rule, 60)
                ),
            )),
            format!("AL-1.5: {summary}"),
        ),
        (Some(top), None) if top.action == DlpAction::Notify => {
            let mut v = Verdict::with(CHECK, Action::Tag, format!("AL-1.5: notify: {summary}"));
            v.notices.push(format!("AL-1.5: {summary}"));
            v
        }
        // A quarantine rule, or text not inspected (a notify rule is still reported in the
        // reason so the notice can be sent on release).
        _ => Verdict::with(CHECK, Action::Quarantine, format!("AL-1.5: {summary}")),
    }
}

/// Replaces each location that itself matches a rule (an attachment named `123-45-6789.txt`)
/// by its fallback, so that reasons never carry a matched value.
fn redact_locations(dlp: &Dlp, segments: &mut [extract::Segment]) {
    // Every rule at threshold 1: one match in a name is enough to keep the name out.
    let mut strict = dlp.clone();
    for d in [
        &mut strict.cfg.ssn,
        &mut strict.cfg.payment_card,
        &mut strict.cfg.aba_routing,
    ] {
        d.threshold = 1;
    }
    strict.cfg.patterns.iter_mut().for_each(|p| p.threshold = 1);
    strict
        .cfg
        .dictionaries
        .iter_mut()
        .for_each(|d| d.threshold = 1);
    let mut checked: HashMap<String, bool> = HashMap::new();
    for seg in segments.iter_mut() {
        let leaks = *checked.entry(seg.location.clone()).or_insert_with(|| {
            let probe = extract::Segment::new(String::new(), normalize::normalize(&seg.location));
            !evaluate(&strict, &[probe]).is_empty()
        });
        if leaks {
            seg.location = seg.fallback.clone();
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_normalised;
