//! The URLs of one MIME part, by what the part is (AL-1.3): text bodies and text attachments
//! (links written out), HTML and SVG (see [`super::html`]), Office Open XML and OpenDocument
//! files (external relationship targets, `HYPERLINK` fields, `xlink:href`, links in the text),
//! RTF (`HYPERLINK` fields and links in the text), and PDF (link annotations, read by the PDF
//! module).

use crate::archive::{is_zip, read_zip, Budget};
use crate::mime::{Leaf, PartKind};

use super::extract::{text_links, Mismatch};
use super::html::{self, decode_entities, strip_invisible};
use super::normalize::{normalize_url, NormalizedUrl};

/// What a part is, for reading its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Html,
    Svg,
    Rtf,
    Pdf,
    /// A zip container: OOXML (`.docx`, `.xlsx`, `.pptx` …), OpenDocument, or a plain zip.
    Zip,
}

/// Zip containers are read within this budget (the attachment check, AL-1.4, judges bigger
/// ones); what does not fit is reported, not silently skipped.
const ZIP_BUDGET: Budget = Budget {
    entries: 5_000,
    bytes: 128 << 20,
};

/// The links of one part.
#[derive(Debug, Default)]
pub struct PartLinks {
    pub urls: Vec<NormalizedUrl>,
    pub mismatches: Vec<Mismatch>,
    /// What could not be read, one sentence each.
    pub problems: Vec<String>,
}

impl PartLinks {
    fn text(&mut self, text: &str) {
        for link in text_links(&strip_invisible(text)) {
            self.urls.extend(normalize_url(link));
        }
    }

    fn html(&mut self, src: &str, location: &str) {
        let l = html::links(src, location, true);
        self.urls.extend(l.urls);
        self.mismatches.extend(l.mismatches);
    }
}

fn name_ends(leaf: &Leaf<'_>, exts: &[&str]) -> bool {
    leaf.names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        exts.iter().any(|e| n.ends_with(e))
    })
}

/// What `leaf` is: by its content first (a sender chooses the label; a reader goes by the
/// signature), then by its name and type.
pub fn format(leaf: &Leaf<'_>) -> Option<Format> {
    let b: &[u8] = &leaf.bytes;
    let ct = leaf.content_type.as_str();
    let head = String::from_utf8_lossy(&b[..b.len().min(1024)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    // PDF readers accept the header anywhere in the first kilobyte.
    if head.contains("%pdf-") {
        return Some(Format::Pdf);
    }
    if is_zip(b) {
        return Some(Format::Zip);
    }
    if head.starts_with("{\\rtf") {
        return Some(Format::Rtf);
    }
    if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
        return Some(Format::Svg);
    }
    let html_head = head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with('<') && head.contains("<a "));
    if html_head {
        return Some(Format::Html);
    }
    if ct == "image/svg+xml" || name_ends(leaf, &[".svg"]) {
        return Some(Format::Svg);
    }
    if leaf.kind == PartKind::Html
        || matches!(ct, "text/html" | "application/xhtml+xml")
        || name_ends(leaf, &[".htm", ".html", ".xhtml", ".shtml", ".mht"])
    {
        return Some(Format::Html);
    }
    if matches!(ct, "application/rtf" | "text/rtf") || name_ends(leaf, &[".rtf"]) {
        return Some(Format::Rtf);
    }
    let textual = leaf.text.is_some()
        || ct.starts_with("text/")
        || std::str::from_utf8(b).is_ok_and(looks_textual);
    textual.then_some(Format::Text)
}

fn looks_textual(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .take(4096)
            .all(|c| !c.is_control() || c.is_whitespace())
}

/// Every link of `leaf`. The single place that reads each format.
pub fn part_urls(leaf: &Leaf<'_>, location: &str) -> PartLinks {
    let mut out = PartLinks::default();
    let text = || match &leaf.text {
        Some(t) => t.to_string(),
        None => String::from_utf8_lossy(&leaf.bytes).into_owned(),
    };
    match format(leaf) {
        None => {}
        Some(Format::Text) => out.text(&text()),
        Some(Format::Html | Format::Svg) => out.html(&text(), location),
        Some(Format::Rtf) => {
            let src = text();
            let decoded = rtf_text(&src);
            out.urls.extend(hyperlink_fields(&decoded));
            out.text(&decoded);
        }
        Some(Format::Zip) => zip_urls(&leaf.bytes, location, &mut out),
        // PDF link actions (/URI), read with the streams decoded (crate::pdf), and links
        // written in its text.
        Some(Format::Pdf) => {
            let facts = crate::pdf::scan(&leaf.bytes);
            out.urls
                .extend(facts.uris.iter().filter_map(|u| normalize_url(u)));
            out.text(&facts.text);
        }
    }
    out
}

