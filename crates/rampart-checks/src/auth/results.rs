//! Reading `Authentication-Results` fields (RFC 8601): the authserv-id they claim, the
//! results a trusted ARC sealer recorded, and whether a trusted gateway's results show the From
//! domain authenticated.

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

/// Reads the quoted-string that opens at `s[i]` (a `"`) into `out`, its `\\` escapes undone;
/// returns the index just past its closing quote (or the end, when it is not closed).
fn quoted_string(s: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    i += 1;
    while i < s.len() && s[i] != b'"' {
        if s[i] == b'\\' {
            i += 1;
        }
        if let Some(&c) = s.get(i) {
            out.push(c);
        }
        i += 1;
    }
    i + 1
}

/// The authserv-id of an `Authentication-Results` value (RFC 8601 section 2.2: a token or a
/// quoted-string, after optional CFWS), lower-cased, without a trailing dot.
pub fn authserv_id(value: &[u8]) -> Option<String> {
    let mut i = skip_cfws(value, 0);
    let mut id = Vec::new();
    if value.get(i) == Some(&b'"') {
        quoted_string(value, i, &mut id);
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
pub fn claims(value: &[u8], our_id: &str) -> bool {
    let ours = our_id.trim_end_matches('.').to_ascii_lowercase();
    authserv_id(value).is_some_and(|id| id == ours)
}

/// The parts of an `Authentication-Results` value, split at each `;` that is outside quoted
/// strings and comments, each part as its words, lower case: words end at white space or a
/// comment outside quoted strings, comments are dropped, and a quoted string's content (its
/// `\` escapes undone) is part of its word. A `;` or a result written inside a quoted value (a
/// MAIL FROM local part the sender chose, for one) therefore never starts a result of its own.
fn parts(value: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(value).to_ascii_lowercase();
    let s = text.as_bytes();
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let mut word: Vec<u8> = Vec::new();
    fn end(parts: &mut [Vec<String>], word: &mut Vec<u8>) {
        if !word.is_empty() {
            if let Some(p) = parts.last_mut() {
                p.push(String::from_utf8_lossy(word).into_owned());
            }
            word.clear();
        }
    }
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'(' => {
                end(&mut parts, &mut word);
                i = skip_cfws(s, i);
            }
            b'"' => i = quoted_string(s, i, &mut word),
            b';' => {
                end(&mut parts, &mut word);
                parts.push(Vec::new());
                i += 1;
            }
            c if c.is_ascii_whitespace() => {
                end(&mut parts, &mut word);
                i += 1;
            }
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
    end(&mut parts, &mut word);
    parts
}

/// The method and result of one result (`dmarc=pass` gives `("dmarc", "pass")`).
fn method_result(words: &[String]) -> Option<(&str, &str)> {
    words.first()?.split_once('=')
}

/// The value of property `name` (`header.from`, `smtp.mailfrom`, …) of one result.
fn property<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words
        .iter()
        .skip(1)
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
}

/// The DMARC result of one result for `from_domain`: `None` when it is not a `dmarc` result or
/// names another `header.from`.
fn dmarc_for<'a>(words: &'a [String], from_domain: &str) -> Option<&'a str> {
    let (method, result) = method_result(words)?;
    let named = property(words, "header.from").map(|d| d.trim_end_matches('.'));
    (method == "dmarc" && named.is_none_or(|d| d == from_domain)).then_some(result)
}

/// Whether an `ARC-Authentication-Results` value (`i=N; authserv-id; resinfo...`) reports
/// `dmarc=pass`, for `from_domain` when it names a `header.from`.
pub(crate) fn aar_reports_dmarc_pass(value: &[u8], from_domain: &str) -> bool {
    // The first two parts are the instance and the authserv-id.
    parts(value)
        .iter()
        .skip(2)
        .any(|p| dmarc_for(p, from_domain) == Some("pass"))
}

/// The domain of an address property (`x@domain`, `@domain`), or the value itself.
fn domain_of(v: &str) -> &str {
    v.rsplit_once('@').map_or(v, |(_, d)| d)
}

