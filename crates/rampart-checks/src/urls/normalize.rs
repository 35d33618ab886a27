//! URL normalisation (AL-1.3), so that a feed entry matches however a link is written:
//! scheme and host lower case; host percent-decoded, IDNA to ASCII (`bücher.example` →
//! `xn--bcher-kva.example`, full-width dots folded), trailing dot removed; user-info dropped
//! (`http://bank.example@evil.example/` goes to `evil.example`); backslashes read as slashes, as
//! browsers do; IPv4 in decimal, hex or octal (`http://0x7f000001/`) written dotted; default
//! ports removed; the fragment dropped. Path and query are kept as written.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A normalised http(s)/ftp URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedUrl {
    /// `http`, `https` or `ftp`.
    pub scheme: String,
    /// ASCII host: a domain (IDNA A-labels), a dotted IPv4 address or a bracketed IPv6 address.
    pub host: String,
    /// A non-default port.
    pub port: Option<u16>,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl NormalizedUrl {
    /// `host[:port]path`: the form feed URL entries are compared in (scheme-blind: the same
    /// page is as dangerous over http as over https).
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
        write!(f, "{}://{}", self.scheme, self.key())
    }
}

/// Normalises a link as found in a message. `None` for what is not an http(s)/ftp URL
/// (`mailto:`, `javascript:`, `cid:` …) or has no valid host.
pub fn normalize_url(input: &str) -> Option<NormalizedUrl> {
    let s = input
        .trim()
        .trim_matches(|c| matches!(c, '<' | '>' | '"' | '\''));
    let s = s.replace('\\', "/");
    let (scheme, rest) = match s.find("://") {
        Some(i)
            if i > 0
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            (s[..i].to_ascii_lowercase(), &s[i + 3..])
        }
        _ => match s.strip_prefix("//") {
            Some(r) => ("http".to_string(), r),
            None => {
                let slash = s.find('/');
                match s.find(':') {
                    None => ("http".to_string(), s.as_str()),
                    // A colon in the path, not the authority.
                    Some(c) if slash.is_some_and(|sl| sl < c) => ("http".to_string(), s.as_str()),
                    // `host:port/…` without a scheme.
                    Some(c) if s[c + 1..].starts_with(|ch: char| ch.is_ascii_digit()) => {
                        ("http".to_string(), s.as_str())
                    }
                    // Another scheme: mailto:, javascript:, data:, cid: …
                    Some(_) => return None,
                }
            }
        },
    };
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "ftp" => 21,
        _ => return None,
    };
    let rest = rest.trim_start_matches('/');
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let mut path = rest[end..].split('#').next().unwrap_or("").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    // User-info ends at the last '@' of the authority.
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = split_port(hostport)?;
    let host = normalize_host(host)?;
    let port = port.filter(|&p| p != default_port);
    Some(NormalizedUrl {
        scheme,
        host,
        port,
        path,
    })
}

fn split_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']')?;
        let port = match &inner[close + 1..] {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((&hostport[..close + 2], port));
    }
    match hostport.rsplit_once(':') {
        Some((h, "")) => Some((h, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((hostport, None)),
    }
}

/// Normalises a host name or address literal; `None` when it is not a valid host.
pub fn normalize_host(host: &str) -> Option<String> {
    let decoded = percent_decode(host);
    let h = decoded.trim().trim_end_matches(['.', '。', '．', '｡']);
    if h.is_empty() {
        return None;
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(|a| format!("[{a}]"));
    }
    if let Some(ip) = parse_ipv4_loose(h) {
        return Some(ip.to_string());
    }
    let ascii = idna::domain_to_ascii(h).ok()?;
    let ascii = ascii.trim_end_matches('.').to_string();
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(ascii)
}

/// Percent-decoding (`%2e` → `.`); invalid escapes and non-UTF-8 results are kept as written.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// IPv4 as browsers read it (inet_aton): 1–4 parts, each decimal, `0x` hex or `0` octal; the
/// last part fills the remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`).
fn parse_ipv4_loose(h: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = h.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(4);
    for p in &parts {
        let p = p.to_ascii_lowercase();
        let v = if let Some(x) = p.strip_prefix("0x") {
            if x.is_empty() {
                0
            } else {
                u64::from_str_radix(x, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) {
            p.parse().ok()?
        } else {
            return None;
        };
        nums.push(v);
    }
    let last = *nums.last()?;
    let head = &nums[..nums.len() - 1];
    if head.iter().any(|&v| v > 255) || last >= 1u64 << (8 * (4 - head.len())) {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, &v) in head.iter().enumerate() {
        addr |= v << (8 * (3 - i));
    }
    Some(Ipv4Addr::from((addr | last) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize_url(s).map(|u| u.to_string()).unwrap_or_default()
    }

    #[test]
    fn al_1_3_normalisation() {
        assert_eq!(
            n("HTTP://WWW.Example.COM./a/B?q=1#frag"),
            "http://www.example.com/a/B?q=1"
        );
        assert_eq!(n("https://example.com:443"), "https://example.com/");
        assert_eq!(n("http://example.com:8080/x"), "http://example.com:8080/x");
        assert_eq!(
            n("http://bank.example@evil.example/login"),
            "http://evil.example/login"
        );
        assert_eq!(n("http:\\\\evil.example\\x"), "http://evil.example/x");
        assert_eq!(n("www.example.org/path"), "http://www.example.org/path");
        assert_eq!(n("//cdn.example.net/a.js"), "http://cdn.example.net/a.js");
        // IDNA, percent-encoded host, full-width dots.
        assert_eq!(n("http://bücher.example/"), "http://xn--bcher-kva.example/");
        assert_eq!(
            n("http://B%C3%BCcher.example/"),
            "http://xn--bcher-kva.example/"
        );
        assert_eq!(n("http://ev%69l.example/"), "http://evil.example/");
        assert_eq!(n("http://evil。example/"), "http://evil.example/");
        // Numeric hosts.
        assert_eq!(n("http://2130706433/"), "http://127.0.0.1/");
        assert_eq!(n("http://0x7f.1/"), "http://127.0.0.1/");
        assert_eq!(n("http://0177.0.0.01/"), "http://127.0.0.1/");
        assert_eq!(n("http://[::1]:8080/"), "http://[::1]:8080/");
        // Not web URLs.
        assert_eq!(n("mailto:a@example.com"), "");
        assert_eq!(n("javascript:alert(1)"), "");
        assert_eq!(n("http://exa mple.com/"), "");
    }
}
