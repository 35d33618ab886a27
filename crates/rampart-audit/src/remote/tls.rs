//! AL-1.1: STARTTLS offered on the MX port, a modern version negotiated, TLS 1.0 and 1.1 refused,
//! and a certificate that is in date, names the server and chains to a trusted root (a
//! self-signed one is a warning: opportunistic STARTTLS between MTAs rarely checks, but an
//! auditor should know).

use super::session::{ProbeError, Session};
use super::tls_legacy::{self, Answer};
use super::{advertises, Probe};
use crate::Finding;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::CertificateError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// Debian's and most distributions' bundle of trusted roots.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A certificate expiring within this many days is a warning.
const EXPIRY_WARN_DAYS: i64 = 14;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Any certificate is accepted during the handshake so that it can be examined afterwards: the
/// probe reports on the certificate, it trusts the connection with nothing. The queue's
/// opportunistic configuration does exactly that (TLS 1.2 and 1.3).
fn capture_config() -> Result<Arc<rustls::ClientConfig>, String> {
    Ok(rampart_queue::client::opportunistic_config())
}

/// The name the certificate must carry: the host audited, or when that is an address, the name
/// the server gives in its greeting.
fn expected_name(p: &Probe<'_>) -> String {
    if p.target.host.parse::<std::net::IpAddr>().is_ok() {
        p.server_name
            .clone()
            .unwrap_or_else(|| p.target.host.clone())
    } else {
        p.target.host.clone()
    }
}

/// A session on the MX port with STARTTLS accepted (`220`), ready for a handshake.
async fn after_starttls(p: &mut Probe<'_>) -> Result<Session, ProbeError> {
    let (mut s, _) = p.open(p.target.port).await?;
    let r = s.command("STARTTLS").await?;
    if r.code != 220 {
        return Err(ProbeError::Refused(format!("STARTTLS: {}", r.show())));
    }
    Ok(s)
}

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let offered = p
        .ehlo
        .as_ref()
        .and_then(|e| advertises(e, "STARTTLS"))
        .is_some();
    if !offered {
        // AL-1.1: without STARTTLS every message crosses the network in the clear.
        return vec![Finding::fail(
            "AL-1.1",
            "STARTTLS",
            "EHLO does not advertise STARTTLS",
            "configure a certificate and offer STARTTLS (Postfix: smtpd_tls_security_level = may)",
        )];
    }
    let mut out = Vec::new();
    let name = expected_name(p);
    out.extend(modern(p, &name).await);
    for (version, label) in [(0x0301u16, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        out.push(legacy(p, &name, version, label).await);
    }
    out
}

/// The ordinary handshake: version, suite, and the certificate.
async fn modern(p: &mut Probe<'_>, name: &str) -> Vec<Finding> {
    let server_name = match ServerName::try_from(name.to_string()) {
        Ok(n) => n,
        Err(_) => ServerName::try_from("invalid.invalid".to_string())
            .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())),
    };
    let config = match capture_config() {
        Ok(c) => c,
        Err(e) => return vec![super::untested("AL-1.1", "STARTTLS", &ProbeError::Io(e))],
    };
    let mut s = match after_starttls(p).await {
        Ok(s) => s,
        Err(e) => return vec![super::untested("AL-1.1", "STARTTLS", &e)],
    };
    if let Err(e) = s.tls(config, server_name.clone()).await {
        return vec![Finding::fail(
            "AL-1.1",
            "STARTTLS",
            format!("STARTTLS accepted but no TLS 1.2 or 1.3 handshake: {e}"),
            "enable TLS 1.2 and 1.3 (Postfix: smtpd_tls_protocols = >=TLSv1.2)",
        )];
    }
    let Some(conn) = s.tls_connection() else {
        return Vec::new();
    };
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let _ = s.command("QUIT").await;
    let mut out = vec![Finding::pass(
        "AL-1.1",
        "STARTTLS",
        format!("negotiated {version} with {suite}"),
    )];
    out.extend(certificate(
        &chain,
        &server_name,
        name,
        p.target.ca_file.as_deref(),
    ));
    out
}

