//! NC-2.2: the signed baseline and the comparison with the files as they are now.
//!
//! On disk the baseline is a JSON object: `format`, `body` (the recorded files, itself JSON
//! text, signed byte for byte) and `signature` (Ed25519 over `body`, base64). Tripwire's
//! model: the private key that signs stays with the administrator (`--key`, mode 0600, ideally
//! moved off the machine after `init`); the server and `check` only verify with the public key.

use super::files::FileRecord;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

const FORMAT: &str = "rampart-integrity-baseline-1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the baseline records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Body {
    /// When it was made, Unix seconds.
    pub created: i64,
    pub files: BTreeMap<PathBuf, FileRecord>,
}

#[derive(Serialize, Deserialize)]
struct Signed {
    format: String,
    body: String,
    signature: String,
}

/// A private signing key, read from or written to a file (PKCS#8, base64, one line).
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Reads `path`, or when it does not exist creates a new key there (mode 0600, never
    /// overwriting); the bool says whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), String> {
        if path.exists() {
            return Ok((SigningKey::load(path)?, false));
        }
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "cannot generate an Ed25519 key".to_string())?;
        let text = format!("{}\n", B64.encode(pkcs8.as_ref()));
        write_new(path, text.as_bytes(), 0o600)?;
        Ok((SigningKey::load(path)?, true))
    }

    pub fn load(path: &Path) -> Result<SigningKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the integrity key {}: {e}", path.display()))?;
        let der = B64
            .decode(text.trim())
            .map_err(|_| format!("{} is not an integrity key", path.display()))?;
        Ed25519KeyPair::from_pkcs8(&der)
            .map(SigningKey)
            .map_err(|_| format!("{} is not an Ed25519 integrity key", path.display()))
    }

    /// The public key as written to the public key file.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.public_key().as_ref().to_vec())
    }
}

/// The key that verifies a baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    pub fn load(path: &Path) -> Result<PublicKey, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the integrity public key {}: {e}",
                path.display()
            )
        })?;
        let b64 = text.trim().strip_prefix("ed25519 ").unwrap_or(text.trim());
        match B64.decode(b64) {
            Ok(k) if k.len() == 32 => Ok(PublicKey(k)),
            _ => Err(format!(
                "{} is not an integrity public key (\"ed25519 <base64>\")",
                path.display()
            )),
        }
    }

    pub fn to_file_text(&self) -> String {
        format!("ed25519 {}\n", B64.encode(&self.0))
    }

    /// SHA-256 of the key, for the administrator to compare with the one noted at `init`.
    pub fn fingerprint(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.0);
        format!("SHA256:{}", B64.encode(d.as_ref()).trim_end_matches('='))
    }
}

/// Writes the signed baseline to `path` (replaced atomically).
pub fn write(path: &Path, body: &Body, key: &SigningKey) -> Result<(), String> {
    let text = serde_json::to_string_pretty(body).map_err(|e| e.to_string())?;
    let signed = Signed {
        format: FORMAT.to_string(),
        signature: B64.encode(key.0.sign(text.as_bytes()).as_ref()),
        body: text,
    };
    let json = serde_json::to_string_pretty(&signed).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, json.as_bytes(), 0o644)?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads `path` and returns its body only if `key` signed it.
