//! File-name tricks (AL-1.4, NC-2.3.2): dangerous extensions, double extensions
//! (`invoice.pdf.exe`), right-to-left override and other bidirectional or invisible characters
//! (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`), trailing dots and spaces that Windows
//! drops (`setup.exe.`), and CLSID extensions that Explorer hides.

/// The default list of refused extensions (lower case, without the dot). NC-2.3.2 names .exe,
/// .vbs, .ws, .wsc; AL-1.4 names executables, installers, scripts, PowerShell, batch, registry,
/// MMC, HTML application and program information files. The rest are the types attackers moved
/// to once those were blocked (OneNote, Excel add-ins and web queries, ClickOnce, Internet and
/// library shortcuts, RDP files …), from a review of Microsoft's and Google's current lists.
#[rustfmt::skip]
pub const DEFAULT_BLOCKED: &[&str] = &[
    // AL-1.4: executables and libraries
    "exe", "dll", "com", "scr", "pif", "cpl", "sys", "drv", "ocx", "vxd", "ex_", "dex", "apk",
    "xbap",
    // AL-1.4: installers, packages and ClickOnce / VSTO deployments
    "msi", "msp", "mst", "appx", "appxbundle", "msix", "msixbundle", "application", "appref-ms",
    "vsto", "vsix", "deb", "rpm", "pkg", "dmg", "cab", "diagcab", "jnlp",
    // AL-1.4: scripts, PowerShell, batch, registry, MMC, HTML applications
    "bat", "cmd", "ps1", "psm1", "psd1", "ps1xml", "ps2", "ps2xml", "psc1", "psc2", "msh",
    "msh1", "msh2", "mshxml", "msh1xml", "msh2xml", "vb", "vbs", "vbe", "js", "jse", "wsf", "wsh",
    "ws", "wsc", "sct", "hta", "jar", "reg", "msc", "inf", "ins", "isp", "shb", "shs", "hlp",
    "chm", "gadget",
    // AL-1.4: shortcuts of every kind (files, URLs, search and library locations, settings)
    "lnk", "url", "website", "scf", "library-ms", "searchconnector-ms", "search-ms",
    "settingcontent-ms", "xnk", "rdp", "theme", "themepack",
    // AL-1.4: Office formats that run code on open: OneNote, Excel add-ins, web queries,
    // symbolic links, Access databases and projects
    "one", "onepkg", "xll", "iqy", "slk", "ade", "adp", "mde", "accde", "mad", "maf", "mam",
    // AL-1.4: disk images that mount into executables
    "iso", "img", "vhd", "vhdx",
];

/// Document-looking extensions that make a following executable extension a deception.
const DECOY: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "csv", "jpg", "jpeg", "png",
    "gif", "bmp", "tif", "tiff", "mp3", "mp4", "avi", "mov", "zip", "html", "htm", "odt", "ods",
];

/// Characters that reorder or hide text: bidi embeddings/overrides/isolates, directional marks,
/// zero-width characters.
pub fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' // LRE RLE PDF LRO RLO
        | '\u{2066}'..='\u{2069}' // LRI RLI FSI PDI
        | '\u{200E}' | '\u{200F}' | '\u{061C}' // LRM RLM ALM
        | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' // zero-width
    )
}

/// A problem found in a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    /// The name contains bidirectional-control or invisible characters.
    Bidi,
    /// The (effective) extension is refused.
    Extension(String),
    /// A decoy extension precedes a refused one (`invoice.pdf.exe`).
    DoubleExtension { decoy: String, real: String },
    /// A `{CLSID}` extension, hidden by Explorer and opened by the registered handler.
    ClsidExtension,
}

impl NameProblem {
    pub fn describe(&self) -> String {
        match self {
            NameProblem::Bidi => {
                "name contains right-to-left override or other bidirectional/invisible characters"
                    .into()
            }
            NameProblem::Extension(e) => format!("dangerous file type .{e}"),
            NameProblem::DoubleExtension { decoy, real } => {
                format!("double extension .{decoy}.{real} disguises a dangerous file type")
            }
            NameProblem::ClsidExtension => "CLSID extension hides the real file type".into(),
        }
    }
}

/// The name as Windows would treat it: last path component, invisible characters removed,
/// trailing dots and spaces dropped, lower case.
pub fn effective_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !is_bidi_or_invisible(*c)).collect();
    cleaned
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_lowercase()
}

/// Checks one declared file name against `blocked` (lower-case extensions without the dot).
pub fn check_name(name: &str, blocked: &[String]) -> Vec<NameProblem> {
    let mut problems = Vec::new();
    if name.chars().any(is_bidi_or_invisible) {
        problems.push(NameProblem::Bidi);
    }
    let eff = effective_name(name);
    let parts: Vec<&str> = eff.split('.').collect();
    if parts.len() < 2 {
        return problems;
    }
    let ext = parts[parts.len() - 1].trim();
    if ext.starts_with('{') && ext.ends_with('}') {
        problems.push(NameProblem::ClsidExtension);
    }
    if blocked.iter().any(|b| b == ext) {
        let prev = parts[parts.len() - 2].trim();
        if parts.len() >= 3 && DECOY.contains(&prev) {
            problems.push(NameProblem::DoubleExtension {
                decoy: prev.to_string(),
                real: ext.to_string(),
            });
        } else {
            problems.push(NameProblem::Extension(ext.to_string()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked() -> Vec<String> {
        DEFAULT_BLOCKED.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn extensions_and_tricks() {
        let b = blocked();
        assert_eq!(
            check_name("setup.EXE", &b),
            vec![NameProblem::Extension("exe".into())]
        );
        assert_eq!(
            check_name("invoice.pdf.exe", &b),
            vec![NameProblem::DoubleExtension {
                decoy: "pdf".into(),
                real: "exe".into()
            }]
        );
        // Shown as "invoiceexe.pdf"; really .exe. AL-1.4.
        let rtlo = check_name("invoice\u{202E}fdp.exe", &b);
        assert!(rtlo.contains(&NameProblem::Bidi));
        assert!(rtlo.contains(&NameProblem::Extension("exe".into())));
        assert_eq!(
            check_name("photo\u{202E}gpj.js", &b)[0],
            NameProblem::Bidi,
            "bidi reported first"
        );
        // Windows drops trailing dots and spaces.
        assert_eq!(
            check_name("run.bat. . ", &b),
            vec![NameProblem::Extension("bat".into())]
        );
        assert_eq!(
            check_name("C:\\x\\evil.ps1", &b),
            vec![NameProblem::Extension("ps1".into())]
        );
        assert_eq!(
            check_name("a.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}", &b),
            vec![NameProblem::ClsidExtension]
        );
        for ok in [
            "report.pdf",
            "notes.txt",
            "archive.zip",
            "README",
            "photo.png",
        ] {
            assert!(check_name(ok, &b).is_empty(), "{ok}");
        }
        for ext in [
            "exe", "dll", "com", "scr", "pif", "cpl", "msi", "msp", "msc", "bat", "cmd", "ps1",
            "psm1", "vbs", "vbe", "js", "jse", "wsf", "wsh", "ws", "wsc", "hta", "jar", "reg",
            "lnk", "inf", "scf", "iso", "img", "vhd",
        ] {
            assert!(
                !check_name(&format!("f.{ext}"), &b).is_empty(),
                "{ext} must be blocked"
            );
        }
    }
}
