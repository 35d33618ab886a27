//! Checks: small units that read the envelope or the parsed message and return a [`Verdict`].
//! The decision step ([`decide`]) combines verdicts by a fixed precedence.
//!
//! ```text
//! Envelope + raw bytes ─▶ parse once (mail-parser) ─▶ each check(&Context) ─▶ Vec<Verdict> ─▶ decide ─▶ Decision
//! ```
//!
//! Precedence (strongest first): **reject > temporary failure > quarantine > tag > accept**.
//! A temporary failure (a scanner or DNS that did not answer) outranks quarantine and tag because a
//! message that could not be checked must not pass as if it had been (NC-2.3.2, AL-1.2); it loses
//! only to a reject, which is final whatever else is unknown.
//!
//! What does not live here: SMTP I/O (rampart-smtp), storage of quarantined mail (rampart-store).

use std::net::IpAddr;

pub use status::EnhancedStatus;

pub mod auth;

// Content checks (AL-1.2..AL-1.6, NC-2.3.2) and what they share.
pub mod antivirus;
pub mod archive;
pub mod attachments;
pub mod dlp;
pub mod dnsbl;
pub mod entities;
pub mod external;
pub mod headers;
pub mod message;
pub mod mime;
pub mod modify;
pub mod pdf;
pub mod pipeline;
pub mod spam;
pub mod status;
#[cfg(test)]
mod testutil;
pub mod urls;

/// Where a message comes from, which decides the checks that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the Internet, unauthenticated (MX).
    Inbound,
    /// From an authenticated user or a trusted internal network (submission, relay).
    Outbound,
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    /// Deliver, with the check's modifications applied (e.g. the `[External]` subject prefix).
    Tag,
    /// Hold in quarantine for an administrator.
    Quarantine,
    /// Refuse permanently with this reply (5xx).
    Reject(Refusal),
    /// Refuse for now with this reply (4xx): the check could not reach its verdict.
    TempFail(Refusal),
}

/// An SMTP refusal: code, enhanced status code (its class is the code's first digit) and a plain
/// sentence. The SMTP server answers with exactly these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub status: EnhancedStatus,
    pub text: String,
}

impl Refusal {
    pub fn new(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Refusal {
        Refusal {
            code,
            status,
            text: text.into(),
        }
    }
}

/// A change a check asks for when the message is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modification {
    /// Add a header field at the top of the message.
    AddHeader { name: String, value: String },
    /// Remove these header fields of the message as received: indexes into
    /// [`Context::headers`], each a field called `name` (checked again when applied). By index,
    /// not by value, so a field is removed however it is folded, cased or spaced.
    RemoveFields { name: String, indices: Vec<usize> },
    /// Prefix the Subject (never doubled; the check decides whether it is already there).
    SubjectPrefix(String),
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The check's name, e.g. `antivirus`, `attachments`, `dmarc`.
    pub check: &'static str,
    pub action: Action,
    /// Why, in words, for the trace and the quarantine listing. Never a sensitive value.
    pub reason: String,
    pub modifications: Vec<Modification>,
    /// Rules matched whose action is to tell an administrator (AL-1.5), in words; the message
    /// itself is not held for them.
    pub notices: Vec<String>,
}

impl Verdict {
    pub fn accept(check: &'static str, reason: impl Into<String>) -> Verdict {
        Verdict {
            check,
            action: Action::Accept,
            reason: reason.into(),
            modifications: Vec::new(),
            notices: Vec::new(),
        }
    }

    pub fn with(check: &'static str, action: Action, reason: impl Into<String>) -> Verdict {
        Verdict {
            check,
            action,
            reason: reason.into(),
            modifications: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// The SMTP envelope of a message and where it came from: what the session knows before the
/// content.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub direction: Direction,
    pub client_ip: IpAddr,
    pub helo: &'a str,
    /// Envelope sender (empty for the null sender).
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
    /// The authenticated user, if any.
    pub authenticated: Option<&'a str>,
}

/// What every check may read. The message is parsed once, by the caller.
pub struct Context<'a> {
    pub envelope: Envelope<'a>,
    /// The domains this server represents (lower case).
    pub local_domains: &'a [String],
    /// The message as received (without our Return-Path/Received lines).
    pub raw: &'a [u8],
    /// The header section, read once and strictly ([`message::read`]).
    pub headers: &'a message::Headers<'a>,
    /// The MIME tree of the same bytes, shown by [`message::read`] to agree with `headers`.
    pub parsed: &'a mail_parser::Message<'a>,
}

/// The combined outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The verdict that decided (the strongest), if any was stronger than accept.
    pub decided_by: Option<&'static str>,
    /// Modifications of every verdict, in check order.
    pub modifications: Vec<Modification>,
}

fn rank(a: &Action) -> u8 {
    match a {
        Action::Reject(_) => 4,
        Action::TempFail(_) => 3,
        Action::Quarantine => 2,
        Action::Tag => 1,
        Action::Accept => 0,
    }
}

/// Combines verdicts: the strongest action wins (reject > temporary failure > quarantine > tag >
/// accept); among equals, the first in check order. Modifications of all verdicts are kept.
pub fn decide(verdicts: &[Verdict]) -> Decision {
    let mut best: Option<&Verdict> = None;
    for v in verdicts {
        if rank(&v.action) > best.map_or(0, |b| rank(&b.action)) {
            best = Some(v);
        }
    }
    Decision {
        action: best.map_or(Action::Accept, |b| b.action.clone()),
        decided_by: best.map(|b| b.check),
        modifications: verdicts
            .iter()
            .flat_map(|v| v.modifications.iter().cloned())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let r = Refusal::new(554, EnhancedStatus::NOT_AUTHORIZED, "no");
        let t = Refusal::new(451, EnhancedStatus::NOT_AUTHORIZED, "later");
        let vs = vec![
            Verdict::with("tag", Action::Tag, "external"),
            Verdict::with("q", Action::Quarantine, "suspicious"),
            Verdict::with("av", Action::TempFail(t.clone()), "scanner down"),
            Verdict::accept("spf", "pass"),
        ];
        assert_eq!(decide(&vs).action, Action::TempFail(t));
        let mut with_reject = vs.clone();
        with_reject.push(Verdict::with(
            "dmarc",
            Action::Reject(r.clone()),
            "p=reject",
        ));
        let d = decide(&with_reject);
        assert_eq!((d.action, d.decided_by), (Action::Reject(r), Some("dmarc")));
        assert_eq!(decide(&vs[..2]).action, Action::Quarantine);
        assert_eq!(decide(&vs[..1]).action, Action::Tag);
        assert_eq!(decide(&[]).action, Action::Accept);
    }
}
