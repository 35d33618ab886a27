//! NC-2.2 while serving: the integrity check at start and every `interval_secs`. Every finding
//! is logged and traced at each check; the postmaster is mailed when the findings differ from
//! the last ones mailed (a file left changed is not mailed again every hour).

use super::Outcome;
use rampart_config::Config;
use rampart_store::AnyStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// What the watcher needs of the server.
pub struct Watcher {
    pub config: Arc<Config>,
    pub config_path: Option<PathBuf>,
    pub store: AnyStore,
    pub notify: Arc<Notify>,
    /// Where the last check's outcome is kept for the admin socket's `status` (the audit).
    pub last: LastCheck,
}

/// The last check's outcome as the running server saw it, for `rampart audit` (NC-2.2).
#[derive(Clone, Default)]
pub struct LastCheck(Arc<std::sync::Mutex<Option<serde_json::Value>>>);

impl LastCheck {
    fn record(&self, outcome: &Outcome) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let v = match outcome {
            Outcome::NoBaseline(why) => {
                serde_json::json!({ "state": "no-baseline", "at": at, "findings": [why] })
            }
            Outcome::Untrusted(why) => {
                serde_json::json!({ "state": "untrusted", "at": at, "findings": [why] })
            }
            Outcome::Checked { files, findings } => serde_json::json!({
                "state": "checked",
                "at": at,
                "files": files,
                "findings": findings.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            }),
        };
        if let Ok(mut last) = self.0.lock() {
            *last = Some(v);
        }
    }

    /// The last outcome; `None` before the first check.
    pub fn get(&self) -> Option<serde_json::Value> {
        self.0.lock().ok().and_then(|l| l.clone())
    }
}

/// The check `serve` runs before dropping privileges, so that files only root may read are
/// hashed at least once.
pub fn first(config: &Config, config_path: Option<&std::path::Path>) -> Outcome {
    super::check(config, config_path, &config.integrity.public_key)
}

impl Watcher {
    /// Reports `first`, then checks again every interval until shutdown.
    pub async fn run(self, first: Outcome, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_secs(u64::from(self.config.integrity.interval_secs.get()));
        let mut mailed: Vec<String> = Vec::new();
        let mut outcome = first;
        loop {
            self.last.record(&outcome);
            self.report(outcome, &mut mailed).await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            let (config, path) = (self.config.clone(), self.config_path.clone());
            outcome = match tokio::task::spawn_blocking(move || {
                super::check(&config, path.as_deref(), &config.integrity.public_key)
            })
            .await
            {
                Ok(o) => o,
                Err(e) => Outcome::Untrusted(format!("the integrity check failed: {e}")),
            };
        }
    }

    async fn report(&self, outcome: Outcome, mailed: &mut Vec<String>) {
        let findings: Vec<String> = match outcome {
            Outcome::NoBaseline(why) => {
                // Said once at start: a server without a baseline yet is not under attack.
                if mailed.is_empty() {
                    tracing::warn!("NC-2.2: {why}");
                    mailed.push(why);
                }
                return;
            }
            Outcome::Untrusted(why) => vec![why],
            Outcome::Checked { files, findings } => {
                tracing::info!(files, findings = findings.len(), "NC-2.2: integrity check");
                findings.iter().map(|f| format!("NC-2.2: {f}")).collect()
            }
        };
        for f in &findings {
            tracing::warn!(finding = %f, "integrity");
        }
        if findings.is_empty() || &findings == mailed {
            *mailed = findings;
            return;
        }
        crate::notice::report(
            &self.store,
            &self.notify,
            self.config.hostname.get_ref(),
            "integrity",
            "File integrity check: critical files changed (NC-2.2)",
            &findings,
        )
        .await;
        *mailed = findings;
    }
}
