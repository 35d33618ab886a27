//! The `[External]` tag (AL-1.6): every message arriving from the Internet gets a subject
//! prefix (configurable, `[External]` by default), never doubled — a reply such as
//! `RE: [External] budget` or `Fwd: [external] …` keeps the one it has. Outbound and internal
//! mail is never tagged.
//!
//! An optional text banner can be configured as well. [`Modification`] has no banner variant, so
//! the banner does not travel in the verdict: the caller asks [`banner_for`] and applies it with
//! [`crate::modify::apply_banner`] (which only touches single-part plain-text messages).
//!
//! Changing the subject invalidates the sender's DKIM signature for anyone verifying after us;
//! authentication is verified before this tag is applied.

use serde::{Deserialize, Serialize};

use crate::{Action, Context, Direction, Modification, Verdict};

/// The check's name in verdicts.
pub const CHECK: &str = "external-tag";

/// AL-1.6 tagging of inbound Internet mail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalTagConfig {
    /// Tag inbound Internet mail. Default true (AL-1.6); `rampart audit` reports false.
    pub enabled: bool,
    /// The subject prefix, compared case-insensitively to avoid doubling. Default
    /// `[External]`. Empty means no subject prefix (then a banner should be set to satisfy
    /// AL-1.6 through the body).
    pub subject_prefix: String,
    /// A text banner put at the top of the body of single-part plain-text messages, e.g.
    /// `CAUTION: This email originated outside the agency.` Default none. Keep lines short
    /// (under 998 characters); use only ASCII unless senders' bodies are UTF-8.
    pub banner: Option<String>,
}

impl Default for ExternalTagConfig {
    fn default() -> Self {
        ExternalTagConfig {
            enabled: true,
            subject_prefix: "[External]".into(),
            banner: None,
        }
    }
}

/// Reply and forward markers (several languages) that may stand before an existing tag.
const MARKERS: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "rif", "antw", "odp", "enc", "res", "rv",
    "ref", "doorst", "vl", "ynt", "ilt", "r", "i", "回复", "答复", "转发",
];

/// True when `subject` already carries `prefix`, possibly after reply/forward markers
/// (`RE:`, `Fwd:`, `Re[2]:`, `AW:` …) and other bracketed tags (`[list] Re: [External] …`),
/// compared case-insensitively.
pub fn already_tagged(subject: &str, prefix: &str) -> bool {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return false;
    }
    let mut s = subject.trim_start();
    // Bounded: each round consumes at least one character.
    for _ in 0..32 {
        if starts_with_ci(s, prefix) {
            return true;
        }
        match strip_marker(s).or_else(|| strip_bracket_tag(s)) {
            Some(rest) => s = rest.trim_start(),
            None => return false,
        }
    }
    false
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    let mut chars = s.chars().flat_map(char::to_lowercase);
    prefix
        .chars()
        .flat_map(char::to_lowercase)
        .all(|p| chars.next() == Some(p))
}

/// `RE:` `Fwd:` `Re[2]:` `RE(3):` `AW：` → what follows.
fn strip_marker(s: &str) -> Option<&str> {
    let word_end = s.find(|c: char| !c.is_alphabetic()).unwrap_or(s.len());
    let word = s[..word_end].to_lowercase();
    if !MARKERS.contains(&word.as_str()) {
        return None;
    }
    let mut rest = &s[word_end..];
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(inner) = rest.strip_prefix(open) {
            let end = inner.find(close)?;
            if !inner[..end].chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            rest = &inner[end + 1..];
        }
    }
    let rest = rest.trim_start();
    rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))
}

/// `[anything]` → what follows (list tags and the like).
fn strip_bracket_tag(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(&inner[end + 1..])
}

