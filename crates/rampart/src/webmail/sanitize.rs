//! HTML mail made fit to show (issue 13 item 3; the webmail's share of AL-1.3 and AL-1.4):
//! ammonia rebuilds the document from an explicit allow-list of elements, attributes and CSS
//! properties, and a filter of our own decides every URL the rest may load.
//!
//! What comes out loads nothing by itself: an image is an inline part as a `data:` URI, or a
//! remote image only when the reader asked for remote content (each one blocked is counted, so
//! the page can offer that choice). Links open a new context without opener or referrer, and a
//! link whose text shows another host than it leads to is marked, judged by the gateway's own
//! check (rampart-checks' `urls::html::anchor`).
//!
//! This is one layer of three: the document is also served under a CSP that allows no script
//! and no remote load (`render.rs`), inside an iframe sandboxed without scripts or origin.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use rampart_checks::entities::decode_entities;
use rampart_checks::urls::html::anchor;
use rampart_jmap_mail::email::view::Inline;

/// A document fit to show, and what was taken out that the reader may want to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub html: String,
    /// Remote images (`src`, `srcset`, `background`) not loaded.
    pub remote_blocked: usize,
    /// Links whose text shows another host than their target, marked.
    pub mismatched_links: usize,
}

/// AL-1.4: the elements kept. Anything else is unwrapped (its text stays) or, for the
/// [`DROPPED_WITH_CONTENT`] ones, removed with what it holds. No script, style, frame, object,
/// embed, form control, meta, base, link, SVG, MathML, audio or video is among them.
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "article",
    "aside",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "font",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "main",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "section",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// AL-1.4: elements removed together with their content: code, style sheets, embedded
/// documents and vector graphics (which carry their own scripts and links).
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "style", "svg", "math", "iframe", "object", "embed", "applet", "template", "title",
    "audio", "video", "canvas", "noembed", "noframes", "xmp",
];

/// Attributes kept on any element. No `on*` handler, `class` or `id` (the mail's style sheet is
/// gone, and an id could collide with the page's).
const GENERIC_ATTRIBUTES: &[&str] = &["title", "lang", "dir", "align", "valign", "style"];

/// Attributes kept per element. `src`, `srcset` and `background` are kept here only so the
/// URL filter sees (and counts) them.
const TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    (
        "img",
        &[
            "src", "srcset", "alt", "width", "height", "border", "hspace", "vspace",
        ],
    ),
    (
        "table",
        &[
            "width",
            "height",
            "border",
            "cellpadding",
            "cellspacing",
            "bgcolor",
            "background",
            "summary",
        ],
    ),
    (
        "td",
        &[
            "width",
            "height",
            "colspan",
            "rowspan",
            "bgcolor",
            "background",
            "nowrap",
            "scope",
        ],
    ),
    (
        "th",
        &[
            "width",
            "height",
            "colspan",
            "rowspan",
            "bgcolor",
            "background",
            "nowrap",
            "scope",
        ],
    ),
    ("tr", &["bgcolor", "background", "height"]),
    ("col", &["span", "width"]),
    ("colgroup", &["span", "width"]),
    ("font", &["color", "face", "size"]),
    ("ol", &["start", "type", "reversed"]),
    ("ul", &["type"]),
    ("li", &["value", "type"]),
    ("hr", &["width", "size", "noshade", "color"]),
    ("time", &["datetime"]),
    ("details", &["open"]),
];

/// AL-1.4: CSS properties kept in `style` attributes: colours, fonts, text, boxes and borders.
/// Not `position`, `z-index`, `display`, `background(-image)`, `content`, `cursor`,
/// `behavior` or anything else that can load a URL or lift content over the page.
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "font-variant",
    "line-height",
    "letter-spacing",
    "word-spacing",
    "white-space",
    "text-align",
    "text-decoration",
    "text-decoration-color",
    "text-decoration-line",
    "text-decoration-style",
    "text-indent",
    "text-transform",
    "vertical-align",
    "direction",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-top-color",
    "border-right-color",
    "border-bottom-color",
    "border-left-color",
    "border-top-style",
    "border-right-style",
    "border-bottom-style",
    "border-left-style",
    "border-top-width",
    "border-right-width",
    "border-bottom-width",
    "border-left-width",
    "border-radius",
    "border-collapse",
    "border-spacing",
    "width",
    "height",
    "min-width",
    "max-width",
    "min-height",
    "max-height",
    "list-style-type",
    "table-layout",
];

/// Words that make a CSS declaration load something or run something, whatever its property.
const STYLE_DANGERS: &[&str] = &[
    "url(",
    "image(",
    "image-set(",
    "cross-fade(",
    "element(",
    "expression",
    "behavior",
    "binding",
    "javascript:",
    "vbscript:",
    "@import",
];

