//! The one normalisation every DLP rule reads (AL-1.5): text is turned into what a person
//! reads, so that a number written to look right but not to match does match.
//!
//! In order:
//!
//! 1. invisible characters are removed (soft hyphen, zero-width space/joiners, word joiner,
//!    bidi controls, BOM, variation selectors, tag characters …): `123-4\u{AD}5-6789` reads
//!    `123-45-6789`;
//! 2. Unicode NFKC: full-width `１２３` and mathematical digits become ASCII, a no-break space
//!    becomes a space, the non-breaking hyphen U+2011 becomes U+2010, `․` becomes `.`;
//! 3. decimal digits of other scripts that NFKC leaves alone (Arabic-Indic `٠-٩`, Extended
//!    Arabic-Indic, Devanagari, Bengali, Thai …) are folded to ASCII explicitly, from the table
//!    of each script's zero below;
//! 4. separators are folded to one ASCII character per kind: every dash and hyphen (U+2010–2015,
//!    minus sign, small/full-width hyphen-minus) to `-`; every space (`char::is_whitespace`
//!    except line breaks) to ` `; line and paragraph separators to `\n`; dot-like characters to
//!    `.`; slash-like ones to `/`.
//!
//! Entities and hidden HTML elements are resolved earlier, when HTML is turned into text
//! ([`super::html`]); the detectors then accept any of these separators, doubled, and a line
//! break inside a number ([`super::detectors`]).

use unicode_normalization::UnicodeNormalization;

/// Text as a person reads it; see the module documentation.
pub fn normalize(text: &str) -> String {
    // ASCII has no invisible character, NFKC leaves it as it is and `fold` keeps it: the text
    // as it is (issue 23: NFKC of every message's text was 12% of the CPU per message).
    if text.is_ascii() {
        return text.to_string();
    }
    normalize_unicode(text)
}

fn normalize_unicode(text: &str) -> String {
    // NFKC can turn a visible character into an invisible one and back (e.g. U+3164 to U+1160),
    // so invisibles are removed on both sides.
    let visible: String = text.chars().filter(|&c| !is_invisible(c)).collect();
    let mut out = String::with_capacity(visible.len());
    for c in visible.nfkc() {
        if is_invisible(c) {
            continue;
        }
        out.push(fold(c));
    }
    out
}

/// One character after NFKC: digits to ASCII, separators to their ASCII kind.
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    if let Some(d) = digit_value(c) {
        return char::from(b'0' + d);
    }
    match c {
        // Hyphens and dashes; U+2011 is U+2010 after NFKC, U+FE63 and U+FF0D are `-`.
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{2043}'
        | '\u{FE58}'
        | '\u{2E3A}'
        | '\u{2E3B}'
        | '\u{30FC}' => '-',
        '\u{2028}' | '\u{2029}' | '\u{0085}' => '\n',
        '\u{00B7}' | '\u{2027}' | '\u{2219}' | '\u{22C5}' | '\u{30FB}' | '\u{FF65}' => '.',
        '\u{2044}' | '\u{2215}' | '\u{29F8}' => '/',
        c if c.is_whitespace() => ' ',
        c => c,
    }
}

/// The zero of each run of ten decimal digits (Unicode category Nd) that NFKC does not fold.
/// Full-width (U+FF10) and mathematical (U+1D7CE…) digits are folded by NFKC itself.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a decimal digit of another script.
fn digit_value(c: char) -> Option<u8> {
    let cp = c as u32;
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&cp))
        .map(|&zero| (cp - zero) as u8)
}

/// How many characters of `text` show nothing ([`is_invisible`]); none in ASCII text.
pub fn invisible_count(text: &str) -> usize {
    if text.is_ascii() {
        return 0;
    }
    text.chars().filter(|&c| is_invisible(c)).count()
}

/// Characters that show nothing (format characters, Unicode category Cf, and fillers): removed
/// before matching.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}' // byte order mark / zero-width no-break space
        | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
        | '\u{E0000}'..='\u{E007F}' // tag characters
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_5_ascii_is_left_as_the_full_normalisation_leaves_it() {
        let ascii: String = (0u8..128).map(char::from).collect();
        assert_eq!(normalize_unicode(&ascii), ascii);
        assert_eq!(normalize(&ascii), ascii);
        assert_eq!(invisible_count(&ascii), 0);
        assert_eq!(invisible_count("a\u{200B}b\u{AD}"), 2);
    }

    #[test]
    fn al_1_5_normalises_digits_separators_and_invisibles() {
        // Full-width by NFKC, Arabic-Indic and Devanagari by the table.
        assert_eq!(normalize("１２３"), "123");
        assert_eq!(normalize("٠١٢٣٤٥٦٧٨٩"), "0123456789");
        assert_eq!(normalize("\u{966}\u{96F}"), "09");
        assert_eq!(
            normalize("\u{1D7D9}"),
            "1",
            "mathematical double-struck one"
        );
        // Dashes and hyphens, non-breaking hyphen included.
        for d in [
            '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2212}', '\u{FE63}',
            '\u{FF0D}',
        ] {
            assert_eq!(normalize(&format!("1{d}2")), "1-2", "U+{:04X}", d as u32);
        }
        // Spaces: no-break, narrow no-break, figure, ideographic.
        for s in ['\u{A0}', '\u{202F}', '\u{2007}', '\u{3000}', '\u{2009}'] {
            assert_eq!(normalize(&format!("1{s}2")), "1 2", "U+{:04X}", s as u32);
        }
        assert_eq!(normalize("1\u{2028}2"), "1\n2");
        assert_eq!(normalize("1\u{2024}2\u{B7}3\u{2215}4"), "1.2.3/4");
        // Invisible characters vanish.
        assert_eq!(
            normalize("12\u{AD}3\u{200B}4\u{200D}5\u{2060}6\u{FEFF}7\u{202E}8"),
            "12345678"
        );
        // Text is otherwise unchanged.
        assert_eq!(normalize("Grüße, ﬁle"), "Grüße, file");
    }
}
