//! Finding URLs in a message (AL-1.3): text bodies and text attachments (by pattern, with
//! `linkify`), HTML bodies and attachments (`href`, `src`, `action`, `formaction`,
//! `background`, `poster`, `data` attributes, and the visible text), nested messages included.
//!
//! An HTML anchor whose visible text shows a host other than the one it leads to
//! (`<a href="http://evil.example/">https://bank.example/</a>`) is a phishing signal: it is
//! reported as a [`Mismatch`] (not a verdict by itself; the spam score counts it).

use linkify::{LinkFinder, LinkKind};
use mail_parser::Message;

use super::normalize::{normalize_url, NormalizedUrl};
use crate::dlp::extract::{decode_entities, html_to_text};
use crate::mime::{walk, PartKind};

/// A URL found in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundUrl {
    pub url: NormalizedUrl,
    /// `body` or the attachment's name.
    pub location: String,
}

/// A link whose text shows one host and whose target is another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The host the reader sees.
    pub shown: String,
    /// The host the link leads to.
    pub target: String,
    pub location: String,
}

/// What [`extract`] found.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// Distinct URLs, at most the limit given to [`extract`].
    pub urls: Vec<FoundUrl>,
    pub mismatches: Vec<Mismatch>,
    /// More URLs were present than the limit.
    pub truncated: bool,
}

impl Extracted {
    fn add(&mut self, raw: &str, location: &str, max: usize) {
        let Some(url) = normalize_url(&decode_entities(raw)) else {
            return;
        };
        if self.urls.iter().any(|u| u.url == url) {
            return;
        }
        if self.urls.len() >= max {
            self.truncated = true;
            return;
        }
        self.urls.push(FoundUrl {
            url,
            location: location.to_string(),
        });
    }
}

/// Attributes whose values are URLs.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "data",
];

/// Every URL of the message (bodies, text and HTML attachments, nested messages), up to `max`.
pub fn extract(msg: &Message<'_>, max: usize) -> Extracted {
    let mut out = Extracted::default();
    for leaf in walk(msg).leaves {
        let location = if leaf.is_file {
            leaf.display_name()
        } else {
            "body".to_string()
        };
        let text: Option<String> = match (leaf.kind, leaf.text) {
            (_, Some(t)) => Some(t.to_string()),
            // A text attachment labelled as binary.
            (PartKind::Binary, None) => std::str::from_utf8(&leaf.bytes)
                .ok()
                .filter(|t| leaf.content_type.starts_with("text/") || looks_textual(t))
                .map(str::to_string),
            _ => None,
        };
        let Some(text) = text else { continue };
        let is_html = leaf.kind == PartKind::Html
            || leaf.content_type == "text/html"
            || (text.trim_start().starts_with('<') && text.to_ascii_lowercase().contains("<a "));
        if is_html {
            html(&text, &location, max, &mut out);
        } else {
            for link in text_links(&text) {
                out.add(link, &location, max);
            }
        }
    }
    out
}

fn looks_textual(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .take(4096)
            .all(|c| !c.is_control() || c.is_whitespace())
}

/// URL-like spans in plain text, schemes optional (`www.example.com/x`, `example.com`).
pub fn text_links(text: &str) -> Vec<&str> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(false);
    finder.links(text).map(|l| l.as_str()).collect()
}

fn html(src: &str, location: &str, max: usize, out: &mut Extracted) {
    // Visible text first: URLs written out but not linked.
    for link in text_links(&html_to_text(src)) {
        out.add(link, location, max);
    }
    let mut rest = src;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else { break };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let attrs = attributes(&tag[name.len()..]);
        for (k, v) in &attrs {
            if URL_ATTRIBUTES.contains(&k.as_str()) {
                out.add(v, location, max);
            }
        }
        if name == "a" {
            if let Some((_, href)) = attrs.iter().find(|(k, _)| k == "href") {
                let end = rest.to_ascii_lowercase().find("</a").unwrap_or(rest.len());
                let shown = html_to_text(&rest[..end]);
                if let Some(m) = anchor_mismatch(href, &shown, location) {
                    if !out.mismatches.contains(&m) {
                        out.mismatches.push(m);
                    }
                }
            }
        }
    }
}

/// `name=value` pairs of a tag (names lower case, values entity-decoded).
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = s[ns..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            if name.is_empty() {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let vs = i + 1;
            let ve = s[vs..].find(q as char).map_or(s.len(), |e| vs + e);
            i = (ve + 1).min(b.len());
            &s[vs..ve]
        } else {
            let vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            &s[vs..i]
        };
        out.push((name, decode_entities(value)));
    }
    out
}

/// A mismatch when the anchor's visible text contains a URL or host that is neither the
/// target's host nor a parent or child domain of it.
fn anchor_mismatch(href: &str, shown: &str, location: &str) -> Option<Mismatch> {
    let target = normalize_url(href)?;
    let shown_link = text_links(shown).into_iter().next()?;
    let shown_url = normalize_url(shown_link)?;
    let (a, b) = (&shown_url.host, &target.host);
    let related = a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"));
    (!related).then(|| Mismatch {
        shown: a.clone(),
        target: b.clone(),
        location: location.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn al_1_3_text_html_and_mismatched_anchors() {
        let raw = concat!(
            "From: a@sender.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nVisit www.plain.example/path or https://second.example/.\r\n",
            "--b\r\nContent-Type: text/html\r\n\r\n",
            "<p>Hi <a href=\"https://evil.example/login\">https://www.bank.example/</a>",
            " <a href='https://www.bank.example/x'>bank.example</a>",
            " <img src=https://img.example/p.png> <a href=\"https://click.example/\">click here</a>",
            " <form action=\"https://collect.example/post\"></form></p>\r\n",
            "--b\r\nContent-Type: application/octet-stream; name=\"links.txt\"\r\n\r\nhttp://attached.example/a\r\n",
            "--b--\r\n"
        );
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let ex = extract(&msg, 100);
        let hosts: Vec<&str> = ex.urls.iter().map(|u| u.url.host.as_str()).collect();
        for h in [
            "www.plain.example",
            "second.example",
            "evil.example",
            "www.bank.example",
            "img.example",
            "click.example",
            "collect.example",
            "attached.example",
        ] {
            assert!(hosts.contains(&h), "{h} missing from {hosts:?}");
        }
        assert_eq!(
            ex.mismatches,
            vec![Mismatch {
                shown: "www.bank.example".into(),
                target: "evil.example".into(),
                location: "body".into()
            }]
        );
        let few = extract(&msg, 2);
        assert_eq!(few.urls.len(), 2);
        assert!(few.truncated);
    }
}
