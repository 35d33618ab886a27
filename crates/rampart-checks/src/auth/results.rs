//! Reading `Authentication-Results` fields (RFC 8601): the authserv-id they claim, and the
//! results a trusted ARC sealer recorded.

/// Skips white space and comments (`(...)`, nested, with `\` quoting) — CFWS of RFC 5322.
fn skip_cfws(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < s.len() && s[i] == b'(' {
            let mut depth = 0usize;
            while i < s.len() {
                match s[i] {
                    b'\\' => i += 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            return i;
        }
    }
}

/// The authserv-id of an `Authentication-Results` value (RFC 8601 section 2.2: a token or a
/// quoted-string, after optional CFWS), lower-cased, without a trailing dot.
pub fn authserv_id(value: &[u8]) -> Option<String> {
    let mut i = skip_cfws(value, 0);
    let mut id = Vec::new();
    if value.get(i) == Some(&b'"') {
        i += 1;
        while i < value.len() && value[i] != b'"' {
            if value[i] == b'\\' {
                i += 1;
            }
            if let Some(&c) = value.get(i) {
                id.push(c);
            }
            i += 1;
        }
    } else {
        while i < value.len() && !value[i].is_ascii_whitespace() && !b";()\"".contains(&value[i]) {
            id.push(value[i]);
            i += 1;
        }
    }
    let mut id = String::from_utf8_lossy(&id).trim().to_ascii_lowercase();
    if id.ends_with('.') {
        id.pop();
    }
    (!id.is_empty()).then_some(id)
}

/// Whether an `Authentication-Results` value claims this authserv-id (case-insensitive).
pub(crate) fn claims(value: &[u8], our_id: &str) -> bool {
    let ours = our_id.trim_end_matches('.').to_ascii_lowercase();
    authserv_id(value).is_some_and(|id| id == ours)
}

/// Whether an `ARC-Authentication-Results` value (`i=N; authserv-id; resinfo...`) reports
/// `dmarc=pass`, for `from_domain` when it names a `header.from`.
pub(crate) fn aar_reports_dmarc_pass(value: &[u8], from_domain: &str) -> bool {
    let text = String::from_utf8_lossy(value).to_ascii_lowercase();
    // Strip comments so `(dmarc=pass)` inside a comment does not count.
    let bytes = text.as_bytes();
    let mut plain = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'(' {
            i = skip_cfws(bytes, i);
            plain.push(' ');
        } else {
            plain.push(bytes[i] as char);
            i += 1;
        }
    }
    // The first two `;`-separated parts are the instance and the authserv-id.
    plain.split(';').skip(2).any(|resinfo| {
        let mut words = resinfo.split_whitespace();
        if words.next() != Some("dmarc=pass") {
            return false;
        }
        match words.find_map(|w| w.strip_prefix("header.from=")) {
            Some(d) => d.trim_matches('"').trim_end_matches('.') == from_domain,
            None => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_id_forms() {
        assert_eq!(
            authserv_id(b" mx.example.gov; spf=pass").as_deref(),
            Some("mx.example.gov")
        );
        assert_eq!(
            authserv_id(b"MX.Example.GOV 1; none").as_deref(),
            Some("mx.example.gov")
        );
        assert_eq!(
            authserv_id(b"(forged (nested)) mx.example.gov.;dkim=pass").as_deref(),
            Some("mx.example.gov")
        );
        assert_eq!(
            authserv_id(b"\"mx.example.gov\"; dmarc=pass").as_deref(),
            Some("mx.example.gov")
        );
        assert_eq!(
            authserv_id(b"\r\n\tmx.example.gov;\r\n\tspf=pass").as_deref(),
            Some("mx.example.gov")
        );
        assert_eq!(authserv_id(b"  ; spf=pass"), None);
        assert!(claims(b" Mx.Example.Gov; spf=pass", "mx.example.gov"));
        assert!(!claims(b" mx.example.gov.evil; spf=pass", "mx.example.gov"));
        assert!(!claims(
            b" evil.example; spf=pass (mx.example.gov)",
            "mx.example.gov"
        ));
    }

    #[test]
    fn aar_dmarc_pass() {
        let aar = b"i=1; lists.example.org; dkim=pass header.d=example.com;\r\n\tdmarc=pass (p=reject) header.from=example.com";
        assert!(aar_reports_dmarc_pass(aar, "example.com"));
        assert!(!aar_reports_dmarc_pass(aar, "other.example"));
        let fail = b"i=1; lists.example.org; dmarc=fail (dmarc=pass) header.from=example.com";
        assert!(!aar_reports_dmarc_pass(fail, "example.com"));
        let in_id = b"i=1; dmarc=pass; spf=none";
        assert!(
            !aar_reports_dmarc_pass(in_id, "example.com"),
            "the authserv-id slot is not a result"
        );
    }
}
