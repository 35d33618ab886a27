//! The text DLP looks at (AL-1.5): every place a person can read.
//!
//! - every header field of the message and of every part, decoded ([`super::headers`]);
//! - attachment file names, and the names of files inside archives;
//! - text bodies and text attachments (`text/*`, CSV …), in their declared charset (mail-parser
//!   decodes it), or by their UTF-16 byte order mark when there is one, or as Windows-1252
//!   (Latin-1) when they are not valid UTF-8;
//! - HTML, entities decoded, in two readings: all text including hidden elements, and the
//!   visible text without them ([`super::html`]);
//! - the XML text of Office/OpenDocument files (`.docx` `word/document.xml`, `.xlsx`
//!   `xl/sharedStrings.xml` and worksheets, `.pptx` slides, ODF `content.xml`) and text files
//!   inside zip archives, nested ones included (bounded: [`MAX_DEPTH`] levels, the archive
//!   budget);
//! - any other file whose bytes read as text (UTF-8, UTF-16 with BOM, or Latin-1 without
//!   control characters).
//!
//! PDFs are read by the PDF module (see [`Source::Pdf`]); legacy binary Office files are not
//! turned into text.
//!
//! Every segment is then normalised once ([`super::normalize`]) and the total is bounded by
//! `max_bytes`: past it, the message is reported as not fully inspected and the check holds it.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use mail_parser::Message;

use super::headers::header_segments;
pub use super::html::decode_entities;
use super::html::{html_readings, html_text_nodes, xml_text};
use super::normalize::normalize;
use crate::archive::{is_zip, read_zip, Budget, ZipProblem};
use crate::mime::{walk, Leaf, PartKind};

/// Archive levels opened for text; a deeper archive makes the message not fully inspected.
pub const MAX_DEPTH: usize = 3;

/// Text from one place in the message.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Where it came from: `header Subject`, `body`, an attachment name (with archive entries).
    pub location: String,
    /// Shown instead of `location` when the location itself matches a rule (an attachment
    /// named after the data it holds): the part's position, e.g. `part 2`.
    pub fallback: String,
    /// Normalised text.
    pub text: String,
    /// Another reading of the segment just before it (the visible text of HTML, a second
    /// charset): its values count, its keyword occurrences are not added twice.
    pub alternate: bool,
}

impl Segment {
    pub fn new(location: String, text: String) -> Segment {
        Segment {
            fallback: location.clone(),
            location,
            text,
            alternate: false,
        }
    }
}

/// What [`message_text`] found.
#[derive(Debug, Default)]
pub struct Extracted {
    pub segments: Vec<Segment>,
    /// The text was larger than the bound: what is past it was not inspected.
    pub over_limit: bool,
    /// Something could not be opened within the nesting and archive limits.
    pub incomplete: bool,
}

/// Every piece of text in `msg`, normalised, at most `max_bytes` (counted before normalisation).
pub fn message_text(msg: &Message<'_>, max_bytes: usize) -> Extracted {
    let mut x = Extractor {
        out: Vec::new(),
        budget: Budget {
            entries: 10_000,
            bytes: 256 << 20,
        },
        incomplete: false,
    };
    x.incomplete |= header_segments(msg, &mut x.out);
    let w = walk(msg);
    x.incomplete |= w.truncated;
    for leaf in &w.leaves {
        x.leaf(leaf);
    }
    let mut over_limit = false;
    let mut left = max_bytes;
    let mut segments = Vec::with_capacity(x.out.len());
    for mut seg in x.out {
        if seg.text.len() > left {
            let mut cut = left;
            while !seg.text.is_char_boundary(cut) {
                cut -= 1;
            }
            seg.text.truncate(cut);
            over_limit = true;
        }
        left -= seg.text.len();
        seg.text = normalize(&seg.text);
        if !seg.text.trim().is_empty() {
            segments.push(seg);
        }
    }
    Extracted {
        segments,
        over_limit,
        incomplete: x.incomplete,
    }
}

/// The text nodes of an HTML document, hidden elements included (the URL check reads links'
/// text with it).
pub fn html_to_text(html: &str) -> String {
    html_text_nodes(html)
}

/// How a part's text is obtained.
enum Source {
    Html,
    Text,
    /// A PDF: its text comes from the PDF reader.
    Pdf,
    /// Anything else: archives, Office files, files that read as text.
    File,
}

fn source(leaf: &Leaf<'_>) -> Source {
    let pdf_name = leaf
        .names
        .iter()
        .any(|n| n.to_ascii_lowercase().ends_with(".pdf"));
    match leaf.kind {
        PartKind::Html => Source::Html,
        PartKind::Text => Source::Text,
        PartKind::Binary
            if leaf.bytes.starts_with(b"%PDF-")
                || leaf.content_type == "application/pdf"
                || pdf_name =>
        {
            Source::Pdf
        }
        PartKind::Binary => Source::File,
    }
}

struct Extractor {
    out: Vec<Segment>,
    budget: Budget,
    incomplete: bool,
}

impl Extractor {
    fn push(&mut self, location: &str, fallback: &str, text: String, alternate: bool) {
        self.out.push(Segment {
            location: location.to_string(),
            fallback: fallback.to_string(),
            text,
            alternate,
        });
    }

