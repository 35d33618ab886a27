//! The file integrity checker (NC-2.2): `rampart integrity init|check|rebaseline`, and the same
//! check run by `rampart serve` at start and every `[integrity] interval_secs`.
//!
//! What it protects against (Tripwire's model): an intruder, or a mistake, that changes a
//! critical file ([`files`]) is named at the next check, and cannot make the change look
//! expected, because accepting it means re-signing the baseline with the private key, which the
//! server never reads and the administrator keeps apart (`--key`, default
//! `/etc/rampart/integrity.key`, mode 0600; best moved off the machine after `init`). What it
//! does not protect against: someone with root who replaces both the baseline and the public key
//! with their own; against that, compare the public key's fingerprint printed by every `check`
//! with the one noted at `init`, or keep the public key on read-only media.

pub mod baseline;
pub mod files;
pub mod watch;

use baseline::{Body, Finding, PublicKey, SigningKey};
use rampart_config::Config;
use std::path::{Path, PathBuf};

/// Where the private key is kept unless `--key` names another file.
pub const DEFAULT_KEY: &str = "/etc/rampart/integrity.key";

#[derive(clap::Subcommand)]
pub enum IntegrityCmd {
    /// Record the baseline of the critical files, signed; creates the key if it does not exist.
    Init {
        /// The private key (created with mode 0600 if absent). Keep it apart from the baseline.
        #[arg(long, default_value = DEFAULT_KEY)]
        key: PathBuf,
    },
    /// Compare the critical files with the baseline; exits non-zero naming every difference.
    Check {
        /// Verify with this public key instead of the configured one (e.g. a copy kept on
        /// read-only media).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Accept the files as they are now: a new baseline, signed with the key that made the old.
    Rebaseline {
        /// The private key that signed the baseline.
        #[arg(long, default_value = DEFAULT_KEY)]
        key: PathBuf,
    },
}

/// What one check found.
#[derive(Debug)]
pub enum Outcome {
    /// There is no baseline yet (or no public key): nothing to compare with.
    NoBaseline(String),
    /// The baseline does not verify: tampered, or signed by another key.
    Untrusted(String),
    /// Compared `files` files.
    Checked {
        files: usize,
        findings: Vec<Finding>,
    },
}

/// Compares the critical files with the baseline, verified with `public_key`.
pub fn check(config: &Config, config_path: Option<&Path>, public_key: &Path) -> Outcome {
    let ic = &config.integrity;
    if !ic.baseline.exists() {
        return Outcome::NoBaseline(format!(
            "no integrity baseline at {}; make one with `rampart integrity init`",
            ic.baseline.display()
        ));
    }
    let key = match PublicKey::load(public_key) {
        Ok(k) => k,
        // NC-2.2: a baseline whose key is gone can no longer vouch for anything.
        Err(e) => return Outcome::Untrusted(e),
    };
    let body = match baseline::read_verified(&ic.baseline, &key) {
        Ok(b) => b,
        Err(e) => return Outcome::Untrusted(e),
    };
    let now = files::record_all(&files::critical_files(config, config_path));
    Outcome::Checked {
        files: now.len(),
        findings: baseline::compare(&body.files, &now),
    }
}

pub fn run(config: &Config, config_path: Option<&Path>, cmd: IntegrityCmd) -> Result<(), String> {
    let config_path = config_path.map(|p| std::path::absolute(p).unwrap_or(p.to_path_buf()));
    let config_path = config_path.as_deref();
    let ic = &config.integrity;
    match cmd {
        IntegrityCmd::Init { key } => {
            if ic.baseline.exists() {
                return Err(format!(
                    "a baseline already exists at {}; accept changes with `rampart integrity rebaseline`",
                    ic.baseline.display()
                ));
            }
            let (signing, created) = SigningKey::load_or_create(&key)?;
            publish_public_key(&signing.public(), &ic.public_key)?;
            let n = write_baseline(config, config_path, &signing)?;
            if created {
                println!("created the integrity key {} (mode 0600)", key.display());
            }
            println!(
                "baseline of {n} files written to {}, verified by {} ({})",
                ic.baseline.display(),
                ic.public_key.display(),
                signing.public().fingerprint()
            );
            println!(
                "note the fingerprint, and keep the key apart: move it off this machine; it is needed only to re-baseline"
            );
            Ok(())
        }
        IntegrityCmd::Check { public_key } => {
            let pk = public_key.unwrap_or_else(|| ic.public_key.clone());
            match check(config, config_path, &pk) {
                Outcome::NoBaseline(e) | Outcome::Untrusted(e) => Err(e),
                Outcome::Checked { files, findings } => {
                    let fp = PublicKey::load(&pk)
                        .map(|k| k.fingerprint())
                        .unwrap_or_default();
                    for f in &findings {
                        println!("{f}");
                    }
                    if findings.is_empty() {
                        println!("NC-2.2: {files} files match the baseline (key {fp})");
                        Ok(())
                    } else {
                        Err(format!(
                            "NC-2.2: {} difference(s) from the baseline (key {fp})",
                            findings.len()
                        ))
                    }
                }
            }
        }
        IntegrityCmd::Rebaseline { key } => {
            // Tripwire's model: only the key that made the baseline may accept a change.
            let signing = SigningKey::load(&key)?;
            let configured = PublicKey::load(&ic.public_key)?;
            if signing.public() != configured {
                return Err(format!(
                    "NC-2.2: {} is not the key of the public key {} ({}); a baseline is re-signed only with the key that made it",
                    key.display(),
                    ic.public_key.display(),
                    configured.fingerprint()
                ));
            }
            if let Outcome::Checked { findings, .. } = check(config, config_path, &ic.public_key) {
                for f in &findings {
                    println!("accepted: {f}");
                }
            }
            let n = write_baseline(config, config_path, &signing)?;
            println!(
                "baseline of {n} files re-signed in {}",
                ic.baseline.display()
            );
            Ok(())
        }
    }
}

fn write_baseline(
    config: &Config,
    config_path: Option<&Path>,
    key: &SigningKey,
) -> Result<usize, String> {
    let body = Body {
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        files: files::record_all(&files::critical_files(config, config_path)),
    };
    baseline::write(&config.integrity.baseline, &body, key)?;
    Ok(body.files.len())
}

/// Writes the public key file, or checks that the one there is this key's.
fn publish_public_key(key: &PublicKey, path: &Path) -> Result<(), String> {
    if path.exists() {
        let there = PublicKey::load(path)?;
        if &there != key {
            return Err(format!(
                "the public key {} is not the key's ({} there, {} in the key); remove it or name the right --key",
                path.display(),
                there.fingerprint(),
                key.fingerprint()
            ));
        }
        return Ok(());
    }
    std::fs::write(path, key.to_file_text())
        .map_err(|e| format!("cannot write the public key {}: {e}", path.display()))
}
