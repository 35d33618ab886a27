//! Built-in DLP detectors (AL-1.5): US social security numbers, payment card numbers, ABA
//! routing numbers. Each returns the distinct values found; values never leave this crate in a
//! verdict (only counts do).
//!
//! They read normalised text ([`super::normalize`]). A candidate is a run of digit groups
//! separated by spaces, dashes, dots or slashes (doubled spaces, ` - `, and one line break
//! inside a number included), not glued to letters (`INV123456789` is not a candidate). A run
//! that spans lines is also read line by line, so numbers one per line stay apart.
//!
//! | detector | format | validity | context |
//! |---|---|---|---|
//! | SSN | `ddd-dd-dddd`, `ddd dd dddd`, `ddd.dd.dddd`, `ddd/dd/dddd` (same kind of separator), or 9 bare digits | area not 000, 666, 900–999; group not 00; serial not 0000 | bare 9 digits only with `SSN`, `social security`, `soc sec` or `SS#` within 60 characters |
//! | payment card | 13–19 digits, optional spaces/hyphens | Luhn; Visa 4 (13, 16, 19 digits), Mastercard 51–55 and 2221–2720 (16), Amex 34/37 (15), Discover 6011, 65, 644–649, 622126–622925 (16–19) | none |
//! | ABA routing | 9 bare digits | checksum 3-7-1; first two digits 00–12, 21–32, 61–72 or 80; not all zeros | `routing`, `ABA`, `RTN` or `transit` within 60 characters |

/// Characters of context searched on each side for keywords.
const WINDOW: usize = 60;

const SSN_KEYWORDS: &[&str] = &[
    "ssn",
    "social security",
    "soc sec",
    "soc. sec",
    "ss#",
    "ss #",
];
const ABA_KEYWORDS: &[&str] = &["routing", "aba", "rtn", "transit"];

/// How digit groups are separated, after normalisation ([`super::normalize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Spaces and tabs only (line breaks included, see [`Sep::line_break`]).
    Space,
    Dash,
    Dot,
    Slash,
}

/// What stands between two digit groups: up to [`MAX_SEP`] characters, at most one of them a
/// dash, dot or slash and at most one line break (`123 - 45`, `4111  1111`, `1111\r\n1111`).
#[derive(Debug, Clone, Copy)]
struct Sep {
    kind: Kind,
    line_break: bool,
}

/// Longest separator between two groups of one number.
const MAX_SEP: usize = 4;

/// A digit run: groups (byte ranges in the text) and the separators between them.
struct Run<'t> {
    text: &'t str,
    groups: Vec<(usize, usize)>,
    seps: Vec<Sep>,
}

impl Run<'_> {
    fn digits(&self, from: usize, to: usize) -> String {
        self.groups[from..to]
            .iter()
            .map(|&(a, b)| &self.text[a..b])
            .collect()
    }
    fn len(&self, g: usize) -> usize {
        self.groups[g].1 - self.groups[g].0
    }
    /// Whether the separator before group `g` (if any) joins it to the previous group on the
    /// same line with the separator kind `kind`.
    fn joined_before(&self, g: usize, kind: Kind) -> bool {
        g > 0 && !self.seps[g - 1].line_break && self.seps[g - 1].kind == kind
    }
    /// Likewise for the separator after group `g`.
    fn joined_after(&self, g: usize, kind: Kind) -> bool {
        self.seps
            .get(g)
            .is_some_and(|s| !s.line_break && s.kind == kind)
    }
    /// Start of group `from` to end of group `to - 1`.
    fn span(&self, from: usize, to: usize) -> (usize, usize) {
        (self.groups[from].0, self.groups[to - 1].1)
    }
    /// Group ranges of the lines of the run: split where a separator holds a line break.
    fn lines(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut from = 0;
        for (i, s) in self.seps.iter().enumerate() {
            if s.line_break {
                out.push((from, i + 1));
                from = i + 1;
            }
        }
        out.push((from, self.groups.len()));
        out
    }
}

/// The separator starting at `b[i]`, and its length, if a digit follows it.
fn separator(b: &[u8], i: usize) -> Option<(Sep, usize)> {
    let mut kind = Kind::Space;
    let mut line_break = false;
    let mut j = i;
    while j < b.len() && j - i < MAX_SEP {
        match b[j] {
            b' ' | b'\t' | b'\r' => {}
            b'\n' if !line_break => line_break = true,
            c @ (b'-' | b'.' | b'/') if kind == Kind::Space => {
                kind = match c {
                    b'-' => Kind::Dash,
                    b'.' => Kind::Dot,
                    _ => Kind::Slash,
                }
            }
            _ => break,
        }
        j += 1;
    }
    (j > i && j < b.len() && b[j].is_ascii_digit()).then_some((Sep { kind, line_break }, j - i))
}

