//! The statistical spam classifier (AL-1.2): naive Bayes over the message's tokens
//! ([`tokens`]), each token's spam probability smoothed towards "unknown" when it was seen
//! rarely (Robinson's s and x), and the most telling tokens combined with Fisher's chi-square
//! method (Robinson/SpamBayes), which says "unsure" instead of flipping on a few words.
//!
//! ```text
//! message ─▶ tokens (64-bit hashes) ─▶ counts in the store (TokenSource) ─▶ f(w) per token
//!         ─▶ the ≤ 150 tokens furthest from 0.5 ─▶ chi-square combining ─▶ probability
//!         ─▶ score: + spam_weight·(2p−1) above 0.5, − ham_weight·(1−2p) below
//! ```
//!
//! Learning is elsewhere: [`lesson`] gives a message's digest and tokens, the store counts them
//! (rampart-store's `SpamTokens`), once per message; training the other way undoes the first
//! lesson. Until `min_spam` spam and `min_ham` ham messages were trained the classifier adds
//! nothing and says so. Only lessons of the current tokeniser version ([`tokens::VERSION`])
//! count: the version's marker token says how many there are, and the reason names the lessons
//! of an older version, which no longer count, and asks for retraining.

pub mod tokens;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use tokens::MAX_TOKENS;

/// Robinson's s: how strongly a rarely seen token is pulled towards [`UNKNOWN_PROB`].
const STRENGTH: f64 = 0.45;
/// Robinson's x: the probability given to a token never seen.
const UNKNOWN_PROB: f64 = 0.5;
/// Tokens closer to 0.5 than this say nothing and are left out.
const MIN_DEVIATION: f64 = 0.1;
/// The most telling tokens combined per message.
const MAX_DISCRIMINATORS: usize = 150;

/// `[checks.spam.bayes]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BayesConfig {
    /// Use the classifier. Default true; it adds nothing until trained (see `min_spam`).
    pub enabled: bool,
    /// Spam messages trained before the classifier counts. Default 200.
    pub min_spam: u64,
    /// Ham messages trained before the classifier counts. Default 200.
    pub min_ham: u64,
    /// Score added at probability 1 (scaled down linearly to 0 at 0.5). Default 10: a
    /// near-certain spam is quarantined on its own, p ≥ 0.75 tags (chosen by cross-validation on
    /// the training half of the SpamAssassin corpus, docs/ANTISPAM.md).
    pub spam_weight: f32,
    /// Score taken away at probability 0 (scaled down linearly to 0 at 0.5). Default 4, so a
    /// message the classifier knows as wanted needs real evidence from the rules to be tagged.
    pub ham_weight: f32,
}

impl Default for BayesConfig {
    fn default() -> Self {
        BayesConfig {
            enabled: true,
            min_spam: 200,
            min_ham: 200,
            spam_weight: 10.0,
            ham_weight: 4.0,
        }
    }
}

/// What the store knows of some tokens in one scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Spam and ham messages trained in the scope.
    pub spam_messages: u64,
    pub ham_messages: u64,
    /// Token → (spam count, ham count); unseen tokens are absent.
    pub tokens: HashMap<u64, (u64, u64)>,
}

/// Where the counts come from: the store, seen through this so the checks need no database.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// The counts of `tokens` in `scope` (`""` for the installation, else a user's address).
    async fn counts(&self, scope: &str, tokens: &[u64]) -> Result<Counts, String>;
}

/// The classifier's answer for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The spam probability, when the classifier was trained enough to give one.
    pub probability: Option<f64>,
    /// What it adds to the spam score (negative for ham).
    pub score: f32,
    /// One sentence for the trace.
    pub detail: String,
}

/// A token's spam probability, smoothed: Graham's ratio of frequencies, pulled towards x by
/// Robinson's formula `(s·x + n·p) / (s + n)` so a token seen once cannot decide alone.
pub fn token_probability(spam: u64, ham: u64, spam_messages: u64, ham_messages: u64) -> f64 {
    let n = (spam + ham) as f64;
    if n == 0.0 {
        return UNKNOWN_PROB;
    }
    let sr = spam as f64 / spam_messages.max(1) as f64;
    let hr = ham as f64 / ham_messages.max(1) as f64;
    let p = if sr + hr > 0.0 { sr / (sr + hr) } else { 0.5 };
    (STRENGTH * UNKNOWN_PROB + n * p) / (STRENGTH + n)
}

/// The probability that a chi-square variable with `v` (even) degrees of freedom is at least
/// `x2`: the series for even degrees of freedom, which needs no special functions.
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// Fisher/Robinson chi-square combining of token probabilities: near 1 when the evidence says
/// spam, near 0 when it says ham, near 0.5 when it says both or nothing.
pub fn combine(probs: &[f64]) -> f64 {
    if probs.is_empty() {
        return 0.5;
    }
    let (mut ln_p, mut ln_q) = (0.0f64, 0.0f64);
    for p in probs {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        ln_p += p.ln();
        ln_q += (1.0 - p).ln();
    }
    let v = 2 * probs.len();
    // Strong spam evidence makes Σln(1−p) very negative, so its tail probability is small.
    let spamminess = 1.0 - chi2q(-2.0 * ln_q, v);
    let hamminess = 1.0 - chi2q(-2.0 * ln_p, v);
    (1.0 + spamminess - hamminess) / 2.0
}

