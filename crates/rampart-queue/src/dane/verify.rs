//! The certificate check of a DANE-authenticated connection (RFC 7672 section 3, RFC 7671):
//! a rustls [`ServerCertVerifier`] that accepts the server's chain only when a usable TLSA
//! record of the MX host matches it.
//!
//! - DANE-EE(3): the server's own certificate (or key) matches; names and dates are not
//!   checked (RFC 7672 section 3.1.1: the DNS binds the key to the host).
//! - DANE-TA(2): a certificate the server sent matches and is the trust anchor of the chain,
//!   which must then verify to it by the usual rules, for the MX host's name (the SNI sent,
//!   RFC 7672 section 3.1.2 and 8.1) or, for an alias, the CNAME-expanded name the TLSA
//!   records were found at (section 3.2.3).
//!
//! The handshake signature is checked as on any connection.

use super::tlsa::{Tlsa, DANE_EE, DANE_TA};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// A TLS client configuration that enforces `records` (the usable TLSA records of one host),
/// found at `base` when that is not the MX host name.
pub fn client_config(records: Vec<Tlsa>, base: Option<String>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(DaneVerifier {
        records,
        base: base.and_then(|b| ServerName::try_from(b).ok()),
        provider: provider.clone(),
    });
    Arc::new(
        ClientConfig::builder_with_protocol_versions(crate::client::VERSIONS)
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    /// The TLSA base domain, when the records were found at an MX alias's expanded name.
    base: Option<ServerName<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl DaneVerifier {
    /// Whether the chain verifies to `anchor` for `name` (DANE-TA).
    fn chains_to(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut roots = RootCertStore::empty();
        roots.add(anchor.clone().into_owned())?;
        let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| Error::General(format!("DANE-TA trust anchor: {e}")))?;
        v.verify_server_cert(end_entity, intermediates, name, &[], now)
            .map(|_| ())
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // RFC 7672 section 2.2: a secure RRset of unusable records still makes TLS mandatory,
        // but leaves nothing to authenticate against.
        if self.records.is_empty() {
            return Ok(ServerCertVerified::assertion());
        }
        // DANE-EE(3): the leaf itself, whatever its names and dates.
        if self
            .records
            .iter()
            .any(|r| r.usage == DANE_EE && r.matches(end_entity.as_ref()))
        {
            return Ok(ServerCertVerified::assertion());
        }
        // DANE-TA(2): a certificate of the chain the server sent, then path validation to it.
        let mut ta_error = None;
        for r in self.records.iter().filter(|r| r.usage == DANE_TA) {
            for anchor in intermediates.iter().filter(|c| r.matches(c.as_ref())) {
                // RFC 7672 section 3.2.3: the MX host name, or the TLSA base domain.
                for name in std::iter::once(server_name).chain(self.base.as_ref()) {
                    match self.chains_to(anchor, end_entity, intermediates, name, now) {
                        Ok(()) => return Ok(ServerCertVerified::assertion()),
                        Err(e) => ta_error = ta_error.or(Some(e)),
                    }
                }
            }
        }
        let name = match server_name {
            ServerName::DnsName(n) => n.as_ref().to_string(),
            other => format!("{other:?}"),
        };
        Err(Error::General(match ta_error {
            Some(e) => {
                format!("DANE: the chain of {name} does not verify to its TLSA trust anchor: {e}")
            }
            None => format!("DANE: no TLSA record of {name} matches its certificate"),
        }))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    struct Chain {
        ca: Vec<u8>,
        leaf: Vec<u8>,
    }

    fn chain(name: &str) -> Chain {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "DANE test TA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        Chain {
            ca: ca.der().to_vec(),
            leaf: leaf.der().to_vec(),
        }
    }

    fn record(usage: u8, cert: &[u8]) -> Tlsa {
        Tlsa {
            usage,
            selector: 1,
            matching: 1,
            data: super::super::tlsa::association(cert, 1, 1).unwrap(),
        }
    }

    fn check(records: Vec<Tlsa>, c: &Chain, name: &str) -> Result<ServerCertVerified, Error> {
        let v = DaneVerifier {
            records,
            base: None,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        };
        v.verify_server_cert(
            &CertificateDer::from(c.leaf.clone()),
            &[CertificateDer::from(c.ca.clone())],
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
    }

    #[test]
    fn rfc_7672_dane_ee_matches_the_leaf_and_ignores_its_name() {
        let c = chain("other.example.org");
        assert!(check(vec![record(3, &c.leaf)], &c, "mx.example.org").is_ok());
        let stranger = chain("mx.example.org");
        let e = check(vec![record(3, &stranger.leaf)], &c, "mx.example.org").unwrap_err();
        assert!(e.to_string().contains("no TLSA record"), "{e}");
    }

    #[test]
    fn rfc_7672_dane_ta_needs_the_chain_and_the_mx_name() {
        let c = chain("mx.example.org");
        assert!(check(vec![record(2, &c.ca)], &c, "mx.example.org").is_ok());
        // The anchor matches, but the certificate is not for this MX host.
        let e = check(vec![record(2, &c.ca)], &c, "mx2.example.org").unwrap_err();
        assert!(e.to_string().contains("trust anchor"), "{e}");
        // DANE-TA naming the leaf is not a trust anchor of the chain.
        assert!(check(vec![record(2, &c.leaf)], &c, "mx.example.org").is_err());
        // PKIX usages are not for SMTP and never match.
        assert!(check(vec![record(1, &c.leaf)], &c, "mx.example.org").is_err());
    }

    #[test]
    fn rfc_7672_3_2_3_dane_ta_accepts_the_tlsa_base_domain_of_an_alias() {
        let c = chain("host.provider.example");
        let v = |base: Option<&str>| DaneVerifier {
            records: vec![record(2, &c.ca)],
            base: base.map(|b| ServerName::try_from(b.to_string()).unwrap()),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        };
        let verify = |v: DaneVerifier| {
            v.verify_server_cert(
                &CertificateDer::from(c.leaf.clone()),
                &[CertificateDer::from(c.ca.clone())],
                &ServerName::try_from("mx.example.org".to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
        };
        assert!(verify(v(Some("host.provider.example"))).is_ok());
        assert!(verify(v(None)).is_err());
    }
}