/// The certificate's dates, and its chain and name against the trust anchors.
fn certificate(
    chain: &[CertificateDer<'static>],
    server_name: &ServerName<'static>,
    name: &str,
    ca_file: Option<&std::path::Path>,
) -> Vec<Finding> {
    let Some(leaf) = chain.first() else {
        return vec![Finding::fail(
            "AL-1.1",
            "certificate",
            "the server sent no certificate",
            "configure a certificate for the server's name",
        )];
    };
    let now = UnixTime::now().as_secs() as i64;
    let mut out = Vec::new();
    let parsed = x509_parser::parse_x509_certificate(leaf.as_ref());
    let self_signed = match &parsed {
        Ok((_, c)) => {
            out.push(expiry(c, now));
            chain.len() == 1 && c.issuer() == c.subject()
        }
        Err(e) => {
            out.push(Finding::fail(
                "AL-1.1",
                "certificate expiry",
                format!("the certificate does not parse: {e}"),
                "install a well-formed certificate",
            ));
            false
        }
    };
    out.push(chain_and_name(
        chain,
        server_name,
        name,
        ca_file,
        self_signed,
    ));
    out
}

fn expiry(c: &x509_parser::certificate::X509Certificate<'_>, now: i64) -> Finding {
    let v = c.validity();
    let (from, to) = (v.not_before.timestamp(), v.not_after.timestamp());
    let seen = format!("valid from {} to {}", v.not_before, v.not_after);
    let renew = "renew the certificate (and automate renewal)";
    if now > to {
        Finding::fail(
            "AL-1.1",
            "certificate expiry",
            format!("expired: {seen}"),
            renew,
        )
    } else if now < from {
        Finding::fail(
            "AL-1.1",
            "certificate expiry",
            format!("not yet valid: {seen}"),
            renew,
        )
    } else if to - now < EXPIRY_WARN_DAYS * 86_400 {
        Finding::warn(
            "AL-1.1",
            "certificate expiry",
            format!("expires in {} days: {seen}", (to - now) / 86_400),
            renew,
        )
    } else {
        Finding::pass("AL-1.1", "certificate expiry", seen)
    }
}

fn roots(ca_file: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    let path = ca_file.unwrap_or(std::path::Path::new(SYSTEM_ROOTS));
    let mut store = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    for c in certs.flatten() {
        let _ = store.add(c);
    }
    if store.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(store)
}

fn chain_and_name(
    chain: &[CertificateDer<'static>],
    server_name: &ServerName<'static>,
    name: &str,
    ca_file: Option<&std::path::Path>,
    self_signed: bool,
) -> Finding {
    let check = "certificate chain and name";
    let roots = match roots(ca_file) {
        Ok(r) => r,
        Err(e) => {
            return Finding::warn(
                "AL-1.1",
                check,
                format!("could not check the chain: {e}"),
                "name the trust anchors with --ca-file",
            )
        }
    };
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => {
            return Finding::warn(
                "AL-1.1",
                check,
                format!("could not check the chain: {e}"),
                "name the trust anchors with --ca-file",
            )
        }
    };
    let r = verifier.verify_server_cert(&chain[0], &chain[1..], server_name, &[], UnixTime::now());
    match r {
        Ok(_) => Finding::pass(
            "AL-1.1",
            check,
            format!("chains to a trusted root and is valid for {name}"),
        ),
        Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) if self_signed => {
            Finding::warn(
                "AL-1.1",
                check,
                "self-signed: senders that check certificates (MTA-STS, DANE without a TLSA for it) will not trust it",
                "install a certificate from a public CA, or publish a TLSA record for this one",
            )
        }
        Err(e) => Finding::fail(
            "AL-1.1",
            check,
            format!("not valid for {name}: {e}"),
            "install a certificate for the server's name with its whole chain",
        ),
    }
}

/// One old version: a ClientHello after STARTTLS, and what the server chose.
async fn legacy(p: &mut Probe<'_>, name: &str, version: u16, label: &str) -> Finding {
    let check = format!("{label} refused");
    let mut s = match after_starttls(p).await {
        Ok(s) => s,
        Err(e) => return super::untested("AL-1.1", &check, &e),
    };
    let sni = name.parse::<std::net::IpAddr>().is_err().then_some(name);
    let hello = tls_legacy::client_hello(version, sni, tls_legacy::random());
    if let Err(e) = s.write_raw(&hello).await {
        return super::untested("AL-1.1", &check, &e);
    }
    let answer = match s.read_exact(5).await {
        Ok(h) => {
            let header: [u8; 5] = [h[0], h[1], h[2], h[3], h[4]];
            let len = usize::from(u16::from_be_bytes([h[3], h[4]])).min(64);
            match s.read_exact(len).await {
                Ok(body) => tls_legacy::answer(&header, &body),
                Err(ProbeError::Closed) => Answer::Other("closed mid-record".into()),
                Err(e) => return super::untested("AL-1.1", &check, &e),
            }
        }
        // Hanging up on the hello is a refusal.
        Err(ProbeError::Closed) => Answer::Other("the server closed the connection".into()),
        Err(e) => return super::untested("AL-1.1", &check, &e),
    };
    match answer {
        // AL-1.1: TLS 1.0 and 1.1 are deprecated (RFC 8996); a server choosing them is open to
        // downgrade by anyone on the path.
        Answer::Chose(v) if v == version => Finding::fail(
            "AL-1.1",
            check,
            format!("the server's ServerHello chose {label} (0x{v:04x})"),
            "accept TLS 1.2 and 1.3 only (Postfix: smtpd_tls_protocols = >=TLSv1.2; Rampart does by default)",
        ),
        Answer::Chose(v) => Finding::pass(
            "AL-1.1",
            check,
            format!("offered only {label}; the server answered version 0x{v:04x}"),
        ),
        Answer::Alert(code) => Finding::pass(
            "AL-1.1",
            check,
            format!("offered only {label}; the server answered with TLS alert {code}"),
        ),
        Answer::Other(what) => Finding::pass(
            "AL-1.1",
            check,
            format!("offered only {label}; no handshake: {what}"),
        ),
    }
}
