//! URLs of an HTML or SVG document as a browser would follow them (AL-1.3): every URL-valued
//! attribute (`href`, `src`, `action`, `formaction`, `srcset`, `xlink:href` …), the target of a
//! `<meta http-equiv=refresh>`, relative links resolved against `<base href>`, character
//! references decoded first (`&#104;ttp://`, `http&colon;//`), and URLs written out in the
//! visible text, soft hyphens and zero-width characters removed (`evil&shy;.example`).
//!
//! An anchor whose visible text shows another host than its target is a [`Mismatch`].

use url::Url;

use super::extract::{text_links, Mismatch};
use super::normalize::{base_url, normalize_url, resolve, NormalizedUrl};

/// Attributes whose value is one URL.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "data",
    "cite",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "codebase",
    "manifest",
    "xlink:href",
    "xml:base",
];

/// Attributes whose value is a list of image candidates (`url 2x, url 640w`).
const SRCSET_ATTRIBUTES: &[&str] = &["srcset", "imagesrcset"];

/// What one document links to.
#[derive(Debug, Default)]
pub struct HtmlLinks {
    pub urls: Vec<NormalizedUrl>,
    pub mismatches: Vec<Mismatch>,
}

/// A tag: its lower-case name and its attributes.
struct Tag<'s> {
    name: String,
    attrs: Vec<(String, String)>,
    /// What follows the tag in the source.
    rest: &'s str,
}

/// The start tags of `src` (comments skipped; attribute values entity-decoded).
fn tags(src: &str) -> impl Iterator<Item = Tag<'_>> {
    let mut rest = src;
    std::iter::from_fn(move || loop {
        let lt = rest.find('<')?;
        let after = &rest[lt + 1..];
        if let Some(body) = after.strip_prefix("!--") {
            rest = body.find("-->").map_or("", |e| &body[e + 3..]);
            continue;
        }
        let gt = after.find('>')?;
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        return Some(Tag {
            attrs: attributes(&tag[name.len()..]),
            name,
            rest,
        });
    })
}

/// Every URL of an HTML or SVG document; `visible_text` also takes URLs written out in the text.
pub fn links(src: &str, location: &str, visible_text: bool) -> HtmlLinks {
    let mut out = HtmlLinks::default();
    // The document's base URL is the first `<base href>`, wherever it stands (HTML §4.2.3).
    let base: Option<Url> = tags(src)
        .find(|t| t.name == "base")
        .and_then(|t| attr(&t.attrs, "href").and_then(base_url));
    let read = |v: &str| -> Option<NormalizedUrl> {
        match &base {
            Some(b) => resolve(b, v),
            None => normalize_url(v),
        }
    };
    if visible_text {
        for link in text_links(&visible(src)) {
            out.urls.extend(normalize_url(link));
        }
    }
    for tag in tags(src) {
        for (k, v) in &tag.attrs {
            if URL_ATTRIBUTES.contains(&k.as_str()) {
                out.urls.extend(read(v));
            } else if SRCSET_ATTRIBUTES.contains(&k.as_str()) {
                for candidate in v.split(',') {
                    if let Some(u) = candidate.split_whitespace().next() {
                        out.urls.extend(read(u));
                    }
                }
            } else if k == "ping" {
                for u in v.split_whitespace() {
                    out.urls.extend(read(u));
                }
            }
        }
        let refresh = tag.name == "meta"
            && attr(&tag.attrs, "http-equiv")
                .is_some_and(|h| h.trim().eq_ignore_ascii_case("refresh"));
        if refresh {
            if let Some(target) = attr(&tag.attrs, "content").and_then(refresh_target) {
                out.urls.extend(read(target));
            }
        }
        if tag.name == "a" {
            if let Some(href) = attr(&tag.attrs, "href") {
                // The anchor's text: up to its end tag, within a bounded window so a document
                // of unclosed anchors costs linear time.
                let window = prefix_at_most(tag.rest, ANCHOR_TEXT_WINDOW);
                let end = find_ascii_ci(window, "</a").unwrap_or(window.len());
                let shown = visible(&window[..end]);
                if let Some(m) = read(href).and_then(|t| anchor_mismatch(&t, &shown, location)) {
                    if !out.mismatches.contains(&m) {
                        out.mismatches.push(m);
                    }
                }
            }
        }
    }
    out
}

