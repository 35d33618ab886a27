//! NC-2.2: which files are critical, and what is recorded of each.
//!
//! Critical: the configuration file and every file it names (certificate, TLS key, smarthost
//! and null-client CA and password files, TLS policy CA files, the GeoIP database, URL feeds,
//! the ARC sealing key, the integrity public key), every DKIM key in `data_dir/dkim/`, the
//! binary itself and the systemd unit if there is one. Files that change in normal operation
//! (queue, database, message files, logs, the drop directory) are left out by design.

use rampart_config::Config;
use ring::digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where a systemd unit for the server may be installed.
pub const SYSTEMD_UNITS: &[&str] = &[
    "/etc/systemd/system/rampart.service",
    "/lib/systemd/system/rampart.service",
    "/usr/lib/systemd/system/rampart.service",
];

/// What is recorded of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// SHA-256 of the contents, hex; `None` when the file could not be read (the server after
    /// dropping privileges may only see its metadata).
    pub sha256: Option<String>,
    pub size: u64,
    /// Permission bits and file type (st_mode).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, Unix seconds.
    pub mtime: i64,
}

/// Every critical file's path (absolute), sorted, without duplicates.
pub fn critical_files(config: &Config, config_path: Option<&Path>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    paths.extend(config_path.map(Path::to_path_buf));
    match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => paths.extend([c.get_ref().clone(), k.get_ref().clone()]),
        // The generated certificate and key (renewed by the server: re-baseline after).
        _ => {
            let tls = config.data_dir.join("tls");
            paths.extend([tls.join("cert.pem"), tls.join("key.pem")]);
        }
    }
    if let Some(s) = &config.delivery.smarthost {
        paths.extend(s.ca_file.iter().chain(&s.password_file).cloned());
    }
    for p in &config.delivery.policies {
        paths.extend(p.ca_file.iter().cloned());
    }
    if let Some(nc) = &config.null_client {
        paths.extend(nc.ca_file.iter().chain(&nc.password_file).cloned());
    }
    paths.extend(config.audit.geoip_database.iter().cloned());
    paths.extend(config.checks.urls.feeds.iter().cloned());
    if let Some(seal) = &config.checks.authentication.arc_seal {
        paths.push(seal.key_file.clone());
    }
    paths.push(config.integrity.public_key.clone());
    // AL-2.2: the DKIM signing keys, whatever their number.
    if let Ok(dir) = std::fs::read_dir(rampart_queue::dkim::key_dir(&config.data_dir)) {
        for e in dir.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                paths.push(e.path());
            }
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        paths.push(exe);
    }
    paths.extend(
        SYSTEMD_UNITS
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists()),
    );
    let mut paths: Vec<PathBuf> = paths
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The records of `paths` that exist now (a missing file is absent from the map).
pub fn record_all(paths: &[PathBuf]) -> BTreeMap<PathBuf, FileRecord> {
    paths
        .iter()
        .filter_map(|p| record(p).map(|r| (p.clone(), r)))
        .collect()
}

/// One file's record; `None` when it does not exist (or cannot even be looked at).
pub fn record(path: &Path) -> Option<FileRecord> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileRecord {
        sha256: sha256_file(path),
        size: meta.size(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
    })
}

fn sha256_file(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ctx.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(hex(ctx.finish().as_ref()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
