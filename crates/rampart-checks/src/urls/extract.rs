//! Finding every URL of a message (AL-1.3): each leaf of the MIME tree, nested messages
//! included, is read by what it is ([`super::parts`]): text, HTML, SVG, Office, RTF, PDF.
//!
//! URLs are deduplicated by their normalised host and path ([`NormalizedUrl::key`]), so the
//! same link written a hundred ways costs one lookup. All distinct URLs are checked; past the
//! limit given to [`extract`] the message cannot be inspected in full and [`Extracted::truncated`]
//! says so (the verdict then holds it).
//!
//! An HTML anchor whose visible text shows a host other than the one it leads to
//! (`<a href="http://evil.example/">https://bank.example/</a>`) is a phishing signal: it is
//! reported as a [`Mismatch`] (not a verdict by itself; the spam score counts it).

use std::collections::HashSet;

use linkify::{LinkFinder, LinkKind};
use mail_parser::Message;

use super::normalize::NormalizedUrl;
use super::parts::part_urls;
use crate::mime::walk;

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
    /// Distinct URLs (by host and path), at most the limit given to [`extract`].
    pub urls: Vec<FoundUrl>,
    pub mismatches: Vec<Mismatch>,
    /// More distinct URLs were present than the limit: not all could be checked.
    pub truncated: bool,
    /// Parts whose links could not all be read (an archive over budget, nesting too deep).
    pub problems: Vec<String>,
    seen: HashSet<String>,
}

impl Extracted {
    fn add(&mut self, url: NormalizedUrl, location: &str, max: usize) {
        let key = url.key();
        if self.seen.contains(&key) {
            return;
        }
        if self.urls.len() >= max {
            self.truncated = true;
            return;
        }
        self.seen.insert(key);
        self.urls.push(FoundUrl {
            url,
            location: location.to_string(),
        });
    }
}

/// Every URL of the message (bodies, attachments, nested messages), deduplicated; at most
/// `max` are kept, and [`Extracted::truncated`] is set when there were more.
pub fn extract(msg: &Message<'_>, max: usize) -> Extracted {
    let mut out = Extracted::default();
    let w = walk(msg);
    if w.truncated {
        out.problems.push(format!(
            "messages nested deeper than {} levels: their links were not read",
            crate::mime::MAX_MESSAGE_DEPTH
        ));
    }
    for leaf in &w.leaves {
        let location = if leaf.is_file {
            leaf.display_name()
        } else {
            "body".to_string()
        };
        let found = part_urls(leaf, &location);
        for url in found.urls {
            out.add(url, &location, max);
        }
        for m in found.mismatches {
            if !out.mismatches.contains(&m) {
                out.mismatches.push(m);
            }
        }
        out.problems.extend(found.problems);
    }
    out
}

/// URL-like spans in plain text, schemes optional (`www.example.com/x`, `example.com`).
pub fn text_links(text: &str) -> Vec<&str> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(false);
    finder.links(text).map(|l| l.as_str()).collect()
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
