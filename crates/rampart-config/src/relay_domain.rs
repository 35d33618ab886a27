//! The gateway role (AL-1, NC-2.3.4): domains whose mailboxes live on another server. Mail for
//! them is checked here and forwarded to an internal next hop over verified TLS (AL-1.1), and
//! only for recipients that exist there ([`crate::recipient_verify`]).

use crate::recipient_verify::RecipientVerify;
use crate::report::{ConfigError, Locator, Warning};
use crate::{is_hostname, Config, SmarthostTls};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

/// `[[relay_domain]]`: domains accepted from the Internet and forwarded to an internal server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayDomain {
    /// The domains, e.g. `["agency.example"]`. Each must not also be a local domain.
    pub domains: Vec<String>,
    /// Next hops, host names or addresses, tried in order (the next on a connection failure or
    /// a 4xx greeting).
    pub hosts: Vec<String>,
    /// Port of the next hops.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `starttls` or `implicit`. There is no plain-text choice (AL-1.1).
    #[serde(default)]
    pub tls: SmarthostTls,
    /// CA certificates (PEM) the next hop's certificate is verified against (AL-1.1).
    pub ca_file: PathBuf,
    /// Client certificate chain (PEM) presented for mutual TLS, with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// AUTH PLAIN user name, if the next hop wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the AUTH password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// How the gateway knows, at RCPT, that a recipient exists on the next hop.
    pub verify: RecipientVerify,
}

fn default_port() -> u16 {
    25
}

impl RelayDomain {
    /// Is `domain` one of this relay domain's (case-insensitive, RFC 5321 section 2.4)?
    pub fn covers(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.');
        self.domains
            .iter()
            .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(domain))
    }
}

impl Config {
    /// The relay domain that `domain` belongs to, if any.
    pub fn relay_domain(&self, domain: &str) -> Option<&RelayDomain> {
        self.relay_domains.iter().find(|r| r.covers(domain))
    }
}

/// The checks of every `[[relay_domain]]` and of the listener options of the gateway and store
/// roles (NC-2.3.4): every problem is reported, with its key and line.
pub(crate) fn check(
    config: &Config,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) {
    let mut seen = HashSet::new();
    for (i, rd) in config.relay_domains.iter().enumerate() {
        let key = |k: &str| format!("relay_domain.{i}.{k}");
        if rd.domains.is_empty() {
            errors.push(loc.at(
                &key("domains"),
                "lists no domain; name the domains whose mail is forwarded, e.g. [\"agency.example\"]",
            ));
        }
        for (j, d) in rd.domains.iter().enumerate() {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !is_hostname(&d) {
                errors.push(loc.at(
                    &format!("relay_domain.{i}.domains.{j}"),
                    format!("`{d}` is not a domain name; use e.g. \"agency.example\""),
                ));
            } else if d.eq_ignore_ascii_case(config.hostname.get_ref()) {
                // Mail for the host itself (postmaster@, bounces) stays here.
                errors.push(loc.at(
                    &format!("relay_domain.{i}.domains.{j}"),
                    format!("`{d}` is this server's own host name; a relay domain is one whose mailboxes are elsewhere"),
                ));
            } else if !seen.insert(d.clone()) {
                errors.push(loc.at(
                    &format!("relay_domain.{i}.domains.{j}"),
                    format!("`{d}` is listed twice; each domain has one next hop"),
                ));
            }
        }
        if config.null_client.is_some() {
            errors.push(loc.at(
                &key("domains"),
                "a null client only sends (NC-2.1.9) and forwards no domain; remove [[relay_domain]] or [null_client]",
            ));
        }
        if rd.hosts.is_empty() {
            errors.push(loc.at(
                &key("hosts"),
                "lists no next hop; name the internal server(s), e.g. [\"mail.internal.agency.example\"]",
            ));
        }
        for (j, h) in rd.hosts.iter().enumerate() {
            if h.parse::<std::net::IpAddr>().is_ok() {
                // AL-1.1: the certificate is checked against this name; an address needs an IP
                // entry in the certificate, which internal CAs seldom issue.
                warnings.push(Warning(loc.at(
                    &format!("relay_domain.{i}.hosts.{j}"),
                    format!("{h} is an address: the next hop's certificate must name this address (an IP SAN), or use its host name"),
                )));
            } else if !is_hostname(h) && h != "localhost" {
                errors.push(loc.at(
                    &format!("relay_domain.{i}.hosts.{j}"),
                    format!("`{h}` is not a host name or address"),
                ));
            }
        }
        if rd.port == 0 {
            errors.push(loc.at(&key("port"), "must be a port from 1 to 65535"));
        }
        // AL-1.1: the next hop is always verified, so its CA must be there to read.
        if std::fs::File::open(&rd.ca_file).is_err() || !rd.ca_file.is_file() {
            errors.push(loc.at(
                &key("ca_file"),
                format!(
                    "{} is not a readable file; give the CA certificate(s) (PEM) that issued the next hop's certificate (AL-1.1)",
                    rd.ca_file.display()
                ),
            ));
        }
        match (&rd.client_cert, &rd.client_key) {
            (Some(_), None) | (None, Some(_)) => errors.push(loc.at(
                &key(if rd.client_cert.is_some() { "client_cert" } else { "client_key" }),
                "client_cert and client_key go together; set both or neither",
            )),
            (None, None) => warnings.push(Warning(loc.at(
                &key("hosts"),
                "no client_cert: the next hop cannot tell the gateway from any other client; mutual TLS is recommended (NC-2.3.4)",
            ))),
            (Some(c), Some(k)) => {
                for (name, p) in [("client_cert", c), ("client_key", k)] {
                    if !p.is_file() {
                        errors.push(loc.at(
                            &key(name),
                            format!("{} is not a readable file", p.display()),
                        ));
                    }
                }
            }
        }
        if rd.username.is_some() != rd.password_file.is_some() {
            errors.push(loc.at(
                &key("password_file"),
                "username and password_file go together; set both or neither",
            ));
        }
        if let Some(p) = &rd.password_file {
            if !p.is_file() {
                errors.push(loc.at(
                    &key("password_file"),
                    format!("{} is not a readable file", p.display()),
                ));
            }
        }
        if let RecipientVerify::Static {
            addresses, file, ..
        } = &rd.verify
        {
            if addresses.is_empty() && file.is_none() {
                errors.push(loc.at(
                    &key("verify"),
                    "a static list with no addresses and no file refuses every recipient; add `addresses` or `file`",
                ));
            }
        }
    }
    listeners(config, loc, errors);
}

