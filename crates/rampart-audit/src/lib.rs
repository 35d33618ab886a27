//! Compliance evidence for North Carolina's Electronic Mail Server Security Standard (NC-…) and
//! Alabama's Standard 540S1 (AL-…).
//!
//! ```text
//! registry (one Control per id) ──▶ evidence functions (pure: Facts ─▶ Findings)
//!        ▲                                   ▲
//!        │                          Facts: the effective configuration, the host (/proc, files),
//!   a test: every id of both        the running server, self-tests against our own listeners,
//!   standards is here, each         DNS, the trace, attestations — gathered by the binary
//!   with an evidence function       through the same public APIs the CLI uses
//!                                            │
//!                                            ▼
//!                            Report ─▶ text │ JSON │ HTML │ OSCAL
//! ```
//!
//! Evidence is gathered, never assumed: a control whose facts could not be collected is a
//! `warn` naming what was missing, not a `pass`.

pub mod attest;
pub mod cert;
pub mod evidence;
pub mod facts;
pub mod host;
pub mod html;
pub mod oscal;
pub mod registry;
pub mod remote;
pub mod report;

use serde::Serialize;

/// The outcome for one control, or for one finding under it. Ordered from best to worst for
/// folding several findings into one control status ([`Status::worst`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Does not apply to this installation; the finding says why.
    #[serde(rename = "not-applicable")]
    NotApplicable,
    /// Met, with the evidence shown.
    Pass,
    /// Organisational: an administrator's dated attestation is the evidence.
    Manual,
    /// Met only in part, weakened by a setting, or its evidence is incomplete.
    Warn,
    /// Not met.
    Fail,
}

impl Status {
    /// The status of a control from its findings: the worst of them; none at all is a warning
    /// (no evidence was gathered).
    pub fn worst<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Status {
        findings
            .into_iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Warn)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotApplicable => "not-applicable",
            Status::Pass => "pass",
            Status::Manual => "manual",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One piece of evidence about one control: what was looked at, what was seen, and for a fail
/// or warn, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The control it evidences, e.g. `NC-2.1.3`.
    pub control: &'static str,
    /// A short name for the test or fact, e.g. `banner` or `listener 0.0.0.0:25`.
    pub check: String,
    pub status: Status,
    /// What was seen, in words a person can check (the reply, the setting, the file mode).
    pub evidence: String,
    /// For fail and warn: the configuration key or command that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl Finding {
    pub fn pass(
        control: &'static str,
        check: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Finding {
        Finding::new(control, check, Status::Pass, evidence, None)
    }

    pub fn fail(
        control: &'static str,
        check: impl Into<String>,
        evidence: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Finding {
        Finding::new(control, check, Status::Fail, evidence, Some(remedy.into()))
    }

    pub fn warn(
        control: &'static str,
        check: impl Into<String>,
        evidence: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Finding {
        Finding::new(control, check, Status::Warn, evidence, Some(remedy.into()))
    }

    pub fn new(
        control: &'static str,
        check: impl Into<String>,
        status: Status,
        evidence: impl Into<String>,
        remedy: Option<String>,
    ) -> Finding {
        Finding {
            control,
            check: check.into(),
            status,
            evidence: evidence.into(),
            remedy,
        }
    }
}

/// Civil date and time (UTC) from seconds since the epoch: year, month, day, hour, minute,
/// second (days-from-civil inverted, proleptic Gregorian).
pub fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// RFC 3339 in UTC, e.g. `2026-12-03T15:04:05Z`.
pub fn rfc3339(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_is_as_bad_as_its_worst_finding() {
        let f = [
            Finding::pass("NC-2.1.3", "banner", "220 mx.example ESMTP"),
            Finding::warn("NC-2.1.3", "help", "214 names nothing", "none"),
        ];
        assert_eq!(Status::worst(&f), Status::Warn);
        assert_eq!(Status::worst(&f[..1]), Status::Pass);
        assert_eq!(Status::worst(&[]), Status::Warn);
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_310_245), "2026-12-03T15:04:05Z");
    }
}
