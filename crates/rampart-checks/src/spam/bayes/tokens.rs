//! The tokens the classifier counts, read from the message the pipeline already parsed (headers
//! through [`Headers`], text through the MIME walk and [`visible`] for HTML, links through the URL
//! extractor): nothing is decoded a second time here.
//!
//! Each token is a short string with a prefix saying where it came from (`s:` subject word,
//! `s:2:` a pair of adjacent subject words, `fd:` From domain, `rcv:` a Received hop's host,
//! `h:x-mailer:` a selected header's word, `u:` a link's host or path part, `tag:` one of the
//! HTML tags bulk mail dresses in, no prefix for body words), hashed to 64 bits (FNV-1a, seeded
//! with the tokeniser's [`VERSION`]) so the store keeps numbers, not text. Words are read in lower
//! case; a word written in capitals also counts as itself (`caps:FREE`). A message gives at most
//! [`MAX_TOKENS`] distinct tokens.
//!
//! Version 2 (docs/ANTISPAM.md, "Classifier, round 2") left out the header field names and the
//! attribute names of HTML tags, and most tag names: they told "written by mailing-list software"
//! from "written by anything else", so a wanted newsletter read as spam when the ham trained was
//! mostly list mail; it added the capitals and the subject's word pairs.

use std::collections::HashSet;

use crate::message::Headers;
use crate::mime::{walk, PartKind};
use crate::urls::html::visible;

/// Distinct tokens taken from one message at most: a huge message costs no more than this.
pub const MAX_TOKENS: usize = 1500;
/// Links read for tokens at most.
const MAX_URLS: usize = 50;
/// Body text read at most, in bytes.
const MAX_TEXT: usize = 256 * 1024;
/// Words shorter than this carry too little (`the`, `to`); longer than the maximum are
/// summarised by their first letter and length (SpamBayes' "skip" tokens), so base64 noise and
/// long random strings do not flood the store with one-off tokens.
const MIN_WORD: usize = 3;
const MAX_WORD: usize = 24;

/// HTML tags read as tokens (`tag:`), at most.
const MAX_TAGS: usize = 400;
/// Pairs of adjacent subject words read as tokens (`s:2:`), at most.
const MAX_SUBJECT_PAIRS: usize = 20;
/// The HTML tags that are tokens: the dress of bulk mail (fonts, tables, images, forms, maps,
/// scripts) and the few every HTML mail has, whose count says little alone but pairs with the
/// rest. Other tags and all attribute names are left out (version 2).
const TAGS: [&str; 19] = [
    "font", "table", "img", "form", "input", "center", "b", "a", "p", "br", "div", "span", "td",
    "tr", "style", "script", "iframe", "map", "area",
];

/// Headers whose words are tokens of their own, prefixed by the header's name.
const SELECTED: [&str; 10] = [
    "content-transfer-encoding",
    "x-msmail-priority",
    "x-mailer",
    "user-agent",
    "content-type",
    "x-priority",
    "list-id",
    "organization",
    "precedence",
    "x-spam-status",
];

/// The tokeniser's version. A change to what the tokens are makes a new version: its hashes are
/// seeded with it ([`hash`]), so counts learned by an older tokeniser never match, and never mix
/// with, the current ones; every lesson carries the [`marker`], whose counts say how many
/// messages were trained with this version (the classifier counts only those, and says when
/// older lessons no longer count).
/// 1: words, subject, sender, Received, links, field names, markup (until December 2026).
/// 2: see docs/ANTISPAM.md, "Classifier, round 2".
pub const VERSION: u32 = 2;
/// The seed of [`VERSION`]'s hashes (version 1 had none).
const SEED: &[u8] = b"rampart-tokens-2\0";

