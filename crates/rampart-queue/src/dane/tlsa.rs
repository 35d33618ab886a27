//! TLSA records (RFC 6698 section 2, RFC 7671): what a record says, whether an SMTP client may
//! use it (RFC 7672 section 3.1.3), and whether a certificate matches it.

use rustls::pki_types::CertificateDer;
use std::fmt::Write;

/// Certificate usage DANE-TA: the record names a trust anchor of the server's chain.
pub const DANE_TA: u8 = 2;
/// Certificate usage DANE-EE: the record names the server's own certificate or key.
pub const DANE_EE: u8 = 3;

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// RFC 7672 section 3.1.3: SMTP clients use DANE-TA(2) and DANE-EE(3) only; PKIX-TA(0) and
    /// PKIX-EE(1) are unusable (no CA list is shared among MTAs). Unknown selectors and matching
    /// types are unusable too (RFC 7671 section 4), as is a digest of the wrong length.
    pub fn usable(&self) -> bool {
        let length_ok = match self.matching {
            0 => !self.data.is_empty(),
            1 => self.data.len() == 32,
            2 => self.data.len() == 64,
            _ => false,
        };
        matches!(self.usage, DANE_TA | DANE_EE) && self.selector <= 1 && length_ok
    }

    /// Whether `cert` (DER) is what this record names, by its selector and matching type.
    pub fn matches(&self, cert: &[u8]) -> bool {
        match association(cert, self.selector, self.matching) {
            // Digests are public: no need for a constant-time comparison.
            Some(a) => a == self.data,
            None => false,
        }
    }
}

/// The association data of `cert` for `selector` and `matching` (RFC 6698 section 2.1), or None
/// for a certificate that does not parse or a selector/matching type not defined.
pub fn association(cert: &[u8], selector: u8, matching: u8) -> Option<Vec<u8>> {
    let selected: Vec<u8> = match selector {
        0 => cert.to_vec(),
        1 => spki(cert)?,
        _ => return None,
    };
    match matching {
        0 => Some(selected),
        1 => Some(
            ring::digest::digest(&ring::digest::SHA256, &selected)
                .as_ref()
                .to_vec(),
        ),
        2 => Some(
            ring::digest::digest(&ring::digest::SHA512, &selected)
                .as_ref()
                .to_vec(),
        ),
        _ => None,
    }
}

/// The DER SubjectPublicKeyInfo of a certificate.
fn spki(cert: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(cert).ok()?;
    Some(c.tbs_certificate.subject_pki.raw.to_vec())
}

/// The zone-file line of the DANE-EE record "3 1 1" (the SHA-256 of the key: it survives a
/// renewal that keeps the key) for `host`'s SMTP service on `port`.
pub fn dane_ee_record(host: &str, port: u16, cert: &CertificateDer<'_>) -> Option<String> {
    let digest = association(cert.as_ref(), 1, 1)?;
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    Some(format!("_{port}._tcp.{host}. IN TLSA 3 1 1 {hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["mx.example.org".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (
            c.der().to_vec(),
            rcgen::PublicKeyData::subject_public_key_info(&key),
        )
    }

    #[test]
    fn rfc_7672_3_1_3_only_dane_usages_are_usable() {
        let r = |usage, selector, matching, len| Tlsa {
            usage,
            selector,
            matching,
            data: vec![1; len],
        };
        assert!(r(3, 1, 1, 32).usable());
        assert!(r(2, 0, 2, 64).usable());
        assert!(r(3, 0, 0, 300).usable());
        assert!(!r(0, 1, 1, 32).usable(), "PKIX-TA is not for SMTP");
        assert!(!r(1, 1, 1, 32).usable(), "PKIX-EE is not for SMTP");
        assert!(!r(3, 2, 1, 32).usable(), "unknown selector");
        assert!(!r(3, 1, 3, 32).usable(), "unknown matching type");
        assert!(!r(3, 1, 1, 31).usable(), "SHA-256 of the wrong length");
    }

    #[test]
    fn selectors_and_matching_types_match_the_certificate() {
        let (der, spki) = cert();
        let sha256 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, b)
                .as_ref()
                .to_vec()
        };
        let sha512 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA512, b)
                .as_ref()
                .to_vec()
        };
        for (selector, selected) in [(0u8, der.clone()), (1, spki.clone())] {
            for (matching, data) in [
                (0u8, selected.clone()),
                (1, sha256(&selected)),
                (2, sha512(&selected)),
            ] {
                let t = Tlsa {
                    usage: 3,
                    selector,
                    matching,
                    data,
                };
                assert!(t.matches(&der), "{selector} {matching}");
            }
        }
        let (other, _) = cert();
        let t = Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: sha256(&spki),
        };
        assert!(!t.matches(&other));
        assert!(!t.matches(b"not a certificate"));
    }

    #[test]
    fn record_line_is_3_1_1_of_the_key() {
        let (der, spki) = cert();
        let line = dane_ee_record("MX.Example.Org.", 25, &CertificateDer::from(der)).unwrap();
        let hex: String = ring::digest::digest(&ring::digest::SHA256, &spki)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            line,
            format!("_25._tcp.mx.example.org. IN TLSA 3 1 1 {hex}")
        );
    }
}
