//! `[reports]`: the system reports (AL-3.2) mailed on a schedule (daily, weekly, monthly). Each list names the addresses
//! that receive the summary of the period just ended (`rampart report summary` shows the same
//! numbers at any time). An empty list sends nothing for that period.

use crate::report::{ConfigError, Locator};
use crate::Config;
use serde::{Deserialize, Serialize};

/// Recipients of the scheduled summaries.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Addresses that receive the summary of each UTC day, shortly after midnight.
    pub daily: Vec<String>,
    /// Addresses that receive the summary of each week (Monday to Sunday, UTC), on Monday.
    pub weekly: Vec<String>,
    /// Addresses that receive the summary of each calendar month (UTC), on the first.
    pub monthly: Vec<String>,
}

impl ReportsConfig {
    /// Problems with the addresses, as (key, message): each must look like `local@domain`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, list) in [
            ("reports.daily", &self.daily),
            ("reports.weekly", &self.weekly),
            ("reports.monthly", &self.monthly),
        ] {
            for a in list {
                let ok = a.rsplit_once('@').is_some_and(|(l, d)| {
                    !l.is_empty() && d.contains('.') && !a.contains(char::is_whitespace)
                }) && !a
                    .chars()
                    .any(|c| c.is_control() || c == '<' || c == '>' || c == ',');
                if !ok {
                    out.push((
                        key.to_string(),
                        format!("{a:?} is not a mail address; write it as user@example.org"),
                    ));
                }
            }
        }
        out
    }
}

/// `[reports]` in the configuration's own check: every bad address with its key and line.
pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    for (key, message) in config.reports.problems() {
        errors.push(loc.at(&key, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_3_2_report_addresses_are_checked() {
        let c = ReportsConfig {
            daily: vec!["postmaster@example.org".into(), "not an address".into()],
            weekly: vec!["a@b".into(), "x@example.org>\r\nBcc: y@z.org".into()],
            monthly: vec!["audit@example.org".into(), "two@x.org, three@y.org".into()],
        };
        let p = c.problems();
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!(p[3].0, "reports.monthly");
        assert_eq!(p[0].0, "reports.daily");
        assert!(ReportsConfig::default().problems().is_empty());
    }
}
