//! Dangerous attachments (AL-1.4, NC-2.3.2), in both directions.
//!
//! Every file of the message — attachments and inline parts, in nested `message/rfc822` parts
//! too — is judged by its names *and* by its true type, and containers are opened:
//!
//! | finding | examples | setting (default) |
//! |---|---|---|
//! | executable | refused extension (`.exe`, `.js`, `.iso`, `.one`, `.xll`, `.iqy` … [`DEFAULT_BLOCKED`]), double extension (`invoice.pdf.exe`), bidi/RTLO or invisible characters in a name, CLSID extension, true type PE/ELF/Mach-O/LNK/`#!`/disk image whatever the name, MSI/MSP by OLE2 CLSID | `on_executable` (reject) |
//! | embedded code | Office macros (OLE2 VBA storage; OOXML `vbaProject.bin` or macro-enabled content type, whatever the extension), ActiveX, OLE Packager objects, RTF `\object`/`\objdata`, PDF `/JavaScript` `/JS` `/Launch` (streams decoded by [`crate::pdf`]), ODF macros, HTML files with script or `data:` blobs (HTML smuggling), SVG with script | `on_embedded_code` (quarantine) |
//! | uninspectable | encrypted zip entries, password-protected Office documents, containers over the limits (depth, entry count, uncompressed size, process-wide memory), corrupt containers, RAR/7z/xz/… archives, attached messages nested past [`MAX_MESSAGE_DEPTH`], PDFs past their decoding bounds | `on_uninspectable` (quarantine) |
//!
//! Containers opened, their files judged like any attachment: zip (also with data prepended),
//! tar, gzip, TNEF (`winmail.dat`), uuencoded and BinHex payloads (in text bodies too), and
//! `.eml`/`message/rfc822` parts mail-parser left unopened. Zip archives are walked with
//! [`crate::archive::read_zip`]: declared sizes are added up before anything is inflated and
//! every read is bounded, against one budget per message and one memory pool per process.

mod containers;
mod embedded;
mod filetype;
mod names;

pub use embedded::{inspect_ole2, pdf_actions, rtf_objects, Ole2Report};
pub use filetype::{detect, FileType};
pub use names::{check_name, effective_name, is_bidi_or_invisible, NameProblem, DEFAULT_BLOCKED};

use serde::{Deserialize, Serialize};

use mail_parser::MessageParser;

use crate::archive::{read_zip, Budget, ZipProblem, ARCHIVE_MEMORY};
use crate::mime::{printable, walk, Walk, MAX_MESSAGE_DEPTH};
use crate::{Action, Context, EnhancedStatus, Refusal, Verdict};
use containers::{Caps, ContainerProblem};

/// The check's name in verdicts.
pub const CHECK: &str = "attachments";

/// What to do with a message carrying a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    /// Refuse it (`554 5.7.1`).
    Reject,
    /// Hold it in quarantine for an administrator.
    Quarantine,
}

/// Attachment policy (AL-1.4, NC-2.3.2).
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    let file = File {
        names: &[name.to_string()],
        content_type: "",
        path: name,
        data,
    };
    inspect_file(cfg, &file, 0, &mut budget, &mut out);
    out
}

/// One file to inspect: its declared names and type, where it sits, its bytes.
struct File<'a> {
    names: &'a [String],
    /// The declared `type/subtype` (empty inside archives).
    content_type: &'a str,
    path: &'a str,
    data: &'a [u8],
}

fn budget(cfg: &AttachmentConfig) -> Budget {
    Budget {
        entries: cfg.max_archive_entries,
        bytes: cfg.max_uncompressed_bytes,
    }
}

/// A file found inside a container: judged by its one name and its bytes, like an attachment.
fn inspect_member(
    cfg: &AttachmentConfig,
    name: &String,
    path: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    let file = File {
        names: std::slice::from_ref(name),
        content_type: "",
        path,
        data,
    };
    inspect_file(cfg, &file, depth, budget, out);
}

