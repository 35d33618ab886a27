//! What the HTTPS listener tells intrusion prevention, and asks of it (NC-2.4.1, NC-2.4.2):
//! whether a client address is refused at accept, and which TLS handshakes failed and which
//! requests looked for pages that no Rampart route has but scanners look for.
//!
//! The implementation (rampart-ids) counts and bans; this crate only reports. A refused
//! address gets a plain close, before TLS: there is no HTTP in which to say more, and a
//! scanner learns nothing from it.

use std::net::IpAddr;

/// Intrusion prevention as the HTTPS listener sees it. Methods are called on the accept path
/// and on each 404: they must not block (count in memory, send anything slower elsewhere).
pub trait Watch: Send + Sync {
    /// NC-2.4.2: true when connections from `peer` are to be closed at once.
    fn refuse(&self, peer: IpAddr) -> bool;
    /// NC-2.4.1: a TLS handshake from `peer` failed (garbage, a scan, an old protocol).
    fn tls_failed(&self, peer: IpAddr, error: &str);
    /// NC-2.4.1: `peer` asked for `path`, which no route has and [`is_probe`] says scanners
    /// look for.
    fn probe(&self, peer: IpAddr, path: &str);
}

/// Watches nothing and refuses no one: for a server run without intrusion prevention.
pub struct NoWatch;

impl Watch for NoWatch {
    fn refuse(&self, _: IpAddr) -> bool {
        false
    }
    fn tls_failed(&self, _: IpAddr, _: &str) {}
    fn probe(&self, _: IpAddr, _: &str) {}
}

/// Extensions of pages Rampart never serves (it serves no script files).
const SCRIPT_EXTENSIONS: [&str; 8] = [
    ".php", ".asp", ".aspx", ".jsp", ".cgi", ".pl", ".env", ".sql",
];

/// Path segments that scanners ask for on any host.
const PROBED: [&str; 14] = [
    "wp-login",
    "wp-admin",
    "wp-content",
    "wp-includes",
    "xmlrpc",
    "phpmyadmin",
    "pma",
    "cgi-bin",
    "owa",
    "ecp",
    "autodiscover",
    "actuator",
    "vendor",
    "hnap1",
];

/// NC-2.4.1: a path that no Rampart page has and that scanners look for: a script file
/// (`*.php`, `*.asp`, …), a hidden file or directory (`/.env`, `/.git/config`), or a
/// well-known admin or CMS path (`/wp-login.php`, `/phpmyadmin/`). Only asked of paths that
/// were answered 404, so a route of ours never counts.
pub fn is_probe(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let lower = lower.split(['?', '#']).next().unwrap_or("");
    if lower.split('/').any(|seg| {
        (seg.starts_with('.') && seg.len() > 1 && seg != ".well-known")
            || PROBED.contains(&seg.split('.').next().unwrap_or(""))
    }) {
        return true;
    }
    SCRIPT_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::is_probe;

    #[test]
    fn nc_2_4_1_scanner_paths_are_probes_and_ours_are_not() {
        for p in [
            "/wp-login.php",
            "/.env",
            "/.git/config",
            "/index.php?x=1",
            "/phpmyadmin/",
            "/cgi-bin/test",
            "/owa/auth/logon.aspx",
            "/a/b/c.JSP",
        ] {
            assert!(is_probe(p), "{p}");
        }
        for p in [
            "/",
            "/healthz",
            "/jmap/session",
            "/.well-known/jmap",
            "/favicon.ico",
            "/robots.txt",
            "/webmail/inbox",
        ] {
            assert!(!is_probe(p), "{p}");
        }
    }
}
