//! The database URL and its TLS (AL-1.1: TLS 1.2 or higher with rustls, ring provider).
//!
//! The URL is libpq's form, `postgresql://user@host:port/dbname?param=value&...`, read by
//! tokio-postgres, with two parameters handled here:
//!
//! - `sslmode`: `disable` (the default: a unix socket or loopback), `require` or `verify-full`.
//!   Both TLS modes verify the server's certificate chain and name against the CA file: Rampart
//!   never encrypts to a server it has not authenticated. `prefer` is refused, since it falls
//!   back to plain text without saying so.
//! - `sslrootcert`: the PEM file of the CA (or CAs) that signed the server's certificate;
//!   required with `require` and `verify-full`.

use rampart_store::{Result, StoreError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Parses `url` into a connection configuration and the TLS connector it asks for.
pub fn parse(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut mode = "disable".to_string();
    let mut root: Option<String> = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => mode = percent_decode(v),
            "sslrootcert" => root = Some(percent_decode(v)),
            _ => rest.push(pair),
        }
    }
    let rebuilt = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e| {
        StoreError::Invalid(format!(
            "[store] url is not a PostgreSQL URL ({e}); write it as \
             postgresql://user@host:port/dbname"
        ))
    })?;
    let roots = match (mode.as_str(), &root) {
        ("disable", _) => {
            config.ssl_mode(SslMode::Disable);
            rustls::RootCertStore::empty()
        }
        ("require" | "verify-full", Some(path)) => {
            config.ssl_mode(SslMode::Require);
            load_roots(path)?
        }
        ("require" | "verify-full", None) => {
            return Err(StoreError::Invalid(format!(
                "[store] url asks for sslmode={mode} without sslrootcert: add \
                 &sslrootcert=/path/to/ca.pem (the CA that signed the database's certificate)"
            )))
        }
        (other, _) => {
            return Err(StoreError::Invalid(format!(
                "[store] url has sslmode={other}; use disable, require or verify-full"
            )))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(client)))
}

fn load_roots(path: &str) -> Result<rustls::RootCertStore> {
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::Invalid(format!(
            "[store] url's sslrootcert {path} cannot be read ({e}); give a PEM file of the CA"
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        roots.add(cert).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"no certificate in it"));
    }
    Ok(roots)
}

/// `%XX` escapes of a URL parameter's value.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_their_errors() {
        let (c, _) = parse("postgresql://rampart@127.0.0.1:5432/mail").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        let err = |u: &str| match parse(u) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{u} should be refused"),
        };
        assert!(err("postgresql://h/db?sslmode=prefer").contains("use disable, require"));
        assert!(err("postgresql://h/db?sslmode=verify-full").contains("sslrootcert"));
        assert!(
            err("postgresql://h/db?sslmode=require&sslrootcert=/nonexistent")
                .contains("cannot be read")
        );
        assert!(err("mysql://h/db").contains("not a PostgreSQL URL"));
        assert_eq!(percent_decode("%2Fetc%2Fca.pem"), "/etc/ca.pem");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