fn inspect_file(
    cfg: &AttachmentConfig,
    file: &File<'_>,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    let (names, path, data) = (file.names, file.path, file.data);
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
        // Opened below.
        FileType::OpaqueArchive(GZIP) => {}
        FileType::OpaqueArchive(what) => {
            add(Class::Uninspectable, format!("{what} cannot be inspected"));
        }
        _ => {}
    }
    let lower_names: Vec<String> = names.iter().map(|n| effective_name(n)).collect();
    let named = |exts: &[&str]| {
        lower_names
            .iter()
            .any(|n| exts.iter().any(|e| n.ends_with(&format!(".{e}"))))
    };
    let head = data[..data.len().min(1024)].to_ascii_lowercase();
    let head = head.trim_ascii_start();
    // AL-1.4: HTML smuggling and scripted SVG, by name, declared type or content.
    let svg = named(&["svg", "svgz"])
        || file.content_type == "image/svg+xml"
        || head.starts_with(b"<svg")
        || (head.starts_with(b"<?xml") && filetype::memfind(head, b"<svg").is_some());
    let html = !svg
        && (named(&["htm", "html", "shtml", "xhtml", "mht", "mhtml", "hta"])
            || file.content_type == "text/html"
            || head.starts_with(b"<!doctype html")
            || head.starts_with(b"<html"));
    if svg {
        if let Some(what) = embedded::svg_script(data) {
            push(out, Class::EmbeddedCode, path, what.into());
        }
    } else if html {
        if let Some(what) = embedded::html_smuggling(data) {
            push(out, Class::EmbeddedCode, path, what.into());
        }
    }
    // AL-1.4: containers other than zip, opened like zip archives.
    let message = file.content_type.starts_with("message/rfc822")
        || file.content_type.starts_with("message/global")
        || named(&["eml"]);
    if message && ty == FileType::Other {
        inspect_message(cfg, path, data, depth, budget, out);
    } else if ty == FileType::OpaqueArchive(GZIP) {
        let r = with_caps(budget, |c| containers::gunzip(data, path_tail(path), c));
        carried(cfg, path, "gzip data", r, depth, budget, out);
    } else if containers::is_tar(data) {
        let r = with_caps(budget, |c| containers::tar_files(data, c));
        carried(cfg, path, "tar archive", r, depth, budget, out);
    } else if containers::is_tnef(data) {
        let r = with_caps(budget, |c| containers::tnef_files(data, c));
        carried(cfg, path, "TNEF (winmail.dat)", r, depth, budget, out);
    } else if ty != FileType::Zip && has_zip_end(data) {
        // A zip with data prepended (self-extracting style): readers find it from the end.
        inspect_zip(cfg, path, data, depth, budget, out);
    }
    encoded_payloads(cfg, path, data, depth, budget, out);
}

/// What [`detect`] calls gzip data, which is opened like an archive.
const GZIP: &str = "gzip data";

/// The last element of a ` > `-joined path: the file's own name.
fn path_tail(path: &str) -> &str {
    path.rsplit(" > ").next().unwrap_or(path)
}

/// uuencoded and BinHex payloads, in files and in text bodies alike (AL-1.4).
fn encoded_payloads(
    cfg: &AttachmentConfig,
    path: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    if data.starts_with(b"begin ") || filetype::memfind(data, b"\nbegin ").is_some() {
        let r = with_caps(budget, |c| containers::uudecode_all(data, c));
        carried(cfg, path, "uuencoded data", r, depth, budget, out);
    }
    if containers::has_binhex(data) {
        let r = with_caps(budget, |c| containers::binhex_files(data, c));
        carried(cfg, path, "BinHex data", r, depth, budget, out);
    }
}

/// Whether the end-of-central-directory record of a zip sits where readers look for it.
fn has_zip_end(data: &[u8]) -> bool {
    let tail = &data[data.len().saturating_sub(22 + 65_535)..];
    filetype::memfind(tail, b"PK\x05\x06").is_some()
}

/// Runs a container parser within what is left of the message's budget.
fn with_caps<T>(budget: &mut Budget, parse: impl FnOnce(&mut Caps) -> T) -> T {
    let mut caps = Caps {
        files: budget.entries,
        bytes: budget.bytes,
    };
    let r = parse(&mut caps);
    budget.entries = caps.files;
    budget.bytes = caps.bytes;
    r
}

