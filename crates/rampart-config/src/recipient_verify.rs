//! Recipient verification for relay domains: the gateway refuses, at RCPT, mail for anyone who
//! does not exist on the next hop (no backscatter, no directory harvest; NC-2.1.6, AL-1).
//!
//! The verifiers themselves live in `rampart_smtp::verify`; this file holds their settings, the
//! defaults and the checks made when the configuration is loaded.

use crate::report::{ConfigError, Locator};
use crate::Config;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The Active Directory filter: the primary address in `mail`, every alias in `proxyAddresses`
/// as `smtp:alias@domain` (AD matches that attribute case-insensitively, so `SMTP:` primary
/// entries match too). `%s` is replaced by the address, escaped as RFC 4515 requires.
pub const DEFAULT_LDAP_FILTER: &str = "(|(mail=%s)(proxyAddresses=smtp:%s))";

/// `[relay_domain.verify]`: one method per relay domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum RecipientVerify {
    /// A fixed list of addresses and/or a file of addresses (one per line, `#` starts a
    /// comment), reloaded when the file changes (its modification time or size, looked at no
    /// more than once a second). The domain is compared without regard to case, the local part
    /// exactly (RFC 5321 §2.4: only the receiving server may fold its case), except `postmaster`
    /// (RFC 5321 §4.5.1).
    Static {
        /// Addresses written here, e.g. `["alice@agency.example"]`.
        #[serde(default)]
        addresses: Vec<String>,
        /// A file of addresses. If it cannot be read later on, the last list read stays in use;
        /// if it never could be, every lookup is unavailable (451, never a 250).
        #[serde(default)]
        file: Option<PathBuf>,
        /// Whether `@domain` lines (every address of that domain exists) are allowed. Off by
        /// default: a catch-all turns verification off for that domain, so it must be asked
        /// for, for a next hop that really has a catch-all mailbox.
        #[serde(default)]
        allow_catch_all: bool,
    },
    /// An LDAP or Active Directory lookup. LDAPS, or `ldap://` with StartTLS (always used and
    /// required for `ldap://`); the server's certificate is verified (AL-1.1).
    Ldap {
        /// `ldaps://host:636`, or `ldap://host:389` (StartTLS is then required).
        url: String,
        /// CA certificates (PEM) the directory's certificate is verified against; the system's
        /// roots when not set.
        #[serde(default)]
        ca_file: Option<PathBuf>,
        /// The DN to bind as; an anonymous search when not set.
        #[serde(default)]
        bind_dn: Option<String>,
        /// File holding the bind password (first line), readable by the service's user only.
        #[serde(default)]
        bind_password_file: Option<PathBuf>,
        /// Where the search starts, e.g. `"dc=agency,dc=example"` (subtree).
        base_dn: String,
        /// The search filter; each `%s` becomes the address, escaped (RFC 4515).
        #[serde(default = "default_filter")]
        filter: String,
        /// Seconds allowed for connecting (TCP and TLS) and for each operation.
        #[serde(default = "default_ldap_timeout")]
        timeout_secs: u64,
        /// How long an address found in the directory is remembered.
        #[serde(default = "default_positive")]
        positive_cache_secs: u64,
        /// How long an address not found is remembered.
        #[serde(default = "default_negative")]
        negative_cache_secs: u64,
    },
    /// An SMTP callout: `MAIL FROM:<>` and `RCPT TO` at the relay domain's next hop (its hosts,
    /// port, TLS, CA, client certificate and AUTH), then `RSET` and `QUIT`, never `DATA`.
    Callout {
        /// How long a recipient the next hop accepted is remembered.
        #[serde(default = "default_positive")]
        positive_cache_secs: u64,
        /// How long a recipient the next hop refused with 5xx is remembered.
        #[serde(default = "default_negative")]
        negative_cache_secs: u64,
        /// Seconds allowed for each step of a probe (connect, TLS, each reply).
        #[serde(default = "default_callout_timeout")]
        timeout_secs: u64,
        /// Probes running at once; a lookup that waits longer than `timeout_secs` for its turn
        /// is unavailable (451).
        #[serde(default = "default_max_concurrent")]
        max_concurrent: usize,
    },
}

