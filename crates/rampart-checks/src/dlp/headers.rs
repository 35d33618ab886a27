//! Header text for DLP (AL-1.5): every header field of the message and of every MIME part,
//! nested messages included, as a person reads it (`Name: value`): RFC 2047 encoded-words
//! decoded, display names and group names included, `X-` and other fields mail-parser keeps
//! raw decoded too.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderName, HeaderValue, Message, PartType};

use super::extract::Segment;
use crate::mime::MAX_MESSAGE_DEPTH;

/// Appends one segment per header field of `msg` and its parts; returns true when nesting went
/// past [`MAX_MESSAGE_DEPTH`] and some headers were not read.
pub fn header_segments(msg: &Message<'_>, out: &mut Vec<Segment>) -> bool {
    walk(msg, 0, "", out)
}

fn walk(msg: &Message<'_>, depth: usize, prefix: &str, out: &mut Vec<Segment>) -> bool {
    let raw = msg.raw_message.as_ref();
    let mut truncated = false;
    for (i, part) in msg.parts.iter().enumerate() {
        let place = if prefix.is_empty() {
            i.to_string()
        } else {
            format!("{prefix}/{i}")
        };
        for h in &part.headers {
            let name = h.name.as_str();
            let location = if place == "0" {
                format!("header {name}")
            } else {
                format!("header {name} of part {place}")
            };
            let raw_value = raw
                .get(h.offset_start as usize..(h.offset_end as usize).max(h.offset_start as usize))
                .unwrap_or_default();
            // mail-parser keeps fields it does not know (`X-` ones) raw, encoded-words included.
            let text = match h.name {
                HeaderName::Other(_) => unstructured(raw_value),
                _ => value_text(&h.value, raw_value),
            };
            let mut seg = Segment::new(location, format!("{name}: {text}"));
            // A field name is text too (`X-123-45-6789:`); if it matches, the part is named.
            seg.fallback = format!("a header field of part {place}");
            out.push(seg);
        }
        if let PartType::Message(inner) = &part.body {
            if depth + 1 > MAX_MESSAGE_DEPTH {
                truncated = true;
            } else {
                truncated |= walk(inner, depth + 1, &place, out);
            }
        }
    }
    truncated
}

/// What a reader sees of one header value.
fn value_text(value: &HeaderValue<'_>, raw: &[u8]) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(", "),
        HeaderValue::Address(a) => {
            let mut parts: Vec<String> = Vec::new();
            let mut addr = |name: Option<&str>, email: Option<&str>| {
                parts.extend(name.map(str::to_string));
                parts.extend(email.map(str::to_string));
            };
            match a {
                Address::List(list) => {
                    for x in list {
                        addr(x.name.as_deref(), x.address.as_deref());
                    }
                }
                Address::Group(groups) => {
                    for g in groups {
                        addr(g.name.as_deref(), None);
                        for x in &g.addresses {
                            addr(x.name.as_deref(), x.address.as_deref());
                        }
                    }
                }
            }
            parts.join(", ")
        }
        HeaderValue::ContentType(ct) => {
            let mut s = ct.ctype().to_string();
            for a in ct.attributes().unwrap_or_default() {
                s.push_str(&format!("; {}={}", a.name, a.value));
            }
            s
        }
        // Fields parsed into structures (dates, Received): the raw value.
        _ => unstructured(raw),
    }
}

/// A raw header value as a reader sees it: encoded-words decoded, folding undone.
fn unstructured(raw: &[u8]) -> String {
    match MessageStream::new(raw).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::from_utf8_lossy(raw).into_owned(),
    }
}
