//! Forward-path checks against relay tricks (NC-2.1.6), on the path as the client wrote it.
//!
//! The command parser normalises paths (it drops source routes and quotes), so these checks read
//! the raw text between `<` and `>` first. Everything refused here is refused permanently with
//! 550 5.7.1: these are attempts to make the server relay, not addresses of ours.

use crate::reply::{self, Reply};

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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!((r.code, r.status), (550, "5.7.1"), "{raw}");
        }
        assert!(check_forward_path("alice@example.test").is_ok());
        assert!(check_forward_path("postmaster").is_ok());
    }
}