pub fn read_verified(path: &Path, key: &PublicKey) -> Result<Body, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the integrity baseline {}: {e}; make one with `rampart integrity init`",
            path.display()
        )
    })?;
    let tampered = || {
        format!(
            "NC-2.2: the baseline {} does not verify with the public key ({}): it was changed, or signed with another key",
            path.display(),
            key.fingerprint()
        )
    };
    let signed: Signed = serde_json::from_str(&text).map_err(|_| tampered())?;
    let sig = B64.decode(&signed.signature).map_err(|_| tampered())?;
    if signed.format != FORMAT {
        return Err(tampered());
    }
    UnparsedPublicKey::new(&ED25519, &key.0)
        .verify(signed.body.as_bytes(), &sig)
        .map_err(|_| tampered())?;
    serde_json::from_str(&signed.body).map_err(|_| tampered())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One difference between the baseline and now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Contents differ (hash or size).
    Changed(PathBuf),
    /// Same contents, another modification time.
    Touched(PathBuf),
    /// Mode, owner or group differ.
    Permissions {
        path: PathBuf,
        was: String,
        now: String,
    },
    /// Critical now (the configuration names it, a new DKIM key), not in the baseline.
    Added(PathBuf),
    /// In the baseline, gone now.
    Removed(PathBuf),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Changed(p) => write!(f, "changed: {}", p.display()),
            Finding::Touched(p) => write!(
                f,
                "modification time changed (same contents): {}",
                p.display()
            ),
            Finding::Permissions { path, was, now } => {
                write!(
                    f,
                    "permissions changed: {} ({was} -> {now})",
                    path.display()
                )
            }
            Finding::Added(p) => write!(f, "added: {}", p.display()),
            Finding::Removed(p) => write!(f, "removed: {}", p.display()),
        }
    }
}

fn owner(r: &FileRecord) -> String {
    format!("mode {:o} uid {} gid {}", r.mode & 0o7777, r.uid, r.gid)
}

/// Every difference, in path order. A file whose contents could not be read now (or then) is
/// compared by size and modification time.
pub fn compare(
    baseline: &BTreeMap<PathBuf, FileRecord>,
    now: &BTreeMap<PathBuf, FileRecord>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, was) in baseline {
        let Some(is) = now.get(path) else {
            out.push(Finding::Removed(path.clone()));
            continue;
        };
        let content_differs = match (&was.sha256, &is.sha256) {
            (Some(a), Some(b)) => a != b || was.size != is.size,
            _ => was.size != is.size || was.mtime != is.mtime,
        };
        if content_differs {
            out.push(Finding::Changed(path.clone()));
        } else if was.mtime != is.mtime {
            out.push(Finding::Touched(path.clone()));
        }
        if (was.mode, was.uid, was.gid) != (is.mode, is.uid, is.gid) {
            out.push(Finding::Permissions {
                path: path.clone(),
                was: owner(was),
                now: owner(is),
            });
        }
    }
    for path in now.keys().filter(|p| !baseline.contains_key(*p)) {
        out.push(Finding::Added(path.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(hash: &str, mode: u32, mtime: i64) -> FileRecord {
        FileRecord {
            sha256: Some(hash.to_string()),
            size: 3,
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    #[test]
    fn nc_2_2_each_kind_of_difference_is_named() {
        let p = |s: &str| PathBuf::from(s);
        let base = BTreeMap::from([
            (p("/a"), rec("1", 0o100644, 5)),
            (p("/b"), rec("1", 0o100600, 5)),
            (p("/c"), rec("1", 0o100644, 5)),
            (p("/d"), rec("1", 0o100644, 5)),
            (p("/same"), rec("1", 0o100644, 5)),
        ]);
        let now = BTreeMap::from([
            (p("/a"), rec("2", 0o100644, 6)),
            (p("/b"), rec("1", 0o100644, 5)),
            (p("/c"), rec("1", 0o100644, 9)),
            (p("/e"), rec("1", 0o100644, 5)),
            (p("/same"), rec("1", 0o100644, 5)),
        ]);
        let f = compare(&base, &now);
        assert_eq!(f.len(), 5, "{f:?}");
        assert_eq!(f[0], Finding::Changed(p("/a")));
        assert!(matches!(&f[1], Finding::Permissions { path, .. } if path == &p("/b")));
        assert_eq!(f[2], Finding::Touched(p("/c")));
        assert_eq!(f[3], Finding::Removed(p("/d")));
        assert_eq!(f[4], Finding::Added(p("/e")));
        assert!(f[1]
            .to_string()
            .contains("mode 600 uid 0 gid 0 -> mode 644"));
    }
}