/// The spam probability of tokens against counts: the most telling tokens, combined.
pub fn probability(tokens: &[u64], counts: &Counts) -> (f64, usize) {
    let mut probs: Vec<f64> = tokens
        .iter()
        .filter_map(|t| counts.tokens.get(t))
        .map(|(s, h)| token_probability(*s, *h, counts.spam_messages, counts.ham_messages))
        .filter(|p| (p - 0.5).abs() >= MIN_DEVIATION)
        .collect();
    probs.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
    probs.truncate(MAX_DISCRIMINATORS);
    (combine(&probs), probs.len())
}

/// How far from its label a trained message may stay before [`tune`] trains it again: a spam
/// under `1 − TUNE_MARGIN`, a ham over it.
pub const TUNE_MARGIN: f64 = 0.001;

/// Passes [`tune`] makes at most by default (`rampart spam train --tune-passes`).
pub const TUNE_PASSES: usize = 10;

/// One message's tokens counted once more on its side (the message counts too, as the
/// tokeniser's marker among the tokens does in the store).
pub fn count_again(counts: &mut Counts, tokens: &[u64], spam: bool) {
    if spam {
        counts.spam_messages += 1;
    } else {
        counts.ham_messages += 1;
    }
    for t in tokens {
        let e = counts.tokens.entry(*t).or_insert((0, 0));
        if spam {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
}

/// Train until no errors ("TUNE"): after every lesson of a batch is learned once, passes over
/// the batch, in the order given, count again each message the classifier still puts on the
/// wrong side of [`TUNE_MARGIN`] from its label, until a pass finds none or `passes` are made.
/// `counts` are the scope's counts with the batch learned (as [`current`] gives them); they are
/// updated. Returns how many times each lesson was counted again.
///
/// Measured on the SpamAssassin corpus (docs/ANTISPAM.md): the messages trained again are the
/// few the classifier got wrong on its own training (a wanted newsletter among mailing-list
/// ham), so their words weigh more; wanted commercial mail is then less often read as spam.
pub fn tune(counts: &mut Counts, lessons: &[(&[u64], bool)], passes: usize) -> Vec<u32> {
    let mut again = vec![0u32; lessons.len()];
    for _ in 0..passes {
        let mut wrong = 0;
        for (i, (tokens, spam)) in lessons.iter().enumerate() {
            let (p, _) = probability(tokens, counts);
            let off = if *spam {
                p < 1.0 - TUNE_MARGIN
            } else {
                p > TUNE_MARGIN
            };
            if off {
                count_again(counts, tokens, *spam);
                again[i] += 1;
                wrong += 1;
            }
        }
        if wrong == 0 {
            break;
        }
    }
    again
}

/// The score for a probability (see the module documentation).
pub fn score_of(cfg: &BayesConfig, p: f64) -> f32 {
    let d = (p - 0.5) * 2.0;
    if d >= 0.0 {
        (d * f64::from(cfg.spam_weight)) as f32
    } else {
        (d * f64::from(cfg.ham_weight)) as f32
    }
}

fn trained(cfg: &BayesConfig, c: &Counts) -> bool {
    c.spam_messages >= cfg.min_spam && c.ham_messages >= cfg.min_ham
}

/// Counts as the current tokeniser sees them: the messages trained with it are the counts of
/// its [`tokens::marker`], not every lesson in the scope; the second value is the (spam, ham)
/// lessons an older tokeniser taught, which no longer count (their tokens hash apart).
pub fn current(mut c: Counts) -> (Counts, (u64, u64)) {
    let (s, h) = c.tokens.remove(&tokens::marker()).unwrap_or((0, 0));
    let stale = (
        c.spam_messages.saturating_sub(s),
        c.ham_messages.saturating_sub(h),
    );
    c.spam_messages = s;
    c.ham_messages = h;
    (c, stale)
}

/// The trace's note on lessons of an older tokeniser, empty when there are none.
fn stale_note((spam, ham): (u64, u64)) -> String {
    if spam + ham == 0 {
        return String::new();
    }
    format!(
        "; {spam} spam and {ham} ham trained with an older tokeniser no longer count: \
         retrain (rampart spam train, or moves to and out of Junk)"
    )
}

/// Classifies a message by its tokens: against the single recipient's own training when that is
/// enough (`min_spam`/`min_ham`), else against the installation's. None when disabled.
pub async fn classify(
    cfg: &BayesConfig,
    source: &dyn TokenSource,
    recipient: Option<&str>,
    tokens: &[u64],
) -> Option<Outcome> {
    classify_with(cfg, source, recipient, || tokens.to_vec()).await
}

/// [`classify`] with the message's tokens made by `make` only when a trained scope will read
/// them (an untrained classifier does not tokenise).
pub async fn classify_with(
    cfg: &BayesConfig,
    source: &dyn TokenSource,
    recipient: Option<&str>,
    make: impl FnOnce() -> Vec<u64>,
) -> Option<Outcome> {
    if !cfg.enabled {
        return None;
    }
    // The marker's counts are the messages trained with this tokeniser version, so whether a
    // scope is trained is one row: every token is looked up only in the scope chosen (issue 23:
    // a recipient without training of their own cost a lookup of every token per message).
    let marker = [tokens::marker()];
    let mut chosen = None;
    if let Some(user) = recipient {
        let scope = user.to_ascii_lowercase();
        match source.counts(&scope, &marker).await {
            Ok(c) => {
                if trained(cfg, &current(c).0) {
                    chosen = Some((format!("{user}'s training"), scope));
                }
            }
            Err(e) => tracing::warn!(error = %e, "spam classifier: user counts"),
        }
    }
    let (whose, scope) = match chosen {
        Some(c) => c,
        None => match source.counts("", &marker).await {
            Ok(c) => {
                let (c, stale) = current(c);
                if !trained(cfg, &c) {
                    return Some(untrained(cfg, &c, stale));
                }
                ("the installation's training".to_string(), String::new())
            }
            Err(e) => return Some(unavailable(&e)),
        },
    };
    let tokens = make();
    let mut query = tokens.clone();
    if !query.contains(&tokens::marker()) {
        query.push(tokens::marker());
    }
    let (counts, stale) = match source.counts(&scope, &query).await {
        Ok(c) => current(c),
        Err(e) => return Some(unavailable(&e)),
    };
    if !trained(cfg, &counts) {
        // Untrained since the first look (a lesson undone meanwhile).
        return Some(untrained(cfg, &counts, stale));
    }
    let (p, used) = probability(&tokens, &counts);
    let score = score_of(cfg, p);
    Some(Outcome {
        probability: Some(p),
        score,
        detail: format!(
            "classifier probability {p:.3} from {used} of {} tokens against {whose} ({} spam, {} ham{})",
            tokens.iter().filter(|t| **t != tokens::marker()).count(),
            counts.spam_messages,
            counts.ham_messages,
            stale_note(stale)
        ),
    })
}

/// AL-1.2: an untrained classifier would only add noise; it says why it is silent.
fn untrained(cfg: &BayesConfig, counts: &Counts, stale: (u64, u64)) -> Outcome {
    Outcome {
        probability: None,
        score: 0.0,
        detail: format!(
            "classifier not yet trained ({} spam, {} ham; needs {} and {}{})",
            counts.spam_messages,
            counts.ham_messages,
            cfg.min_spam,
            cfg.min_ham,
            stale_note(stale)
        ),
    }
}

fn unavailable(e: &str) -> Outcome {
    Outcome {
        probability: None,
        score: 0.0,
        detail: format!("classifier unavailable: {e}"),
    }
}

/// A message ready to be learned: its digest (SHA-256 of the Message-ID and the body, so the
/// headers added on the way, our own included, do not make it a new message) and its tokens,
/// with the Message-ID (no angle brackets) and the Return-Path address as this one read saw
/// them, for the trace event of the lesson (AL-3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    pub digest: Vec<u8>,
    pub tokens: Vec<u64>,
    pub message_id: Option<String>,
    pub return_path: Option<String>,
}

/// Reads a message for training. Bare LF line ends (files on disk, mbox) are read as CRLF. None
/// when it cannot be read as a message.
pub fn lesson(raw: &[u8]) -> Option<Lesson> {
    let crlf = to_crlf(raw);
    // Read as the server reads mail it receives: header bytes that are not UTF-8 repaired.
    let crlf = crate::message::repaired(&crlf);
    let m = crate::message::read(&crlf).ok()?;
    let tokens = tokens::tokens(&m.headers, &m.parsed);
    let body = crlf.get(m.headers.body_offset..).unwrap_or_default();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let message_id = m.headers.message_id();
    ctx.update(message_id.as_deref().unwrap_or_default().as_bytes());
    ctx.update(b"\0");
    ctx.update(body);
    let return_path = m.headers.get("Return-Path").map(|f| {
        let v = f.unfolded();
        v.trim_start_matches('<').trim_end_matches('>').to_string()
    });
    Some(Lesson {
        digest: ctx.finish().as_ref().to_vec(),
        tokens,
        message_id,
        return_path,
    })
}

/// Line ends as CRLF, bare CR dropped; NUL bytes dropped (a file is not held to SMTP's rules).
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for &b in raw {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' | 0 => {}
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests;
