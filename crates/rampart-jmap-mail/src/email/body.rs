//! The body of an email in RFC 8621's terms (§4.1.4): bodyStructure, textBody, htmlBody,
//! attachments and bodyValues, over the message as the one reading read it.
//!
//! A part is named by its index in mail-parser's part list of its message (`partId`); its blob
//! is the blob of its message with that index appended (see [`crate::ids::BlobRef`]). An
//! attached message (message/rfc822) is a leaf here, as the RFC has it: its own parts are
//! reached by Email/parse of its blob.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, HeaderValue, Message, MessagePart, MimeHeaders, PartType};
use serde_json::{json, Map, Value};

use super::headers::{self, HeaderProp};
use crate::ids::BlobRef;

/// RFC 8621 §4.2: the body part properties returned when `bodyProperties` is not given.
pub(crate) const DEFAULT_BODY_PROPERTIES: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
];

/// Every EmailBodyPart property (§4.1.4) besides the `header:` forms.
const BODY_PROPERTIES: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
];

/// One body part property asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartProp {
    Named(&'static str),
    Header(String, HeaderProp),
}

/// Reads `bodyProperties`: each a known property or a `header:` form.
pub(crate) fn part_properties(given: Option<Vec<String>>) -> Result<Vec<PartProp>, String> {
    let names: Vec<String> = match given {
        Some(g) => g,
        None => DEFAULT_BODY_PROPERTIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    names
        .into_iter()
        .map(|n| {
            if let Some(known) = BODY_PROPERTIES.iter().find(|k| **k == n) {
                return Ok(PartProp::Named(known));
            }
            match headers::parse_property(&n) {
                Some(Ok(h)) => Ok(PartProp::Header(n, h)),
                Some(Err(e)) => Err(e),
                None => Err(format!("unknown body property {n:?}")),
            }
        })
        .collect()
}

/// What bodyValues holds (§4.2's fetch arguments).
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueOptions {
    pub text: bool,
    pub html: bool,
    pub all: bool,
    /// None: whole values.
    pub max_bytes: Option<usize>,
}

/// A read message with the blob it came from, for naming its parts.
pub(crate) struct View<'m, 'x> {
    pub msg: &'m Message<'x>,
    pub blob: &'m BlobRef,
}

impl View<'_, '_> {
    fn raw(&self) -> &[u8] {
        self.msg.raw_message.as_ref()
    }

    /// The fields of the message's own header (part 0).
    pub fn top_fields(&self) -> Vec<headers::RawField<'_>> {
        match self.msg.parts.first() {
            Some(p) => headers::fields(self.raw(), p),
            None => Vec::new(),
        }
    }

    /// The bodyStructure tree from the root part. A tree has its branches: subParts is given
    /// for every multipart, asked for or not.
    pub fn structure(&self, props: &[PartProp]) -> Value {
        if props.contains(&PartProp::Named("subParts")) {
            return self.part(0, props, 0);
        }
        let mut with = props.to_vec();
        with.push(PartProp::Named("subParts"));
        self.part(0, &with, 0)
    }

    /// A list of parts (textBody, htmlBody, attachments), flat.
    pub fn list(&self, ids: &[u32], props: &[PartProp]) -> Value {
        Value::Array(
            ids.iter()
                .map(|i| self.part(*i as usize, props, 0))
                .collect(),
        )
    }

    fn part(&self, idx: usize, props: &[PartProp], depth: usize) -> Value {
        let Some(p) = self.msg.parts.get(idx) else {
            return Value::Null;
        };
        let multipart = matches!(p.body, PartType::Multipart(_));
        let mut out = Map::new();
        for prop in props {
            let (key, v) = match prop {
                PartProp::Named(name) => {
                    let v = match *name {
                        "partId" if !multipart => Value::String(idx.to_string()),
                        "blobId" if !multipart => Value::String(self.blob.part(idx).to_id()),
                        "size" if !multipart => json!(part_bytes(self.raw(), p).len()),
                        "size" => json!(0),
                        "headers" => headers::all_raw(&headers::fields(self.raw(), p)),
                        "name" => p.attachment_name().map_or(Value::Null, Value::from),
                        "type" => Value::String(media_type(p)),
                        "charset" => charset(p),
                        "disposition" => p
                            .content_disposition()
                            .map_or(Value::Null, |d| d.ctype().to_ascii_lowercase().into()),
                        "cid" => p
                            .content_id()
                            .map(|c| c.trim().trim_start_matches('<').trim_end_matches('>'))
                            .map_or(Value::Null, Value::from),
                        "language" => language(p.content_language()),
                        "location" => p.content_location().map_or(Value::Null, Value::from),
                        // Bounded: the reading refuses messages nested past its limit, and a
                        // multipart cannot contain itself.
                        "subParts" => match &p.body {
                            PartType::Multipart(children) if depth < 64 => Value::Array(
                                children
                                    .iter()
                                    .map(|c| self.part(*c as usize, props, depth + 1))
                                    .collect(),
                            ),
                            _ => Value::Null,
                        },
                        _ => Value::Null,
                    };
                    ((*name).to_owned(), v)
                }
                PartProp::Header(key, h) => (
                    key.clone(),
                    headers::property(&headers::fields(self.raw(), p), h),
                ),
            };
            out.insert(key, v);
        }
        Value::Object(out)
    }

    /// bodyValues: the text of the parts `opts` asks for, keyed by partId (§4.1.4).
    pub fn values(&self, opts: &ValueOptions) -> Map<String, Value> {
        let mut ids: Vec<usize> = Vec::new();
        if opts.all {
            ids.extend(
                self.msg
                    .parts
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
                    .map(|(i, _)| i),
            );
        } else {
            if opts.text {
                ids.extend(self.msg.text_body.iter().map(|i| *i as usize));
            }
            if opts.html {
                ids.extend(self.msg.html_body.iter().map(|i| *i as usize));
            }
        }
        let mut out = Map::new();
        for i in ids {
            let Some(p) = self.msg.parts.get(i) else {
                continue;
            };
            let text = match &p.body {
                PartType::Text(t) | PartType::Html(t) => t.as_ref(),
                _ => continue,
            };
            let (value, truncated) = truncate(text, opts.max_bytes);
            out.insert(
                i.to_string(),
                json!({
                    "value": value,
                    "isEncodingProblem": p.is_encoding_problem,
                    "isTruncated": truncated,
                }),
            );
        }
        out
    }
}

