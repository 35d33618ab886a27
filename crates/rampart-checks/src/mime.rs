//! The MIME tree as a flat list of leaves, shared by the content checks (attachments, antivirus,
//! URLs, DLP). The message is parsed once by the caller (mail-parser); this module only walks it:
//! every leaf part of every level, nested `message/rfc822` parts included, attachments and inline
//! parts alike.
//!
//! Each leaf carries two views: `bytes`, the part after the transfer encoding is undone but before
//! any charset conversion (what a file on disk would contain: magic bytes survive even when a
//! sender labels an executable `text/plain`), and `text`, mail-parser's decoded text for text parts.

use std::borrow::Cow;

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
    pub text: Option<Cow<'m, str>>,
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
            PartType::Text(t) => (PartKind::Text, Some(Cow::Borrowed(t.as_ref()))),
            PartType::Html(t) => (PartKind::Html, Some(Cow::Borrowed(t.as_ref()))),
            PartType::Binary(_) | PartType::InlineBinary(_) => (PartKind::Binary, None),
        };
        let content_type = content_type_of(part);
        // mail-parser keeps a part it could not decode as text; a non-text part is a file
        // whatever mail-parser fell back to, and its "text" is only the encoded form.
        let bytes = transfer_decoded(msg, part);
        let (kind, text) = if part.is_encoding_problem && !content_type.starts_with("text/") {
            (PartKind::Binary, None)
        } else if part.is_encoding_problem && text.is_some() {
            // A text part mail-parser could not decode (base64 with stray characters): its text
            // is what a reader shows, the bytes decoded here, in the declared charset.
            (kind, Some(Cow::Owned(charset_text(part, &bytes))))
        } else {
            (kind, text)
        };
        let names = names_of(part);
        let attachment = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        w.leaves.push(Leaf {
            is_file: !names.is_empty() || attachment || kind == PartKind::Binary,
            names,
            content_type,
            kind,
            bytes,
            text,
            location,
            depth,
        });
    }
}

/// `bytes` as text in the part's declared charset (UTF-8 when none or unknown).
fn charset_text(part: &MessagePart<'_>, bytes: &[u8]) -> String {
    let charset = part
        .content_type()
        .and_then(|c| c.attribute("charset"))
        .unwrap_or("utf-8");
    match mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
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

/// The body of a leaf with its transfer encoding undone (no charset conversion), decoded from
/// the raw bytes the way mail readers decode, whatever mail-parser made of it: mail-parser gives
/// up on base64 holding one character outside the alphabet and keeps the raw text, which would
/// hide the file from every check while Outlook and Thunderbird still open it.
fn transfer_decoded<'m>(msg: &'m Message<'_>, part: &'m MessagePart<'_>) -> Cow<'m, [u8]> {
    let raw = msg.raw_message.as_ref();
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(body) = raw.get(start..end.max(start)) else {
        // No raw bytes to go back to: what mail-parser decoded is all there is.
        return match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
            _ => Cow::Borrowed(&[]),
        };
    };
    // The declared encoding, not `part.encoding`: mail-parser resets that to "none" when its
    // own decoding fails.
    let cte = part
        .content_transfer_encoding()
        .map(|c| c.trim().to_ascii_lowercase());
    match cte.as_deref() {
        Some("base64") => Cow::Owned(decode_base64(body)),
        Some("quoted-printable") => Cow::Owned(decode_quoted_printable(body)),
        _ => match (&part.body, part.encoding) {
            // mail-parser decoded it with an encoding it recognised that the header check above
            // did not (it is lenient about spelling): keep its bytes.
            (PartType::Binary(b) | PartType::InlineBinary(b), Encoding::Base64)
            | (PartType::Binary(b) | PartType::InlineBinary(b), Encoding::QuotedPrintable) => {
                Cow::Borrowed(b.as_ref())
            }
            _ => Cow::Borrowed(body),
        },
    }
}

