//! ARC sealing (RFC 8617): after we change a message (the `[External]` tag of AL-1.6 breaks the
//! sender's DKIM signature), an ARC set carries our authentication results to the receivers
//! after us, signed with our key.

use mail_auth::arc::{ArcSealer, Set};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::{Header, HeaderWriter};
use mail_auth::dkim::Done;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimResult};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

use super::config::ArcSealConfig;

/// The header fields the ARC-Message-Signature covers. Absent ones are signed as absent, so
/// adding them later breaks the signature. `Authentication-Results` is left out: ours is
/// prepended after sealing.
const SEALED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "DKIM-Signature",
];

/// RFC 8617 section 4.2.1: at most 50 ARC sets.
const MAX_ARC_INSTANCES: usize = 50;

pub(crate) enum Sealer {
    Rsa(ArcSealer<RsaKey<Sha256>, Done>),
    Ed25519(ArcSealer<Ed25519Key, Done>),
}

impl Sealer {
    /// Reads the PEM key of `config.key_file`: RSA first (PKCS#1 or PKCS#8), then Ed25519.
    pub(crate) fn load(config: &ArcSealConfig) -> Result<Sealer, String> {
        let pem = std::fs::read(&config.key_file)
            .map_err(|e| format!("{}: {e}", config.key_file.display()))?;
        Sealer::from_pem(&pem, &config.domain, &config.selector)
            .map_err(|e| format!("{}: {e}", config.key_file.display()))
    }

    pub(crate) fn from_pem(pem: &[u8], domain: &str, selector: &str) -> Result<Sealer, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("not a PEM private key ({e})"))?;
        if let Ok(key) = RsaKey::<Sha256>::from_key_der(der.clone_key()) {
            return Ok(Sealer::Rsa(
                ArcSealer::from_key(key)
                    .domain(domain)
                    .selector(selector)
                    .headers(SEALED_HEADERS.iter().copied()),
            ));
        }
        if let PrivateKeyDer::Pkcs8(pkcs8) = &der {
            if let Ok(key) = Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der()) {
                return Ok(Sealer::Ed25519(
                    ArcSealer::from_key(key)
                        .domain(domain)
                        .selector(selector)
                        .headers(SEALED_HEADERS.iter().copied()),
                ));
            }
        }
        Err("neither an RSA key of 2048 bits or more nor an Ed25519 key".to_string())
    }

    /// The three header fields of the new ARC set (ARC-Seal, ARC-Message-Signature,
    /// ARC-Authentication-Results), CRLF-terminated, to prepend to `message`.
    pub(crate) fn seal<'x>(
        &self,
        message: &'x AuthenticatedMessage<'x>,
        results: &'x AuthenticationResults<'x>,
        chain: &ArcOutput<'x>,
    ) -> Result<String, String> {
        if message.as_headers.len() >= MAX_ARC_INSTANCES {
            return Err("the ARC chain already has 50 sets".to_string());
        }
        let set = match self {
            Sealer::Rsa(s) => s.seal(message, results, chain),
            Sealer::Ed25519(s) => s.seal(message, results, chain),
        };
        set.map(|s| s.to_header()).map_err(|e| e.to_string())
    }
}

/// The ARC chain of `message` as mail-auth's sealer needs it, with the validation result we
/// reached when the message arrived (`cv=` of the new set follows from it).
pub(crate) fn chain_of<'x>(
    message: &'x AuthenticatedMessage<'x>,
    result: &DkimResult,
) -> ArcOutput<'x> {
    let mut out = ArcOutput::default().with_result(result.clone());
    for ((seal, signature), results) in message
        .as_headers
        .iter()
        .zip(&message.ams_headers)
        .zip(&message.aar_headers)
    {
        out = out.with_set(Set {
            signature: Header::new(signature.name, signature.value, &signature.header),
            seal: Header::new(seal.name, seal.value, &seal.header),
            results: Header::new(results.name, results.value, &results.header),
        });
    }
    out
}
