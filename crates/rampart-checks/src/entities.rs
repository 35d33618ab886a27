//! HTML character references, decoded once for every check that reads HTML (the URL check and
//! DLP): two decoders would be two readings of one message.
//!
//! As a browser reads them (HTML section 13.2.5.72 onwards): decimal and hexadecimal numeric
//! references with or without the final `;` (out-of-range and NUL become U+FFFD), and the named
//! references below with their `;` (`&amp`, `&lt`, `&gt`, `&quot` also without). The table holds
//! the references that can write a URL's punctuation or split or disguise a number (spaces,
//! dashes, invisible characters); any other name is left as written.

/// Named references and the characters HTML defines for them.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{A0}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("colon", ':'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("period", '.'),
    ("quest", '?'),
    ("equals", '='),
    ("num", '#'),
    ("percnt", '%'),
    ("commat", '@'),
    ("lowbar", '_'),
    ("hyphen", '\u{2010}'),
    ("dash", '\u{2010}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("minus", '\u{2212}'),
    ("middot", '\u{B7}'),
    ("excl", '!'),
    ("plus", '+'),
    ("comma", ','),
    ("semi", ';'),
    ("tilde", '~'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("shy", '\u{AD}'),
    ("ZeroWidthSpace", '\u{200B}'),
    ("zwj", '\u{200D}'),
    ("zwnj", '\u{200C}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("NoBreak", '\u{2060}'),
];

/// Decodes the character references of `s`.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match reference(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
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

/// The character of the reference at the start of `s` (after `&`) and the bytes it used.
fn reference(s: &str) -> Option<(char, usize)> {
    if let Some(num) = s.strip_prefix('#') {
        let (radix, digits_at) = match num.as_bytes().first() {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = s[digits_at..]
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if digits == 0 {
            return None;
        }
        let end = digits_at + digits;
        let value = u32::from_str_radix(&s[digits_at..end], radix).unwrap_or(u32::MAX);
        let c = char::from_u32(value)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{FFFD}');
        let used = if s[end..].starts_with(';') {
            end + 1
        } else {
            end
        };
        return Some((c, used));
    }
    let name_len = s.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &s[..name_len];
    let (_, c) = NAMED.iter().find(|(n, _)| *n == name)?;
    if s[name_len..].starts_with(';') {
        Some((*c, name_len + 1))
    } else if matches!(name, "amp" | "lt" | "gt" | "quot") {
        Some((*c, name_len))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_as_a_browser_reads_them() {
        assert_eq!(decode_entities("&#104;ttp&#58//x"), "http://x");
        assert_eq!(decode_entities("http&colon;&sol;&sol;a"), "http://a");
        assert_eq!(
            decode_entities("a&amp b &lt;c&gt; &unknown; &#0; &#x110000;"),
            "a& b <c> &unknown; \u{FFFD} \u{FFFD}"
        );
        assert_eq!(
            decode_entities("123&ndash;45&shy;&nbsp;"),
            "123\u{2013}45\u{AD}\u{A0}"
        );
        assert_eq!(decode_entities("&#x41&#66;"), "AB");
    }
}