/// At most `max` bytes of `text`, cut at a character boundary (§4.2 maxBodyValueBytes).
fn truncate(text: &str, max: Option<usize>) -> (&str, bool) {
    match max {
        Some(m) if text.len() > m => {
            let mut end = m;
            while end > 0 && !text.is_char_boundary(end) {
                end -= 1;
            }
            (&text[..end], true)
        }
        _ => (text, false),
    }
}

/// `type/subtype` in lower case; a part without Content-Type is text/plain (RFC 2045 §5.2),
/// an attached message message/rfc822.
pub(crate) fn media_type(p: &MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match p.body {
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Multipart(_) => "multipart/mixed".into(),
            _ => "text/plain".into(),
        },
    }
}

/// The charset of a text part: its parameter, or us-ascii (RFC 2045 §5.2); null otherwise.
fn charset(p: &MessagePart<'_>) -> Value {
    if let Some(c) = p.content_type().and_then(|ct| ct.attribute("charset")) {
        return Value::String(c.to_owned());
    }
    if media_type(p).starts_with("text/") {
        Value::String("us-ascii".into())
    } else {
        Value::Null
    }
}

fn language(v: &HeaderValue<'_>) -> Value {
    match v {
        HeaderValue::Text(t) => json!([t]),
        HeaderValue::TextList(l) => json!(l),
        _ => Value::Null,
    }
}

