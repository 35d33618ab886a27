//! DKIM signing of outbound mail (AL-2.2, the NC guideline on signatures), with mail-auth.
//!
//! Keys live in `data_dir/dkim/` as `<domain>.<selector>.<rsa|ed25519>.der` (PKCS#1 for RSA,
//! PKCS#8 for Ed25519), mode 0600. Every key of a domain signs: a domain with an RSA and an Ed25519
//! key gets two signatures, and rotation is adding a selector, publishing it, then removing the old.
//!
//! On a shared store (PostgreSQL, several nodes) `rampart dkim generate` puts the key in the
//! store instead, as PEM ([`to_pem`]), and every node signs with the store's keys besides its
//! own files ([`Signers::with_stored`]; outbound delivery re-reads them when they change).

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
    /// `rsa` or `ed25519`: the name in file names, the store and DNS (k=).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "rsa" => Some(Algorithm::Rsa),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

pub fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dkim")
}

/// A key just made, not stored yet: the private key and the DNS TXT record to publish.
pub struct NewKey {
    /// Lower case.
    pub domain: String,
    pub selector: String,
    pub alg: Algorithm,
    /// PKCS#1 (RSA) or PKCS#8 (Ed25519) DER.
    pub private_der: Vec<u8>,
    /// `selector._domainkey.domain` (no trailing dot).
    pub record_name: String,
    /// `v=DKIM1; k=...; p=...`
    pub record_value: String,
}

/// Checks what `rampart dkim generate` was asked for; the domain in lower case.
fn validate(
    domain: &str,
    selector: &str,
    alg: Algorithm,
    rsa_bits: usize,
) -> Result<String, String> {
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
    Ok(domain.to_ascii_lowercase())
}

/// Makes a key for `domain` and `selector` without storing it (a shared store keeps it, see
/// [`to_pem`]); the same checks as [`generate`].
pub fn make(
    domain: &str,
    selector: &str,
    alg: Algorithm,
    rsa_bits: usize,
) -> Result<NewKey, String> {
    let domain = validate(domain, selector, alg, rsa_bits)?;
    let pair = match alg {
        Algorithm::Rsa => DkimKeyPair::generate_rsa(rsa_bits),
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
    }
    .map_err(|e| format!("generating the key: {e}"))?;
    Ok(NewKey {
        record_name: format!("{selector}._domainkey.{domain}"),
        record_value: format!("v=DKIM1; k={}; p={}", alg.name(), pair.encoded_public_key()),
        private_der: pair.private_key().to_vec(),
        domain,
        selector: selector.to_string(),
        alg,
    })
}

/// Creates a key and returns its file and the DNS TXT record to publish (name, value).
pub fn generate(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    alg: Algorithm,
    rsa_bits: usize,
) -> Result<(PathBuf, String, String), String> {
    let domain = validate(domain, selector, alg, rsa_bits)?;
    let dir = key_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{domain}.{selector}.{}.der", alg.name()));
    if path.exists() {
        return Err(format!("a key for selector {selector} of {domain} exists already ({}); choose a new selector to rotate", path.display()));
    }
    let key = make(&domain, selector, alg, rsa_bits)?;
    write_private(&path, &key.private_der)?;
    Ok((path, key.record_name, key.record_value))
}

/// The PEM label of each algorithm's private key encoding.
fn pem_label(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rsa => "RSA PRIVATE KEY",
        Algorithm::Ed25519 => "PRIVATE KEY",
    }
}

/// A private key as a shared store keeps it: PEM (RFC 7468), PKCS#1 for RSA, PKCS#8 for Ed25519.
pub fn to_pem(alg: Algorithm, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let label = pem_label(alg);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of a key [`to_pem`] wrote; an error (naming no key material) for anything else.
pub fn from_pem(alg: Algorithm, pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let label = pem_label(alg);
    let body = pem
        .trim()
        .strip_prefix(&format!("-----BEGIN {label}-----"))
        .and_then(|rest| rest.strip_suffix(&format!("-----END {label}-----")))
        .ok_or_else(|| format!("not a PEM `{label}` ({} key)", alg.name()))?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| format!("the PEM `{label}` is not valid base64"))
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
    let path = key_dir(data_dir).join(format!("{domain}.{selector}.{}.der", alg.name()));
    let der = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    public_key_of(alg, der).map_err(|e| format!("{}: {e}", path.display()))
}

/// The base64 public key of a private key's DER (PKCS#1 for RSA, PKCS#8 for Ed25519), for its
/// DNS record: of a key file, or of a key a shared store keeps ([`from_pem`]).
pub fn public_key_of(alg: Algorithm, der: Vec<u8>) -> Result<String, String> {
    use base64::Engine;
    let public = match alg {
        Algorithm::Rsa => {
            RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)))
                .map_err(|e| e.to_string())?
                .public_key()
        }
        Algorithm::Ed25519 => Ed25519Key::from_pkcs8_der(&der)
            .map_err(|e| e.to_string())?
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

