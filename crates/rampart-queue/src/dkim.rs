//! DKIM signing of outbound mail (AL-2.2, the NC guideline on signatures), with mail-auth.
//!
//! Keys live in `data_dir/dkim/` as `<domain>.<selector>.<rsa|ed25519>.der` (PKCS#1 for RSA,
//! PKCS#8 for Ed25519), mode 0600. Every key of a domain signs: a domain with an RSA and an Ed25519
//! key gets two signatures, and rotation is adding a selector, publishing it, then removing the old.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Header fields signed: those a reader sees and those that identify the message.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
];

enum Signer {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// The signing keys of every domain that has some.
#[derive(Default)]
pub struct Signers {
    by_domain: HashMap<String, Vec<(String, Signer)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

pub fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dkim")
}

/// Creates a key and returns its file and the DNS TXT record to publish (name, value).
pub fn generate(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    alg: Algorithm,
    rsa_bits: usize,
) -> Result<(PathBuf, String, String), String> {
    let label_ok = |s: &str| {
        !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !label_ok(selector) {
        return Err(format!(
            "selector `{selector}` must be one DNS label (letters, digits, hyphens)"
        ));
    }
    if !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(format!("`{domain}` is not a domain name"));
    }
    if alg == Algorithm::Rsa && rsa_bits < 2048 {
        return Err("RSA keys must have at least 2048 bits".into());
    }
    let domain = domain.to_ascii_lowercase();
    let dir = key_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{domain}.{selector}.{}.der", alg.name()));
    if path.exists() {
        return Err(format!("a key for selector {selector} of {domain} exists already ({}); choose a new selector to rotate", path.display()));
    }
    let pair = match alg {
        Algorithm::Rsa => DkimKeyPair::generate_rsa(rsa_bits),
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
    }
    .map_err(|e| format!("generating the key: {e}"))?;
    write_private(&path, pair.private_key())?;
    let name = format!("{selector}._domainkey.{domain}");
    let value = format!("v=DKIM1; k={}; p={}", alg.name(), pair.encoded_public_key());
    Ok((path, name, value))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The base64 public key of a stored key, for its DNS record.
pub fn public_key(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    alg: Algorithm,
) -> Result<String, String> {
    use base64::Engine;
    let path = key_dir(data_dir).join(format!("{domain}.{selector}.{}.der", alg.name()));
    let der = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let public = match alg {
        Algorithm::Rsa => {
            RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)))
                .map_err(|e| format!("{}: {e}", path.display()))?
                .public_key()
        }
        Algorithm::Ed25519 => Ed25519Key::from_pkcs8_der(&der)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .public_key(),
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(public))
}

/// Lists the keys: (domain, selector, algorithm, path).
pub fn list(data_dir: &Path) -> Vec<(String, String, Algorithm, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(key_dir(data_dir)) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".der") else {
            continue;
        };
        let (rest, alg) = match stem.rsplit_once('.') {
            Some((r, "rsa")) => (r, Algorithm::Rsa),
            Some((r, "ed25519")) => (r, Algorithm::Ed25519),
            _ => continue,
        };
        // domain.selector: the selector is the last label.
        if let Some((domain, selector)) = rest.rsplit_once('.') {
            out.push((domain.to_string(), selector.to_string(), alg, e.path()));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

impl Signers {
    /// Loads every key in the data directory.
    pub fn load(data_dir: &Path) -> Result<Signers, String> {
        let mut s = Signers::default();
        for (domain, selector, alg, path) in list(data_dir) {
            let der = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let headers = SIGNED_HEADERS.iter().map(|h| h.to_string());
            let signer = match alg {
                Algorithm::Rsa => {
                    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(
                        PrivatePkcs1KeyDer::from(der),
                    ))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                    Signer::Rsa(
                        DkimSigner::from_key(key)
                            .domain(domain.clone())
                            .selector(selector.clone())
                            .headers(headers),
                    )
                }
                Algorithm::Ed25519 => {
                    let key = Ed25519Key::from_pkcs8_der(&der)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    Signer::Ed25519(
                        DkimSigner::from_key(key)
                            .domain(domain.clone())
                            .selector(selector.clone())
                            .headers(headers),
                    )
                }
            };
            s.by_domain
                .entry(domain)
                .or_default()
                .push((selector, signer));
        }
        Ok(s)
    }

    pub fn has(&self, domain: &str) -> bool {
        self.by_domain.contains_key(&domain.to_ascii_lowercase())
    }

    /// DKIM-Signature header lines for `message` from `domain`'s keys (empty when it has none).
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<String, String> {
        let mut out = String::new();
        for (selector, signer) in self
            .by_domain
            .get(&domain.to_ascii_lowercase())
            .into_iter()
            .flatten()
        {
            let sig = match signer {
                Signer::Rsa(s) => s.sign(message),
                Signer::Ed25519(s) => s.sign(message),
            }
            .map_err(|e| format!("signing with {selector}._domainkey.{domain}: {e}"))?;
            out.push_str(&sig.to_header());
        }
        Ok(out)
    }
}

/// The domain of the message's From address, for choosing the signing keys.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse_headers(message)?;
    let addr = parsed.from()?.first()?.address()?.to_ascii_lowercase();
    addr.rsplit_once('@').map(|(_, d)| d.to_string())
}
