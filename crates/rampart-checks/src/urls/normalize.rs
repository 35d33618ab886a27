//! URL normalisation (AL-1.3): a link is read the way a browser reads it, so that the host we
//! check is the host the browser would contact and a feed entry matches however the link is
//! written.
//!
//! Parsing follows the WHATWG URL Standard (the `url` crate): tabs and newlines anywhere and
//! leading or trailing control characters and spaces are removed (`ht\ttp://`, `\x01http://`);
//! `http:host` and backslashes are read as `http://host/`; the host is percent-decoded, mapped
//! by UTS 46 (full-width letters and dots folded, IDN to A-labels) and, when it ends in a
//! number, read as an IPv4 address in decimal, hex or octal (`0x7f.1`, `2130706433`, `0177.0.0.1`);
//! dot-segments are resolved. On top of that, for matching only: user-info and fragment are
//! dropped, a trailing dot of the host is removed, default ports are dropped, and
//! percent-escapes of unreserved characters in the path are decoded (`/%70hish` is `/phish` to
//! every web server).
//!
//! What mail clients add before a browser sees the link is done first: a link written without a
//! scheme (`www.example.com/x`, `//cdn.example/a.js`, `example.com:8080/`) is read as `http://`.

use std::net::Ipv4Addr;

use url::{Host, Url};

/// A normalised http(s)/ftp URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedUrl {
    /// `http`, `https` or `ftp`.
    pub scheme: String,
    /// ASCII host: a domain (IDNA A-labels), a dotted IPv4 address or a bracketed IPv6 address.
    pub host: String,
    /// A non-default port.
    pub port: Option<u16>,
    /// The path, starting with `/`: dot-segments resolved, unreserved escapes decoded, other
    /// escapes in upper-case hex.
    pub path: String,
    /// The query without its `?`, as the browser would send it. Not part of [`Self::key`].
    pub query: Option<String>,
}

impl NormalizedUrl {
    /// `host[:port]path`: what URLs are deduplicated and feed entries compared by
    /// (scheme-blind: the same page is as dangerous over http as over https; query-blind: a
    /// listed page stays listed whatever parameters follow it).
    pub fn key(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}{}", self.host, self.path),
            None => format!("{}{}", self.host, self.path),
        }
    }

    /// True when the host is an IP address literal.
    pub fn host_is_ip(&self) -> bool {
        self.host.starts_with('[') || self.host.parse::<Ipv4Addr>().is_ok()
    }
}

impl std::fmt::Display for NormalizedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.key())?;
        match &self.query {
            Some(q) => write!(f, "?{q}"),
            None => Ok(()),
        }
    }
}

/// Removes what a browser removes before parsing (WHATWG URL parsing, first steps): ASCII tab
/// and newline anywhere, C0 controls and spaces at either end. Quotes and angle brackets around
/// a link copied from text go too.
fn clean(input: &str) -> String {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    s.trim_matches(|c: char| c <= ' ')
        .trim_matches(|c| matches!(c, '<' | '>' | '"' | '\''))
        .trim_matches(|c: char| c <= ' ')
        .to_string()
}

/// The scheme of `s` as the WHATWG scheme state reads it (`ALPHA *( ALPHA / DIGIT / + - . ) :`),
/// lower case.
fn scheme_of(s: &str) -> Option<(String, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first_alpha = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_alpha && rest_ok).then(|| (scheme.to_ascii_lowercase(), &s[colon + 1..]))
}

/// Normalises a link as found in a message. `None` for what is not an http(s)/ftp URL
/// (`mailto:`, `javascript:`, `cid:` …) or has no host a browser would contact.
pub fn normalize_url(input: &str) -> Option<NormalizedUrl> {
    let s = clean(input);
    if s.is_empty() {
        return None;
    }
    let absolute = match scheme_of(&s) {
        Some((scheme, _)) if matches!(scheme.as_str(), "http" | "https" | "ftp") => s,
        // `example.com:8080/x` and `www.example.com` in text: a host, not a scheme (mail
        // clients link them as http).
        Some((scheme, after))
            if scheme.contains('.') || after.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            format!("http://{s}")
        }
        // Another scheme: mailto:, javascript:, data:, cid: …
        Some(_) => return None,
        None if s.starts_with("//") || s.starts_with("\\\\") => format!("http:{s}"),
        None => format!("http://{s}"),
    };
    from_url(&Url::parse(&absolute).ok()?)
}

