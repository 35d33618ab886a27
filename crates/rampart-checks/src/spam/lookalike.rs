//! Look-alike domains of the agency's own domains (AL-1.2, anti-phishing).
//!
//! A sender domain that is not one of ours (nor a subdomain of one) looks like ours when:
//! - it differs by one edit: insertion, deletion, substitution or swap of adjacent characters
//!   (`agnecy.example.gov`, `agency-example.gov`);
//! - its *skeleton* equals ours: IDN decoded, confusable letters of other scripts mapped to
//!   Latin (Cyrillic `а` → `a`, Greek `ο` → `o` …), diacritics dropped, and ASCII tricks folded
//!   (`rn` → `m`, `vv` → `w`, `cl` → `d`, `0` → `o`, `1`/`i`/`|` → `l`);
//! - it has our name under another top-level domain (`agency.example.com` for
//!   `agency.example.gov`);
//! - it carries our domain as a prefix of a foreign one (`agency.example.gov.evil.net`).

/// Why `candidate` looks like `own`, or `None` if it does not (or is `own` or a subdomain).
pub fn lookalike(candidate: &str, own: &str) -> Option<&'static str> {
    let c = candidate.trim_end_matches('.').to_ascii_lowercase();
    let o = own.trim_end_matches('.').to_ascii_lowercase();
    if c.is_empty() || o.is_empty() || c == o || c.ends_with(&format!(".{o}")) {
        return None;
    }
    if c.starts_with(&format!("{o}.")) {
        return Some("own domain used as a label of a foreign domain");
    }
    if edit_distance_at_most_one(&c, &o) {
        return Some("one character away from an own domain");
    }
    if skeleton(&c) == skeleton(&o) {
        return Some("homoglyph of an own domain");
    }
    let (cn, ct) = c.rsplit_once('.')?;
    let (on, ot) = o.rsplit_once('.')?;
    if cn == on && ct != ot {
        return Some("own domain name under another top-level domain");
    }
    None
}

/// Optimal string alignment distance ≤ 1 (one insertion, deletion, substitution, or swap of
/// adjacent characters).
fn edit_distance_at_most_one(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match la.cmp(&lb) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

/// The domain with confusables folded (see the module documentation).
pub fn skeleton(domain: &str) -> String {
    let (unicode, _) = idna::domain_to_unicode(domain);
    let mapped: String = unicode.to_lowercase().chars().map(fold).collect();
    let mut s = mapped
        .replace("rn", "m")
        .replace("vv", "w")
        .replace("cl", "d");
    s = s
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | '|' => 'l',
            _ => c,
        })
        .collect();
    s
}

/// One character to its Latin look-alike (lower case).
fn fold(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'е' | 'ё' | 'є' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'һ' => 'h',
        'ӏ' => 'l',
        'к' => 'k',
        'м' => 'm',
        'в' => 'b',
        'т' => 't',
        'н' => 'h',
        // Greek
        'α' => 'a',
        'ο' | 'σ' => 'o',
        'ρ' => 'p',
        'ν' => 'v',
        'ι' => 'i',
        'κ' => 'k',
        'χ' => 'x',
        'υ' => 'u',
        'ϲ' => 'c',
        'τ' => 't',
        'ε' => 'e',
        // Latin variants
        'ı' | 'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ł' | 'ǀ' => 'l',
        'ɑ' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' => 'e',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
        'ý' | 'ÿ' => 'y',
        'ç' | 'ć' | 'č' => 'c',
        'ñ' | 'ń' => 'n',
        'ś' | 'š' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ɡ' => 'g',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "agency.example.gov";

    #[test]
    fn al_1_2_lookalikes() {
        // Cyrillic а (U+0430) in place of the Latin a, as it arrives: in punycode.
        let idn = idna::domain_to_ascii("\u{430}gency.example.gov").unwrap();
        assert!(idn.starts_with("xn--"), "{idn}");
        for (c, why) in [
            (idn.as_str(), "homoglyph"),
            ("agnecy.example.gov", "one character"),
            ("agency-example.gov", "one character"),
            ("agencyy.example.gov", "one character"),
            ("agncy.example.gov", "one character"),
            ("agency.example.gov.evil.net", "label of a foreign"),
            ("agency.example.com", "another top-level"),
            ("agen\u{441}y.example.gov", "homoglyph"), // Cyrillic с, as Unicode
            ("agency.exarnple.gov", "homoglyph"),      // rn→m: two edits, same skeleton
        ] {
            let got = lookalike(c, OWN);
            assert!(
                got.is_some_and(|g| g.contains(why)) || (why == "homoglyph" && got.is_some()),
                "{c}: {got:?}"
            );
        }
        for c in [
            OWN,
            "mail.agency.example.gov",
            "partner.example.org",
            "example.gov",
        ] {
            assert_eq!(lookalike(c, OWN), None, "{c}");
        }
        assert_eq!(
            lookalike("paypa1.com", "paypal.com"),
            Some("one character away from an own domain")
        );
        assert_eq!(
            lookalike("rnicrosoft.com", "microsoft.com"),
            Some("homoglyph of an own domain")
        );
    }
}