/// One key's signer.
fn signer(domain: &str, selector: &str, alg: Algorithm, der: Vec<u8>) -> Result<Signer, String> {
    let headers = SIGNED_HEADERS.iter().map(|h| h.to_string());
    Ok(match alg {
        Algorithm::Rsa => {
            let key =
                RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)))
                    .map_err(|e| e.to_string())?;
            Signer::Rsa(
                DkimSigner::from_key(key)
                    .domain(domain)
                    .selector(selector)
                    .headers(headers),
            )
        }
        Algorithm::Ed25519 => {
            let key = Ed25519Key::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
            Signer::Ed25519(
                DkimSigner::from_key(key)
                    .domain(domain)
                    .selector(selector)
                    .headers(headers),
            )
        }
    })
}

impl Signers {
    /// Loads every key in the data directory.
    pub fn load(data_dir: &Path) -> Result<Signers, String> {
        Signers::with_stored(data_dir, &[])
    }

    /// The keys of the data directory and those of a shared store (as
    /// [`rampart_store::dkim_keys::DkimKeys`] reads them). A stored key that cannot be read is
    /// left out with an error in the log, so one bad row does not stop every other key; a
    /// stored key of the same domain and selector as a file replaces the file's.
    pub fn with_stored(
        data_dir: &Path,
        stored: &[rampart_store::dkim_keys::DkimKey],
    ) -> Result<Signers, String> {
        let mut s = Signers::default();
        let mut add = |domain: String, selector: String, signer: Signer| {
            let keys = s.by_domain.entry(domain).or_default();
            keys.retain(|(sel, _)| *sel != selector);
            keys.push((selector, signer));
        };
        for (domain, selector, alg, path) in list(data_dir) {
            let der = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let signer = signer(&domain, &selector, alg, der)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            add(domain, selector, signer);
        }
        for key in stored {
            let domain = key.domain.to_ascii_lowercase();
            let read = Algorithm::parse(&key.algorithm)
                .ok_or_else(|| format!("algorithm `{}` is not known", key.algorithm))
                .and_then(|alg| {
                    let der = from_pem(alg, &key.private_key_pem)?;
                    signer(&domain, &key.selector, alg, der)
                });
            match read {
                Ok(signer) => add(domain, key.selector.clone(), signer),
                Err(e) => tracing::error!(
                    key = %format!("{}._domainkey.{domain}", key.selector),
                    error = %e,
                    "a DKIM key of the store cannot be read; it does not sign"
                ),
            }
        }
        Ok(s)
    }

    /// How many keys sign (over every domain).
    pub fn len(&self) -> usize {
        self.by_domain.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_store::dkim_keys::DkimKey;

    fn stored(key: &NewKey) -> DkimKey {
        DkimKey {
            domain: key.domain.clone(),
            selector: key.selector.clone(),
            algorithm: key.alg.name().into(),
            private_key_pem: to_pem(key.alg, &key.private_der),
            created: 1,
        }
    }

    #[test]
    fn a_pem_key_reads_back_as_the_der_it_was_made_of() {
        let key = make("Example.TEST", "e1", Algorithm::Ed25519, 0).unwrap();
        assert_eq!(key.domain, "example.test");
        assert_eq!(key.record_name, "e1._domainkey.example.test");
        let pem = to_pem(Algorithm::Ed25519, &key.private_der);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(from_pem(Algorithm::Ed25519, &pem).unwrap(), key.private_der);
        // The label says which encoding: an Ed25519 PEM is no RSA key.
        let err = from_pem(Algorithm::Rsa, &pem).unwrap_err();
        assert!(
            err.contains("RSA PRIVATE KEY") && !err.contains(&pem[30..40]),
            "{err}"
        );
    }

    #[test]
    fn stored_keys_sign_besides_the_files_and_a_bad_one_is_left_out() {
        let dir = std::env::temp_dir().join(format!("rampart-dkim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, "files.test", "f1", Algorithm::Ed25519, 0).unwrap();
        let good = make("shared.test", "s1", Algorithm::Ed25519, 0).unwrap();
        let mut bad = stored(&make("broken.test", "b1", Algorithm::Ed25519, 0).unwrap());
        bad.private_key_pem =
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        let signers = Signers::with_stored(&dir, &[stored(&good), bad]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(signers.len(), 2);
        assert!(signers.has("files.test") && signers.has("Shared.Test"));
        assert!(!signers.has("broken.test"));
        let msg = b"From: a@shared.test\r\nTo: b@remote.test\r\nSubject: s\r\n\r\nbody\r\n";
        let sig = signers.sign("shared.test", msg).unwrap();
        assert!(
            sig.contains("d=shared.test") && sig.contains("s=s1"),
            "{sig}"
        );
    }
}
