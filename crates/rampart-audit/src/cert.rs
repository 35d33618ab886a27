//! Certificate facts (AL-1.1): subject, expiry, self-signed or not, key size.

use crate::facts::CertFact;
use std::path::Path;
use x509_parser::prelude::*;

/// The leaf certificate of a PEM chain.
pub fn read_pem(pem: &[u8], path: Option<&Path>) -> Result<CertFact, String> {
    let (_, pem) = parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let spki = cert.public_key();
    let (key_algorithm, key_bits) = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            ("RSA".to_string(), rsa.key_size() as u32)
        }
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => ("EC".to_string(), ec.key_size() as u32),
        _ => (spki.algorithm.algorithm.to_id_string(), 0),
    };
    Ok(CertFact {
        path: path.map(Path::to_path_buf),
        subject: cert.subject().to_string(),
        not_after: cert.validity().not_after.timestamp(),
        self_signed: cert.subject() == cert.issuer(),
        key_bits,
        key_algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_1_reads_a_self_signed_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["mx.agency.example".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let fact = read_pem(cert.pem().as_bytes(), None).unwrap();
        assert!(fact.self_signed);
        assert_eq!(fact.key_algorithm, "EC");
        assert_eq!(fact.key_bits, 256);
        assert!(fact.not_after > 1_700_000_000);
        assert!(read_pem(b"not a certificate", None).is_err());
    }
}