/// The mismatch of one anchor, judged as [`links`] judges each: `href` its target as written
/// (character references already decoded), `inner_html` the source between its start and end
/// tags; no `<base>` applies. For a caller that walks anchors itself (the webmail marks each
/// mismatched link where it stands).
pub fn anchor(href: &str, inner_html: &str, location: &str) -> Option<Mismatch> {
    let target = normalize_url(href)?;
    anchor_mismatch(&target, &visible(inner_html), location)
}

/// Bytes of an anchor's source read for its visible text.
const ANCHOR_TEXT_WINDOW: usize = 4096;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix_at_most(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The first position of ASCII `needle` in `hay`, ignoring ASCII case, without copying `hay`.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The URL of a refresh `content` value (`5; url=http://…`, `0;URL='…'`, HTML §4.2.5.3).
fn refresh_target(content: &str) -> Option<&str> {
    let s = content.trim_start();
    let s = s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let s = s.trim_start().strip_prefix([';', ','])?.trim_start();
    let s = match s.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("url") => {
            let after = s[3..].trim_start();
            after.strip_prefix('=').map(str::trim_start).unwrap_or(s)
        }
        _ => s,
    };
    let s = match s.chars().next() {
        Some(q @ ('"' | '\'')) => s[1..].split(q).next().unwrap_or(""),
        _ => s,
    };
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// The text a reader sees: tags, comments, scripts and styles removed, character references
/// decoded, invisible characters dropped.
pub fn visible(src: &str) -> String {
    let mut text = String::with_capacity(src.len() / 2);
    let mut rest = src;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        if let Some(body) = after.strip_prefix("!--") {
            rest = body.find("-->").map_or("", |e| &body[e + 3..]);
            continue;
        }
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let name = after[..gt]
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        rest = &after[gt + 1..];
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            rest = match find_ascii_ci(rest, &close) {
                Some(i) => rest[i..].find('>').map_or("", |g| &rest[i + g + 1..]),
                None => "",
            };
            continue;
        }
        // Block-level and line-break tags separate words; inline tags do not (`ev<b>il</b>`).
        if matches!(
            name.as_str(),
            "br" | "p" | "/p" | "div" | "/div" | "li" | "tr" | "td" | "th" | "h1" | "h2" | "h3"
        ) {
            text.push('\n');
        }
    }
    text.push_str(rest);
    strip_invisible(&decode_entities(&text))
}

/// Removes characters that render as nothing, so a URL split by them reads as the reader sees
/// it: soft hyphen, zero-width space/joiners, word joiner, BOM, Mongolian vowel separator.
pub fn strip_invisible(s: &str) -> String {
    // Every character removed is outside ASCII (issue 23: this ran on every message's text).
    if s.is_ascii() {
        return s.to_string();
    }
    s.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
            )
        })
        .collect()
}

pub use crate::entities::decode_entities;

/// `name=value` pairs of a tag (names lower case, values entity-decoded).
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = s[ns..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            if name.is_empty() {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let vs = i + 1;
            let ve = s[vs..].find(q as char).map_or(s.len(), |e| vs + e);
            i = (ve + 1).min(b.len());
            &s[vs..ve]
        } else {
            let vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            &s[vs..i]
        };
        out.push((name, decode_entities(value)));
    }
    out
}

