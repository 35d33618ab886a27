//! Reloading on SIGHUP (`systemctl reload`): what a running server can take from a changed
//! configuration without dropping a session or losing a counter.
//!
//! On SIGHUP the configuration file is read and checked again, completely, and the check
//! pipeline is built from it (rule files, DLP patterns, lists read now). A file with an error, a
//! rule file that does not parse or a certificate that does not load refuses the whole reload:
//! one log line names the error and everything goes on as before. A good one is compared with
//! the configuration running, section by section:
//!
//! - applied now, to the sessions that start from now on (sessions in progress finish with what
//!   they started with): the TLS certificate and key; `[limits]` (sizes, connections, lines,
//!   recipients); `[[rate_limit]]` (NC-2.1.8: a rule kept keeps its counts, so a reload is no
//!   way around a limit); `[checks]` (AL-1.2: the content rules, built in and
//!   `checks.spam.rule_files`, the lists, DLP, thresholds, the URL feeds and block lists);
//! - always current without a reload: users, domains, aliases, grants and bans (read from the
//!   store at each use), DKIM keys (read again when `data_dir/dkim` changes), URL feeds (read
//!   again when their files change), `[passwords]` (read by each command that sets a password);
//! - every other section that changed is named in the log as "needs a restart": listeners'
//!   addresses, data_dir, run_as, the store, hostname, auth, ids, delivery, ... and
//!   `limits.max_message_memory` (the budget every session shares). The running server keeps
//!   the values it started with for those, in the sessions too.
//!
//! Nothing here stops a session or resets a counter: the listeners, the rate limiters, the
//! authentication guard, the memory budget and the intrusion detector are the same objects
//! before and after. The JMAP submission, the sendmail pickup and the queue manager's URL
//! recheck at delivery take the server's context of the moment, so they follow a reload too.

use rampart_checks::pipeline::Pipeline;
use rampart_config::Config;
use rampart_smtp::tls::ServerTls;
use rampart_smtp::Server;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Sections a reload applies, or that are read where they are used.
const APPLIED: &[&str] = &["tls", "passwords", "limits", "rate_limits", "checks"];

/// Builds the check pipeline from a configuration (the same function as at start).
pub type BuildPipeline = Box<dyn Fn(&Config) -> Result<Arc<Pipeline>, String> + Send + Sync>;

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
    /// The configuration the server runs with (the sections applied by reloads included).
    pub running: Mutex<Arc<Config>>,
    /// The listeners' certificate.
    pub tls: Arc<ServerTls>,
    /// The SMTP listeners, whose context new sessions take.
    pub server: Arc<Server>,
    /// Builds the pipeline of a new configuration.
    pub pipeline: BuildPipeline,
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
                tracing::warn!("SIGHUP: configuration reloaded; certificate, limits, rate limits and checks (rules, lists, feeds) in force for new sessions");
                println!("configuration reloaded");
            }
            Outcome::Reloaded { restart } => {
                tracing::warn!(
                    needs_restart = %restart.join(","),
                    "SIGHUP: configuration reloaded; certificate, limits, rate limits and checks in force for new sessions; changed sections that need a restart to apply: {}",
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
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // --data-dir on the command line overrode the file's: unchanged in the file, the
        // running value stands.
        if self.file_data_dir.as_ref() == Some(&new.data_dir) {
            new.data_dir = running.data_dir.clone();
        }
        // What is applied: the running configuration with the applied sections of the new one.
        let mut applied = (*running).clone();
        applied.tls = new.tls.clone();
        applied.passwords = new.passwords.clone();
        applied.limits = new.limits.clone();
        applied.limits.max_message_memory = running.limits.max_message_memory;
        applied.rate_limits = new.rate_limits.clone();
        applied.checks = new.checks.clone();
        // The pipeline before anything is applied: a rule file that does not parse refuses all.
        let pipeline = match (self.pipeline)(&applied) {
            Ok(p) => p,
            Err(e) => return Outcome::Refused(e),
        };
        // The certificate next: a pair that does not load refuses the whole reload.
        if let Err(e) = self.tls.reload() {
            return Outcome::Refused(format!("the TLS certificate or key: {e}"));
        }
        let mut restart = changed_sections(&running, &new);
        restart.retain(|s| !APPLIED.contains(&s.as_str()));
        if new.limits.max_message_memory != running.limits.max_message_memory {
            restart.push("limits.max_message_memory".into());
        }
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
        // New sessions take the new context; the counters are the same objects.
        let applied = Arc::new(applied);
        let old = self.server.context();
        let ctx = old.reconfigured(applied.clone(), Some(pipeline), old.deliver_local_now);
        self.server.replace_context(Arc::new(ctx));
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = applied;
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