fn default_filter() -> String {
    DEFAULT_LDAP_FILTER.to_string()
}
fn default_ldap_timeout() -> u64 {
    5
}
fn default_callout_timeout() -> u64 {
    30
}
fn default_positive() -> u64 {
    3600
}
fn default_negative() -> u64 {
    300
}
fn default_max_concurrent() -> usize {
    4
}

/// Every problem of the `verify` tables of the relay domains, each naming its key and the fix.
pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    for (i, rd) in config.relay_domains.iter().enumerate() {
        let key = |k: &str| format!("relay_domain.{i}.verify.{k}");
        match &rd.verify {
            RecipientVerify::Static {
                addresses,
                file,
                allow_catch_all,
            } => {
                if addresses.is_empty() && file.is_none() {
                    errors.push(loc.at(
                        &format!("relay_domain.{i}.verify"),
                        "a static list needs `addresses = [...]` or `file = \"/path\"` (or both)",
                    ));
                }
                for a in addresses {
                    if let Err(e) = static_entry(a, *allow_catch_all) {
                        errors.push(loc.at(&key("addresses"), e));
                    }
                }
                if let Some(f) = file {
                    if let Err(e) = static_file(f, *allow_catch_all) {
                        errors.push(loc.at(&key("file"), e));
                    }
                }
            }
            RecipientVerify::Ldap {
                url,
                ca_file,
                bind_dn,
                bind_password_file,
                base_dn,
                filter,
                timeout_secs,
                ..
            } => {
                if let Err(e) = ldap_url(url) {
                    errors.push(loc.at(&key("url"), e));
                }
                if let Some(ca) = ca_file {
                    if !ca.is_file() {
                        errors.push(loc.at(
                            &key("ca_file"),
                            format!("{} is not a readable file; give the PEM file of the CA that signed the directory's certificate", ca.display()),
                        ));
                    }
                }
                match (bind_dn, bind_password_file) {
                    (Some(_), None) => errors.push(loc.at(
                        &key("bind_password_file"),
                        "bind_dn is set without bind_password_file; add the file holding the password",
                    )),
                    (None, Some(_)) => errors.push(loc.at(
                        &key("bind_dn"),
                        "bind_password_file is set without bind_dn; add the DN to bind as",
                    )),
                    (Some(_), Some(pf)) => {
                        if let Some(e) = crate::null_client::password_file_problem(pf) {
                            errors.push(loc.at(&key("bind_password_file"), e));
                        }
                    }
                    (None, None) => {}
                }
                if base_dn.trim().is_empty() {
                    errors.push(loc.at(
                        &key("base_dn"),
                        "must name where the search starts, e.g. \"dc=agency,dc=example\"",
                    ));
                }
                if !filter.contains("%s") {
                    errors.push(loc.at(
                        &key("filter"),
                        "must contain %s where the address goes, e.g. \"(mail=%s)\"",
                    ));
                } else if !(filter.starts_with('(') && filter.ends_with(')')) {
                    errors.push(loc.at(
                        &key("filter"),
                        "must be an LDAP filter in parentheses (RFC 4515), e.g. \"(mail=%s)\"",
                    ));
                }
                if *timeout_secs == 0 {
                    errors.push(loc.at(&key("timeout_secs"), "must be at least 1"));
                }
            }
            RecipientVerify::Callout {
                timeout_secs,
                max_concurrent,
                ..
            } => {
                if *timeout_secs == 0 {
                    errors.push(loc.at(&key("timeout_secs"), "must be at least 1"));
                }
                if *max_concurrent == 0 {
                    errors.push(loc.at(&key("max_concurrent"), "must be at least 1"));
                }
            }
        }
    }
}

