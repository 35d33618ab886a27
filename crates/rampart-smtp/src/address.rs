//! Forward-path checks against relay tricks (NC-2.1.6), on the path as the client wrote it.
//!
//! The command parser normalises paths (it drops source routes and quotes), so these checks read
//! the raw text between `<` and `>` first. Everything refused here is refused permanently with
//! 550 5.7.1: these are attempts to make the server relay, not addresses of ours.

use crate::reply::{self, Reply};
use std::borrow::Cow;

/// Returns the text between the first `<` and its matching `>` (quotes respected).
pub fn raw_path(line: &str) -> Option<&str> {
    let start = line.find('<')? + 1;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in line[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => return Some(&line[start..start + i]),
            _ => {}
        }
    }
    None
}

/// Refuses the relay tricks: source routes, `%` hack, `!` paths, quoted local parts, several `@`,
/// address literals and trailing dots. `Ok` means the path is a plain `local@domain`.
pub fn check_forward_path(raw: &str) -> Result<(), Reply> {
    if raw.starts_with('@') {
        return Err(reply::relay_denied("source routes are not accepted"));
    }
    if raw.contains('"') || raw.contains('\\') {
        return Err(reply::relay_denied("quoted local parts are not accepted"));
    }
    let Some((local, domain)) = raw.rsplit_once('@') else {
        return Ok(()); // no domain: `postmaster`, or a syntax error for the parser to answer
    };
    if local.contains('@') {
        return Err(reply::relay_denied("more than one @ in the address"));
    }
    if local.contains('%') {
        return Err(reply::relay_denied("% routing is not accepted"));
    }
    if local.contains('!') {
        return Err(reply::relay_denied("! (UUCP) paths are not accepted"));
    }
    if domain.starts_with('[') {
        return Err(reply::relay_denied("address literals are not accepted"));
    }
    if domain.ends_with('.') || domain.is_empty() {
        return Err(reply::relay_denied("the domain must not end with a dot"));
    }
    Ok(())
}

/// Checks the argument of an EHLO or HELO line, on the raw bytes: the command parser turns
/// invalid UTF-8 into U+FFFD and takes any word as a host name, so it cannot be asked afterwards.
/// `Ok` also when there is no argument: the parser answers that with its usage.
pub fn check_helo(line: &[u8]) -> Result<(), Reply> {
    // RFC 5321 section 4.1.1.1: the argument is a domain or an address literal, both ASCII
    // (an internationalised name travels as A-labels, RFC 6531 section 3.7.1).
    if !line.is_ascii() {
        return Err(reply::bad_helo(
            "8-bit characters are not allowed in EHLO or HELO; send the host name in ASCII \
             (A-labels) or an address literal",
        ));
    }
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let _verb = words.next();
    let Some(arg) = words.next() else {
        return Ok(());
    };
    if is_domain(arg) || is_address_literal(arg) {
        Ok(())
    } else {
        Err(reply::bad_helo(
            "EHLO and HELO take a host name or an address literal such as [192.0.2.1]",
        ))
    }
}

/// RFC 5321 section 4.1.2 `Domain`: dot-separated labels of letters, digits and hyphens, no
/// label starting or ending with a hyphen. Underscores are let through: Windows hosts send them
/// in their names, and refusing them would turn away real mail for no gain.
fn is_domain(s: &[u8]) -> bool {
    s.len() <= 255
        && s.split(|&b| b == b'.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && label.first() != Some(&b'-')
                && label.last() != Some(&b'-')
        })
}

/// RFC 5321 section 4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]`. The general form `[tag:...]`
/// has no registered tag besides IPv6, so it is not accepted.
fn is_address_literal(s: &[u8]) -> bool {
    let Some(inner) = s.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) else {
        return false;
    };
    let Ok(inner) = std::str::from_utf8(inner) else {
        return false;
    };
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => {
            inner[5..].parse::<std::net::Ipv6Addr>().is_ok()
        }
        _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

