//! Our own MTA-STS policy (RFC 8461 section 3) on the HTTPS listener, and the DNS records that
//! announce it and the certificate (`rampart dns-records`).
//!
//! `GET /.well-known/mta-sts.txt` with Host `mta-sts.<domain>`, for a domain this server
//! represents: the `[mta_sts]` policy as `text/plain`, CRLF lines (RFC 8461 section 3.2). Any
//! other Host (another domain, or this server's own name) is 404: the policy of a domain is
//! served only under that domain's name.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rampart_config::mta_sts::policy_id;
use rampart_config::{Config, StsMode};
use rampart_store::AnyStore;
use rustls::pki_types::CertificateDer;
use std::fmt::Write;
use std::sync::Arc;

/// The path of the policy (RFC 8461 section 3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

#[derive(Clone)]
struct Policy {
    store: AnyStore,
    config: Arc<Config>,
}

/// The policy route, to merge into the HTTPS listener's Router.
pub fn router(store: AnyStore, config: Arc<Config>) -> Router {
    Router::new()
        .route(POLICY_PATH, get(policy))
        .with_state(Policy { store, config })
}

async fn policy(State(p): State<Policy>, req: Request) -> Response {
    // HTTP/1.1 names the host in Host, HTTP/2 in :authority (the URI); either, without a port.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let Some(domain) = host.strip_prefix("mta-sts.") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let represented = match p.store.domains().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "reading the domains for the MTA-STS policy failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if !represented.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        // RFC 8461 section 3.2: the media type is text/plain.
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        p.config.mta_sts.policy_text(p.config.hostname.get_ref()),
    )
        .into_response()
}

/// The CA bundle that decides whether a certificate is publicly trusted.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Whether `chain` (leaf first) verifies for `hostname` against the system's public CAs.
fn publicly_trusted(chain: &[CertificateDer<'static>], hostname: &str) -> bool {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    let Some((leaf, rest)) = chain.split_first() else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(iter) = CertificateDer::pem_file_iter(SYSTEM_ROOTS) {
        for c in iter.flatten() {
            let _ = roots.add(c);
        }
    }
    if roots.is_empty() {
        return false;
    }
    let Ok(name) = rustls::pki_types::ServerName::try_from(hostname.to_string()) else {
        return false;
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(v) =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
    else {
        return false;
    };
    v.verify_server_cert(leaf, rest, &name, &[], rustls::pki_types::UnixTime::now())
        .is_ok()
}

/// The zone-file lines for MTA-STS, TLS-RPT and DANE of `domain` (AL-1.1): `chain` is the
/// certificate served now (leaf first), `rua` the TLS report address.
pub fn dns_records(
    config: &Config,
    domain: &str,
    rua: &str,
    chain: &[CertificateDer<'static>],
) -> String {
    // Nothing from the command line may break out of its zone-file line.
    let domain = &clean_name(domain);
    let rua = &rua
        .trim()
        .trim_start_matches("mailto:")
        .chars()
        .filter(|c| c.is_ascii_graphic() && !"\";,!".contains(*c))
        .collect::<String>();
    let hostname = clean_name(config.hostname.get_ref());
    let policy = config.mta_sts.policy_text(&hostname);
    let trusted = config.tls.cert.is_some() && publicly_trusted(chain, &hostname);
    let mode = config.mta_sts.mode;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; AL-1.1 MTA-STS (RFC 8461): the policy this server serves at https://mta-sts.{domain}{POLICY_PATH} (mode {}); the id changes with the policy",
        mode.as_str()
    );
    let _ = writeln!(
        out,
        "_mta-sts.{domain}. IN TXT \"v=STSv1; id={}\"",
        policy_id(&policy)
    );
    for line in policy.lines() {
        let _ = writeln!(out, ";     {line}");
    }
    let _ = writeln!(
        out,
        "; mta-sts.{domain} must reach this server's HTTPS listener, with a certificate valid for that name"
    );
    let _ = writeln!(out, "mta-sts.{domain}. IN CNAME {hostname}.");
    if trusted {
        if mode == StsMode::Testing {
            let _ = writeln!(out, "; advice: the certificate of {hostname} is publicly trusted: once TLS reports show no failures, set [mta_sts] mode = \"enforce\"");
        }
    } else {
        let _ = writeln!(
            out,
            "; advice: keep mode \"testing\": the certificate of {hostname} is not publicly trusted{}, so senders that enforce MTA-STS would refuse to deliver",
            if config.tls.cert.is_none() { " (it is the self-signed default)" } else { "" }
        );
        if mode == StsMode::Enforce {
            let _ = writeln!(out, "; WARNING: [mta_sts] mode is \"enforce\" with that certificate: set it to \"testing\"");
        }
    }

    let _ = writeln!(
        out,
        "; AL-1.1 TLS-RPT (RFC 8460): senders report TLS failures reaching {domain} to {rua}"
    );
    let _ = writeln!(
        out,
        "_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua=mailto:{rua}\""
    );

    if let Some(tlsa) = chain
        .first()
        .and_then(|leaf| rampart_queue::dane::tlsa::dane_ee_record(&hostname, 25, leaf))
    {
        let _ = writeln!(out, "; AL-1.1 DANE (RFC 7672): the key of the certificate served now (DANE-EE, SPKI, SHA-256); publish it only in a DNSSEC-signed zone, and the next key's record before a new key is served");
        let _ = writeln!(out, "{tlsa}");
    }
    out
}

/// A DNS name as printed: lower case, no trailing dot, only name characters.
fn clean_name(name: &str) -> String {
    name.trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c))
        .collect::<String>()
        .to_ascii_lowercase()
}