fn runs(text: &str) -> Vec<Run<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        let mut seps = Vec::new();
        loop {
            let g = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((g, i));
            match separator(b, i) {
                Some((sep, n)) => {
                    seps.push(sep);
                    i += n;
                }
                None => break,
            }
        }
        let glued = i < b.len() && b[i].is_ascii_alphabetic();
        if !glued {
            out.push(Run { text, groups, seps });
        }
    }
    out
}

/// Groups `from..to` of a run that may be one number: the whole run and, when it spans lines,
/// each line (a number broken over a line, and numbers one per line, both count).
fn candidates(r: &Run<'_>) -> Vec<(usize, usize)> {
    let mut c = vec![(0, r.groups.len())];
    let lines = r.lines();
    if lines.len() > 1 {
        c.extend(lines);
    }
    c
}

/// `keywords` (lower case) near `text[start..end]`, at a word start.
fn keyword_near(text: &str, start: usize, end: usize, keywords: &[&str]) -> bool {
    let lo = floor_char(text, start.saturating_sub(WINDOW));
    let hi = floor_char(text, (end + WINDOW).min(text.len()));
    let window = text[lo..hi].to_lowercase();
    keywords.iter().any(|k| {
        window.match_indices(k).any(|(i, _)| {
            i == 0
                || !window[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphabetic())
        })
    })
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// SSN validity rules (area, group, serial).
pub fn ssn_valid(d: &str) -> bool {
    if d.len() != 9 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let area: u32 = d[0..3].parse().unwrap_or(0);
    let group = &d[3..5];
    let serial = &d[5..9];
    area != 0 && area != 666 && area < 900 && group != "00" && serial != "0000"
}

/// Distinct SSNs in `text`: three groups 3-2-4 with the same kind of separator (a line break
/// may sit inside), not joined by that kind to more digits on the same line (`555-123-45-6789`
/// is not one); or nine digits alone with a keyword nearby.
pub fn find_ssns(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        for g in 0..r.groups.len() {
            let mut hit = None;
            if g + 3 <= r.groups.len()
                && [r.len(g), r.len(g + 1), r.len(g + 2)] == [3, 2, 4]
                && r.seps[g].kind == r.seps[g + 1].kind
            {
                let kind = r.seps[g].kind;
                if !r.joined_before(g, kind) && !r.joined_after(g + 2, kind) {
                    hit = Some(r.digits(g, g + 3));
                }
            }
            if hit.is_none() && r.len(g) == 9 && alone(&r, g) {
                let (start, end) = r.span(g, g + 1);
                if keyword_near(text, start, end, SSN_KEYWORDS) {
                    hit = Some(r.digits(g, g + 1));
                }
            }
            if let Some(d) = hit {
                if ssn_valid(&d) && !found.contains(&d) {
                    found.push(d);
                }
            }
        }
    }
    found
}

/// Group `g` stands alone on its line: no separator of any kind joins it to other digits.
fn alone(r: &Run<'_>, g: usize) -> bool {
    (g == 0 || r.seps[g - 1].line_break) && r.seps.get(g).is_none_or(|s| s.line_break)
}

/// The Luhn checksum.
pub fn luhn(d: &str) -> bool {
    let mut sum = 0;
    for (i, b) in d.bytes().rev().enumerate() {
        let mut v = (b - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The issuer of a card number by prefix and length, if any.
pub fn card_issuer(d: &str) -> Option<&'static str> {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    if d.starts_with('4') && matches!(n, 13 | 16 | 19) {
        Some("Visa")
    } else if n == 16 && ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) {
        Some("Mastercard")
    } else if n == 15 && matches!(p(2), 34 | 37) {
        Some("American Express")
    } else if (16..=19).contains(&n)
        && (p(4) == 6011
            || p(2) == 65
            || (644..=649).contains(&p(3))
            || (622126..=622925).contains(&p(6)))
    {
        Some("Discover")
    } else {
        None
    }
}

/// Distinct payment card numbers in `text` (issuer prefix and length, then Luhn), over each
/// candidate of each run (at most 8 groups).
pub fn find_cards(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        for (from, to) in candidates(&r) {
            if to - from > 8 {
                continue;
            }
            let d = r.digits(from, to);
            if (13..=19).contains(&d.len())
                && card_issuer(&d).is_some()
                && luhn(&d)
                && !found.contains(&d)
            {
                found.push(d);
            }
        }
    }
    found
}

/// ABA routing number checksum (weights 3, 7, 1) and prefix ranges.
pub fn aba_valid(d: &str) -> bool {
    if d.len() != 9 || !d.bytes().all(|b| b.is_ascii_digit()) || d == "000000000" {
        return false;
    }
    let v: Vec<u32> = d.bytes().map(|b| (b - b'0') as u32).collect();
    let prefix = v[0] * 10 + v[1];
    let prefix_ok =
        prefix <= 12 || (21..=32).contains(&prefix) || (61..=72).contains(&prefix) || prefix == 80;
    let sum = 3 * (v[0] + v[3] + v[6]) + 7 * (v[1] + v[4] + v[7]) + (v[2] + v[5] + v[8]);
    prefix_ok && sum.is_multiple_of(10)
}