/// Resolves `reference` against `base` the way a browser does for `<base href>` (WHATWG);
/// `None` when the result is not an http(s)/ftp URL.
pub fn resolve(base: &Url, reference: &str) -> Option<NormalizedUrl> {
    let s = clean(reference);
    match scheme_of(&s) {
        Some((scheme, _)) if !matches!(scheme.as_str(), "http" | "https" | "ftp") => None,
        _ => from_url(&base.join(&s).ok()?),
    }
}

/// A base URL for relative links (`<base href>`): only an absolute http(s)/ftp URL.
pub fn base_url(href: &str) -> Option<Url> {
    let s = clean(href);
    let (scheme, _) = scheme_of(&s)?;
    if !matches!(scheme.as_str(), "http" | "https" | "ftp") {
        return None;
    }
    Url::parse(&s).ok()
}

fn from_url(url: &Url) -> Option<NormalizedUrl> {
    let scheme = url.scheme();
    if !matches!(scheme, "http" | "https" | "ftp") {
        return None;
    }
    let host = match url.host()? {
        Host::Domain(d) => domain(d)?,
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => format!("[{a}]"),
    };
    Some(NormalizedUrl {
        scheme: scheme.to_string(),
        host,
        // `port()` is None for the scheme's default port.
        port: url.port(),
        path: decode_unreserved(url.path()),
        query: url.query().map(str::to_string),
    })
}

/// A domain as the URL parser left it (already UTS 46-mapped and in A-labels), without the
/// trailing dot; `None` when it is not a DNS name (a browser could not resolve it).
fn domain(d: &str) -> Option<String> {
    // One trailing dot (the root) only: `2..` is a domain with an empty label, which no resolver
    // takes, and with both dots cut it would read as the IPv4 address 0.0.0.2 when normalised
    // again (one message, one meaning: found by the `urls` fuzz target).
    let d = d.strip_suffix('.').unwrap_or(d);
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then(|| d.to_ascii_lowercase())
}

