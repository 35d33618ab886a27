//! HTML and Office XML to text (AL-1.5): tags removed, entities decoded, and for HTML two
//! views: everything a person can reveal (hidden elements' text included) and what shows
//! without revealing anything (hidden elements left out, so that a hidden decoy inside a
//! number does not break it: `123-45-<span style="display:none">0</span>6789` reads
//! `123-45-6789`). DLP scans both.

/// The two readings of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlText {
    /// All text, hidden elements included (a reader can reveal them).
    pub all: String,
    /// Text shown as the document is displayed: hidden elements left out.
    pub visible: String,
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
    strip_tags(xml, |tag| XML_BREAKS.contains(&tag), false, false).all
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

/// Elements that have no content, so cannot hide any.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Text of an HTML document: tags removed (block tags become line breaks, inline tags vanish so
/// `123-<b>45</b>-6789` still reads as one number), `script`/`style` dropped, entities decoded.
/// Readable attribute values (`alt`, `title` …) are part of the text.
pub fn html_readings(html: &str) -> HtmlText {
    strip_tags(html, |tag| HTML_BREAKS.contains(&tag), true, true)
}

/// The text nodes of HTML only, hidden elements included, no attribute values (what the URL
/// check compares links against).
pub fn html_text_nodes(html: &str) -> String {
    strip_tags(html, |tag| HTML_BREAKS.contains(&tag), true, false).all
}

/// Whether an opening tag's attributes hide the element: `display:none`, `visibility:hidden`,
/// zero font size or opacity in its style, or the `hidden` attribute.
fn hides(attrs: &str) -> bool {
    let compact: String = attrs
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let zero = |prop: &str| {
        compact.match_indices(prop).any(|(i, _)| {
            let rest = compact[i + prop.len()..].trim_start_matches('0');
            compact[i + prop.len()..].starts_with('0')
                && !rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        })
    };
    compact.contains("display:none")
        || compact.contains("visibility:hidden")
        || zero("font-size:")
        || zero("opacity:")
        || attrs
            .split(|c: char| c.is_whitespace() || c == '/')
            .any(|t| {
                t.eq_ignore_ascii_case("hidden") || t.to_ascii_lowercase().starts_with("hidden=")
            })
}

fn strip_tags(
    src: &str,
    is_break: impl Fn(&str) -> bool,
    html: bool,
    attributes: bool,
) -> HtmlText {
    let mut all = String::with_capacity(src.len() / 2);
    let mut visible = String::new();
    // The hidden element being skipped in `visible`: its name and how deep we are inside
    // elements of that name.
    let mut hidden: Option<(String, usize)> = None;
    let mut rest = src;
    let push = |all: &mut String, visible: &mut String, hidden: bool, s: &str| {
        all.push_str(s);
        if html && !hidden {
            visible.push_str(s);
        }
    };
    while let Some(lt) = rest.find('<') {
        let text = decode_entities(&rest[..lt]);
        push(&mut all, &mut visible, hidden.is_some(), &text);
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
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &after[gt + 1..];
        if html && !closing && (name == "script" || name == "style") {
            let close = format!("</{name}");
            rest = match rest.to_ascii_lowercase().find(&close) {
                Some(i) => rest[i..].find('>').map_or("", |g| &rest[i + g + 1..]),
                None => "",
            };
            continue;
        }
        if html {
            let self_closing = tag.ends_with('/') || VOID.contains(&name.as_str());
            match &mut hidden {
                Some((h, depth)) if *h == name && !self_closing => {
                    if closing {
                        *depth -= 1;
                    } else {
                        *depth += 1;
                    }
                    if *depth == 0 {
                        hidden = None;
                    }
                }
                Some(_) => {}
                None if !closing && !self_closing && hides(&tag[name.len()..]) => {
                    hidden = Some((name.clone(), 1));
                }
                None => {}
            }
        }
        if is_break(&name) {
            push(&mut all, &mut visible, hidden.is_some(), "\n");
        }
        if attributes && !closing {
            // Shown as a tooltip, in place of an image, or read aloud: text a person reads.
            for v in readable_attributes(&tag[name.len()..]) {
                let v = format!(" {} ", decode_entities(v));
                push(&mut all, &mut visible, hidden.is_some(), &v);
            }
        }
    }
    let text = decode_entities(rest);
    push(&mut all, &mut visible, hidden.is_some(), &text);
    HtmlText { all, visible }
}

/// Attributes whose values a reader sees or hears.
const READABLE: &[&str] = &["alt", "title", "placeholder", "aria-label"];

/// Values of the [`READABLE`] attributes in a tag's attribute text (quoted or bare).
fn readable_attributes(attrs: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = attrs;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq]
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .next()
            .unwrap_or_default();
        let after = rest[eq + 1..].trim_start();
        let (value, next) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &after[1..];
                let end = body.find(q).unwrap_or(body.len());
                (&body[..end], &body[(end + 1).min(body.len())..])
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if READABLE.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            out.push(value);
        }
        rest = next;
    }
    out
}

pub use crate::entities::decode_entities;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_xml_text() {
        let t = html_readings(
            "<p>SSN 123-<b>45</b>-6789</p><script>var x='999-99-9999'</script>a&amp;b&#32;c",
        );
        assert_eq!(t.all, "\nSSN 123-45-6789\na&b c");
        assert_eq!(t.visible, t.all);
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

    #[test]
    fn al_1_5_entities_that_split_or_disguise_numbers() {
        assert_eq!(decode_entities("&#49;23"), "123");
        assert_eq!(
            decode_entities("&#4923"),
            "\u{133B}",
            "no `;`: the digits run on"
        );
        assert_eq!(
            decode_entities("&#x31 2"),
            "1 2",
            "no `;`, ends at a non-digit"
        );
        assert_eq!(
            decode_entities("1&ndash;2&shy;3&nbsp;4"),
            // The no-break space stays one here; dlp::normalize folds it with every space.
            "1\u{2013}2\u{AD}3\u{A0}4"
        );
        // Out of range: U+FFFD, as a browser reads it.
        assert_eq!(decode_entities("&#99999999999;"), "\u{FFFD}");
    }

    #[test]
    fn al_1_5_hidden_elements_two_views() {
        let t = html_readings(
            "<p>123-45-<span style=\"display: none\">0<span>0</span></span>6789</p>\
             <div hidden>secret</div><img src=x style=\"display:none\">ok\
             <font style='font-size:0px'>z</font><i style='font-size:0.5em'>small</i>",
        );
        assert_eq!(t.all, "\n123-45-006789\n\nsecret\nokzsmall");
        assert_eq!(t.visible, "\n123-45-6789\n\noksmall");
    }

    #[test]
    fn al_1_5_readable_attributes() {
        let t = html_readings(
            "<img src=\"a.png\" alt=\"SSN 123-45-6789\"><a href=x title='card&#32;4111'>y</a>\
             <input placeholder=ID-7 value=\"alt=no\">",
        );
        assert_eq!(t.all, " SSN 123-45-6789  card 4111 y ID-7 ");
    }
}