/// `relay_from`, `accept_from` and the client-certificate options of the listeners.
fn listeners(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    for (i, l) in config.listeners.iter().enumerate() {
        if !l.role.is_smtp() {
            continue; // refused as SMTP keys in validate.rs
        }
        let key = |k: &str| format!("listener.{i}.{k}");
        if let Some(ca) = &l.client_ca_file {
            if !ca.is_file() {
                errors.push(loc.at(
                    &key("client_ca_file"),
                    format!(
                        "{} is not a readable file; give the CA certificate(s) (PEM) that issue the client certificates",
                        ca.display()
                    ),
                ));
            }
        }
        if let Some(r) = &l.relay_from {
            if r.networks.is_empty() && !r.client_certificate {
                errors.push(loc.at(
                    &key("relay_from"),
                    "names neither networks nor client_certificate = true; give at least one, or remove it",
                ));
            }
            if r.client_certificate && l.client_ca_file.is_none() {
                errors.push(loc.at(
                    &key("relay_from"),
                    "client_certificate = true needs client_ca_file on this listener to verify the certificate against",
                ));
            }
        }
        if l.require_client_cert && l.client_ca_file.is_none() {
            errors.push(loc.at(
                &key("require_client_cert"),
                "needs client_ca_file on this listener to verify the certificate against",
            ));
        }
        // NC-2.3.4: skipping the checks is safe only when the sender has proven it is the gateway.
        if l.trust_gateway_verdicts && !l.require_client_cert {
            errors.push(loc.at(
                &key("trust_gateway_verdicts"),
                "is allowed only with require_client_cert = true: only a client that proved it is the gateway may skip the checks",
            ));
        }
        // NC-2.3.4, RFC 8601 section 5: with the checks skipped, the store runs no
        // authentication of its own, so only the gateway's results may stay, and only they tell
        // whose From was authenticated (AL-1.2, trusted senders).
        if l.trust_gateway_verdicts && l.trusted_authserv_ids.is_empty() {
            errors.push(loc.at(
                &key("trust_gateway_verdicts"),
                "needs trusted_authserv_ids naming the gateway's authserv-id (for example [\"gw.agency.example\"]): without it, Authentication-Results written by anyone would reach the mailboxes",
            ));
        }
        for (j, id) in l.trusted_authserv_ids.iter().enumerate() {
            if !is_hostname(id) {
                errors.push(loc.at(
                    &format!("listener.{i}.trusted_authserv_ids.{j}"),
                    format!(
                        "`{id}` is not an authserv-id (a host name such as \"gw.agency.example\")"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, RecipientVerify};
    use std::path::{Path, PathBuf};

    /// A directory for one test, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("rampart-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The example file with every `/etc/rampart/` file it names created in `dir`.
    fn example(name: &str, dir: &Path) -> (PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name);
        let src = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/etc/rampart/", &format!("{}/", dir.display()));
        for line in src.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if let Some(p) = line
                .split('"')
                .nth(1)
                .filter(|p| p.starts_with(&*dir.to_string_lossy()))
            {
                let p = Path::new(p);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, "").unwrap();
            }
        }
        (path, src)
    }

    fn errors(src: &str) -> String {
        match Config::parse(Path::new("t.toml"), src) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn nc_2_3_4_gateway_and_store_examples_load() {
        let dir = TempDir::new("gw-example");
        let (path, src) = example("rampart.gateway.example.toml", &dir.0);
        let c = Config::parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
        let rd = c.relay_domain("AGENCY.example").expect("relay domain");
        assert_eq!(rd.hosts.len(), 2);
        assert!(matches!(rd.verify, RecipientVerify::Static { .. }));
        let inside = &c.listeners[1];
        let rf = inside.relay_from.as_ref().unwrap();
        assert!(rf.allows("10.30.0.10".parse().unwrap(), true));
        assert!(!rf.allows("10.30.0.10".parse().unwrap(), false));
        assert!(!rf.allows("10.30.0.11".parse().unwrap(), true));
        // `config show` writes a file that loads again.
        let again = Config::parse(&path, &c.to_toml().unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert!(again.listeners[1].relay_from.is_some());

        let (path, src) = example("rampart.store.example.toml", &dir.0);
        let c = Config::parse(&path, &src).unwrap_or_else(|e| panic!("{e}"));
        let mx = &c.listeners[0];
        assert!(mx.require_client_cert && mx.trust_gateway_verdicts);
        assert!(mx.accepts("10.20.0.1".parse().unwrap()));
        assert!(!mx.accepts("192.0.2.1".parse().unwrap()));
        assert!(c.delivery.smarthost.as_ref().unwrap().client_cert.is_some());
        let again = Config::parse(&path, &c.to_toml().unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            again.listeners[0].trusted_authserv_ids,
            ["gw.agency.example"]
        );
    }

    #[test]
    fn al_1_1_relay_domain_needs_a_readable_ca_and_hosts() {
        let base =
            "hostname = \"gw.agency.example\"\n[[relay_domain]]\ndomains = [\"agency.example\"]\n";
        let e = errors(&format!(
            "{base}hosts = []\nca_file = \"/nonexistent/ca.pem\"\n[relay_domain.verify]\nmethod = \"static\"\naddresses = [\"a@agency.example\"]\n"
        ));
        assert!(
            e.contains("relay_domain[0].hosts") && e.contains("lists no next hop"),
            "{e}"
        );
        assert!(
            e.contains("relay_domain[0].ca_file") && e.contains("AL-1.1"),
            "{e}"
        );
        // ca_file is required.
        let e = errors(&format!(
            "{base}hosts = [\"mail.agency.example\"]\n[relay_domain.verify]\nmethod = \"static\"\naddresses = [\"a@agency.example\"]\n"
        ));
        assert!(e.contains("ca_file"), "{e}");
    }

    #[test]
    fn nc_2_3_4_client_cert_and_key_go_together_and_trust_needs_a_certificate() {
        let dir = TempDir::new("gw-pairs");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, "").unwrap();
        let src = format!(
            "hostname = \"gw.agency.example\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\ntrust_gateway_verdicts = true\n\
             [listener.relay_from]\nclient_certificate = true\n\
             [[relay_domain]]\ndomains = [\"gw.agency.example\"]\nhosts = [\"mail.agency.example\"]\n\
             ca_file = \"{ca}\"\nclient_cert = \"{ca}\"\n[relay_domain.verify]\nmethod = \"static\"\n",
            ca = ca.display()
        );
        let e = errors(&src);
        for want in [
            "relay_domain[0].client_cert",
            "this server's own host name",
            "a static list with no addresses",
            "listener[0].trust_gateway_verdicts",
            "is allowed only with require_client_cert = true",
            "needs trusted_authserv_ids naming the gateway's authserv-id",
            "client_certificate = true needs client_ca_file",
        ] {
            assert!(e.contains(want), "missing {want}: {e}");
        }
    }
}
