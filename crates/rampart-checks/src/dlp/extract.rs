//! The text DLP looks at (AL-1.5): the Subject, text bodies, HTML bodies and attachments
//! stripped of tags, text attachments, the XML text of Office/OpenDocument files (`.docx`
//! `word/document.xml`, `.xlsx` `xl/sharedStrings.xml` and worksheets, `.pptx` slides, ODF
//! `content.xml`) and text files inside zip archives, nested ones included (bounded like the
//! attachment check). PDFs and legacy binary Office files are not turned into text.

use mail_parser::Message;

use crate::archive::{is_zip, read_zip, Budget};
use crate::attachments::is_bidi_or_invisible;
use crate::mime::{walk, PartKind};

/// Archive levels opened for text.
const MAX_DEPTH: usize = 3;

/// Text from one place in the message.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Where it came from: `subject`, `body`, or an attachment name (with archive entries).
    pub location: String,
    pub text: String,
}

/// Every piece of text in `msg`, at most `max_bytes` in all (the rest is cut and reported by
/// the `bool`: true when something was left out).
pub fn message_text(msg: &Message<'_>, max_bytes: usize) -> (Vec<Segment>, bool) {
    let mut out = Vec::new();
    let mut budget = Budget {
        entries: 10_000,
        bytes: 256 << 20,
    };
    if let Some(s) = msg.subject() {
        out.push(Segment {
            location: "subject".into(),
            text: s.to_string(),
        });
    }
    let w = walk(msg);
    for leaf in &w.leaves {
        let location = if leaf.is_file {
            leaf.display_name()
        } else {
            "body".to_string()
        };
        match (leaf.kind, leaf.text) {
            (PartKind::Html, Some(t)) => out.push(Segment {
                location,
                text: html_to_text(t),
            }),
            (PartKind::Text, Some(t)) => out.push(Segment {
                location,
                text: t.to_string(),
            }),
            _ => file_text(&location, &leaf.bytes, 0, &mut budget, &mut out),
        }
    }
    let mut truncated = w.truncated;
    let mut left = max_bytes;
    for seg in &mut out {
        seg.text.retain(|c| !is_bidi_or_invisible(c));
        if seg.text.len() > left {
            let mut cut = left;
            while !seg.text.is_char_boundary(cut) {
                cut -= 1;
            }
            seg.text.truncate(cut);
            truncated = true;
        }
        left -= seg.text.len();
    }
    out.retain(|s| !s.text.is_empty());
    (out, truncated)
}

fn file_text(
    location: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Segment>,
) {
    if is_zip(data) {
        if depth >= MAX_DEPTH {
            return;
        }
        let mut entries = Vec::new();
        // Problems (encryption, limits) are the attachment check's business; here we read what
        // can be read.
        let _ = read_zip(data, budget, |e| entries.push(e));
        for e in entries {
            let lower = e.name.to_ascii_lowercase();
            let inner = format!("{location} > {}", e.name);
            if lower.ends_with(".xml") {
                if skip_xml(&lower) {
                    continue;
                }
                let xml = String::from_utf8_lossy(&e.data);
                out.push(Segment {
                    location: inner,
                    text: xml_text(&xml),
                });
            } else if lower.ends_with(".html") || lower.ends_with(".htm") {
                out.push(Segment {
                    location: inner,
                    text: html_to_text(&String::from_utf8_lossy(&e.data)),
                });
            } else {
                file_text(&inner, &e.data, depth + 1, budget, out);
            }
        }
    } else if let Ok(text) = std::str::from_utf8(data) {
        // Any file that is valid UTF-8 (csv, json, txt labelled octet-stream …) is text.
        if text.starts_with('<') && text.contains("</") {
            out.push(Segment {
                location: location.to_string(),
                text: html_to_text(text),
            });
        } else {
            out.push(Segment {
                location: location.to_string(),
                text: text.to_string(),
            });
        }
    }
}

/// Package plumbing without user text.
fn skip_xml(lower_name: &str) -> bool {
    lower_name == "[content_types].xml"
        || lower_name.contains("_rels/")
        || lower_name.starts_with("docprops/")
        || lower_name.ends_with("styles.xml")
        || lower_name.ends_with("settings.xml")
        || lower_name.contains("theme/")
        || lower_name.ends_with("fonttable.xml")
}

/// Closing tags that end a paragraph, cell or row in OOXML/ODF: replaced by a line break so
/// that cells do not run together. Other tags vanish, so text split across runs joins again.
const XML_BREAKS: &[&str] = &[
    "w:p",
    "w:tr",
    "w:tc",
    "w:br",
    "w:tab",
    "w:cr",
    "a:p",
    "a:br",
    "si",
    "c",
    "row",
    "text:p",
    "text:h",
    "table:table-cell",
    "text:line-break",
    "text:tab",
];

/// The text nodes of an XML document, entities decoded.
pub fn xml_text(xml: &str) -> String {
    strip_tags(xml, |tag| XML_BREAKS.contains(&tag), false)
}

const HTML_BREAKS: &[&str] = &[
    "p",
    "br",
    "div",
    "td",
    "th",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "hr",
    "title",
    "section",
    "article",
    "header",
    "footer",
];

/// Visible text of an HTML document: tags removed (block tags become line breaks, inline tags
/// vanish so `123-<b>45</b>-6789` still reads as one number), `script`/`style` dropped,
/// entities decoded.
pub fn html_to_text(html: &str) -> String {
    strip_tags(html, |tag| HTML_BREAKS.contains(&tag), true)
}

fn strip_tags(src: &str, is_break: impl Fn(&str) -> bool, html: bool) -> String {
    let mut out = String::with_capacity(src.len() / 2);
    let mut rest = src;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let after = &rest[lt + 1..];
        if after.starts_with("!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[..gt];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &after[gt + 1..];
        if html && !tag.starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            rest = match rest.to_ascii_lowercase().find(&close) {
                Some(i) => rest[i..].find('>').map_or("", |g| &rest[i + g + 1..]),
                None => "",
            };
            continue;
        }
        if is_break(&name) {
            out.push('\n');
        }
    }
    out.push_str(&decode_entities(rest));
    out
}

/// Decodes the XML entities and the common HTML ones (`&nbsp;` becomes a space).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').filter(|&i| i <= 10);
        let decoded = semi.and_then(|i| {
            let ent = &after[..i];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => ent
                    .strip_prefix("#x")
                    .or_else(|| ent.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, i))
        });
        match decoded {
            Some((c, i)) => {
                out.push(if c == '\u{a0}' { ' ' } else { c });
                rest = &after[i + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_xml_text() {
        assert_eq!(
            html_to_text(
                "<p>SSN 123-<b>45</b>-6789</p><script>var x='999-99-9999'</script>a&amp;b&#32;c"
            ),
            "\nSSN 123-45-6789\na&b c"
        );
        assert_eq!(
            xml_text("<w:p><w:r><w:t>4111 1111 </w:t></w:r><w:r><w:t>1111 1111</w:t></w:r></w:p>"),
            "\n4111 1111 1111 1111\n"
        );
        assert_eq!(
            xml_text("<si><t>a</t></si><si><t>b</t></si>").trim(),
            "a\n\nb"
        );
        assert_eq!(decode_entities("&#x34;&#49;&lt;&bogus;"), "41<&bogus;");
    }
}
