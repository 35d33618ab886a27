//! The null-client mode (NC-2.1.9): a Rampart installed only so that local applications (cron,
//! monitoring, scripts) can send mail. It listens on loopback only, delivers nothing locally,
//! sends every message to the agency's primary mail server(s) over verified TLS with SMTP AUTH,
//! accepts only senders of the domains it represents (NC-2.1.7), and rewrites every envelope
//! sender to one bounce address. `rampart.null-client.example.toml` shows every key.
//!
//! What lives elsewhere: the session's decisions (rampart-smtp, `session/null_client.rs`) and the
//! connection to the primary servers (rampart-queue, `outbound.rs`, the smarthost machinery).

use crate::delivery::{Smarthost, SmarthostTls};
use crate::report::{ConfigError, Locator};
use crate::Config;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;

/// `[null_client]`: present, the server is a null client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NullClientConfig {
    /// The domains this host sends for, e.g. `["agency.example"]`. The envelope sender and every
    /// From and Sender header address must be in one of them (NC-2.1.7).
    pub domains: Vec<String>,
    /// Where bounces go: every envelope sender is rewritten to this address (the original stays
    /// in the trace). Required; it must be in one of `domains` and accept mail at the primary.
    #[serde(default)]
    pub bounce_address: Option<String>,
    /// The primary mail servers, tried in this order until one accepts the connection.
    #[serde(rename = "primary", default)]
    pub primaries: Vec<Primary>,
    /// Verify the primaries' certificates against this CA file (PEM); without it, the system's
    /// roots (/etc/ssl/certs/ca-certificates.crt). Verification is never off (AL-1.1).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The SMTP AUTH user name at the primary servers.
    #[serde(default)]
    pub username: Option<String>,
    /// The file whose first line is the password; it must be readable by the service's user
    /// only (mode 0600 or 0400): a group- or world-readable file is refused at start.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// One primary mail server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Primary {
    /// Host name; the certificate must be valid for it.
    pub host: String,
    /// 587 (STARTTLS) or 465 (implicit TLS).
    pub port: u16,
    /// `starttls` (default) or `implicit`; there is no plain-text choice (AL-1.1).
    #[serde(default)]
    pub tls: SmarthostTls,
}

impl NullClientConfig {
    /// The primaries as smarthosts, in order: outbound delivery reuses the smarthost client
    /// (TLS 1.2+, certificate verified, AUTH PLAIN inside TLS only).
    pub fn smarthosts(&self) -> Vec<Smarthost> {
        self.primaries
            .iter()
            .map(|p| Smarthost {
                host: p.host.clone(),
                port: p.port,
                tls: p.tls,
                ca_file: self.ca_file.clone(),
                username: self.username.clone(),
                password_file: self.password_file.clone(),
                client_cert: None,
                client_key: None,
            })
            .collect()
    }

    /// NC-2.1.7: is `address` in one of the represented domains?
    pub fn represents(&self, address: &str) -> bool {
        address
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|r| r.eq_ignore_ascii_case(d)))
    }

    /// The bounce address (validated present at load).
    pub fn bounce(&self) -> &str {
        self.bounce_address.as_deref().unwrap_or_default()
    }
}

/// NC-2.1.9: loopback only (127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// A plain `local@domain` address: what a bounce address must be to be written in MAIL FROM
/// and received at the primary.
fn is_plain_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && crate::is_hostname(domain)
}

