//! The normaliser: one reading of a message, fixed before any check runs.
//!
//! A gateway and the mail client behind it must read a message the same way, or an attacker
//! writes one that the checks read one way and the user another (a second `From`, a header line
//! that one parser ends the header section at and another skips, a bare CR that becomes a line
//! break further down the path, two `boundary=` parameters). Rampart does not guess which reading
//! a client will pick: a message that can be read two ways is refused with `554 5.6.0`, before
//! any check, and every check then reads the one [`Message`] built here.
//!
//! What is refused (RFC 5322 section 2.2 and 3.6, RFC 2045, RFC 2046, RFC 2231):
//! - a NUL byte, a bare CR or a bare LF anywhere (DATA and BDAT alike);
//! - a header section whose first line begins with white space, a line that is neither a field
//!   (`name:` with a name of printable ASCII) nor a continuation, a continuation line of white
//!   space only (some readers end the header section there), bytes that are not UTF-8 (which
//!   the server first writes as U+FFFD with [`repair`], so that only what it cannot rewrite in
//!   place, a nested message that had to be decoded, is refused for them);
//! - more than one of the fields RFC 5322 allows once (From, Sender, Reply-To, To, Cc, Bcc,
//!   Subject, Date, Message-ID, In-Reply-To, References);
//! - in any MIME part, nested messages included: a header block that the MIME parser reads
//!   differently from this reader, more than one Content-Type, Content-Disposition,
//!   Content-Transfer-Encoding or MIME-Version, and a parameter given twice (two `boundary=`, or
//!   `name=` beside `name*=`).
//!
//! The header section is read here, once; the MIME tree is mail-parser's, parsed once, and
//! checked against this reader part by part. What does not live here: the checks themselves
//! ([`crate::pipeline`]) and the changes they make ([`crate::modify`]).

use std::borrow::Cow;

use mail_parser::{Message as Parsed, MessageParser, PartType};

use crate::{EnhancedStatus, Refusal};

/// The name of the normaliser's verdict in the trace.
pub const CHECK: &str = "message";

/// Header fields of one header block past which a message is refused (a header section is
/// read whole, and a few hundred fields is already far beyond real mail).
pub const MAX_FIELDS: usize = 2_000;
/// Bytes of one header block past which a message is refused.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// Nested `message/rfc822` levels whose header blocks are checked; a deeper message is refused
/// as uninspectable rather than passed unread.
pub const MAX_DEPTH: usize = 16;

/// Fields RFC 5322 section 3.6 allows at most once. Readers disagree on which copy counts, so
/// a second copy is refused, never resolved.
pub const ONCE_ONLY: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
];

/// MIME fields that may stand once in any part (RFC 2045).
const MIME_ONCE: &[&str] = &[
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "MIME-Version",
];

/// One header field as it stands in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written (printable ASCII, no colon).
    pub name: &'a str,
    /// The value as written: everything after the colon, folds included, without the final
    /// CRLF. Valid UTF-8.
    pub value: &'a str,
    /// Byte offset of the field's first byte in the header block.
    pub start: usize,
    /// Byte offset just past the field's final CRLF (or the end of the block).
    pub end: usize,
}

impl Field<'_> {
    /// Whether the field has this name (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value unfolded (CRLF before white space removed) and trimmed.
    pub fn unfolded(&self) -> String {
        self.value.replace("\r\n", "").trim().to_string()
    }
}

/// The fields of one header block, in order, and where its body starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    pub fields: Vec<Field<'a>>,
    /// Offset of the body: just past the empty line, or the end of the block when there is none.
    pub body_offset: usize,
}

impl<'a> Headers<'a> {
    /// The first field with this name.
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.is(name))
    }

    /// Every field with this name, with its index in [`Headers::fields`].
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = (usize, &'s Field<'a>)> + 's {
        self.fields
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.is(name))
    }

    /// How many fields have this name.
    pub fn count(&self, name: &str) -> usize {
        self.fields.iter().filter(|f| f.is(name)).count()
    }

    /// The Message-ID without its angle brackets, at most 998 characters.
    pub fn message_id(&self) -> Option<String> {
        let v = self.get("Message-ID")?.unfolded();
        let v = v.trim_start_matches('<').trim_end_matches('>').trim();
        (!v.is_empty()).then(|| v.chars().take(998).collect())
    }
}