/// A mismatch when the anchor's visible text contains a URL or host that is neither the
/// target's host nor a parent or child domain of it.
fn anchor_mismatch(target: &NormalizedUrl, shown: &str, location: &str) -> Option<Mismatch> {
    let shown_link = text_links(shown).into_iter().next()?;
    let shown_url = normalize_url(shown_link)?;
    let (a, b) = (&shown_url.host, &target.host);
    let related = a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"));
    (!related).then(|| Mismatch {
        shown: a.clone(),
        target: b.clone(),
        location: location.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(src: &str) -> Vec<String> {
        links(src, "body", true)
            .urls
            .iter()
            .map(NormalizedUrl::key)
            .collect()
    }

    #[test]
    fn al_1_3_character_references() {
        assert_eq!(decode_entities("&#104;ttp&colon;&sol;&sol;x"), "http://x");
        assert_eq!(decode_entities("&#x68&#116tp"), "http");
        assert_eq!(
            decode_entities("a&amp;b &unknown; &copy"),
            "a&b &unknown; &copy"
        );
        assert_eq!(decode_entities("&#0;&#99999999;"), "\u{FFFD}\u{FFFD}");
    }

    // AL-1.3: each way of hiding a link in HTML.
    #[test]
    fn al_1_3_html_link_forms() {
        for (html, want) in [
            (
                "<a href=\"&#104;ttp://evil.example/a\">x</a>",
                "evil.example/a",
            ),
            (
                "<a href=\"http&colon;//evil.example/b\">x</a>",
                "evil.example/b",
            ),
            (
                "<a href=\"ht&Tab;tp://evil.example/c\">x</a>",
                "evil.example/c",
            ),
            (
                "<img srcset=\"http://a.example/1.png 1x, http://evil.example/2.png 2x\">",
                "evil.example/2.png",
            ),
            (
                "<form><button formaction=\"https://evil.example/post\">go</button></form>",
                "evil.example/post",
            ),
            (
                "<meta http-equiv=\"Refresh\" content=\"0; URL='http://evil.example/r'\">",
                "evil.example/r",
            ),
            (
                "<meta http-equiv=refresh content=\"5;url=http://evil.example/r2\">",
                "evil.example/r2",
            ),
            (
                "<base href=\"https://evil.example/kit/\"><a href=\"login.php?u=1\">x</a>",
                "evil.example/kit/login.php",
            ),
            (
                "<a href=\"/x\">x</a><base href=\"https://evil.example/\">",
                "evil.example/x",
            ),
            (
                "<p>go to http://evil&shy;.example/t now</p>",
                "evil.example/t",
            ),
            (
                "<p>go to http://ev\u{200B}il.example/z now</p>",
                "evil.example/z",
            ),
            (
                "<p>go to http://ev<span>il.exa</span>mple/s now</p>",
                "evil.example/s",
            ),
            (
                "<svg><a xlink:href=\"http://evil.example/svg\"><text>x</text></a></svg>",
                "evil.example/svg",
            ),
            (
                "<a ping=\"http://t.example/p http://evil.example/ping\" href=\"#\">x</a>",
                "evil.example/ping",
            ),
        ] {
            let got = keys(html);
            assert!(got.iter().any(|k| k == want), "{html}: {got:?}");
        }
    }

    #[test]
    fn al_1_3_refresh_content() {
        assert_eq!(
            refresh_target("0; url=http://x.example/"),
            Some("http://x.example/")
        );
        assert_eq!(
            refresh_target("3,URL = 'http://x.example/a b'"),
            Some("http://x.example/a b")
        );
        assert_eq!(refresh_target("10"), None);
        assert_eq!(
            refresh_target("0;http://x.example/"),
            Some("http://x.example/")
        );
    }

    #[test]
    fn al_1_3_one_anchor_judged_like_links() {
        let m = anchor(
            "https://evil.example/login",
            "<b>https://www.bank.example/</b>",
            "x",
        );
        assert_eq!(
            m,
            Some(Mismatch {
                shown: "www.bank.example".into(),
                target: "evil.example".into(),
                location: "x".into()
            })
        );
        assert_eq!(
            anchor("https://www.bank.example/x", "bank.example", "x"),
            None
        );
        assert_eq!(anchor("https://evil.example/", "Your bank", "x"), None);
    }

    #[test]
    fn al_1_3_mismatch_shown_against_resolved_target() {
        let l = links(
            "<a href=\"https://evil.example/login\">https://www.bank.example/</a> \
             <a href='https://www.bank.example/x'>bank.example</a>",
            "body",
            true,
        );
        assert_eq!(
            l.mismatches,
            vec![Mismatch {
                shown: "www.bank.example".into(),
                target: "evil.example".into(),
                location: "body".into()
            }]
        );
    }
}
