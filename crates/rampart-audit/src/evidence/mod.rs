//! The evidence functions: one per control, each reading [`Facts`] and returning its findings.
//! Shared pieces here: facts that were not gathered, probe results, attestations.

pub mod al;
pub mod nc;
mod nc_2_2;
pub mod store;

use crate::facts::Facts;
use crate::{Finding, Status};
use rampart_config::{Config, Role};

/// A year: an attestation older than this is flagged.
pub const ATTESTATION_MAX_AGE_SECS: i64 = 365 * 86_400;
/// NC-2.4.3: the shortest retention the standard allows.
pub const MIN_RETENTION_DAYS: u64 = 90;
/// NC-2.4.4: signatures at least weekly.
pub const MAX_SIGNATURE_AGE_SECS: i64 = 7 * 86_400;

/// The configuration, or the finding that says it could not be read.
pub(crate) fn config<'a>(f: &'a Facts, id: &'static str) -> Result<&'a Config, Finding> {
    f.config.as_ref().ok_or_else(|| {
        Finding::warn(
            id,
            "configuration",
            "the configuration was not read",
            "run the audit with --config naming the server's configuration file",
        )
    })
}

/// The self-test findings for `id`, or one warning that they were not run.
pub(crate) fn probes(f: &Facts, id: &'static str) -> Vec<Finding> {
    match &f.probes {
        Some(all) => all.iter().filter(|p| p.control == id).cloned().collect(),
        None => vec![Finding::warn(
            id,
            "self-test",
            "the active self-tests against the listeners were not run",
            "run `rampart audit` on the server while `rampart serve` runs (or --remote HOST)",
        )],
    }
}

/// The DNS findings for `id`, or one warning that DNS was not looked at.
pub(crate) fn dns(f: &Facts, id: &'static str) -> Vec<Finding> {
    match &f.dns {
        Some(all) => all.iter().filter(|p| p.control == id).cloned().collect(),
        None => vec![Finding::warn(
            id,
            "dns",
            "the DNS records of the represented domains were not looked up",
            "run `rampart audit` with DNS reachable (or --dns SERVER)",
        )],
    }
}

/// An organisational control: the latest attestation, flagged when older than a year.
pub(crate) fn attested(f: &Facts, id: &'static str, what: &str) -> Finding {
    if let Some(line) = f.attestations_broken_at {
        return Finding::fail(
            id,
            "attestation",
            format!("the attestation log was altered at line {line}: no attestation in it can be trusted"),
            "find out who changed audit/attestations.jsonl in the data directory; restore it from a backup",
        );
    }
    let latest = f
        .attestations
        .iter()
        .filter(|a| a.control == id)
        .max_by_key(|a| a.at);
    match latest {
        None => Finding::new(
            id,
            "attestation",
            Status::Manual,
            format!("{what}: no attestation recorded"),
            Some(format!(
                "check it, then record it: rampart audit attest {id} --by NAME --note TEXT"
            )),
        ),
        Some(a) if f.now - a.at > ATTESTATION_MAX_AGE_SECS => Finding::warn(
            id,
            "attestation",
            format!(
                "{what}: attested by {} {} days ago (\"{}\"), more than a year",
                a.by,
                (f.now - a.at) / 86_400,
                a.note
            ),
            format!(
                "check it again and record it: rampart audit attest {id} --by NAME --note TEXT"
            ),
        ),
        Some(a) => Finding::new(
            id,
            "attestation",
            Status::Manual,
            format!(
                "{what}: attested by {} {} days ago: {}",
                a.by,
                (f.now - a.at) / 86_400,
                a.note
            ),
            None,
        ),
    }
}

/// The listeners of some roles, as `role address` strings.
pub(crate) fn listeners(c: &Config, pick: impl Fn(Role) -> bool) -> Vec<String> {
    c.listeners
        .iter()
        .filter(|l| pick(l.role))
        .map(|l| format!("{} {}", l.role, l.address))
        .collect()
}

/// `a, b, c` or `none`.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests;
