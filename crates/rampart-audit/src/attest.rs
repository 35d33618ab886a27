//! Attestations for the organisational controls (NC-2.5, NC-2.2's dedicated host, NC-2.3.1's
//! network firewall): `rampart audit attest ID --by NAME --note TEXT` appends one line to
//! `audit/attestations.jsonl` in the data directory.
//!
//! Each line carries the SHA-256 of the line before it and of itself (a hash chain), and the
//! operating-system account that ran the command beside the name given: a line edited or
//! removed afterwards breaks the chain, which the audit reports as a failure. The chain shows
//! tampering; it does not prove who typed the name (that is the host's login records' job).

use crate::facts::Attestation;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Line {
    control: String,
    by: String,
    note: String,
    /// Seconds since the epoch.
    at: i64,
    /// The operating-system account that ran the command.
    os_user: String,
    /// Hex SHA-256 of the previous line's `hash` ("" for the first).
    prev: String,
    /// Hex SHA-256 over prev, control, by, note, at and os_user.
    hash: String,
}

impl Line {
    fn digest(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            self.prev.as_str(),
            &self.control,
            &self.by,
            &self.note,
            &self.at.to_string(),
            &self.os_user,
        ] {
            // Length-prefixed, so fields cannot be shifted into each other.
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        hex(ctx.finish().as_ref())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit").join("attestations.jsonl")
}

/// What the log holds: the attestations, or where its chain breaks.
#[derive(Debug)]
pub struct Log {
    pub attestations: Vec<Attestation>,
    /// The first line (1-based) whose hash or link does not match, if any.
    pub broken_at: Option<usize>,
}

/// Reads the log; a missing file is an empty log.
pub fn read(data_dir: &Path) -> std::io::Result<Log> {
    let text = match std::fs::read_to_string(path(data_dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut log = Log {
        attestations: Vec::new(),
        broken_at: None,
    };
    let mut prev = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line: Option<Line> = serde_json::from_str(raw).ok();
        match line {
            Some(l) if l.prev == prev && l.digest() == l.hash => {
                prev = l.hash.clone();
                log.attestations.push(Attestation {
                    control: l.control,
                    by: format!("{} (as {})", l.by, l.os_user),
                    note: l.note,
                    at: l.at,
                });
            }
            _ => {
                log.broken_at = Some(i + 1);
                break;
            }
        }
    }
    Ok(log)
}

/// Appends one attestation and makes it durable. Refuses to extend a broken chain.
pub fn append(
    data_dir: &Path,
    control: &str,
    by: &str,
    note: &str,
    os_user: &str,
    at: i64,
) -> Result<(), String> {
    let log =
        read(data_dir).map_err(|e| format!("cannot read {}: {e}", path(data_dir).display()))?;
    if let Some(n) = log.broken_at {
        return Err(format!(
            "{} was altered at line {n}; find out who changed it before adding to it",
            path(data_dir).display()
        ));
    }
    let text = std::fs::read_to_string(path(data_dir)).unwrap_or_default();
    let prev = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Line>(l).ok())
        .map(|l| l.hash)
        .unwrap_or_default();
    let mut line = Line {
        control: control.to_string(),
        by: by.to_string(),
        note: note.to_string(),
        at,
        os_user: os_user.to_string(),
        prev,
        hash: String::new(),
    };
    line.hash = line.digest();
    let p = path(data_dir);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string(&line).map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(|e| format!("cannot open {}: {e}", p.display()))?;
    f.write_all(format!("{json}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rampart-attest-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn nc_2_5_attestations_chain_and_an_edit_breaks_it() {
        let d = dir();
        append(&d, "NC-2.5", "J. Admin", "room B locked", "root", 1_000).unwrap();
        append(
            &d,
            "NC-2.2-host",
            "J. Admin",
            "VM runs mail only",
            "root",
            2_000,
        )
        .unwrap();
        let log = read(&d).unwrap();
        assert_eq!(log.broken_at, None);
        assert_eq!(log.attestations.len(), 2);
        assert_eq!(log.attestations[0].by, "J. Admin (as root)");
        // Backdating the first attestation breaks the chain at line 1.
        let text = std::fs::read_to_string(path(&d)).unwrap();
        std::fs::write(path(&d), text.replacen("\"at\":1000", "\"at\":1500", 1)).unwrap();
        let log = read(&d).unwrap();
        assert_eq!(log.broken_at, Some(1));
        assert!(append(&d, "NC-2.5", "x", "y", "root", 3_000).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
