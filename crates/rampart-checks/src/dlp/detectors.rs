//! Built-in DLP detectors (AL-1.5): US social security numbers, payment card numbers, ABA
//! routing numbers. Each returns the distinct values found; values never leave this crate in a
//! verdict (only counts do).
//!
//! A candidate is a run of digits in groups separated by single spaces or hyphens, not glued to
//! letters or other digits (`INV123456789` is not a candidate).
//!
//! | detector | format | validity | context |
//! |---|---|---|---|
//! | SSN | `ddd-dd-dddd` or `ddd dd dddd` (same separator), or 9 bare digits | area not 000, 666, 900–999; group not 00; serial not 0000 | bare 9 digits only with `SSN`, `social security`, `soc sec` or `SS#` within 60 characters |
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

/// A digit run: its groups and the separators between them, and where it sits in the text.
struct Run<'t> {
    groups: Vec<&'t str>,
    seps: Vec<u8>,
    start: usize,
    end: usize,
}

impl Run<'_> {
    fn digits(&self) -> String {
        self.groups.concat()
    }
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
        let start = i;
        let mut groups = Vec::new();
        let mut seps = Vec::new();
        loop {
            let g = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(&text[g..i]);
            if i + 1 < b.len() && (b[i] == b' ' || b[i] == b'-') && b[i + 1].is_ascii_digit() {
                seps.push(b[i]);
                i += 1;
            } else {
                break;
            }
        }
        let glued = i < b.len() && b[i].is_ascii_alphabetic();
        if !glued && groups.len() <= 8 {
            out.push(Run {
                groups,
                seps,
                start,
                end: i,
            });
        }
    }
    out
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

/// Distinct SSNs in `text`.
pub fn find_ssns(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        let formatted = r.groups.len() == 3
            && r.groups.iter().map(|g| g.len()).eq([3, 2, 4])
            && r.seps[0] == r.seps[1];
        let bare = r.groups.len() == 1
            && r.groups[0].len() == 9
            && keyword_near(text, r.start, r.end, SSN_KEYWORDS);
        let d = r.digits();
        if (formatted || bare) && ssn_valid(&d) && !found.contains(&d) {
            found.push(d);
        }
    }
    found
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

/// Distinct payment card numbers in `text` (issuer prefix and length, then Luhn).
pub fn find_cards(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        let d = r.digits();
        if (13..=19).contains(&d.len())
            && card_issuer(&d).is_some()
            && luhn(&d)
            && !found.contains(&d)
        {
            found.push(d);
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

/// Distinct ABA routing numbers in `text` with a keyword nearby.
pub fn find_routing_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for r in runs(text) {
        if r.groups.len() != 1 || r.groups[0].len() != 9 {
            continue;
        }
        let d = r.digits();
        if aba_valid(&d) && keyword_near(text, r.start, r.end, ABA_KEYWORDS) && !found.contains(&d)
        {
            found.push(d);
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