/// The message as every check reads it: the bytes, the header section read strictly, and the
/// MIME tree (mail-parser), shown to agree with each other.
pub struct Message<'a> {
    pub raw: &'a [u8],
    pub headers: Headers<'a>,
    pub parsed: Parsed<'a>,
}

/// Why a message was refused: a sentence for the SMTP reply.
fn refuse(text: impl Into<String>) -> Refusal {
    Refusal::new(
        554,
        EnhancedStatus::MEDIA_OTHER,
        format!("Message refused: {}", text.into()),
    )
}

/// Reads `raw` once, refusing it if readers could take it two ways (see the module documentation).
pub fn read(raw: &[u8]) -> Result<Message<'_>, Refusal> {
    check_bytes(raw)?;
    let headers = read_headers(raw)?;
    // A last field with no line end: mail-auth's reader drops it, ours and mail-parser's keep
    // it (found by fuzz/fuzz_targets/message_differential.rs). BDAT can deliver such a message.
    if headers.body_offset > 0 && !raw[..headers.body_offset].ends_with(b"\r\n") {
        return Err(refuse(
            "its header section does not end with a line break (CRLF)",
        ));
    }
    if let Some(name) = ONCE_ONLY.iter().find(|n| headers.count(n) > 1) {
        return Err(refuse(format!(
            "it has more than one {name} header field (RFC 5322 section 3.6 allows one)"
        )));
    }
    let parsed = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| refuse("it could not be parsed as a message"))?;
    check_parts(&parsed, 0, 0)?;
    Ok(Message {
        raw,
        headers,
        parsed,
    })
}

/// A message whose header lines held bytes that are not UTF-8, with those bytes made one
/// reading: see [`repair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The whole message, to be read, checked and stored instead of the bytes received.
    pub bytes: Vec<u8>,
    /// How many header lines were changed.
    pub lines: usize,
}

/// Header bytes that are not UTF-8, written once in the one way every reader reads alike.
///
/// RFC 6532 allows UTF-8 in header fields and nothing else, yet older software still writes a raw
/// Latin-1 `£` in a Subject or an `å` in a display name. Left as they are, such bytes read as
/// whatever charset each reader guesses (Latin-1, the body's charset, the user's locale), so a
/// check could read one name and the user another. Refusing them turned away wanted mail (six of
/// 1,885 wanted messages of a SpamAssassin corpus test half). Instead, before anything reads the
/// message, each sequence that is not UTF-8 in a header line of the message, or of a MIME part or
/// nested message read in place, becomes U+FFFD (the replacement character, as
/// `String::from_utf8_lossy` writes it); no charset is guessed. Only bytes of 0x80 and above
/// change, so every line break, colon and ASCII character stays where it was. The repaired bytes
/// are what the checks read, what is stored and what the reader gets; a DKIM signature over the
/// original bytes no longer verifies, which is the truth about the bytes delivered.
///
/// None when there is nothing to change (every UTF-8 message, so the common case costs one
/// pass over the bytes). Header lines of a nested message that had to be decoded (base64) are not
/// in these bytes and stay refused by [`read`].
pub fn repair(raw: &[u8]) -> Option<Repaired> {
    if raw.is_ascii() || std::str::from_utf8(raw).is_ok() {
        return None;
    }
    // The top header block by its first empty line, and every block mail-parser finds in
    // place: which ones it finds does not matter for safety, as only non-UTF-8 sequences
    // change and `read` then reads the result strictly.
    let top_end = if raw.starts_with(b"\r\n") {
        0
    } else {
        memchr::memmem::find(raw, b"\r\n\r\n").map_or(raw.len(), |i| i + 2)
    };
    let mut blocks = vec![(0, top_end)];
    if let Some(parsed) = MessageParser::default().parse(raw) {
        header_blocks(&parsed, raw, 0, &mut blocks);
    }
    blocks.sort_unstable();
    let mut bytes = Vec::with_capacity(raw.len() + 32);
    let (mut pos, mut lines) = (0, 0);
    for (start, end) in blocks {
        let (start, end) = (start.max(pos), end.min(raw.len()));
        // A block past the header limit is refused by `read` as it is and left alone here, so a
        // repair adds at most twice the bytes of the header blocks `read` can accept.
        if start >= end || end - start > MAX_HEADER_BYTES {
            continue;
        }
        bytes.extend_from_slice(&raw[pos..start]);
        for line in raw[start..end].split_inclusive(|&b| b == b'\n') {
            match std::str::from_utf8(line) {
                Ok(_) => bytes.extend_from_slice(line),
                Err(_) => {
                    lines += 1;
                    bytes.extend_from_slice(String::from_utf8_lossy(line).as_bytes());
                }
            }
        }
        pos = end;
    }
    bytes.extend_from_slice(&raw[pos..]);
    (lines > 0).then_some(Repaired { bytes, lines })
}