/// Inline image types shown as `data:` URIs. Never SVG: an SVG image is a document.
const INLINE_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/webp"];

/// The most `data:` URI text one document gets: an image named a thousand times is inlined
/// until this is spent, not a thousand times over.
pub const MAX_DATA_URI_TOTAL: usize = 16 * 1024 * 1024;

/// Cleans `html` for display; `inline` are the images `cid:` may name; `remote` is the
/// reader's choice to load remote images of this message.
pub fn clean(html: &str, inline: &Inline, remote: bool) -> Cleaned {
    let urls = Arc::new(UrlFilter {
        images: data_uris(inline),
        remote,
        blocked: AtomicUsize::new(0),
        data_budget: AtomicUsize::new(MAX_DATA_URI_TOTAL),
    });
    let filter = urls.clone();
    let tag_attributes: HashMap<&str, HashSet<&str>> = TAG_ATTRIBUTES
        .iter()
        .map(|(t, a)| (*t, a.iter().copied().collect()))
        .collect();
    let mut b = ammonia::Builder::empty();
    b.tags(TAGS.iter().copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(GENERIC_ATTRIBUTES.iter().copied().collect())
        .tag_attributes(tag_attributes)
        // Schemes a URL attribute may have before our filter decides (`cid:` becomes data:).
        // No javascript:, vbscript: or data: from the mail.
        .url_schemes(["http", "https", "mailto", "cid"].into_iter().collect())
        // Relative URLs reach the filter, which counts `//host` images and drops the rest.
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .attribute_filter(move |element, attribute, value| {
            filter.attribute(element, attribute, value)
        });
    let cleaned = b.clean(html).to_string();
    let (html, mismatched_links) = mark_mismatches(&cleaned);
    Cleaned {
        html,
        remote_blocked: urls.blocked.load(Ordering::Relaxed),
        mismatched_links,
    }
}

/// The decisions on URL and style attributes, for one document.
struct UrlFilter {
    /// Content-ID -> `data:` URI of the inline images that may be shown.
    images: HashMap<String, String>,
    remote: bool,
    blocked: AtomicUsize,
    data_budget: AtomicUsize,
}

impl UrlFilter {
    fn attribute<'u>(
        &self,
        element: &str,
        attribute: &str,
        value: &'u str,
    ) -> Option<Cow<'u, str>> {
        match (element, attribute) {
            (_, "style") => clean_style(value).map(Cow::Owned),
            ("a", "href") => link_target(value).then_some(Cow::Borrowed(value)),
            (_, "src" | "background") => self.image(value),
            (_, "srcset") => self.srcset(value),
            _ => Some(Cow::Borrowed(value)),
        }
    }

    /// An image URL: an inline part by `cid:`, or a remote one if the reader chose so.
    fn image<'u>(&self, value: &'u str) -> Option<Cow<'u, str>> {
        let url = normalized(value);
        if let Some(cid) = strip_prefix_ci(&url, "cid:") {
            let uri = self
                .images
                .get(cid)
                .or_else(|| self.images.get(&percent_decode(cid)))?;
            // Inline once per budget, not without end.
            self.data_budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(uri.len())
                })
                .ok()?;
            return Some(Cow::Owned(uri.clone()));
        }
        match remote_url(&url) {
            // AL-1.4: a remote image (a tracking pixel) loads nothing until the reader asks.
            Some(u) if self.remote => Some(Cow::Owned(u)),
            Some(_) => {
                self.blocked.fetch_add(1, Ordering::Relaxed);
                None
            }
            // Relative (our own origin), or a scheme no image has here.
            None => None,
        }
    }

    /// A list of image candidates: kept only when remote images are allowed and every
    /// candidate is remote; otherwise dropped, and counted if it named a remote image.
    fn srcset<'u>(&self, value: &'u str) -> Option<Cow<'u, str>> {
        let candidates: Vec<Option<String>> = value
            .split(',')
            .filter_map(|c| c.split_whitespace().next())
            .map(|u| remote_url(&normalized(u)))
            .collect();
        if candidates.iter().any(Option::is_some) && !self.remote {
            self.blocked.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        (self.remote && !candidates.is_empty() && candidates.iter().all(Option::is_some))
            .then_some(Cow::Borrowed(value))
    }
}

/// A link may lead to the web or to a mail address; nothing relative (it would resolve against
/// the webmail's own origin) and no other scheme (ammonia took javascript: and data: already).
fn link_target(value: &str) -> bool {
    let url = normalized(value);
    ["http:", "https:", "mailto:"]
        .iter()
        .any(|s| strip_prefix_ci(&url, s).is_some())
}