/// An LDAP URL the verifier accepts: `ldaps://` or `ldap://` (then always with StartTLS), with
/// a host. Plain text is never offered: the bind password and the addresses asked about would
/// cross the network readable (AL-1.1).
pub fn ldap_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = url.strip_prefix("ldaps://") {
        r
    } else if let Some(r) = url.strip_prefix("ldap://") {
        r
    } else {
        return Err(format!(
            "`{url}` is not an ldaps:// or ldap:// URL; use ldaps://host:636, or ldap://host:389 which the gateway always upgrades with StartTLS"
        ));
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

/// One line of a static list, checked: a plain address, or `@domain` when catch-alls are
/// allowed.
pub fn static_entry(entry: &str, allow_catch_all: bool) -> Result<(), String> {
    let Some((local, domain)) = entry.rsplit_once('@') else {
        return Err(format!("`{entry}` is not an address (local@domain)"));
    };
    if domain.is_empty() || !crate::is_hostname(domain) {
        return Err(format!("`{entry}`: `{domain}` is not a domain name"));
    }
    if local.is_empty() && !allow_catch_all {
        return Err(format!(
            "`{entry}` is a catch-all (every address of {domain} would be accepted); list the addresses, or set `allow_catch_all = true` if the next hop really accepts them all"
        ));
    }
    if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{entry}` contains white space"));
    }
    Ok(())
}

/// The entries of a static file: lines without `#` comments and blanks. Errors name the line.
pub fn static_file_entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, l)| {
        let l = l.split('#').next().unwrap_or("").trim();
        (!l.is_empty()).then_some((n + 1, l))
    })
}

fn static_file(path: &Path, allow_catch_all: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{} cannot be read ({e}); create it with one address per line",
            path.display()
        )
    })?;
    let bad: Vec<String> = static_file_entries(&text)
        .filter_map(|(n, l)| {
            static_entry(l, allow_catch_all)
                .err()
                .map(|e| format!("line {n}: {e}"))
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", path.display(), bad.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_6_plain_ldap_without_tls_is_refused() {
        assert!(ldap_url("ldaps://dc1.agency.example").is_ok());
        assert!(ldap_url("ldap://dc1.agency.example:389").is_ok());
        assert!(ldap_url("ldapi:///").is_err());
        assert!(ldap_url("http://dc1").is_err());
        assert!(ldap_url("ldaps://").is_err());
    }

    #[test]
    fn nc_2_1_6_catch_all_only_when_asked() {
        assert!(static_entry("alice@agency.example", false).is_ok());
        assert!(static_entry("@agency.example", false).is_err());
        assert!(static_entry("@agency.example", true).is_ok());
        assert!(static_entry("alice", false).is_err());
        assert!(static_entry("al ice@agency.example", false).is_err());
    }

    fn parse(verify: &str) -> Result<Config, crate::ConfigErrors> {
        let src = format!(
            "hostname = \"mx.gw.example\"\n[[relay_domain]]\ndomains = [\"agency.example\"]\n\
             hosts = [\"mail.agency.example\"]\nca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n\
             [relay_domain.verify]\n{verify}\n"
        );
        Config::parse(Path::new("/etc/rampart/rampart.toml"), &src)
    }

    #[test]
    fn nc_2_1_6_config_refuses_plain_ldap_and_catch_all() {
        let e = parse("method = \"ldap\"\nurl = \"ldapi:///\"\nbase_dn = \"dc=a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("relay_domain[0].verify.url"), "{e}");
        let e = parse("method = \"static\"\naddresses = [\"@agency.example\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("catch-all"), "{e}");
        let e = parse(
            "method = \"ldap\"\nurl = \"ldaps://dc1\"\nbase_dn = \"dc=a\"\nfilter = \"(mail=x)\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("%s"), "{e}");
        let c = parse("method = \"callout\"\n").unwrap();
        match &c.relay_domains[0].verify {
            RecipientVerify::Callout {
                positive_cache_secs,
                negative_cache_secs,
                max_concurrent,
                ..
            } => assert_eq!(
                (*positive_cache_secs, *negative_cache_secs, *max_concurrent),
                (3600, 300, 4)
            ),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn static_file_skips_comments_and_blanks() {
        let text = "# staff\nalice@a.example  # primary\n\n  bob@a.example\n";
        let got: Vec<_> = static_file_entries(text).collect();
        assert_eq!(got, vec![(2, "alice@a.example"), (4, "bob@a.example")]);
    }
}