fn base64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Base64 as RFC 2045 §6.8 tells readers to decode it: characters outside the alphabet
/// (`!`, spaces, stray punctuation) are ignored, not a reason to give up. `=` ends the current
/// quantum; decoding resumes after it, as readers do with concatenated base64 blocks.
pub fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let (mut acc, mut n) = (0u32, 0u8);
    for &c in input {
        if c == b'=' {
            // A partial quantum of 2 or 3 characters still carries 1 or 2 bytes.
            match n {
                2 => out.push((acc >> 4) as u8),
                3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                _ => {}
            }
            (acc, n) = (0, 0);
            continue;
        }
        // RFC 2045 §6.8: anything outside the alphabet is skipped.
        let Some(v) = base64_value(c) else { continue };
        acc = (acc << 6) | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, n) = (0, 0);
        }
    }
    // Unpadded tail, as readers accept it.
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Quoted-printable as RFC 2045 §6.7 tells readers to decode it: `=XX` in either case, soft
/// line breaks (`=` then optional trailing blanks then CRLF or LF), and a malformed `=`
/// sequence kept as it stands instead of abandoning the part.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        // Everything up to the next `=` as it is, in one copy (issue 23: byte by byte this was
        // a sixth of the content rules' time on a quoted-printable letter).
        let Some(at) = memchr::memchr(b'=', &input[i..]) else {
            out.extend_from_slice(&input[i..]);
            break;
        };
        out.extend_from_slice(&input[i..i + at]);
        i = escape_at(input, i + at, &mut out);
    }
    out
}

/// The `=` sequence at `input[i]`: its byte, if any, onto `out`; returns where decoding goes on.
fn escape_at(input: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    if let (Some(h), Some(l)) = (
        input.get(i + 1).copied().and_then(hex_value),
        input.get(i + 2).copied().and_then(hex_value),
    ) {
        out.push((h << 4) | l);
        return i + 3;
    }
    // Soft line break: "=", blanks a gateway may have added, then the line end.
    let mut j = i + 1;
    while j < input.len() && (input[j] == b' ' || input[j] == b'\t') {
        j += 1;
    }
    match input.get(j..j + 2) {
        Some(b"\r\n") => j + 2,
        _ if input.get(j) == Some(&b'\n') => j + 1,
        _ if j == input.len() => j,
        _ => {
            out.push(b'=');
            i + 1
        }
    }
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
            .any(|l| l.text.as_deref() == Some("hello\r\n") || l.text.as_deref() == Some("hello")));
    }

    #[test]
    fn base64_skips_characters_outside_the_alphabet() {
        // RFC 2045 §6.8: "!" and other stray characters are ignored, as readers ignore them.
        assert_eq!(decode_base64(b"TV!po!ZW\r\nxs!bw=="), b"MZhello");
        assert_eq!(decode_base64(b"TVpo\r\nZWxsbw"), b"MZhello");
        // Concatenated blocks: decoding resumes after the padding.
        assert_eq!(decode_base64(b"YQ==Yg=="), b"ab");
    }

    #[test]
    fn quoted_printable_reads_as_byte_by_byte() {
        // Byte by byte, as the first version read: the copy of runs between `=` must agree.
        fn reference(input: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut i = 0;
            while i < input.len() {
                if input[i] == b'=' {
                    i = escape_at(input, i, &mut out);
                } else {
                    out.push(input[i]);
                    i += 1;
                }
            }
            out
        }
        let alphabet = b"=3DaZ \t\r\n0fF9g=";
        let mut next = crate::testutil::below(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let len = next(20);
            let input: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            assert_eq!(
                decode_quoted_printable(&input),
                reference(&input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn quoted_printable_keeps_what_it_cannot_decode() {
        assert_eq!(
            decode_quoted_printable(b"a=3Db=3d=\r\nc =ZZ d= \r\ne=\nf="),
            b"a=b=c =ZZ def"
        );
    }

    #[test]
    fn base64_with_a_bang_per_line_is_decoded_as_readers_do() {
        // mail-parser gives up on such a part and keeps its text; the walk decodes it anyway.
        let raw = concat!(
            "From: a@example.org\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n",
            "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
            "--b1\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nTVpo!\r\nZWxs!\r\nbw==\r\n",
            "--b1\r\nContent-Type: text/plain; name=\"q.txt\"\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n\r\nMZ=00=\r\n=ZZ\r\n",
            "--b1--\r\n"
        );
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let w = walk(&msg);
        let bin = w.leaves.iter().find(|l| l.names == ["x.bin"]).unwrap();
        assert_eq!(&bin.bytes[..], b"MZhello");
        assert_eq!(bin.kind, PartKind::Binary);
        assert!(bin.is_file);
        let qp = w.leaves.iter().find(|l| l.names == ["q.txt"]).unwrap();
        assert_eq!(&qp.bytes[..], b"MZ\0=ZZ");
    }

    #[test]
    fn printable_neutralises_bidi_and_controls() {
        assert_eq!(printable("a\u{202e}b\r\nc", 40), "a?b??c");
        assert_eq!(printable("abcdef", 3), "abc...");
    }
}