/// An absolute http(s) URL for a remote image URL (`//host/x` as https), None for anything else.
fn remote_url(url: &str) -> Option<String> {
    if strip_prefix_ci(url, "http:").is_some() || strip_prefix_ci(url, "https:").is_some() {
        return Some(url.to_owned());
    }
    // Protocol-relative: browsers read a backslash as a slash here.
    let b = url.as_bytes();
    if b.len() > 2 && matches!(b[0], b'/' | b'\\') && matches!(b[1], b'/' | b'\\') {
        return Some(format!("https://{}", &url[2..]));
    }
    None
}

/// A URL as a browser reads it: tab and line breaks removed, leading and trailing C0 controls
/// and spaces trimmed (URL Standard, basic URL parser).
fn normalized(value: &str) -> String {
    value
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// RFC 2392: a `cid:` URL is the Content-ID, percent-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// AL-1.4: a style attribute without the declarations that could load or run something.
/// ammonia then keeps only [`STYLE_PROPERTIES`] of what is left.
fn clean_style(value: &str) -> Option<String> {
    // A backslash is a CSS escape and a comment can split a word: either can spell a danger
    // past a word list, so a style with one is dropped whole.
    if value.contains('\\') || value.contains("/*") {
        return None;
    }
    let kept: Vec<&str> = value
        .split(';')
        .filter(|d| {
            let d = d.to_ascii_lowercase();
            !STYLE_DANGERS.iter().any(|w| d.contains(w))
        })
        .collect();
    let s = kept.join(";");
    (!s.trim().is_empty()).then_some(s)
}

/// `data:` URIs of the inline images of a shown type.
fn data_uris(inline: &Inline) -> HashMap<String, String> {
    inline
        .iter()
        .filter(|(_, img)| INLINE_TYPES.contains(&img.media_type.as_str()))
        .map(|(cid, img)| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&img.bytes);
            (cid.clone(), format!("data:{};base64,{b64}", img.media_type))
        })
        .collect()
}

/// One tag of serialised HTML: where it ends, its name (lower case, `/a` for an end tag).
struct Tag<'s> {
    /// The tag's source without its closing `>`.
    src: &'s str,
    name: String,
}

/// The tag starting at `s[0] == '<'`, and the rest after its `>`. Quote-aware, though
/// html5ever escapes `<` and `>` inside attribute values as well.
fn next_tag(s: &str) -> Option<(Tag<'_>, &str)> {
    let mut quote = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            '"' => quote = !quote,
            '>' if !quote => {
                let src = &s[..i];
                let name = src[1..]
                    .split(|c: char| c.is_ascii_whitespace())
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                return Some((Tag { src, name }, &s[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in a serialised start tag (always double-quoted there).
fn attr_value<'s>(tag: &'s str, name: &str) -> Option<&'s str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// A serialised start tag without attribute `name`.
fn without_attr(tag: &str, name: &str) -> String {
    let needle = format!(" {name}=\"");
    let Some(start) = tag.find(&needle) else {
        return tag.to_owned();
    };
    let value = start + needle.len();
    match tag[value..].find('"') {
        Some(len) => format!("{}{}", &tag[..start], &tag[value + len + 1..]),
        None => tag.to_owned(),
    }
}

/// The source of an anchor's content: up to its end tag (anchors do not nest once parsed).
fn anchor_content(after: &str) -> &str {
    let mut rest = after;
    while let Some(lt) = rest.find('<') {
        let at = &rest[lt..];
        let Some((tag, next)) = next_tag(at) else {
            break;
        };
        if tag.name == "/a" {
            return &after[..after.len() - at.len()];
        }
        rest = next;
    }
    after
}

/// AL-1.3: marks each anchor whose visible text shows another host than its target: a class
/// the page's style makes visible and a title that says where it leads. The count marked.
fn mark_mismatches(html: &str) -> (String, usize) {
    let mut out = String::with_capacity(html.len());
    let mut count = 0;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some((tag, next)) = next_tag(&rest[lt..]) else {
            rest = &rest[lt..];
            break;
        };
        let mismatch = if tag.name == "a" {
            let href = attr_value(tag.src, "href").map(decode_entities);
            href.and_then(|h| anchor(&h, anchor_content(next), "body"))
        } else {
            None
        };
        match mismatch {
            Some(m) => {
                count += 1;
                // The mail's own title would stand before ours (a browser takes the first).
                out.push_str(&without_attr(tag.src, "title"));
                out.push_str(" class=\"rampart-mismatch\" title=\"");
                out.push_str(&escape_attr(&format!(
                    "This link shows {} but leads to {}",
                    m.shown, m.target
                )));
                out.push('"');
            }
            None => out.push_str(tag.src),
        }
        out.push('>');
        rest = next;
    }
    out.push_str(rest);
    (out, count)
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
