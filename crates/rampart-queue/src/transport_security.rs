//! What secured one outbound connection, as the trace records it (AL-1.1, AL-3.1): the TLS
//! version and cipher, whether the certificate was verified, and which policy applied.
//!
//! The certificate check of MTA-STS (and of the trace's "verified") runs in [`Verifier`]: the
//! Web PKI check of rustls, whose verdict is kept, and which fails the handshake only when the
//! policy enforces it.

use crate::client::VERSIONS;
use crate::tls_report::ResultType;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::sync::{Arc, Mutex};

/// Which policy decided how a connection used TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Plain text: the server offered no STARTTLS and nothing required it.
    None,
    /// TLS when offered, the certificate not required to be valid (RFC 3207 practice).
    Opportunistic,
    /// A `[[delivery.policy]]`, a smarthost or a null client's primary.
    Configured,
    /// An MTA-STS policy in `enforce` mode.
    MtaStsEnforce,
    /// An MTA-STS policy in `testing` mode.
    MtaStsTesting,
    /// DANE (RFC 7672).
    Dane,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::None => "none",
            PolicyKind::Opportunistic => "opportunistic",
            PolicyKind::Configured => "configured",
            PolicyKind::MtaStsEnforce => "MTA-STS enforce",
            PolicyKind::MtaStsTesting => "MTA-STS testing",
            PolicyKind::Dane => "DANE",
        }
    }
}

/// How one connection was secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", or None for plain text.
    pub tls: Option<String>,
    /// The certificate was valid for the host (Web PKI, or the configured CA).
    pub verified: bool,
    pub policy: PolicyKind,
}

impl Security {
    /// For the trace: `TLSv1.3 TLS13_AES_256_GCM_SHA384; certificate verified; policy
    /// MTA-STS enforce`.
    pub fn describe(&self) -> String {
        let (tls, policy) = match &self.tls {
            Some(t) => (t.as_str(), self.policy),
            None => ("no TLS", PolicyKind::None),
        };
        let verified = if self.tls.is_none() {
            "no certificate"
        } else if self.verified {
            "certificate verified"
        } else {
            "certificate not verified"
        };
        format!("{tls}; {verified}; policy {}", policy.as_str())
    }
}

/// The Web PKI roots: the system's bundle, and the configured extra CA file (private PKI,
/// tests). An unreadable extra file is an error; a missing system bundle is not.
pub fn roots(extra: Option<&std::path::Path>) -> Result<Arc<RootCertStore>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    let system = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    if let Ok(certs) = CertificateDer::pem_file_iter(system) {
        for c in certs.flatten() {
            let _ = store.add(c);
        }
    }
    if let Some(path) = extra {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for c in certs {
            let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
            store
                .add(c)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    // Empty (no system bundle, no extra file): no certificate verifies, and MTA-STS enforce
    // holds the mail rather than send it unchecked.
    Ok(Arc::new(store))
}

/// A certificate check whose verdict is kept; it fails the handshake only when `enforce`.
#[derive(Debug)]
pub struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    enforce: bool,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl Verifier {
    pub fn new(roots: Arc<RootCertStore>, enforce: bool) -> Result<Arc<Verifier>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Verifier {
            inner,
            enforce,
            verdict: Mutex::new(None),
        }))
    }

    /// A client configuration (TLS 1.2+, AL-1.1) checking certificates with this verifier.
    pub fn config(self: &Arc<Self>) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_protocol_versions(VERSIONS)
                .dangerous()
                .with_custom_certificate_verifier(self.clone())
                .with_no_client_auth(),
        )
    }

    /// Whether a certificate was seen and valid.
    pub fn verified(&self) -> bool {
        matches!(*rampart_sync::lock(&self.verdict), Some(Ok(())))
    }

    /// The RFC 8460 result type of a certificate that was seen and not valid, and why.
    pub fn problem(&self) -> Option<(ResultType, String)> {
        match &*rampart_sync::lock(&self.verdict) {
            Some(Err(e)) => Some((result_type(e), e.to_string())),
            _ => None,
        }
    }
}

/// RFC 8460 section 4.3.2: the result type of a failed certificate check.
pub fn result_type(e: &rustls::Error) -> ResultType {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ResultType::CertificateExpired
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ResultType::CertificateHostMismatch
            }
            CertificateError::UnknownIssuer => ResultType::CertificateNotTrusted,
            _ => ResultType::ValidationFailure,
        },
        _ => ResultType::ValidationFailure,
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        *rampart_sync::lock(&self.verdict) = Some(r.as_ref().map(|_| ()).map_err(Clone::clone));
        match r {
            Err(e) if self.enforce => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_1_the_trace_names_tls_verification_and_policy() {
        let s = Security {
            tls: Some("TLSv1.3 TLS13_AES_256_GCM_SHA384".into()),
            verified: true,
            policy: PolicyKind::MtaStsEnforce,
        };
        assert_eq!(
            s.describe(),
            "TLSv1.3 TLS13_AES_256_GCM_SHA384; certificate verified; policy MTA-STS enforce"
        );
        let plain = Security {
            tls: None,
            verified: false,
            policy: PolicyKind::Opportunistic,
        };
        assert_eq!(plain.describe(), "no TLS; no certificate; policy none");
    }

    #[test]
    fn rfc8460_4_3_certificate_failures_have_their_result_types() {
        let e = |c| rustls::Error::InvalidCertificate(c);
        assert_eq!(
            result_type(&e(CertificateError::Expired)),
            ResultType::CertificateExpired
        );
        assert_eq!(
            result_type(&e(CertificateError::NotValidForName)),
            ResultType::CertificateHostMismatch
        );
        assert_eq!(
            result_type(&e(CertificateError::UnknownIssuer)),
            ResultType::CertificateNotTrusted
        );
        assert_eq!(
            result_type(&e(CertificateError::BadSignature)),
            ResultType::ValidationFailure
        );
    }
}
