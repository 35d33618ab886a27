//! Fetching a policy (RFC 8461 section 3.3): `https://mta-sts.<domain>/.well-known/mta-sts.txt`,
//! the certificate valid for `mta-sts.<domain>` under the Web PKI, HTTP 200 only, redirects
//! never followed, `text/plain`, at most [`MAX_POLICY_SIZE`] bytes, within a time limit.

use crate::tls_report::ResultType;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// RFC 8461 section 3.3: senders may limit the policy's size; 64 KiB is what it suggests.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// Why a policy could not be had: the RFC 8460 result type, and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub result: ResultType,
    pub reason: String,
}

fn fetch_error(reason: impl Into<String>) -> FetchError {
    FetchError {
        result: ResultType::StsPolicyFetchError,
        reason: reason.into(),
    }
}

/// GETs the policy of `domain` from `addrs` (the addresses of `mta-sts.<domain>`, with the
/// configured port), trying each in turn. Returns the policy text.
pub async fn fetch(
    domain: &str,
    addrs: &[SocketAddr],
    roots: Arc<RootCertStore>,
    timeout: Duration,
) -> Result<String, FetchError> {
    let host = format!("mta-sts.{domain}");
    let config = Arc::new(
        ClientConfig::builder_with_protocol_versions(crate::client::VERSIONS)
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let mut last = fetch_error(format!("{host} has no address"));
    for addr in addrs {
        match tokio::time::timeout(timeout, fetch_from(&host, *addr, config.clone())).await {
            Ok(Ok(text)) => return Ok(text),
            Ok(Err(e)) => last = e,
            Err(_) => last = fetch_error(format!("fetching from {host} [{addr}] timed out")),
        }
        // A certificate or answer that is wrong at one address is not asked of the next.
        if last.result != ResultType::StsPolicyFetchError {
            break;
        }
    }
    Err(last)
}

async fn fetch_from(
    host: &str,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<String, FetchError> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fetch_error(format!("connecting to {host} [{addr}]: {e}")))?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| fetch_error(format!("{host} is not a valid TLS server name")))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            // RFC 8460 section 4.3.2.2: a certificate not valid for mta-sts.<domain>.
            let bad_cert = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            let reason = format!("TLS with {host}: {e}");
            if bad_cert {
                FetchError {
                    result: ResultType::StsWebpkiInvalid,
                    reason,
                }
            } else {
                fetch_error(reason)
            }
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| fetch_error(format!("HTTP with {host}: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let request = hyper::Request::builder()
            .uri("/.well-known/mta-sts.txt")
            .header(hyper::header::HOST, host)
            .body(Empty::<Bytes>::new())
            .map_err(|e| fetch_error(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fetch_error(format!("HTTP with {host}: {e}")))?;
        // RFC 8461 section 3.3: 200 only; a redirect (3xx) is not followed.
        if response.status() != hyper::StatusCode::OK {
            return Err(fetch_error(format!(
                "{host} answered HTTP {} (only 200 is accepted, redirects are not followed)",
                response.status().as_u16()
            )));
        }
        let media = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        if media.as_deref() != Some("text/plain") {
            return Err(FetchError {
                result: ResultType::StsPolicyInvalid,
                reason: format!("{host} served the policy as {media:?}, not text/plain"),
            });
        }
        let body = Limited::new(response.into_body(), MAX_POLICY_SIZE)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError {
                        result: ResultType::StsPolicyInvalid,
                        reason: format!(
                            "the policy from {host} is larger than {MAX_POLICY_SIZE} bytes"
                        ),
                    }
                } else {
                    fetch_error(format!("reading the policy from {host}: {e}"))
                }
            })?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| FetchError {
            result: ResultType::StsPolicyInvalid,
            reason: format!("the policy from {host} is not UTF-8"),
        })
    }
    .await;
    driver.abort();
    result
}