/// Every problem of the null-client settings, each naming its key and the fix.
pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    let Some(nc) = &config.null_client else {
        return;
    };
    // NC-2.1.9: it accepts connections only from its own host.
    for (i, l) in config.listeners.iter().enumerate() {
        if !is_loopback(l.address.ip()) {
            errors.push(loc.at(
                &format!("listener.{i}.address"),
                format!(
                    "{} is not a loopback address; a null client listens only on 127.0.0.1 or [::1] (NC-2.1.9): change the address",
                    l.address
                ),
            ));
        }
        if !l.role.is_smtp() {
            errors.push(loc.at(
                &format!("listener.{i}.role"),
                "a null client only sends mail and serves no mailboxes (NC-2.1.9); remove this https listener",
            ));
        }
    }
    if config.delivery.smarthost.is_some() {
        errors.push(loc.at(
            "delivery.smarthost",
            "a null client sends through [[null_client.primary]] only; remove [delivery.smarthost]",
        ));
    }
    if nc.domains.is_empty() {
        errors.push(loc.at(
            "null_client.domains",
            "is empty; list the domains this host sends for, e.g. [\"agency.example\"] (NC-2.1.7)",
        ));
    }
    for (i, d) in nc.domains.iter().enumerate() {
        if !crate::is_hostname(d) {
            errors.push(loc.at(
                &format!("null_client.domains.{i}"),
                format!("`{d}` is not a domain name; write it as e.g. \"agency.example\""),
            ));
        }
    }
    match nc.bounce_address.as_deref() {
        None => errors.push(loc.at(
            "null_client.bounce_address",
            "is not set; add `bounce_address = \"bounces@your-domain.example\"`: every envelope sender becomes this address, and bounces go to it (NC-2.1.9)",
        )),
        Some(a) if !is_plain_address(a) => errors.push(loc.at(
            "null_client.bounce_address",
            format!("`{a}` is not a valid address; write it as local@domain, e.g. \"bounces@agency.example\""),
        )),
        Some(a) if !nc.represents(a) => errors.push(loc.at(
            "null_client.bounce_address",
            format!("`{a}` is not in null_client.domains; use an address of a domain this host represents"),
        )),
        Some(_) => {}
    }
    if nc.primaries.is_empty() {
        errors.push(loc.at(
            "null_client.primary",
            "no primary server; add [[null_client.primary]] with host and port (587 STARTTLS or 465 implicit TLS)",
        ));
    }
    for (i, p) in nc.primaries.iter().enumerate() {
        if p.port == 0 {
            errors.push(loc.at(
                &format!("null_client.primary.{i}.port"),
                "must be a port from 1 to 65535 (587 for STARTTLS, 465 for implicit TLS)",
            ));
        }
        if p.host.is_empty() {
            errors.push(loc.at(
                &format!("null_client.primary.{i}.host"),
                "is empty; give the primary server's host name (its certificate must name it)",
            ));
        }
    }
    if let Some(ca) = &nc.ca_file {
        if !ca.is_file() {
            errors.push(loc.at(
                "null_client.ca_file",
                format!(
                    "{} is not a readable file; give the PEM file of the CA that signed the primary's certificate, or remove the key to use the system's roots",
                    ca.display()
                ),
            ));
        }
    }
    match (&nc.username, &nc.password_file) {
        (None, _) | (_, None) => errors.push(loc.at(
            if nc.username.is_none() { "null_client.username" } else { "null_client.password_file" },
            "username and password_file are both required: the primary server takes mail from this host only with SMTP AUTH",
        )),
        (Some(_), Some(pf)) => {
            if let Some(e) = password_file_problem(pf) {
                errors.push(loc.at("null_client.password_file", e));
            }
        }
    }
}

/// A password file that cannot be used, in words: missing, or readable by others.
pub(crate) fn password_file_problem(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(e) => Some(format!(
            "{} cannot be read ({e}); create it with the password on its first line, then `chmod 600 {}`",
            path.display(),
            path.display()
        )),
        Ok(m) if !m.is_file() => Some(format!("{} is not a regular file", path.display())),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Some(format!(
            "{} is readable by group or others (mode {:o}); run `chmod 600 {}` so that only the service's user reads it",
            path.display(),
            m.permissions().mode() & 0o777,
            path.display()
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_9_loopback_addresses() {
        for ok in ["127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ok.parse().unwrap()), "{ok}");
        }
        for bad in ["0.0.0.0", "::", "192.0.2.1", "10.0.0.1", "::ffff:10.0.0.1"] {
            assert!(!is_loopback(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn bounce_address_syntax() {
        assert!(is_plain_address("bounces@agency.example"));
        assert!(is_plain_address("a.b+c@agency.example"));
        for bad in [
            "",
            "bounces",
            "@agency.example",
            "bounces@",
            "a b@agency.example",
            "a..b@agency.example",
            "bounces@localhost",
            "<bounces@agency.example>",
        ] {
            assert!(!is_plain_address(bad), "{bad}");
        }
    }

    /// The example file loads as written once its password file exists with mode 0600, and is
    /// refused, naming the file and `chmod 600`, when the file is readable by others.
    #[test]
    fn nc_2_1_9_the_example_file_loads_and_a_shared_password_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rampart-nc-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("primary.password");
        std::fs::write(&pw, "secret\n").unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../rampart.null-client.example.toml");
        let src = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/etc/rampart/primary.password", pw.to_str().unwrap());
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Config::parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
        let nc = c.null_client.as_ref().unwrap();
        assert_eq!(nc.primaries.len(), 2);
        assert_eq!(nc.smarthosts()[1].tls, SmarthostTls::Implicit);
        assert!(nc.represents("cron@Agency.Example") && !nc.represents("x@other.example"));
        // `config show` writes a file that loads again.
        let again = Config::parse(&path, &c.to_toml().unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.null_client.unwrap().bounce(), nc.bounce());

        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Config::parse(&path, &src).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains("null_client.password_file") && e.contains("chmod 600"),
            "{e}"
        );
    }
}
