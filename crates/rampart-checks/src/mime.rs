//! The MIME tree as a flat list of leaves, shared by the content checks (attachments, antivirus,
//! URLs, DLP). The message is parsed once by the caller (mail-parser); this module only walks it:
//! every leaf part of every level, nested `message/rfc822` parts included, attachments and inline
//! parts alike.
//!
//! Each leaf carries two views: `bytes`, the part after the transfer encoding is undone but before
//! any charset conversion (what a file on disk would contain: magic bytes survive even when a
//! sender labels an executable `text/plain`), and `text`, mail-parser's decoded text for text parts.

use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};

/// Nested `message/rfc822` levels walked; deeper ones are reported by [`Walk::truncated`].
pub const MAX_MESSAGE_DEPTH: usize = 8;

/// What mail-parser made of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// `text/*` other than HTML.
    Text,
    /// `text/html`.
    Html,
    /// Anything else.
    Binary,
}

/// One leaf part of the MIME tree.
#[derive(Debug)]
pub struct Leaf<'m> {
    /// Every file name the part declares (`Content-Disposition: filename`, `Content-Type: name`),
    /// as given: a sender may give two different names and mail clients pick either.
    pub names: Vec<String>,
    /// Lower-case `type/subtype` as declared (`text/plain` when absent).
    pub content_type: String,
    pub kind: PartKind,
    /// The body with the transfer encoding (base64, quoted-printable) undone, before charset
    /// conversion.
    pub bytes: Cow<'m, [u8]>,
    /// The decoded text of a text or HTML part.
    pub text: Option<&'m str>,
    /// Whether the recipient sees it as a file: it has a name, is `Content-Disposition:
    /// attachment`, or is not text.
    pub is_file: bool,
    /// Where it sits, for reasons and logs: part indexes joined by `/`, e.g. `3/1` for part 1 of
    /// the message attached as part 3.
    pub location: String,
    /// How many `message/rfc822` levels enclose it (0 for the top-level message).
    pub depth: usize,
}

impl Leaf<'_> {
    /// The name to show in reasons: the first declared name, else the location.
    pub fn display_name(&self) -> String {
        match self.names.first() {
            Some(n) => n.clone(),
            None => format!("part {}", self.location),
        }
    }
}

/// The leaves of a message.
#[derive(Debug, Default)]
pub struct Walk<'m> {
    pub leaves: Vec<Leaf<'m>>,
    /// True when message nesting went past [`MAX_MESSAGE_DEPTH`]: something was not looked at.
    pub truncated: bool,
}

/// Walks every part of `msg`, nested messages included.
pub fn walk<'m>(msg: &'m Message<'_>) -> Walk<'m> {
    let mut w = Walk::default();
    walk_into(msg, 0, "", &mut w);
    w
}

fn walk_into<'m>(msg: &'m Message<'_>, depth: usize, prefix: &str, w: &mut Walk<'m>) {
    for (i, part) in msg.parts.iter().enumerate() {
        let location = if prefix.is_empty() {
            i.to_string()
        } else {
            format!("{prefix}/{i}")
        };
        let (kind, text) = match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Message(inner) => {
                if depth + 1 > MAX_MESSAGE_DEPTH {
                    w.truncated = true;
                } else {
                    walk_into(inner, depth + 1, &location, w);
                }
                continue;
            }
            PartType::Text(t) => (PartKind::Text, Some(t.as_ref())),
            PartType::Html(t) => (PartKind::Html, Some(t.as_ref())),
            PartType::Binary(_) | PartType::InlineBinary(_) => (PartKind::Binary, None),
        };
        let names = names_of(part);
        let attachment = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        let bytes = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
            _ => transfer_decoded(msg, part),
        };
        w.leaves.push(Leaf {
            is_file: !names.is_empty() || attachment || kind == PartKind::Binary,
            names,
            content_type: content_type_of(part),
            kind,
            bytes,
            text,
            location,
            depth,
        });
    }
}

fn names_of(part: &MessagePart<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let candidates = [
        part.content_disposition()
            .and_then(|d| d.attribute("filename")),
        part.content_type().and_then(|c| c.attribute("name")),
    ];
    for n in candidates.into_iter().flatten() {
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

/// The raw body of a text part with its transfer encoding undone (no charset conversion).
fn transfer_decoded<'m>(msg: &'m Message<'_>, part: &MessagePart<'_>) -> Cow<'m, [u8]> {
    let raw = msg.raw_message.as_ref();
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(body) = raw.get(start..end.max(start)) else {
        return Cow::Borrowed(&[]);
    };
    let decoded = match part.encoding {
        Encoding::Base64 => base64_decode(body),
        Encoding::QuotedPrintable => quoted_printable_decode(body),
        Encoding::None => return Cow::Borrowed(body),
    };
    // A part whose encoding does not decode is inspected as it stands.
    decoded.map_or(Cow::Borrowed(body), Cow::Owned)
}

/// Replaces anything that could break an SMTP reply line or mislead a reader (controls, bidi and
/// zero-width characters, non-ASCII) with `?`, and shortens to `max` characters. For names and
/// signature names that end up in reply texts and reasons.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > max {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn walks_nested_messages_and_keeps_raw_bytes() {
        let raw = concat!(
            "From: a@example.org\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n",
            "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
            "--b1\r\nContent-Type: text/plain; name=\"x.txt\"\r\nContent-Transfer-Encoding: base64\r\n",
            "Content-Disposition: attachment; filename=\"y.exe\"\r\n\r\nTVpoZWxsbw==\r\n",
            "--b1\r\nContent-Type: message/rfc822\r\n\r\n",
            "From: c@example.net\r\nSubject: inner\r\nContent-Type: application/octet-stream; name=\"in.bin\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nf0VMRg==\r\n",
            "--b1\r\nContent-Type: message/rfc822\r\n\r\n",
            "From: d@example.net\r\nSubject: inner2\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n",
            "--b2\r\nContent-Type: text/plain\r\n\r\ninner body\r\n",
            "--b2\r\nContent-Type: text/plain; name=\"run.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            "IyEvYmluL3NoCg==\r\n--b2--\r\n",
            "--b1--\r\n"
        );
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let w = walk(&msg);
        assert!(!w.truncated);
        let files: Vec<_> = w.leaves.iter().filter(|l| l.is_file).collect();
        assert_eq!(files.len(), 3, "{:#?}", w.leaves);
        // A text attachment of a nested message: transfer-decoded from the nested raw bytes.
        assert_eq!(files[2].names, vec!["run.txt".to_string()]);
        assert_eq!(&files[2].bytes[..], b"#!/bin/sh\n");
        assert_eq!(files[2].depth, 1);
        assert_eq!(
            files[0].names,
            vec!["y.exe".to_string(), "x.txt".to_string()]
        );
        assert_eq!(&files[0].bytes[..], b"MZhello");
        assert_eq!(files[1].names, vec!["in.bin".to_string()]);
        assert_eq!(&files[1].bytes[..], b"\x7fELF");
        assert_eq!(files[1].depth, 1);
        assert!(w
            .leaves
            .iter()
            .any(|l| l.text == Some("hello\r\n") || l.text == Some("hello")));
    }

    #[test]
    fn printable_neutralises_bidi_and_controls() {
        assert_eq!(printable("a\u{202e}b\r\nc", 40), "a?b??c");
        assert_eq!(printable("abcdef", 3), "abc...");
    }
}