/// AL-1.2, NC-2.3.4: whether an `Authentication-Results` value (`authserv-id; resinfo...`, as
/// a gateway this server trusts wrote it) shows `from_domain` authenticated, read as
/// [`super::AuthOutcome::aligned`] reads the checks themselves: `dmarc=pass` for the domain;
/// or, where the domain publishes no DMARC record (`dmarc=none`, or no DMARC result), an SPF
/// pass for a MAIL FROM within the domain or a DKIM pass for a signing domain (`header.d`, or
/// the domain of `header.i`) within it. Any other DMARC result is not authenticated.
pub fn results_authenticate(value: &[u8], from_domain: &str) -> bool {
    let from_domain = from_domain.trim_end_matches('.').to_ascii_lowercase();
    let parts = parts(value);
    let results = parts.get(1..).unwrap_or_default();
    let dmarc: Vec<&str> = results
        .iter()
        .filter_map(|p| dmarc_for(p, &from_domain))
        .collect();
    if dmarc.iter().any(|r| *r != "none") {
        return dmarc.iter().all(|r| matches!(*r, "pass" | "none")) && dmarc.contains(&"pass");
    }
    results.iter().any(|p| match method_result(p) {
        Some(("spf", "pass")) => {
            property(p, "smtp.mailfrom").is_some_and(|m| super::within(domain_of(m), &from_domain))
        }
        Some(("dkim", "pass")) => property(p, "header.d")
            .or_else(|| property(p, "header.i"))
            .is_some_and(|d| super::within(domain_of(d), &from_domain)),
        _ => false,
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
        // A `;` inside a quoted value does not start a result of its own.
        let quoted =
            b"i=1; lists.example.org; spf=fail smtp.mailfrom=\"x;dmarc=pass header.from=example.com x\"@evil.test";
        assert!(!aar_reports_dmarc_pass(quoted, "example.com"));
    }

    /// AL-1.2, NC-2.3.4: a trusted gateway's results read as the checks' own alignment.
    #[test]
    fn al_1_2_results_authenticate_the_from_domain_as_the_checks_would() {
        // As mail-auth writes them (our gateway's format).
        let dmarc_pass = b"gw.example.test;\r\n\tspf=pass (gw.example.test: domain of x@remote.test designates 127.0.0.1 as permitted sender) smtp.mailfrom=x@remote.test;\r\n\tdmarc=pass header.from=remote.test policy.dmarc=reject";
        assert!(results_authenticate(dmarc_pass, "remote.test"));
        assert!(results_authenticate(dmarc_pass, "Remote.Test."));
        assert!(!results_authenticate(dmarc_pass, "other.test"));
        // No DMARC record: an SPF pass within the domain, or a DKIM pass within it.
        let no_record = b"gw.example.test; spf=pass smtp.mailfrom=bounce@news.remote.test; dkim=fail header.d=remote.test; dmarc=none header.from=remote.test policy.dmarc=none";
        assert!(results_authenticate(no_record, "remote.test"));
        let dkim_only = b"gw.example.test; spf=softfail smtp.mailfrom=x@elsewhere.test; dkim=pass header.d=remote.test header.s=s1; dmarc=none header.from=remote.test";
        assert!(results_authenticate(dkim_only, "remote.test"));
        let dkim_i = b"gw.example.test; dkim=pass header.i=@mail.remote.test header.s=s1";
        assert!(results_authenticate(dkim_i, "mail.remote.test"));
        // A parent's pass does not stand for a subdomain's From, nor another domain's.
        assert!(!results_authenticate(no_record, "sub.remote.test"));
        let parent = b"gw.example.test; spf=pass smtp.mailfrom=x@remote.test";
        assert!(!results_authenticate(parent, "sub.remote.test"));
        assert!(!results_authenticate(parent, "eremote.test"));
        // A DMARC record that did not pass decides, whatever SPF and DKIM say.
        for r in ["fail", "temperror", "permerror"] {
            let v = format!("gw.example.test; spf=pass smtp.mailfrom=x@remote.test; dmarc={r} header.from=remote.test");
            assert!(!results_authenticate(v.as_bytes(), "remote.test"), "{r}");
        }
        // The HELO's SPF pass is not the MAIL FROM's; a result in a comment or in the
        // authserv-id slot, or inside a quoted value, counts for nothing.
        let helo = b"gw.example.test; spf=pass smtp.helo=remote.test; spf=none smtp.mailfrom=x@remote.test";
        assert!(!results_authenticate(helo, "remote.test"));
        let comment = b"gw.example.test; spf=fail (dmarc=pass header.from=remote.test) smtp.mailfrom=x@evil.test";
        assert!(!results_authenticate(comment, "remote.test"));
        let slot = b"dmarc=pass header.from=remote.test; spf=none smtp.mailfrom=x@evil.test";
        assert!(!results_authenticate(slot, "remote.test"));
        let quoted = b"gw.example.test; spf=fail smtp.mailfrom=\"a;dmarc=pass header.from=remote.test a\"@evil.test";
        assert!(!results_authenticate(quoted, "remote.test"));
        let quoted_spf = b"gw.example.test; spf=pass smtp.mailfrom=\"a b\"@remote.test";
        assert!(results_authenticate(quoted_spf, "remote.test"));
    }
}