/// FNV-1a, 64 bits, seeded with the tokeniser's version: stable across builds and platforms
/// (unlike std's hasher), which matters because the counts are kept across upgrades.
pub fn hash(token: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in SEED.iter().chain(token.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The token every lesson of this tokeniser version carries: its spam and ham counts are the
/// messages trained with this version. No text the tokeniser reads gives it (words hold no `:`).
pub fn marker() -> u64 {
    hash("tokens:version")
}

/// Distinct tokens in the order found, bounded.
struct Bag {
    seen: HashSet<u64>,
    order: Vec<u64>,
}

impl Bag {
    fn add(&mut self, token: &str) {
        if self.order.len() >= MAX_TOKENS {
            return;
        }
        let h = hash(token);
        if self.seen.insert(h) {
            self.order.push(h);
        }
    }

    /// Pairs of adjacent words (`{prefix}2:first second`), at most `limit`; a word too short, too
    /// long or all digits breaks the chain.
    fn pairs(&mut self, prefix: &str, text: &str, limit: usize) {
        let mut prev: Option<String> = None;
        let mut n = 0;
        for w in split_words(text) {
            let len = w.chars().count();
            if len == 0 {
                continue;
            }
            if !(MIN_WORD..=MAX_WORD).contains(&len) || w.chars().all(|c| c.is_ascii_digit()) {
                prev = None;
                continue;
            }
            let w = w.to_lowercase();
            if let Some(p) = &prev {
                if n >= limit || self.order.len() >= MAX_TOKENS {
                    return;
                }
                self.add(&format!("{prefix}2:{p} {w}"));
                n += 1;
            }
            prev = Some(w);
        }
    }

    fn words(&mut self, prefix: &str, text: &str) {
        for w in split_words(text) {
            let n = w.chars().count();
            if n < MIN_WORD {
                continue;
            }
            if self.order.len() >= MAX_TOKENS {
                return;
            }
            // Shouting is a signal of its own: `FREE` counts as `caps:FREE` besides `free`.
            if w.chars().any(char::is_alphabetic)
                && w.chars().all(|c| c.is_uppercase() || !c.is_alphabetic())
            {
                self.add(&format!("{prefix}caps:{w}"));
            }
            if n > MAX_WORD {
                let first = w.chars().next().unwrap_or('?').to_lowercase();
                self.add(&format!("{prefix}skip:{first}:{}", n / 10 * 10));
            } else if w.chars().all(|c| c.is_ascii_digit()) {
                self.add(&format!("{prefix}num:{n}"));
            } else {
                self.add(&format!("{prefix}{}", w.to_lowercase()));
            }
        }
    }
}

/// The words of a text: runs of letters, digits and `'$-!`, without leading or trailing `'` and
/// `-`.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '\'' | '$' | '-' | '!')))
        .map(|w| w.trim_matches(|c: char| c == '\'' || c == '-'))
}

fn domain(addr: &str) -> Option<String> {
    let d = addr.trim().trim_end_matches('>').rsplit_once('@')?.1;
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

/// The hosts a Received field names: after `from` and `by`, and bracketed IP addresses (their
/// /24 for IPv4, so neighbours count together).
fn received_hosts(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = value.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0].eq_ignore_ascii_case("from") || pair[0].eq_ignore_ascii_case("by") {
            let host = pair[1].trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ';'));
            if host.contains('.') {
                out.push(host.to_ascii_lowercase());
            }
        }
    }
    for part in value.split('[').skip(1) {
        let ip = part.split(']').next().unwrap_or("");
        if let Ok(std::net::IpAddr::V4(v4)) = ip.parse::<std::net::IpAddr>() {
            let o = v4.octets();
            out.push(format!("ip:{}.{}.{}", o[0], o[1], o[2]));
        }
    }
    out
}

