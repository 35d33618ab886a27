//! `[sendmail]`: the `rampart sendmail` command local programs call (cron, `mail`, scripts) and
//! the drop directory it writes to, which `rampart serve` picks up (NC-2.1.9).
//!
//! Who may submit is decided by the drop directory's permissions: owned by the service user and
//! its group, mode 3733 (anyone may create a file, nobody but the service may list, read or
//! remove what others wrote; setgid, so each file takes the service's group and the service
//! reads it through that group, mode 0640), or 3730 with a group of the users allowed to send,
//! of which the service user is then a member too.

use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// The sendmail-compatible command and its drop directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendmailConfig {
    /// The drop directory: each message `rampart sendmail` accepts is written here durably
    /// before the command exits 0, and the server submits it from here. Default `drop` inside
    /// the data directory; a relative path is taken from the data directory (`../spool` lies
    /// beside it: the data directory is 0700, so a drop directory for every local user must).
    pub drop_dir: Option<PathBuf>,
    /// The address local programs' mail is sent as (the account whose sending rules apply and
    /// the envelope sender when the caller gives none or the null sender). Without it, the
    /// login of the user who ran the command at the domain of `hostname` (root on
    /// mail.example.org sends as root@example.org), which must be a local account.
    pub sender: Option<String>,
    /// Seconds between scans of the drop directory. The command wakes the server at once after
    /// each message; the scan only catches a wake-up that was missed.
    pub scan_interval_secs: NonZeroU32,
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig {
            drop_dir: None,
            sender: None,
            scan_interval_secs: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
        }
    }
}

impl SendmailConfig {
    /// The drop directory for a server whose data directory is `data_dir`. `..` is resolved
    /// here, by name: a caller who may not enter the data directory (mode 0700) can still
    /// reach `../spool` beside it.
    pub fn drop_dir(&self, data_dir: &Path) -> PathBuf {
        let joined = match &self.drop_dir {
            Some(p) => data_dir.join(p),
            None => data_dir.join("drop"),
        };
        let mut out = PathBuf::new();
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_dir_defaults_inside_the_data_dir() {
        let c = SendmailConfig::default();
        assert_eq!(c.drop_dir(Path::new("/d")), PathBuf::from("/d/drop"));
        let c = SendmailConfig {
            drop_dir: Some("/var/spool/rampart".into()),
            ..SendmailConfig::default()
        };
        assert_eq!(
            c.drop_dir(Path::new("/d")),
            PathBuf::from("/var/spool/rampart")
        );
        assert_eq!(c.scan_interval_secs.get(), 5);
        let c = SendmailConfig {
            drop_dir: Some("../spool/./drop".into()),
            ..SendmailConfig::default()
        };
        assert_eq!(
            c.drop_dir(Path::new("/srv/data")),
            PathBuf::from("/srv/spool/drop")
        );
    }
}
