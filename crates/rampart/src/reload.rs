//! Reloading on SIGHUP (`systemctl reload`): what a running server can take from a changed
//! configuration without dropping a session or losing a counter.
//!
//! On SIGHUP the configuration file is read and checked again, completely. A file with an error
//! is refused: the error is logged and everything goes on as before. A good one is compared
//! with the configuration running, section by section:
//!
//! - read again now: the TLS certificate and key (new connections get the new certificate,
//!   sessions in progress keep theirs);
//! - always current without a reload: users, domains, aliases, grants and bans (read from the
//!   store), DKIM keys (read again when `data_dir/dkim` changes), URL feeds (read again when
//!   their files change), `[passwords]` (read by each command that sets a password);
//! - every other section that changed is named in the log as "needs a restart": listeners'
//!   addresses, data_dir, run_as, the store, and the sections the sessions hold from start-up
//!   (limits, timeouts, checks, ...). The running server keeps using the values it started with.
//!
//! Nothing here stops a session or resets a counter: the listeners, the rate limiters, the
//! authentication guard and the intrusion detector are the same objects before and after.

use rampart_config::Config;
use rampart_smtp::tls::ServerTls;
use std::path::PathBuf;
use std::sync::Arc;

/// Sections a reload applies, or that are read where they are used.
const APPLIED: &[&str] = &["tls", "passwords"];

/// What a reload did, for the log and the test that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new configuration was read; `restart` names the changed sections not applied.
    Reloaded { restart: Vec<String> },
    /// The new configuration was refused (its errors); the old one stays.
    Refused(String),
}

/// Holds what a reload compares and reloads.
pub struct Reloader {
    /// The configuration file; None for the embedded demo, which has nothing to reload.
    pub path: Option<PathBuf>,
    /// The configuration the server runs with.
    pub running: Arc<Config>,
    /// The listeners' certificate.
    pub tls: Arc<ServerTls>,
    /// The data_dir the file named at start (`--data-dir` may have overridden it): a file
    /// still naming it has not changed it.
    pub file_data_dir: Option<PathBuf>,
}

impl Reloader {
    /// Reads the configuration again and applies what can be applied; logs the outcome (and
    /// prints it on standard output, beside the other lines the server prints there).
    pub fn reload(&self) -> Outcome {
        let outcome = self.try_reload();
        match &outcome {
            Outcome::Reloaded { restart } if restart.is_empty() => {
                tracing::warn!("SIGHUP: configuration reloaded; certificate read again");
                println!("configuration reloaded");
            }
            Outcome::Reloaded { restart } => {
                tracing::warn!(
                    needs_restart = %restart.join(","),
                    "SIGHUP: configuration reloaded; certificate read again; changed sections that need a restart to apply: {}",
                    restart.join(", ")
                );
                println!(
                    "configuration reloaded; needs a restart: {}",
                    restart.join(", ")
                );
            }
            Outcome::Refused(e) => {
                tracing::error!(error = %e, "SIGHUP: the new configuration is refused; the old one stays in force");
                println!(
                    "configuration refused, the old one stays: {}",
                    e.replace('\n', "; ")
                );
            }
        }
        outcome
    }

    fn try_reload(&self) -> Outcome {
        let Some(path) = &self.path else {
            return Outcome::Refused(
                "the embedded demo configuration has no file to read again; start with --config"
                    .into(),
            );
        };
        let mut new = match Config::load(path) {
            Ok(c) => c,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        // --data-dir on the command line overrode the file's: unchanged in the file, the
        // running value stands.
        if self.file_data_dir.as_ref() == Some(&new.data_dir) {
            new.data_dir = self.running.data_dir.clone();
        }
        // The certificate first: a pair that does not load refuses the whole reload.
        if let Err(e) = self.tls.reload() {
            return Outcome::Refused(format!("the TLS certificate or key: {e}"));
        }
        let mut restart = changed_sections(&self.running, &new);
        restart.retain(|s| !APPLIED.contains(&s.as_str()));
        if let (Some((cert, key)), Some(c), Some(k)) = (
            self.tls.configured_files(),
            new.tls.cert.as_ref(),
            new.tls.key.as_ref(),
        ) {
            // New paths: the files at the old ones were read; the new ones need a restart.
            if c.get_ref() != cert || k.get_ref() != key {
                restart.push("tls.cert/tls.key paths".into());
            }
        }
        Outcome::Reloaded { restart }
    }
}

/// The top-level sections (and keys) whose values differ between `old` and `new`, sorted.
pub fn changed_sections(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(the configuration could not be compared)".into()];
    };
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| match k.as_str() {
            "listener" => "listener (addresses and roles)".to_string(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_sections_are_named() {
        let old = Config::default();
        let mut new = Config::default();
        assert!(changed_sections(&old, &new).is_empty());
        new.shutdown_grace_secs = 5;
        new.passwords.min_length = 16;
        new.data_dir = "/elsewhere".into();
        assert_eq!(
            changed_sections(&old, &new),
            vec!["data_dir", "passwords", "shutdown_grace_secs"]
        );
    }
}