/// The bytes to read: `raw` with [`repair`] applied, when it changed anything. For callers
/// that need neither the count of lines nor an owned copy.
pub fn repaired(raw: &[u8]) -> Cow<'_, [u8]> {
    repair(raw).map_or(Cow::Borrowed(raw), |r| Cow::Owned(r.bytes))
}

/// Whether mail-parser read `msg` in place in `raw` (its offsets are offsets into `raw`), not
/// from bytes it decoded (a base64 or quoted-printable nested message).
fn in_place(msg: &Parsed<'_>, raw: &[u8]) -> bool {
    let here = msg.raw_message.as_ref();
    here.as_ptr() == raw.as_ptr() && here.len() == raw.len()
}

/// The header block (start, end of the blank line) of every MIME part of `msg` that lies in
/// `raw` itself, nested messages read in place included.
fn header_blocks(msg: &Parsed<'_>, raw: &[u8], depth: usize, out: &mut Vec<(usize, usize)>) {
    if depth > MAX_DEPTH || !in_place(msg, raw) {
        return;
    }
    for part in &msg.parts {
        out.push((part.offset_header as usize, part.offset_body as usize));
        if let PartType::Message(inner) = &part.body {
            header_blocks(inner, raw, depth + 1, out);
        }
    }
}

/// NUL, bare CR and bare LF anywhere in the message: DATA refuses line endings on the way in,
/// BDAT carries bytes as they are, so both are checked here on the whole message.
fn check_bytes(raw: &[u8]) -> Result<(), Refusal> {
    // Only these three bytes matter: visited in order, the rest skipped in vector steps.
    for i in memchr::memchr3_iter(0, b'\r', b'\n', raw) {
        match raw[i] {
            0 => return Err(refuse("it contains a NUL byte")),
            b'\n' if i == 0 || raw[i - 1] != b'\r' => {
                return Err(refuse(
                    "it contains a line feed without a carriage return before it (bare LF)",
                ))
            }
            b'\r' if raw.get(i + 1) != Some(&b'\n') => {
                return Err(refuse(
                    "it contains a carriage return without a line feed after it (bare CR)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads one header block strictly: the top of a message, or the head of a MIME part. The
/// block's line endings must already be CRLF (see [`check_bytes`]); a lone CR or LF is refused
/// here too, so this can be used on its own.
pub fn read_headers(block: &[u8]) -> Result<Headers<'_>, Refusal> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    let mut line_no = 0usize;
    while pos < block.len() {
        line_no += 1;
        let (line, next) = match find_crlf(&block[pos..]) {
            Some(i) => (&block[pos..pos + i], pos + i + 2),
            None => (&block[pos..], block.len()),
        };
        if line.is_empty() {
            return Ok(Headers {
                fields,
                body_offset: next,
            });
        }
        if next > MAX_HEADER_BYTES {
            return Err(refuse(format!(
                "its header section is larger than {} KiB",
                MAX_HEADER_BYTES / 1024
            )));
        }
        if line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(refuse(format!(
                "header line {line_no} contains a bare CR, a bare LF or a NUL byte"
            )));
        }
        if std::str::from_utf8(line).is_err() {
            return Err(refuse(format!(
                "header line {line_no} contains bytes that are not UTF-8 (RFC 6532)"
            )));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            let Some(last) = fields.last_mut() else {
                return Err(refuse(
                    "its first header line begins with white space (RFC 5322 section 2.2.3)",
                ));
            };
            if line.iter().all(|&b| b == b' ' || b == b'\t') {
                return Err(refuse(format!(
                    "header line {line_no} holds only white space; readers disagree whether it ends the header section"
                )));
            }
            last.end = next;
            // The value runs on through the fold: same bytes, now including this line.
            let vstart = last.start + last.name.len() + 1;
            last.value = as_str(&block[vstart..pos + line.len()]);
            pos = next;
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(refuse(format!(
                "header line {line_no} is neither a field nor a continuation (RFC 5322 section 2.2)"
            )));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            return Err(refuse(format!(
                "header line {line_no} has no valid field name before its colon (RFC 5322 section 3.6.8)"
            )));
        }
        if fields.len() >= MAX_FIELDS {
            return Err(refuse(format!(
                "its header section has more than {MAX_FIELDS} fields"
            )));
        }
        fields.push(Field {
            name: as_str(name),
            value: as_str(&line[colon + 1..]),
            start: pos,
            end: next,
        });
        pos = next;
    }
    Ok(Headers {
        fields,
        body_offset: block.len(),
    })
}

/// Whether mail-parser reads `field` (one field, folds included, with or without its final
/// CRLF) as ending where it ends whatever comes next: followed by another field, and followed by
/// the blank line and a body. A block's other fields are compared in place, followed by what
/// follows them; the last one is followed by whatever a later step writes after it (a field the
/// modifier appends, a banner at the top of the body, a block that had no blank line given
/// one). mail-parser 0.11's date reader takes the two bytes after a one-letter zone blindly, so
/// `Date: ... 12:00:00 Z` read on into the next line.
fn reads_alone(field: &[u8]) -> bool {
    let mut line = field.to_vec();
    if !line.ends_with(b"\r\n") {
        line.extend_from_slice(b"\r\n");
    }
    let end = line.len();
    let parser = MessageParser::default();
    let mut probe = line.clone();
    probe.extend_from_slice(b"X:\r\n\r\n");
    let next_field = parser.parse(&probe[..]).is_some_and(|p| {
        let h = &p.root_part().headers;
        h.len() == 2 && h[0].offset_end as usize == end && h[1].offset_field as usize == end
    });
    line.extend_from_slice(b"\r\nX\r\n");
    next_field
        && parser.parse(&line[..]).is_some_and(|p| {
            let root = p.root_part();
            root.headers.len() == 1
                && root.headers[0].offset_end as usize == end
                && root.offset_body as usize == end + 2
        })
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// The bytes were checked to be UTF-8 line by line; CRLF between lines keeps them so.
fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// Every MIME part, nested messages included: its header block must read the same to this
/// reader and to mail-parser, with each MIME field and parameter at most once.
fn check_parts(msg: &Parsed<'_>, root_start: u32, depth: usize) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(refuse(format!(
            "it nests messages more than {MAX_DEPTH} levels deep"
        )));
    }
    let raw = msg.raw_message.as_ref();
    // The first part is the message itself, its header block at its start. mail-parser 0.11 can
    // lose the root of a multipart message whose nested message/rfc822 part holds the boundary
    // inside a header line, and return a nested part's fields as the root's (found by the
    // message_differential fuzz target): the content and authentication checks, which read
    // mail-parser's root, would then see another From than this reader.
    if msg.parts.first().map(|p| p.offset_header) != Some(root_start) {
        return Err(refuse(format!(
            "its MIME structure reads two ways (level {depth})"
        )));
    }
    for (i, part) in msg.parts.iter().enumerate() {
        let (start, body, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        let Some(block) = raw.get(start..end.max(body).max(start)) else {
            return Err(refuse(format!("MIME part {i} lies outside the message")));
        };
        let ours = read_headers(block)?;
        // The MIME parser's fields for this part must be ours, one for one, each over the same
        // bytes: mail-parser 0.11's date reader can run past the end of its line (a `Date: x-y`
        // takes the next line, or the blank line that ends the block, as a zone name), which
        // a comparison of starts alone misses when that field is the last.
        let theirs: Vec<(usize, usize)> = part
            .headers
            .iter()
            .map(|h| {
                (
                    (h.offset_field as usize).saturating_sub(start),
                    (h.offset_end as usize).saturating_sub(start),
                )
            })
            .collect();
        let mine: Vec<(usize, usize)> = ours.fields.iter().map(|f| (f.start, f.end)).collect();
        let body_agrees =
            start + ours.body_offset == body || (ours.body_offset == block.len() && body >= end);
        let last_alone = ours
            .fields
            .last()
            .is_none_or(|f| reads_alone(&block[f.start..f.end]));
        if theirs != mine || !body_agrees || !last_alone {
            return Err(refuse(format!(
                "the header block of MIME part {i} reads two ways"
            )));
        }
        for name in MIME_ONCE {
            if ours.count(name) > 1 {
                return Err(refuse(format!(
                    "MIME part {i} has more than one {name} field"
                )));
            }
        }
        for name in ["Content-Type", "Content-Disposition"] {
            if let Some(f) = ours.get(name) {
                if let Some(p) = repeated_parameter(f.value) {
                    return Err(refuse(format!(
                        "the {name} field of MIME part {i} gives the parameter {p} more than once"
                    )));
                }
            }
        }
        if let PartType::Message(inner) = &part.body {
            // A nested message read in place shares the outer bytes and their offsets; one
            // that had to be decoded (base64, quoted-printable) is bytes of its own.
            let root = if in_place(inner, raw) {
                part.offset_body
            } else {
                0
            };
            check_parts(inner, root, depth + 1)?;
        }
    }
    Ok(())
}

/// The first parameter of a `type/subtype; a=b; c="d"` value given twice (RFC 2045 section
/// 5.1), counting RFC 2231 forms: `name*` beside `name`, or one section `name*0` twice.
fn repeated_parameter(value: &str) -> Option<String> {
    let mut seen: Vec<(String, Option<u32>)> = Vec::new();
    for p in parameters(value) {
        let lower = p.to_ascii_lowercase();
        let (base, section) = match lower.split_once('*') {
            Some((b, rest)) => {
                let n = rest.trim_end_matches('*');
                (b.to_string(), n.parse::<u32>().ok())
            }
            None => (lower.clone(), None),
        };
        // `name` and `name*` (no section) are the same parameter; sections are distinct.
        if seen.iter().any(|(b, s)| *b == base && *s == section) {
            return Some(base);
        }
        seen.push((base, section));
    }
    None
}

/// The parameter names of a structured MIME value, skipping quoted strings and comments.
fn parameters(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut quoted = false;
    let mut after_semicolon = false;
    while i < b.len() {
        let c = b[i];
        if quoted {
            match c {
                b'\\' => i += 1,
                b'"' => quoted = false,
                _ => {}
            }
        } else if depth > 0 {
            match c {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        } else {
            match c {
                b'"' => quoted = true,
                b'(' => depth = 1,
                b';' => after_semicolon = true,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if after_semicolon => {
                    let s = i;
                    while i < b.len() && !b"=; \t\r\n(\"".contains(&b[i]) {
                        i += 1;
                    }
                    names.push(value[s..i].to_string());
                    after_semicolon = false;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    names
}

#[cfg(test)]
mod tests;
