//! Dangerous attachments (AL-1.4, NC-2.3.2), in both directions.
//!
//! Every file of the message — attachments and inline parts, in nested `message/rfc822` parts
//! too — is judged by its names *and* by its true type, and archives are opened:
//!
//! | finding | examples | setting (default) |
//! |---|---|---|
//! | executable | refused extension (`.exe`, `.js`, `.iso` …), double extension (`invoice.pdf.exe`), bidi/RTLO or invisible characters in a name, CLSID extension, true type PE/ELF/Mach-O/LNK/`#!`/disk image whatever the name, MSI/MSP by OLE2 CLSID | `on_executable` (reject) |
//! | embedded code | Office macros (OLE2 VBA storage; OOXML `vbaProject.bin` or macro-enabled content type, whatever the extension), ActiveX, OLE Packager objects, RTF `\object`/`\objdata`, PDF `/JavaScript` `/JS` `/Launch` (hex-escaped or compressed too), ODF macros | `on_embedded_code` (quarantine) |
//! | uninspectable | encrypted zip entries, password-protected Office documents, archives over the limits (depth, entry count, uncompressed size), corrupt zips or OLE2 files, RAR/7z/gzip/… archives | `on_uninspectable` (quarantine) |
//!
//! Zip archives are walked with [`crate::archive::read_zip`]: declared sizes are added up before
//! anything is inflated and every read is bounded, against one budget per message.

mod embedded;
mod filetype;
mod names;

pub use embedded::{inspect_ole2, pdf_actions, rtf_objects, Ole2Report};
pub use filetype::{detect, FileType};
pub use names::{check_name, effective_name, is_bidi_or_invisible, NameProblem, DEFAULT_BLOCKED};

use serde::Deserialize;

use crate::archive::{read_zip, Budget, ZipProblem};
use crate::mime::{printable, walk};
use crate::{Action, Context, Refusal, Verdict};

/// The check's name in verdicts.
pub const CHECK: &str = "attachments";

/// What to do with a message carrying a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    /// Refuse it (`554 5.7.1`).
    Reject,
    /// Hold it in quarantine for an administrator.
    Quarantine,
}

/// Attachment policy (AL-1.4, NC-2.3.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentConfig {
    /// File extensions refused wherever they appear (attachments, inside archives), lower case
    /// without the dot. Default: executables, installers, scripts, PowerShell, batch, registry,
    /// MMC, HTA, PIF, shortcuts and disk images ([`DEFAULT_BLOCKED`]). Replaces the whole list.
    pub blocked_extensions: Vec<String>,
    /// What to do with executables (by name or true type), dangerous names and installers.
    /// Default `reject`.
    pub on_executable: PolicyAction,
    /// What to do with documents carrying macros or other embedded code. Default `quarantine`
    /// (an administrator can release a legitimate macro document).
    pub on_embedded_code: PolicyAction,
    /// What to do with what cannot be inspected: encrypted or corrupt archives, archives over
    /// the limits below, archive formats this gateway cannot open. Default `quarantine`.
    pub on_uninspectable: PolicyAction,
    /// How many archives deep to look (a zip in a zip is depth 2). Deeper is uninspectable.
    /// Default 4.
    pub max_archive_depth: usize,
    /// Archive entries opened per message, all archives and levels together. Default 10000.
    pub max_archive_entries: usize,
    /// Uncompressed bytes read from archives per message, all levels together; an archive
    /// declaring more is not inflated at all (zip bomb). Default 256 MiB.
    pub max_uncompressed_bytes: u64,
}

impl Default for AttachmentConfig {
    fn default() -> Self {
        AttachmentConfig {
            blocked_extensions: DEFAULT_BLOCKED.iter().map(|s| s.to_string()).collect(),
            on_executable: PolicyAction::Reject,
            on_embedded_code: PolicyAction::Quarantine,
            on_uninspectable: PolicyAction::Quarantine,
            max_archive_depth: 4,
            max_archive_entries: 10_000,
            max_uncompressed_bytes: 256 << 20,
        }
    }
}

/// The class of a finding, which selects the configured action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Executable,
    EmbeddedCode,
    Uninspectable,
}

/// One thing found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: Class,
    /// Where: the attachment's name, then archive entries, joined by ` > `.
    pub path: String,
    /// What, in words.
    pub what: String,
}

/// Inspects one file (a name and its bytes) as the check does, archives included. For tests and
/// for other callers (e.g. a mailbox upload).
pub fn inspect(cfg: &AttachmentConfig, name: &str, data: &[u8]) -> Vec<Finding> {
    let mut budget = budget(cfg);
    let mut out = Vec::new();
    inspect_file(
        cfg,
        &[name.to_string()],
        name,
        data,
        0,
        &mut budget,
        &mut out,
    );
    out
}

fn budget(cfg: &AttachmentConfig) -> Budget {
    Budget {
        entries: cfg.max_archive_entries,
        bytes: cfg.max_uncompressed_bytes,
    }
}

