//! Evidence for North Carolina's NC-2.2: a dedicated host, mailboxes on their own partition,
//! no information-leaking commands, and a file integrity checker.

use super::{attested, probes};
use crate::facts::{from_configuration_only, Facts};
use crate::Finding;
use rampart_config::Limits;

/// NC-2.2: a dedicated, single-purpose host (organisational, with the host's sockets as a hint).
pub fn nc_2_2_host(f: &Facts) -> Vec<Finding> {
    vec![attested(
        f,
        "NC-2.2-host",
        "the mail server runs on a dedicated single-purpose host",
    )]
}

/// NC-2.2: mailboxes on a disk or partition of their own, with room kept free on it.
pub fn nc_2_2_partition(f: &Facts) -> Vec<Finding> {
    let mut out = partition(f);
    out.extend(free_space(f));
    out
}

fn partition(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.2-partition";
    match f.host.as_ref().map(|h| (h.data_dir_separate, h)) {
        None => vec![Finding::warn(
            ID,
            "data directory",
            "the data directory's filesystem was not examined",
            "run the audit on the server host",
        )],
        Some((Some(true), h)) => vec![Finding::pass(
            ID,
            "data directory",
            format!(
                "{} is on its own filesystem (mounted at {})",
                h.data_dir.display(),
                h.data_dir_mount.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
            ),
        )],
        Some((Some(false), h)) => vec![Finding::fail(
            ID,
            "data directory",
            format!("{} is on the root filesystem", h.data_dir.display()),
            "mount a dedicated disk or partition for data_dir (e.g. /var/lib/rampart) and move the data there",
        )],
        Some((None, h)) => vec![Finding::warn(
            ID,
            "data directory",
            format!("could not tell which filesystem holds {}", h.data_dir.display()),
            "check that data_dir exists and is readable by the auditing user",
        )],
    }
}

/// The partition's free space against `limits.min_free_space`, the reserve under which MAIL
/// is refused with `452 4.3.1`, and its free inodes against the fixed floor under which it is
/// refused the same way: a partition of its own is only as good as the room left on it.
fn free_space(f: &Facts) -> Option<Finding> {
    const ID: &str = "NC-2.2-partition";
    let host = f.host.as_ref()?;
    let free = host.data_dir_free?;
    let inodes = host.data_dir_free_inodes;
    let reserve = f.config.as_ref()?.limits.min_free_space;
    let floor = Limits::MIN_FREE_INODES;
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
    let inodes_text = inodes
        .map(|n| format!(" and {n} inodes"))
        .unwrap_or_default();
    Some(if reserve == 0 {
        Finding::warn(
            ID,
            "free space",
            format!(
                "{}{inodes_text} free; limits.min_free_space is 0, so a full disk is met only when writes fail",
                mib(free)
            ),
            "set limits.min_free_space (64 MiB by default) so that MAIL is refused with 452 4.3.1 before the disk is full",
        )
    } else if free < reserve {
        Finding::fail(
            ID,
            "free space",
            format!(
                "{} free, under limits.min_free_space ({}): MAIL is refused with 452 4.3.1",
                mib(free),
                mib(reserve)
            ),
            "free space on the data directory's filesystem, or enlarge it",
        )
    } else if inodes.is_some_and(|n| n < floor) {
        Finding::fail(
            ID,
            "free space",
            format!(
                "{} inodes free, under {floor}: MAIL is refused with 452 4.3.1",
                inodes.unwrap_or(0)
            ),
            "remove files from the data directory's filesystem, or move the data to one with more inodes",
        )
    } else {
        Finding::pass(
            ID,
            "free space",
            format!(
                "{}{inodes_text} free; MAIL is refused with 452 4.3.1 under limits.min_free_space ({}){}",
                mib(free),
                mib(reserve),
                if inodes.is_some() {
                    format!(" or {floor} inodes")
                } else {
                    String::new()
                }
            ),
        )
    })
}

