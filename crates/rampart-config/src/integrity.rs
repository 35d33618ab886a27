//! `[integrity]`: the file integrity checker (NC-2.2), and `[freshness]`: the age of the virus
//! signatures and of the lists the gateway loads (NC-2.4.4, AL-1.2).
//!
//! The baseline is made and re-signed by `rampart integrity init|rebaseline` with a private key
//! that `rampart serve` never reads; the server only verifies with the public key named here.

use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// The most days signatures or a feed may age before NC-2.4.4 (weekly updates) is broken.
pub const MAX_AGE_DAYS_ALLOWED: u32 = 7;

/// NC-2.2: the baseline of the critical files and how often `serve` compares them with it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrityConfig {
    /// Compare the critical files with the baseline at start and every `interval_secs`.
    /// Default true; without a baseline file the server says once that there is none.
    pub enabled: bool,
    /// The signed baseline written by `rampart integrity init`. Keep it outside the data
    /// directory. Default `/etc/rampart/integrity.baseline`.
    pub baseline: PathBuf,
    /// The Ed25519 public key that verifies the baseline (written by `init` beside the private
    /// key, as `<key>.pub`). Keep it where the server's user cannot write it, ideally also
    /// recorded off the machine. Default `/etc/rampart/integrity.pub`.
    pub public_key: PathBuf,
    /// Seconds between two checks while serving. Default 3600 (one hour).
    pub interval_secs: NonZeroU32,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            enabled: true,
            baseline: PathBuf::from("/etc/rampart/integrity.baseline"),
            public_key: PathBuf::from("/etc/rampart/integrity.pub"),
            interval_secs: NonZeroU32::new(3600).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// NC-2.4.4, AL-1.2: how old the virus signatures and the URL feeds may grow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreshnessConfig {
    /// Days after which a source is reported stale. Default 7; a larger value is accepted with a
    /// warning at start and a finding at every check, since NC-2.4.4 asks for weekly updates.
    pub max_age_days: NonZeroU32,
    /// clamd's `DatabaseDirectory`, whose files date the signatures when clamd's `VERSION`
    /// reply carries no date. Default `/var/lib/clamav` (Debian's).
    pub clamav_database_dir: PathBuf,
    /// Seconds between two checks while serving. Default 3600 (one hour).
    pub interval_secs: NonZeroU32,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        FreshnessConfig {
            max_age_days: NonZeroU32::new(MAX_AGE_DAYS_ALLOWED).unwrap_or(NonZeroU32::MIN),
            clamav_database_dir: PathBuf::from("/var/lib/clamav"),
            interval_secs: NonZeroU32::new(3600).unwrap_or(NonZeroU32::MIN),
        }
    }
}

impl IntegrityConfig {
    /// Relative paths are taken relative to the configuration file's directory.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.baseline, &mut self.public_key] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

impl FreshnessConfig {
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if self.clamav_database_dir.is_relative() {
            self.clamav_database_dir = base.join(&self.clamav_database_dir);
        }
    }

    /// NC-2.4.4: true when `max_age_days` allows more than a week.
    pub fn above_allowed(&self) -> bool {
        self.max_age_days.get() > MAX_AGE_DAYS_ALLOWED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_2_defaults_keep_the_baseline_outside_the_data_dir() {
        let c = IntegrityConfig::default();
        assert!(c.enabled);
        assert_eq!(c.interval_secs.get(), 3600);
        assert!(c.baseline.starts_with("/etc/rampart"));
        let f: FreshnessConfig = toml::from_str("max_age_days = 9").unwrap();
        assert!(f.above_allowed());
        assert!(!FreshnessConfig::default().above_allowed());
        assert!(toml::from_str::<IntegrityConfig>("nope = 1").is_err());
    }
}