/// Links of a zip container: external relationship targets (`*.rels`, OOXML), and in every XML
/// or HTML member `HYPERLINK` fields, URL attributes (`xlink:href` in OpenDocument) and links
/// in the text.
fn zip_urls(data: &[u8], location: &str, out: &mut PartLinks) {
    let mut budget = ZIP_BUDGET;
    let problems = read_zip(data, &mut budget, |entry| {
        let name = entry.name.to_ascii_lowercase();
        let src = String::from_utf8_lossy(&entry.data);
        if name.ends_with(".rels") {
            out.urls.extend(external_targets(&src));
        } else if name.ends_with(".xml") || name.ends_with(".vml") {
            // Word splits text into runs; paragraph ends separate words.
            let paragraphs = src.replace("</w:p>", "\n").replace("</a:p>", "\n");
            let l = html::links(&paragraphs, location, true);
            out.urls.extend(l.urls);
            out.urls.extend(hyperlink_fields(&decode_entities(&src)));
            out.urls
                .extend(hyperlink_fields(&html::visible(&paragraphs)));
        } else if name.ends_with(".htm") || name.ends_with(".html") || name.ends_with(".svg") {
            out.html(&src, location);
        }
    });
    out.problems.extend(
        problems
            .iter()
            .map(|p| format!("links of {location} not all read: {p}")),
    );
}

/// Targets of `<Relationship … TargetMode="External" Target="…"/>` (ECMA-376 Part 2 §9.3):
/// hyperlinks, linked images and remote templates.
fn external_targets(rels: &str) -> Vec<NormalizedUrl> {
    let mut out = Vec::new();
    for rel in rels.split('<').skip(1) {
        let tag = rel.split('>').next().unwrap_or("");
        let lower = tag.to_ascii_lowercase();
        let external =
            attr_value(tag, "TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External"));
        if !lower.starts_with("relationship") || !external {
            continue;
        }
        if let Some(target) = attr_value(tag, "Target") {
            out.extend(normalize_url(&decode_entities(target)));
        }
    }
    out
}

/// The value of attribute `name` (exact, case-insensitive) in an XML tag.
fn attr_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let lower = tag.to_ascii_lowercase();
    let needle = format!("{}=", name.to_ascii_lowercase());
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle).map(|i| from + i) {
        from = i + needle.len();
        let before_ok = i == 0 || lower.as_bytes()[i - 1].is_ascii_whitespace();
        if !before_ok {
            continue;
        }
        let rest = &tag[from..];
        let q = rest.chars().next()?;
        if q == '"' || q == '\'' {
            return rest[1..].split(q).next();
        }
    }
    None
}

/// URLs of `HYPERLINK "url"` field instructions (Word, RTF). A field that starts with a
/// switch (`HYPERLINK \l "bookmark"`) points inside the document and is skipped.
fn hyperlink_fields(s: &str) -> Vec<NormalizedUrl> {
    let mut out = Vec::new();
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("hyperlink").map(|i| from + i) {
        from = i + "hyperlink".len();
        let rest = s[from..].trim_start();
        if rest.starts_with('\\') {
            continue;
        }
        let target = match rest.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or(""),
            None => rest.split_whitespace().next().unwrap_or(""),
        };
        out.extend(normalize_url(target));
    }
    out
}

/// RTF with `\'hh` escapes decoded, control words and group braces removed: what the fields
/// and text say (RTF 1.9.1, "Fields").
fn rtf_text(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' => {}
            '\\' => match chars.peek().copied() {
                Some('\'') => {
                    chars.next();
                    let hex: String = chars.by_ref().take(2).collect();
                    if let Ok(v) = u8::from_str_radix(&hex, 16) {
                        out.push(v as char);
                    }
                }
                Some(c @ ('\\' | '{' | '}')) => {
                    chars.next();
                    out.push(c);
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let mut word = String::new();
                    while let Some(&c) = chars.peek() {
                        if !c.is_ascii_alphabetic() {
                            break;
                        }
                        word.push(c);
                        chars.next();
                    }
                    while chars
                        .peek()
                        .is_some_and(|c| c.is_ascii_digit() || *c == '-')
                    {
                        chars.next();
                    }
                    // The delimiting space belongs to the control word.
                    if chars.peek() == Some(&' ') {
                        chars.next();
                    }
                    if matches!(word.as_str(), "par" | "line" | "tab" | "cell" | "row") {
                        out.push('\n');
                    } else if word == "fldinst" {
                        out.push(' ');
                    }
                }
                // `\*`, `\~` and other control symbols.
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(urls: &[NormalizedUrl]) -> Vec<String> {
        urls.iter().map(NormalizedUrl::key).collect()
    }

    #[test]
    fn al_1_3_rels_external_targets() {
        let rels = r#"<?xml version="1.0"?><Relationships xmlns="x">
            <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
            <Relationship Id="rId6" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath" Target="book2.xlsx"/>
            <Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="http://evil.example/a?b=1&amp;c=2" TargetMode="External"/>
            </Relationships>"#;
        assert_eq!(keys(&external_targets(rels)), vec!["evil.example/a"]);
    }

    #[test]
    fn al_1_3_rtf_hyperlink_field() {
        let rtf = r#"{\rtf1\ansi{\field{\*\fldinst{HYPERLINK "http://ev\'69l.example/rtf"}}{\fldrslt{click}}}\par see http://second.example/x\par}"#;
        let text = rtf_text(rtf);
        assert_eq!(keys(&hyperlink_fields(&text)), vec!["evil.example/rtf"]);
        assert!(hyperlink_fields(r#"HYPERLINK \l "_Toc1""#).is_empty());
        let found: Vec<String> = text_links(&text).iter().map(|s| s.to_string()).collect();
        assert!(
            found.iter().any(|l| l == "http://second.example/x"),
            "{found:?}"
        );
    }
}