/// NC-2.2: VRFY, EXPN and other information-leaking commands give nothing away.
pub fn nc_2_2_commands(f: &Facts) -> Vec<Finding> {
    probes(f, "NC-2.2-commands")
}

/// NC-2.2: a file integrity checker watches the critical files.
pub fn nc_2_2_integrity(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.2-integrity";
    if let Some(i) = f.server.as_ref().and_then(|s| s.integrity.as_ref()) {
        return vec![server_integrity(f, ID, i)];
    }
    let mut out = local_integrity(f, ID);
    for finding in &mut out {
        finding
            .evidence
            .push_str(from_configuration_only(f.server.as_ref()));
    }
    out
}

/// NC-2.2: the running server's own last integrity check.
fn server_integrity(f: &Facts, id: &'static str, i: &crate::facts::ServerIntegrity) -> Finding {
    let when =
        i.at.map(|at| format!(" at {}", crate::rfc3339(at)))
            .unwrap_or_default();
    match i.state.as_str() {
        "checked" if i.findings.is_empty() => Finding::pass(
            id,
            "integrity",
            format!(
                "the running server checked {} critical file(s){when}: baseline signed and unchanged{}",
                i.files.unwrap_or(0),
                i.every_secs
                    .map(|s| format!("; it checks every {s} s"))
                    .unwrap_or_default()
            ),
        ),
        "checked" => Finding::fail(
            id,
            "changes",
            format!(
                "the running server's check{when} found: {}",
                i.findings.join("; ")
            ),
            "find out why each file changed; if expected, re-baseline with the key (`rampart integrity rebaseline`)",
        ),
        "no-baseline" => Finding::fail(
            id,
            "baseline",
            format!("the running server has no baseline to check: {}", i.findings.join("; ")),
            "run `rampart integrity init` and keep its key apart from the server; then restart it",
        ),
        "untrusted" => Finding::fail(
            id,
            "baseline",
            format!(
                "the running server's baseline does not verify{when}: {}",
                i.findings.join("; ")
            ),
            "find out who changed it; re-create it with `rampart integrity init` and the key",
        ),
        "off" => Finding::fail(
            id,
            "integrity",
            "the running server does not check file integrity",
            "set [integrity] enabled = true, run `rampart integrity init`, restart the server",
        ),
        other => {
            // `pending`: the first check has not finished; the audit's own check stands in.
            let mut local = local_integrity(f, id);
            let first = local.remove(0);
            Finding {
                evidence: format!(
                    "{} (the running server's first check is {other})",
                    first.evidence
                ),
                ..first
            }
        }
    }
}

/// NC-2.2: the audit's own integrity check.
fn local_integrity(f: &Facts, id: &'static str) -> Vec<Finding> {
    match &f.guard.integrity {
        None => vec![Finding::warn(
            id,
            "integrity",
            "the file integrity status was not gathered",
            "run `rampart integrity check`, and the audit on the server host",
        )],
        Some(i) if i.baseline_at.is_none() => vec![Finding::fail(
            id,
            "baseline",
            "no integrity baseline of the critical files exists",
            "run `rampart integrity init` and keep its key apart from the server",
        )],
        Some(i) if !i.signature_valid => vec![Finding::fail(
            id,
            "baseline",
            "the integrity baseline's signature does not verify: it was changed",
            "find out who changed it; re-create it with `rampart integrity init` and the key",
        )],
        Some(i) if !i.changes.is_empty() => vec![Finding::fail(
            id,
            "changes",
            format!("changed since the baseline: {}", i.changes.join("; ")),
            "find out why each file changed; if expected, re-baseline with the key (`rampart integrity rebaseline`)",
        )],
        Some(i) => vec![Finding::pass(
            id,
            "integrity",
            format!(
                "baseline signed and unchanged{}",
                i.checked_every_secs
                    .map(|s| format!("; the server checks it every {s} s"))
                    .unwrap_or_default()
            ),
        )],
    }
}