/// The bytes of a part as a download gives them: the content after transfer decoding, in its
/// own charset (§4.1.4 `size`); an attached message as it stands.
pub(crate) fn part_bytes(raw: &[u8], p: &MessagePart<'_>) -> Vec<u8> {
    match &p.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Message(m) => attached_bytes(m),
        PartType::Text(_) | PartType::Html(_) | PartType::Multipart(_) => {
            let body = raw
                .get(p.offset_body as usize..p.offset_end as usize)
                .unwrap_or_default();
            let decoded = match p.encoding {
                Encoding::Base64 => base64_decode(body),
                Encoding::QuotedPrintable => quoted_printable_decode(body),
                Encoding::None => None,
            };
            decoded.unwrap_or_else(|| body.to_vec())
        }
    }
}

/// An attached message's own bytes. mail-parser may lend it the whole enclosing message with
/// offsets into it, so the message is cut out by its root part's span.
fn attached_bytes(m: &Message<'_>) -> Vec<u8> {
    let raw = m.raw_message.as_ref();
    m.parts
        .first()
        .and_then(|root| raw.get(root.offset_header as usize..root.offset_end as usize))
        .unwrap_or(raw)
        .to_vec()
}

/// The part at `path` below `msg` (each step but the last through an attached message), with
/// the message it is a part of.
pub(crate) fn find<'m, 'x>(
    msg: &'m Message<'x>,
    path: &[usize],
) -> Option<(&'m Message<'x>, &'m MessagePart<'x>)> {
    let (first, rest) = path.split_first()?;
    let part = msg.parts.get(*first)?;
    if rest.is_empty() {
        return Some((msg, part));
    }
    match &part.body {
        PartType::Message(inner) => find(inner, rest),
        _ => None,
    }
}

/// RFC 8621 §4.1.4 preview, as the store computes it for delivered mail (the same 256
/// characters, white space collapsed).
pub(crate) fn preview(msg: &Message<'_>) -> String {
    msg.body_preview(256)
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|p| p.chars().take(256).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attached_message_is_its_own_bytes() {
        let raw = b"From: <a@x.test>\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nouter text\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n--b--\r\n";
        let m = rampart_checks::message::read(raw).unwrap();
        let (idx, part) = m
            .parsed
            .parts
            .iter()
            .enumerate()
            .find(|(_, p)| matches!(p.body, PartType::Message(_)))
            .unwrap();
        let bytes = part_bytes(raw, part);
        assert!(
            bytes.starts_with(b"Subject: inner\r\n"),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(!String::from_utf8_lossy(&bytes).contains("--b"));
        let (_, found) = find(&m.parsed, &[idx]).unwrap();
        assert_eq!(media_type(found), "message/rfc822");
    }

    #[test]
    fn body_values_flag_an_encoding_problem() {
        let raw = b"From: <a@x.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not*base64***\r\n";
        let m = rampart_checks::message::read(raw).unwrap();
        let blob = crate::ids::blob("B1").unwrap();
        let view = View {
            msg: &m.parsed,
            blob: &blob,
        };
        let values = view.values(&ValueOptions {
            text: true,
            ..ValueOptions::default()
        });
        assert_eq!(values["0"]["isEncodingProblem"], true, "{values:?}");
        assert_eq!(values["0"]["isTruncated"], false);
    }

    #[test]
    fn a_text_part_blob_is_its_value_before_charset_decoding() {
        let raw = b"From: <a@x.test>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nr=C3=A9sum=C3=A9\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nna\xefve\r\n--b--\r\n";
        let m = rampart_checks::message::read(raw).unwrap();
        let text = |i: usize| match &m.parsed.parts[i].body {
            PartType::Text(t) => t.to_string(),
            _ => String::new(),
        };
        // The same bytes as the body value where the charset is UTF-8 ...
        assert_eq!(part_bytes(raw, &m.parsed.parts[1]), text(1).as_bytes());
        assert_eq!(text(1), "résumé");
        // ... and the part's own charset where it is not.
        assert_eq!(part_bytes(raw, &m.parsed.parts[2]), b"na\xefve");
        assert_eq!(text(2), "naïve");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", Some(2)), ("h", true));
        assert_eq!(truncate("héllo", Some(3)), ("hé", true));
        assert_eq!(truncate("hello", Some(5)), ("hello", false));
        assert_eq!(truncate("hello", None), ("hello", false));
    }
}