/// The address as a path writes it (RFC 5321 section 4.1.2): the local part as a dot-string
/// when it is one, else as a quoted string. The command parser drops the quotes of
/// `"john doe"@example.test`; this puts them back, so the Return-Path names the same mailbox.
pub fn path_text(address: &str) -> Cow<'_, str> {
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    if local.is_empty() || is_dot_string(local) {
        return Cow::Borrowed(address);
    }
    let mut s = String::with_capacity(address.len() + 4);
    s.push('"');
    for c in local.chars() {
        // quoted-pairSMTP: only the quote and the backslash need escaping.
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    if let Some(d) = domain {
        s.push('@');
        s.push_str(d);
    }
    Cow::Owned(s)
}

/// `Dot-string`: atoms of atext (RFC 5322 section 3.2.3; any non-ASCII character too, RFC 6531
/// section 3.3) joined by single dots.
fn is_dot_string(s: &str) -> bool {
    s.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| {
                c.is_ascii_alphanumeric() || !c.is_ascii() || "!#$%&'*+-/=?^_`{|}~".contains(c)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::EnhancedStatus;

    #[test]
    fn raw_paths() {
        assert_eq!(raw_path("RCPT TO:<a@b.test>"), Some("a@b.test"));
        assert_eq!(
            raw_path("RCPT TO:<\"a>b\"@c.test> NOTIFY=NEVER"),
            Some("\"a>b\"@c.test")
        );
        assert_eq!(raw_path("RCPT TO:a@b.test"), None);
    }

    #[test]
    fn relay_tricks_are_refused_with_571() {
        for raw in [
            "@relay.test:victim@elsewhere.test",
            "@a.test,@b.test:victim@elsewhere.test",
            "victim%elsewhere.test@example.test",
            "elsewhere.test!victim@example.test",
            "\"victim@elsewhere.test\"@example.test",
            "\"victim\"@example.test",
            "victim@[192.0.2.1]",
            "victim@[IPv6:2001:db8::1]",
            "victim@example.test.",
        ] {
            let r = check_forward_path(raw).expect_err(raw);
            assert_eq!(
                (r.code, r.status),
                (550, Some(EnhancedStatus::NOT_AUTHORIZED)),
                "{raw}"
            );
        }
        assert!(check_forward_path("alice@example.test").is_ok());
        assert!(check_forward_path("postmaster").is_ok());
    }

    #[test]
    fn helo_takes_a_host_name_or_an_address_literal() {
        for ok in [
            &b"EHLO client.test"[..],
            b"EHLO localhost",
            b"HELO [192.0.2.1]",
            b"EHLO [IPv6:2001:db8::1]",
            b"EHLO xn--bcher-kva.example",
            b"EHLO my_pc.corp.test",
            b"EHLO client.test trailing words",
            b"EHLO",
        ] {
            assert!(check_helo(ok).is_ok(), "{}", ok.escape_ascii());
        }
        for bad in [
            &b"EHLO b\xc3\xbccher.example"[..],
            b"EHLO client\xff.test",
            b"EHLO client.test \x80",
            b"EHLO <script>",
            b"EHLO -client.test",
            b"EHLO client..test",
            b"EHLO client.test.",
            b"HELO [192.0.2.300]",
            b"HELO [tag:stuff]",
            b"EHLO a\x01b",
        ] {
            let r = check_helo(bad).expect_err(&bad.escape_ascii().to_string());
            assert_eq!(
                (r.code, r.status),
                (501, Some(EnhancedStatus::SYNTAX_ERROR)),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn path_text_quotes_local_parts_that_need_it() {
        assert_eq!(
            path_text("john doe@example.test"),
            "\"john doe\"@example.test"
        );
        assert_eq!(
            path_text("a\"b\\c@example.test"),
            "\"a\\\"b\\\\c\"@example.test"
        );
        assert_eq!(path_text("a@b@example.test"), "\"a@b\"@example.test");
        assert_eq!(path_text(".a@example.test"), "\".a\"@example.test");
        assert_eq!(path_text("john.doe@example.test"), "john.doe@example.test");
        assert_eq!(path_text("jöhn@example.test"), "jöhn@example.test");
        assert_eq!(path_text(""), "");
    }
}