/// Reports what a container parser could not read and inspects every file it carried.
fn carried(
    cfg: &AttachmentConfig,
    path: &str,
    kind: &str,
    result: Result<Vec<containers::Carried>, (Vec<containers::Carried>, ContainerProblem)>,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    let files = match result {
        Ok(files) => files,
        Err((files, problem)) => {
            push(out, Class::Uninspectable, path, format!("{kind} {problem}"));
            files
        }
    };
    if files.is_empty() {
        return;
    }
    // Item 8: the decoded files count against the process-wide memory for archives while
    // they are inspected.
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let Some(_held) = ARCHIVE_MEMORY.try_reserve(total) else {
        let what = format!("{kind} {}", ZipProblem::MemoryBusy);
        push(out, Class::Uninspectable, path, what);
        return;
    };
    if depth + 1 > cfg.max_archive_depth {
        let what = format!("containers nested deeper than {}", cfg.max_archive_depth);
        push(out, Class::Uninspectable, path, what);
        return;
    }
    for f in files {
        let inner = format!("{path} > {}", f.name);
        inspect_member(cfg, &f.name, &inner, &f.data, depth + 1, budget, out);
    }
}

fn push(out: &mut Vec<Finding>, class: Class, path: &str, what: String) {
    let f = Finding {
        class,
        path: path.to_string(),
        what,
    };
    if !out.contains(&f) {
        out.push(f);
    }
}

/// An attached message mail-parser left unopened (an `.eml` sent as octet-stream, or nesting
/// past mail-parser's own limit): parsed and walked like the message itself, up to
/// [`MAX_MESSAGE_DEPTH`] levels in all; deeper is uninspectable, never passed (AL-1.4).
fn inspect_message(
    cfg: &AttachmentConfig,
    path: &str,
    data: &[u8],
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    if depth + 1 > MAX_MESSAGE_DEPTH || budget.entries == 0 {
        let what = format!("attached messages nested deeper than {MAX_MESSAGE_DEPTH}");
        push(out, Class::Uninspectable, path, what);
        return;
    }
    budget.entries -= 1;
    // The parsed message costs about as much as its bytes again, held process-wide (item 8).
    let Some(_held) = ARCHIVE_MEMORY.try_reserve(data.len() as u64) else {
        let what = format!("attached message {}", ZipProblem::MemoryBusy);
        push(out, Class::Uninspectable, path, what);
        return;
    };
    let Some(msg) = MessageParser::default().parse(data) else {
        push(
            out,
            Class::Uninspectable,
            path,
            "unreadable attached message".into(),
        );
        return;
    };
    let w = walk(&msg);
    inspect_walk(cfg, &w, Some(path), depth + 1, budget, out);
}

/// Inspects every leaf of a walk: files fully, text bodies for encoded payloads.
fn inspect_walk(
    cfg: &AttachmentConfig,
    w: &Walk<'_>,
    prefix: Option<&str>,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Finding>,
) {
    if w.truncated {
        let what = format!("attached messages nested deeper than {MAX_MESSAGE_DEPTH}");
        push(out, Class::Uninspectable, prefix.unwrap_or("message"), what);
    }
    for leaf in &w.leaves {
        let name = leaf.display_name();
        let path = match prefix {
            Some(p) => format!("{p} > {name}"),
            None => name,
        };
        let leaf_depth = depth + leaf.depth;
        if leaf_depth > MAX_MESSAGE_DEPTH {
            // mail-parser opened more levels inside an attached message than we allow in all.
            let what = format!("attached messages nested deeper than {MAX_MESSAGE_DEPTH}");
            push(out, Class::Uninspectable, &path, what);
            continue;
        }
        if leaf.is_file {
            let file = File {
                names: &leaf.names,
                content_type: &leaf.content_type,
                path: &path,
                data: &leaf.bytes,
            };
            inspect_file(cfg, &file, leaf_depth, budget, out);
        } else {
            encoded_payloads(cfg, &path, &leaf.bytes, leaf_depth, budget, out);
        }
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
        inspect_member(cfg, &e.name, &inner, &e.data, depth + 1, budget, out);
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
    inspect_walk(cfg, &w, None, 0, &mut budget, &mut findings);
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
                EnhancedStatus::NOT_AUTHORIZED,
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