/// Inbound Internet mail gets the subject prefix (AL-1.6); anything else passes untouched.
pub fn check(cfg: &ExternalTagConfig, ctx: &Context<'_>) -> Verdict {
    if !cfg.enabled {
        return Verdict::accept(CHECK, "AL-1.6 tagging disabled by configuration");
    }
    if ctx.envelope.direction != Direction::Inbound {
        return Verdict::accept(CHECK, "not external: never tagged");
    }
    let prefix = cfg.subject_prefix.trim();
    if prefix.is_empty() {
        return Verdict::accept(CHECK, "AL-1.6: external (no subject prefix configured)");
    }
    let subject = ctx.parsed.subject().unwrap_or("");
    if already_tagged(subject, prefix) {
        return Verdict::accept(
            CHECK,
            format!("AL-1.6: external, subject already carries {prefix}"),
        );
    }
    Verdict {
        check: CHECK,
        action: Action::Tag,
        reason: format!("AL-1.6: external, subject prefixed with {prefix}"),
        modifications: vec![Modification::SubjectPrefix(prefix.to_string())],
        notices: Vec::new(),
    }
}

/// The banner to put on this message, if one is configured and the message is inbound.
/// Apply it with [`crate::modify::apply_banner`], which leaves multipart and encoded bodies
/// unchanged and never doubles the banner.
pub fn banner_for<'c>(cfg: &'c ExternalTagConfig, ctx: &Context<'_>) -> Option<&'c str> {
    if !cfg.enabled || ctx.envelope.direction != Direction::Inbound {
        return None;
    }
    cfg.banner.as_deref().filter(|b| !b.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ctx;
    use mail_parser::MessageParser;

    fn verdict(subject: &str, direction: Direction) -> Verdict {
        let raw = format!("From: a@sender.example\r\nTo: u@agency.example.gov\r\nSubject: {subject}\r\n\r\nhi\r\n");
        let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
        check(
            &ExternalTagConfig::default(),
            &ctx(raw.as_bytes(), &parsed, direction),
        )
    }

    #[test]
    fn al_1_6_inbound_is_tagged_once() {
        let v = verdict("Budget", Direction::Inbound);
        assert_eq!(v.action, Action::Tag);
        assert_eq!(
            v.modifications,
            vec![Modification::SubjectPrefix("[External]".into())]
        );
        for tagged in [
            "[External] Budget",
            "[EXTERNAL] Budget",
            "RE: [External] Budget",
            "Re: RE: [external] Budget",
            "Fwd: [External]Budget",
            "FW:[External] Budget",
            "Re[2]: [External] Budget",
            "AW: [External] Budget",
            "[list-x] Re: [External] Budget",
            "=?utf-8?q?Re=3A_=5BExternal=5D_Budget?=",
        ] {
            let v = verdict(tagged, Direction::Inbound);
            assert_eq!(v.action, Action::Accept, "{tagged}");
            assert!(v.modifications.is_empty(), "{tagged}");
        }
        // A tag in the middle of the text is not a tag.
        let v = verdict("About the [External] label", Direction::Inbound);
        assert_eq!(v.action, Action::Tag);
        let v = verdict("Urgent: [External] x", Direction::Inbound);
        assert_eq!(
            v.action,
            Action::Tag,
            "only reply/forward markers are skipped"
        );
    }

    #[test]
    fn al_1_6_internal_mail_is_never_tagged() {
        let v = verdict("Budget", Direction::Outbound);
        assert_eq!(v.action, Action::Accept);
        assert!(v.modifications.is_empty());
    }

    #[test]
    fn banner_only_for_inbound() {
        let raw = b"Subject: x\r\n\r\nhi\r\n";
        let parsed = MessageParser::default().parse(raw).unwrap();
        let cfg = ExternalTagConfig {
            banner: Some("CAUTION: external sender.".into()),
            ..ExternalTagConfig::default()
        };
        assert_eq!(
            banner_for(&cfg, &ctx(raw, &parsed, Direction::Inbound)),
            Some("CAUTION: external sender.")
        );
        assert_eq!(
            banner_for(&cfg, &ctx(raw, &parsed, Direction::Outbound)),
            None
        );
        assert_eq!(
            banner_for(
                &ExternalTagConfig::default(),
                &ctx(raw, &parsed, Direction::Inbound)
            ),
            None
        );
    }
}