/// The tokens of one message, distinct, in the order found, at most [`MAX_TOKENS`].
pub fn tokens(headers: &Headers<'_>, parsed: &mail_parser::Message<'_>) -> Vec<u64> {
    let mut bag = Bag {
        seen: HashSet::new(),
        order: Vec::new(),
    };
    bag.add("tokens:version");
    if let Some(s) = parsed.subject() {
        bag.words("s:", s);
        subject_shape(&mut bag, s);
        bag.pairs("s:", s, MAX_SUBJECT_PAIRS);
    }
    // Header field names are not tokens (version 2): which fields a message carries says which
    // software wrote it, and against list-mail ham every newsletter looked like spam.
    if let Some(from) = parsed.from().and_then(|a| a.first()) {
        if let Some(d) = from.address().and_then(domain) {
            bag.add(&format!("fd:{d}"));
        }
        if let Some(name) = from.name() {
            bag.words("fn:", name);
        }
    }
    if let Some(d) = parsed
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(domain)
    {
        bag.add(&format!("rd:{d}"));
    }
    if let Some(id) = headers.message_id() {
        if let Some(d) = domain(&id) {
            bag.add(&format!("mid:{d}"));
        }
    }
    for (_, f) in headers.all("Received").take(8) {
        for host in received_hosts(&f.unfolded()) {
            bag.add(&format!("rcv:{host}"));
        }
    }
    for name in SELECTED {
        for (_, f) in headers.all(name).take(2) {
            bag.words(&format!("h:{name}:"), &f.unfolded());
        }
    }
    for u in crate::urls::extract::extract(parsed, MAX_URLS).urls {
        let host = u.url.host.to_ascii_lowercase();
        bag.add(&format!("u:{host}"));
        // The registrable part counts too, so `a.spam.example` and `b.spam.example` meet.
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() > 2 {
            bag.add(&format!("u:{}", labels[labels.len() - 2..].join(".")));
        }
        for seg in u.url.path.split('/').filter(|s| !s.is_empty()).take(4) {
            bag.words("u:p:", seg);
        }
    }
    let mut read = 0;
    let (mut has_text, mut has_html) = (false, false);
    for leaf in walk(parsed).leaves {
        let Some(text) = leaf.text.as_deref() else {
            continue;
        };
        if read >= MAX_TEXT {
            break;
        }
        let shown = match leaf.kind {
            PartKind::Html => {
                bag.add("html");
                has_html = true;
                markup(&mut bag, text);
                visible(text)
            }
            PartKind::Text => {
                has_text = true;
                text.to_string()
            }
            PartKind::Binary => continue,
        };
        let mut end = shown.len().min(MAX_TEXT - read);
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        read += end;
        bag.words("", &shown[..end]);
    }
    if has_html && !has_text {
        bag.add("shape:html-only");
    }
    bag.order
}

/// The subject's shape: shouting, exclamation, money, a long run of spaces (the padding that
/// pushes a tracking number out of sight).
fn subject_shape(bag: &mut Bag, subject: &str) {
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 4 && upper * 2 > letters.len() {
        bag.add("s:shape:caps");
    }
    if subject.contains('!') {
        bag.add("s:shape:bang");
    }
    if subject.contains('$') {
        bag.add("s:shape:money");
    }
    if subject.contains("     ") {
        bag.add("s:shape:padded");
    }
}

/// The HTML tags of [`TAGS`] as tokens (`tag:font`): fonts, tables, images and forms are the dress
/// of bulk mail, a plain reply has none. Attributes are not read: their names marked any HTML
/// from a mail program as spam, their values are links and colours (the URL extractor and the
/// text see what matters).
fn markup(bag: &mut Bag, html: &str) {
    let mut rest = html;
    let mut n = 0;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let inside = &rest[..end];
        rest = &rest[end..];
        if inside.starts_with(['!', '/', '?']) {
            continue;
        }
        let mut parts = inside.split_ascii_whitespace();
        let Some(name) = parts.next() else { continue };
        let name = name.trim_end_matches('/').to_ascii_lowercase();
        if name.is_empty() || name.len() > 12 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        n += 1;
        if n > MAX_TAGS {
            return;
        }
        if TAGS.contains(&name.as_str()) {
            bag.add(&format!("tag:{name}"));
        }
    }
}