/// Distinct ABA routing numbers in `text`: nine digits alone with a keyword nearby.
pub fn find_routing_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        for g in 0..r.groups.len() {
            if r.len(g) != 9 || !alone(&r, g) {
                continue;
            }
            let d = r.digits(g, g + 1);
            let (start, end) = r.span(g, g + 1);
            if aba_valid(&d) && keyword_near(text, start, end, ABA_KEYWORDS) && !found.contains(&d)
            {
                found.push(d);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_5_ssn() {
        assert_eq!(find_ssns("Employee 123-45-6789 joined"), vec!["123456789"]);
        assert_eq!(find_ssns("his number is 123 45 6789."), vec!["123456789"]);
        // Invalid areas, groups, serials.
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(find_ssns(bad).is_empty(), "{bad}");
        }
        // Mixed separators and other groupings are not SSNs.
        assert!(find_ssns("123-45 6789").is_empty());
        assert!(find_ssns("call 555-123-4567").is_empty());
        assert!(find_ssns("1123-45-6789").is_empty());
        // Bare 9 digits only with a keyword nearby.
        assert!(find_ssns("Order 123456789 shipped").is_empty());
        assert_eq!(find_ssns("SSN: 123456789"), vec!["123456789"]);
        assert_eq!(
            find_ssns("Social Security number 123456789"),
            vec!["123456789"]
        );
        assert!(
            find_ssns("classnr 123456789").is_empty(),
            "'ssn' inside a word"
        );
        assert!(find_ssns("ID INV123456789").is_empty());
    }

    #[test]
    fn al_1_5_separators_and_line_breaks() {
        // Any kind of separator, the same kind twice; doubled spaces; a line break inside.
        for ok in [
            "123.45.6789",
            "123/45/6789",
            "123  45  6789",
            "123 - 45 - 6789",
            "123-45-\r\n6789",
        ] {
            assert_eq!(find_ssns(ok), vec!["123456789"], "{ok:?}");
        }
        assert!(find_ssns("123.45-6789").is_empty(), "mixed kinds");
        assert!(find_ssns("123--45--6789").is_empty(), "two dashes");
        assert!(
            find_ssns("555-123-45-6789").is_empty(),
            "part of a longer number"
        );
        assert_eq!(find_ssns("123-45-6789 2024"), vec!["123456789"]);
        // Numbers one per line stay apart; a card wraps over one line break, not two.
        assert_eq!(find_ssns("123 45 6789\n234 56 7890").len(), 2);
        assert_eq!(find_cards("4111 1111\r\n1111 1111").len(), 1);
        assert_eq!(find_cards("4111111111111111\n5500000000000004\n").len(), 2);
        assert!(find_cards("4111 1111\n\n1111 1111").is_empty());
        assert_eq!(
            find_routing_numbers("routing\n021000021\n011000015").len(),
            2
        );
    }

    #[test]
    fn al_1_5_cards() {
        for ok in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5500 0000 0000 0004",
            "2221000000000009",
            "3782 822463 10005",
            "6011 1111 1111 1117",
            "4222222222222",
        ] {
            assert_eq!(find_cards(&format!("card: {ok}.")).len(), 1, "{ok}");
        }
        for bad in [
            "4111 1111 1111 1112",  // Luhn
            "1234 5678 9012 3456",  // no issuer
            "5600 0000 0000 0003",  // 56 is not Mastercard
            "4111 1111 1111 11113", // 17 digits Visa
            "a4111111111111111",
        ] {
            assert!(find_cards(bad).is_empty(), "{bad}");
        }
        assert_eq!(
            find_cards("4111111111111111 and again 4111 1111 1111 1111").len(),
            1,
            "distinct values"
        );
    }

    #[test]
    fn al_1_5_routing() {
        assert!(aba_valid("021000021"));
        assert!(aba_valid("011000015"));
        assert!(!aba_valid("021000022"), "checksum");
        // 131000018 passes the checksum but 13 is not a Federal Reserve prefix.
        assert!(!aba_valid("131000018"), "prefix 13 is invalid");
        assert!(!aba_valid("000000000"));
        assert_eq!(
            find_routing_numbers("Routing number: 021000021"),
            vec!["021000021"]
        );
        assert_eq!(
            find_routing_numbers("ABA 011000015, account 12345"),
            vec!["011000015"]
        );
        assert!(
            find_routing_numbers("reference 021000021").is_empty(),
            "needs a keyword"
        );
        assert!(find_routing_numbers("routing 021000022").is_empty());
    }
}
