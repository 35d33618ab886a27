//! Embedded code in documents (AL-1.4): OLE2 files with a VBA project or an OLE package, MSI/MSP
//! installers (OLE2 by root CLSID), RTF with embedded objects, PDF with JavaScript or Launch
//! actions. OOXML/ODF macros are found while walking the zip (see `mod.rs`), with
//! [`ooxml_entry_is_macro`] and [`content_types_declare_macros`].

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::filetype::memfind;

/// What an OLE2 compound file holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ole2Report {
    /// The installer kind when the root CLSID is that of an MSI, MSP or MST.
    pub installer: Option<&'static str>,
    /// A VBA project storage (`VBA`, `_VBA_PROJECT_CUR`, `_VBA_PROJECT`, `Macros`).
    pub macros: bool,
    /// An OLE Packager object (`\x01Ole10Native`): a file of any type carried inside.
    pub ole_package: bool,
    /// A password-protected Office document (`EncryptedPackage`): its content, macros
    /// included, cannot be inspected.
    pub encrypted: bool,
    /// Why the structure could not be read, when it could not.
    pub unreadable: Option<String>,
}

const MSI_CLSIDS: &[(&str, &str)] = &[
    (
        "000c1084-0000-0000-c000-000000000046",
        "Windows Installer package (MSI)",
    ),
    (
        "000c1086-0000-0000-c000-000000000046",
        "Windows Installer patch (MSP)",
    ),
    (
        "000c1082-0000-0000-c000-000000000046",
        "Windows Installer transform (MST)",
    ),
];
const VBA_STORAGES: &[&str] = &["vba", "_vba_project_cur", "_vba_project", "macros"];

/// Reads the directory of an OLE2 file. A malformed file is reported as unreadable (and, as a
/// last resort, scanned for the UTF-16 name `_VBA_PROJECT`): never passed as clean.
pub fn inspect_ole2(data: &[u8]) -> Ole2Report {
    // The parser runs on hostile input: a panic in it must become "unreadable", not a crash.
    let parsed = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Ole2Report> {
        let cf = cfb::CompoundFile::open(Cursor::new(data))?;
        let mut r = Ole2Report::default();
        let root = cf.root_entry().clsid().to_string().to_ascii_lowercase();
        r.installer = MSI_CLSIDS.iter().find(|(c, _)| *c == root).map(|(_, d)| *d);
        for e in cf.walk() {
            let name = e.name().to_ascii_lowercase();
            if e.is_storage() && VBA_STORAGES.contains(&name.as_str()) {
                r.macros = true;
            }
            if e.is_stream() && (name == "_vba_project" || (name == "dir" && in_vba(e.path()))) {
                r.macros = true;
            }
            if e.is_stream() && name == "\u{1}ole10native" {
                r.ole_package = true;
            }
            if e.is_stream() && name == "encryptedpackage" {
                r.encrypted = true;
            }
        }
        Ok(r)
    }));
    match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => fallback(data, e.to_string()),
        Err(_) => fallback(data, "malformed compound file".into()),
    }
}

fn in_vba(path: &std::path::Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().eq_ignore_ascii_case("vba"))
}

fn fallback(data: &[u8], why: String) -> Ole2Report {
    let utf16: Vec<u8> = "_VBA_PROJECT"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    Ole2Report {
        macros: memfind(data, &utf16).is_some(),
        unreadable: Some(why),
        ..Ole2Report::default()
    }
}

/// An OOXML entry that is a VBA project or ActiveX binary, whatever the document's extension.
pub fn ooxml_entry_is_macro(entry_name: &str) -> Option<&'static str> {
    let n = entry_name.to_ascii_lowercase();
    let base = n.rsplit('/').next().unwrap_or(&n);
    if base.ends_with("vbaproject.bin") || base == "vbadata.xml" {
        Some("VBA macro project")
    } else if n.contains("activex/") && base.ends_with(".bin") {
        Some("ActiveX control")
    } else if n.starts_with("basic/") || n.starts_with("scripts/") {
        // OpenDocument keeps Basic and script macros in these folders.
        Some("OpenDocument macros")
    } else {
        None
    }
}

/// `[Content_Types].xml` declaring a macro-enabled main part or a VBA project.
pub fn content_types_declare_macros(xml: &[u8]) -> bool {
    let lower = xml.to_ascii_lowercase();
    memfind(&lower, b"macroenabled").is_some() || memfind(&lower, b"vbaproject").is_some()
}

/// RTF control words that carry embedded objects (OLE objects, which can hold executables and
/// exploit payloads).
pub fn rtf_objects(data: &[u8]) -> Option<&'static str> {
    for word in ["\\objdata", "\\object", "\\objemb", "\\objocx", "\\objlink"] {
        if memfind(data, word.as_bytes()).is_some() {
            return Some(if word == "\\objdata" {
                "RTF with embedded object data (\\objdata)"
            } else {
                "RTF with an embedded object (\\object)"
            });
        }
    }
    None
}