/// Normalises a host name or address literal as a browser would read it in a URL (feed
/// entries); `None` when it is not a valid host.
pub fn normalize_host(host: &str) -> Option<String> {
    let h = host.trim();
    if h.is_empty() || h.contains(['/', '\\', '?', '#', '@']) || h.chars().any(char::is_whitespace)
    {
        return None;
    }
    // A colon belongs only in an IPv6 literal here, not a port.
    if !h.starts_with('[') && h.contains(':') {
        return None;
    }
    let u = normalize_url(&format!("http://{h}/"))?;
    u.port.is_none().then_some(u.host)
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 §2.3: `ALPHA DIGIT - . _ ~`), which
/// mean the same decoded, and writes the other escapes in upper-case hex (§6.2.2.1).
///
/// A `%` that starts no escape is written `%25`. An apostrophe, which the URL parser leaves as
/// it is in a path, is written `%27`: `clean` trims quotes from the ends of a link's text, so
/// `/x'` before a fragment would lose its apostrophe when the normalised URL is read again (its
/// key would move; the urls fuzz target found it), and `/x'` and `/x%27` are one key for the
/// feeds.
fn decode_unreserved(path: &str) -> String {
    if !path.contains(['%', '\'']) {
        return path.to_string();
    }
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = (h * 16 + l) as u8;
                if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
                    out.push(v as char);
                } else {
                    out.push_str(&format!("%{v:02X}"));
                }
                i += 3;
                continue;
            }
        }
        // The URL parser left only ASCII in the path. A `%` that starts no escape is written
        // `%25`: left alone, `%%33` would read `%3` here and `3` on a second reading (the urls
        // fuzz target), so the key would move again.
        match b[i] {
            b'\'' => out.push_str("%27"),
            b'%' => out.push_str("%25"),
            c => out.push(c as char),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize_url(s).map(|u| u.to_string()).unwrap_or_default()
    }

    fn host(s: &str) -> String {
        normalize_url(s).map(|u| u.host).unwrap_or_default()
    }

    #[test]
    fn al_1_3_normalisation() {
        assert_eq!(
            n("HTTP://WWW.Example.COM./a/B?q=1#frag"),
            "http://www.example.com/a/B?q=1"
        );
        assert_eq!(n("https://example.com:443"), "https://example.com/");
        assert_eq!(n("http://example.com:8080/x"), "http://example.com:8080/x");
        assert_eq!(n("example.com:8080/x"), "http://example.com:8080/x");
        assert_eq!(
            n("http://bank.example@evil.example/login"),
            "http://evil.example/login"
        );
        assert_eq!(n("www.example.org/path"), "http://www.example.org/path");
        assert_eq!(n("//cdn.example.net/a.js"), "http://cdn.example.net/a.js");
        assert_eq!(n("http://bücher.example/"), "http://xn--bcher-kva.example/");
        assert_eq!(
            n("http://B%C3%BCcher.example/"),
            "http://xn--bcher-kva.example/"
        );
        assert_eq!(n("http://evil。example/"), "http://evil.example/");
        assert_eq!(n("http://[::1]:8080/"), "http://[::1]:8080/");
        // Not web URLs.
        assert_eq!(n("mailto:a@example.com"), "");
        assert_eq!(n("javascript:alert(1)"), "");
        assert_eq!(n("jav\tascript:alert(1)"), "");
        assert_eq!(n("http://exa mple.com/"), "");
        // An empty label is no host; cut to `2` it would have become 0.0.0.2 on a second pass.
        assert_eq!(n("http://2../x"), "");
        assert_eq!(n("http://example.com../"), "");
        assert_eq!(n("http://2./x"), "http://0.0.0.2/x");
    }

    // AL-1.3: each host below is the one a browser contacts.
    #[test]
    fn al_1_3_hosts_as_a_browser_reads_them() {
        for (link, want) in [
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://0177.0.0.01/", "127.0.0.1"),
            ("http://ｅｘａｍｐｌｅ.com", "example.com"),
            ("http://%65xample.com", "example.com"),
            ("http:\\\\evil.example\\", "evil.example"),
            ("http:evil.example", "evil.example"),
            ("http:/evil.example/x", "evil.example"),
            ("ht\ttp://evil.example", "evil.example"),
            ("h\nttp://evil.example", "evil.example"),
            ("\x01http://evil.example", "evil.example"),
            (" \x1f\x00http://evil.example/ \x02", "evil.example"),
            ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
            ("http://XN--BCHER-KVA.example/", "xn--bcher-kva.example"),
            ("http://BÜCHER.example/", "xn--bcher-kva.example"),
            ("http://b\u{00AD}ücher.example/", "xn--bcher-kva.example"),
        ] {
            assert_eq!(host(link), want, "{link:?}");
        }
    }

    // AL-1.3: paths compare as the server reads them.
    #[test]
    fn al_1_3_paths_dot_segments_and_escapes() {
        assert_eq!(
            n("http://evil.example/a/../phish/"),
            "http://evil.example/phish/"
        );
        assert_eq!(
            n("http://evil.example/a/%2e%2E/phish"),
            "http://evil.example/phish"
        );
        assert_eq!(
            n("http://evil.example/%70hish"),
            "http://evil.example/phish"
        );
        assert_eq!(n("http://evil.example/a%2fb"), "http://evil.example/a%2Fb");
        assert_eq!(n("http://evil.example/a\\b"), "http://evil.example/a/b");
        assert_eq!(
            normalize_url("http://EVIL.example/phish?x=1#f")
                .unwrap()
                .key(),
            "evil.example/phish"
        );
        // An apostrophe is one key with its escape, and survives a second reading when a
        // fragment followed it (the urls fuzz target).
        assert_eq!(n("http://evil.example/x'y"), "http://evil.example/x%27y");
        assert_eq!(n("http://evil.example/x%27y"), "http://evil.example/x%27y");
        let u = normalize_url("http://evil.example/x''#f").unwrap();
        assert_eq!(u.to_string(), "http://evil.example/x%27%27");
        assert_eq!(normalize_url(&u.to_string()), Some(u));
        // A `%` that starts no escape: one reading, not one per pass.
        let u = normalize_url("http://evil.example/%%33%%%41x%").unwrap();
        assert_eq!(u.path, "/%253%25%25Ax%25");
        assert_eq!(normalize_url(&u.to_string()), Some(u));
        assert_eq!(n("http://evil.example/a%b"), n("http://evil.example/a%25b"));
    }

    #[test]
    fn al_1_3_base_resolution() {
        let base = base_url("https://evil.example/kit/").unwrap();
        assert_eq!(
            resolve(&base, "login.php?u=1").unwrap().to_string(),
            "https://evil.example/kit/login.php?u=1"
        );
        assert_eq!(resolve(&base, "/x").unwrap().key(), "evil.example/x");
        assert!(resolve(&base, "mailto:a@b.example").is_none());
        assert!(base_url("javascript:x").is_none());
    }

    #[test]
    fn al_1_3_hosts_for_feeds() {
        assert_eq!(
            normalize_host("Evil.Example.").as_deref(),
            Some("evil.example")
        );
        assert_eq!(normalize_host("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(normalize_host("[::1]").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host("not a host"), None);
        assert_eq!(normalize_host("evil.example/x"), None);
        assert_eq!(normalize_host("evil.example:80"), None);
    }
}