fn inspect_file(
    cfg: &AttachmentConfig,
    names: &[String],
    path: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    let mut add = |class, what: String| {
        let f = Finding {
            class,
            path: path.to_string(),
            what,
        };
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for name in names {
        for p in check_name(name, &cfg.blocked_extensions) {
            add(Class::Executable, p.describe());
        }
    }
    let ty = detect(data);
    if ty.is_executable() {
        add(Class::Executable, format!("true type is {}", ty.describe()));
    }
    match ty {
        FileType::Zip => inspect_zip(cfg, path, data, depth, budget, out),
        FileType::Ole2 => {
            let r = inspect_ole2(data);
            if let Some(kind) = r.installer {
                add(Class::Executable, format!("true type is {kind}"));
            }
            if r.macros {
                add(
                    Class::EmbeddedCode,
                    "Office document with VBA macros".into(),
                );
            }
            if r.ole_package {
                add(Class::EmbeddedCode, "embedded OLE package object".into());
            }
            if r.encrypted {
                add(
                    Class::Uninspectable,
                    "password-protected Office document".into(),
                );
            }
            if let Some(why) = r.unreadable {
                add(
                    Class::Uninspectable,
                    format!("unreadable OLE2 file ({why})"),
                );
            }
        }
        FileType::Rtf => {
            if let Some(what) = rtf_objects(data) {
                add(Class::EmbeddedCode, what.into());
            }
        }
        FileType::Pdf => {
            // AL-1.4: streams decoded (hex, ASCII85, Flate, object streams) before looking.
            let facts = crate::pdf::scan(data);
            if let Some(what) = embedded::pdf_finding(&facts) {
                add(Class::EmbeddedCode, what);
            }
            if facts.truncated {
                add(
                    Class::Uninspectable,
                    "PDF over the decoding limits (streams, sizes or filter chain)".into(),
                );
            }
        }
        FileType::OpaqueArchive(what) => {
            add(Class::Uninspectable, format!("{what} cannot be inspected"));
        }
        _ => {}
    }
}

fn inspect_zip(
    cfg: &AttachmentConfig,
    path: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    if depth + 1 > cfg.max_archive_depth {
        out.push(Finding {
            class: Class::Uninspectable,
            path: path.to_string(),
            what: format!("archives nested deeper than {}", cfg.max_archive_depth),
        });
        return;
    }
    let mut entries = Vec::new();
    let problems = read_zip(data, budget, |e| entries.push(e));
    for p in problems {
        let what = match &p {
            ZipProblem::Encrypted(n) => format!("encrypted archive (entry {})", printable(n, 80)),
            ZipProblem::TooLarge(_) | ZipProblem::TooManyEntries(_) => {
                format!("archive over the inspection limits: {p}")
            }
            _ => p.to_string(),
        };
        out.push(Finding {
            class: Class::Uninspectable,
            path: path.to_string(),
            what,
        });
    }
    for e in entries {
        let inner = format!("{path} > {}", e.name);
        if e.name.eq_ignore_ascii_case("[Content_Types].xml")
            && embedded::content_types_declare_macros(&e.data)
        {
            out.push(Finding {
                class: Class::EmbeddedCode,
                path: path.to_string(),
                what: "Office document declaring macro-enabled content".into(),
            });
        }
        if let Some(what) = embedded::ooxml_entry_is_macro(&e.name) {
            out.push(Finding {
                class: Class::EmbeddedCode,
                path: path.to_string(),
                what: format!("document containing a {what}"),
            });
        }
        inspect_file(
            cfg,
            std::slice::from_ref(&e.name),
            &inner,
            &e.data,
            depth + 1,
            budget,
            out,
        );
    }
}

fn action_for(cfg: &AttachmentConfig, class: Class) -> PolicyAction {
    match class {
        Class::Executable => cfg.on_executable,
        Class::EmbeddedCode => cfg.on_embedded_code,
        Class::Uninspectable => cfg.on_uninspectable,
    }
}

/// Every file of the message, in both directions (NC-2.3.2: "filter potentially dangerous
/// attachment types"; AL-1.4).
pub fn check(cfg: &AttachmentConfig, ctx: &Context<'_>) -> Verdict {
    let w = walk(ctx.parsed);
    let mut budget = budget(cfg);
    let mut findings = Vec::new();
    if w.truncated {
        findings.push(Finding {
            class: Class::Uninspectable,
            path: "message".into(),
            what: "attached messages nested too deep".into(),
        });
    }
    for leaf in w.leaves.iter().filter(|l| l.is_file) {
        let path = leaf.display_name();
        inspect_file(
            cfg,
            &leaf.names,
            &path,
            &leaf.bytes,
            0,
            &mut budget,
            &mut findings,
        );
    }
    verdict(cfg, &findings)
}

/// The verdict for a list of findings: the strongest configured action wins.
pub fn verdict(cfg: &AttachmentConfig, findings: &[Finding]) -> Verdict {
    if findings.is_empty() {
        return Verdict::accept(CHECK, "no dangerous attachments");
    }
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    // Rejecting findings first, then by class, so the reply names the decisive one.
    sorted.sort_by_key(|f| (action_for(cfg, f.class) != PolicyAction::Reject, f.class));
    let reason = sorted
        .iter()
        .take(8)
        .map(|f| format!("{}: {}", printable(&f.path, 120), f.what))
        .collect::<Vec<_>>()
        .join("; ");
    let first = sorted[0];
    let action = match action_for(cfg, first.class) {
        PolicyAction::Reject => {
            let kind = match first.class {
                Class::Executable => "a dangerous file type",
                Class::EmbeddedCode => "embedded code",
                Class::Uninspectable => "content that cannot be inspected",
            };
            // AL-1.4: the reply names the file (made printable), never more of its content.
            Action::Reject(Refusal::new(
                554,
                "5.7.1",
                format!(
                    "Message refused: attachment \"{}\" contains {kind} ({})",
                    printable(&first.path, 80),
                    printable(&first.what, 120)
                ),
            ))
        }
        PolicyAction::Quarantine => Action::Quarantine,
    };
    Verdict::with(CHECK, action, format!("AL-1.4: {reason}"))
}

#[cfg(test)]
mod tests;