/// HTML smuggling (AL-1.4): an HTML file that runs script in the browser, or carries a
/// file as a `data:` URI, can assemble and save an executable on the recipient's machine, past
/// every gateway that only looked at the HTML.
pub fn html_smuggling(data: &[u8]) -> Option<&'static str> {
    let lower = data.to_ascii_lowercase();
    if memfind(&lower, b"<script").is_some() {
        return Some("HTML file with script (HTML smuggling)");
    }
    if memfind(&lower, b"javascript:").is_some() {
        return Some("HTML file with a javascript: link (HTML smuggling)");
    }
    // data: URIs carrying anything but images, fonts and style sheets are files in disguise.
    let mut pos = 0;
    while let Some(off) = memfind(&lower[pos..], b"data:") {
        let at = pos + off + b"data:".len();
        let ty = &lower[at..lower.len().min(at + 32)];
        let harmless = [&b"image/"[..], b"font/", b"text/css", b"text/plain"]
            .iter()
            .any(|h| ty.starts_with(h))
            && !ty.starts_with(b"image/svg");
        if !harmless {
            return Some("HTML file carrying a data: URI blob (HTML smuggling)");
        }
        pos = at;
    }
    None
}

/// Script in an SVG image (AL-1.4): browsers run it when the image is opened as a file.
pub fn svg_script(data: &[u8]) -> Option<&'static str> {
    let lower = data.to_ascii_lowercase();
    let scripted = memfind(&lower, b"<script").is_some()
        || memfind(&lower, b"javascript:").is_some()
        || memfind(&lower, b"<foreignobject").is_some()
        || event_handler(&lower);
    scripted.then_some("SVG image with script")
}

/// An `on…=` event handler attribute (`onload=`, `onclick =`).
fn event_handler(lower: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(off) = memfind(&lower[pos..], b" on") {
        let mut i = pos + off + 3;
        let start = i;
        while i < lower.len() && lower[i].is_ascii_lowercase() {
            i += 1;
        }
        let name_len = i - start;
        while i < lower.len() && lower[i].is_ascii_whitespace() {
            i += 1;
        }
        if name_len >= 3 && lower.get(i) == Some(&b'=') {
            return true;
        }
        pos = start;
    }
    false
}

/// PDF actions that run code or programs (`/JavaScript`, `/JS`, `/Launch`), found by
/// [`crate::pdf::scan`] in the file and in its decoded streams, object streams included.
pub fn pdf_actions(data: &[u8]) -> Option<String> {
    pdf_finding(&crate::pdf::scan(data))
}

/// The finding for what [`crate::pdf::scan`] reported, if any.
pub fn pdf_finding(f: &crate::pdf::PdfFacts) -> Option<String> {
    let what = if f.javascript {
        "JavaScript"
    } else if f.launch {
        "Launch"
    } else {
        return None;
    };
    let when = if f.open_action {
        " run when the document opens"
    } else {
        ""
    };
    Some(format!("PDF with a /{what} action{when}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pdf_names_plain_escaped_and_compressed() {
        assert!(
            pdf_actions(b"%PDF-1.4\n1 0 obj << /S /JavaScript /JS (app.alert(1)) >>").is_some()
        );
        assert!(pdf_actions(b"%PDF-1.4\n<< /S /J#61vaScript >>").is_some());
        assert!(pdf_actions(b"%PDF-1.4\n<< /Type/Action/S/Launch/F(cmd.exe) >>").is_some());
        assert!(pdf_actions(b"%PDF-1.4\n<< /Type /Page /JSON 1 /JavaScripts 2 >>").is_none());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"<< /OpenAction << /S /JavaScript /JS (x) >> >>")
            .unwrap();
        let body = z.finish().unwrap();
        let mut pdf =
            b"%PDF-1.5\n2 0 obj << /Type /ObjStm /Filter /FlateDecode >>\nstream\r\n".to_vec();
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\r\nendstream\nendobj\n%%EOF\n");
        assert_eq!(
            pdf_actions(&pdf).as_deref(),
            Some("PDF with a /JavaScript action run when the document opens")
        );
    }

    #[test]
    fn rtf_objects_found() {
        assert!(rtf_objects(b"{\\rtf1{\\object\\objemb{\\*\\objdata 0105}}}").is_some());
        assert!(rtf_objects(b"{\\rtf1\\ansi Hello}").is_none());
    }

    #[test]
    fn ooxml_macro_entries() {
        assert!(ooxml_entry_is_macro("word/vbaProject.bin").is_some());
        assert!(ooxml_entry_is_macro("xl/activeX/activeX1.bin").is_some());
        assert!(ooxml_entry_is_macro("word/document.xml").is_none());
        assert!(content_types_declare_macros(
            b"<Override ContentType=\"application/vnd.ms-word.document.macroEnabled.main+xml\"/>"
        ));
    }

    #[test]
    fn malformed_ole2_is_unreadable_not_clean() {
        let mut junk = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        junk.extend_from_slice(&[0xFF; 600]);
        let r = inspect_ole2(&junk);
        assert!(r.unreadable.is_some());
    }
}