    /// `text` as one segment, or HTML as its two readings.
    fn push_text(&mut self, location: &str, fallback: &str, text: &str, html: bool) {
        if html {
            let t = html_readings(text);
            let differs = t.visible != t.all;
            self.push(location, fallback, t.all, false);
            if differs {
                self.push(location, fallback, t.visible, true);
            }
        } else {
            self.push(location, fallback, text.to_string(), false);
        }
    }

    fn leaf(&mut self, leaf: &Leaf<'_>) {
        let fallback = format!("part {}", leaf.location);
        if !leaf.names.is_empty() {
            // AL-1.5: the file name is read like any other text.
            let location = format!("attachment name of part {}", leaf.location);
            self.push(&location, &location, leaf.names.join("\n"), false);
        }
        let location = if leaf.is_file {
            leaf.display_name()
        } else {
            "body".to_string()
        };
        match source(leaf) {
            Source::Html | Source::Text => {
                let html = matches!(leaf.kind, PartKind::Html);
                let (text, second) = leaf_text(leaf);
                self.push_text(&location, &fallback, &text, html);
                if let Some(second) = second {
                    let n = self.out.len();
                    self.push_text(&location, &fallback, &second, html);
                    for seg in &mut self.out[n..] {
                        seg.alternate = true;
                    }
                }
            }
            Source::Pdf => {
                // AL-1.5: the text a PDF shows, its streams decoded (crate::pdf). An encrypted
                // PDF, or one past the reader's bounds, was not read whole: held, not passed.
                let facts = crate::pdf::scan(&leaf.bytes);
                if facts.truncated || facts.encrypted {
                    self.incomplete = true;
                }
                self.push(&location, &fallback, facts.text, false);
            }
            Source::File => self.file(&location, &fallback, &leaf.bytes, 0),
        }
    }

    fn file(&mut self, location: &str, fallback: &str, data: &[u8], depth: usize) {
        if !is_zip(data) {
            if let Some(text) = bytes_text(data) {
                // Any file that reads as text (csv, json, txt labelled octet-stream …) is text.
                let html = text.starts_with('<') && text.contains("</");
                self.push_text(location, fallback, &text, html);
            }
            return;
        }
        if depth >= MAX_DEPTH {
            self.incomplete = true;
            return;
        }
        let mut entries = Vec::new();
        let problems = read_zip(data, &mut self.budget, |e| entries.push(e));
        // Encrypted and unreadable archives are the attachment check's business; an archive
        // too large for the budget is text DLP could not read.
        if problems.iter().any(|p| {
            matches!(
                p,
                ZipProblem::TooLarge(_)
                    | ZipProblem::TooManyEntries(_)
                    | ZipProblem::SizeMismatch(_)
            )
        }) {
            self.incomplete = true;
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        if !names.is_empty() {
            let l = format!("file names in {fallback}");
            self.push(&l, &l, names.join("\n"), false);
        }
        for e in entries {
            let lower = e.name.to_ascii_lowercase();
            let inner = format!("{location} > {}", e.name);
            if lower.ends_with(".xml") {
                if skip_xml(&lower) {
                    continue;
                }
                let xml = bytes_text(&e.data).unwrap_or_default();
                self.push(&inner, fallback, xml_text(&xml), false);
            } else if lower.ends_with(".html") || lower.ends_with(".htm") {
                let html = bytes_text(&e.data).unwrap_or_default();
                self.push_text(&inner, fallback, &html, true);
            } else {
                self.file(&inner, fallback, &e.data, depth + 1);
            }
        }
    }
}

/// The text of a text or HTML part, and a second reading when the first may be wrong.
///
/// mail-parser decodes the declared charset. A UTF-16 byte order mark overrides the
/// declaration (a BOM'd UTF-16 attachment often comes without a charset, and mail-parser then
/// reads it as UTF-8). Without a charset, bytes that are not UTF-8 come out with replacement
/// characters: they are read again as Windows-1252, a superset of Latin-1.
fn leaf_text<'a>(leaf: &'a Leaf<'_>) -> (Cow<'a, str>, Option<String>) {
    let parsed = leaf.text.as_deref().unwrap_or_default();
    if let Some(t) = utf16_with_bom(&leaf.bytes) {
        return (Cow::Owned(t), None);
    }
    let second =
        (parsed.contains('\u{FFFD}') && std::str::from_utf8(&leaf.bytes).is_err()).then(|| {
            WINDOWS_1252
                .decode_without_bom_handling(&leaf.bytes)
                .0
                .into_owned()
        });
    (Cow::Borrowed(parsed), second)
}

/// UTF-16 text announced by its byte order mark.
fn utf16_with_bom(data: &[u8]) -> Option<String> {
    let (enc, bom) = Encoding::for_bom(data)?;
    (enc == UTF_16LE || enc == UTF_16BE)
        .then(|| enc.decode_without_bom_handling(&data[bom..]).0.into_owned())
}

/// The bytes of a file as text: UTF-16 with BOM, UTF-8, or Windows-1252 when no control
/// characters say it is binary.
fn bytes_text(data: &[u8]) -> Option<String> {
    if let Some(t) = utf16_with_bom(data) {
        return Some(t);
    }
    if let Ok(t) = std::str::from_utf8(data) {
        return Some(t.to_string());
    }
    let binary = data
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B) || b == 0x7F);
    (!binary).then(|| {
        WINDOWS_1252
            .decode_without_bom_handling(data)
            .0
            .into_owned()
    })
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
