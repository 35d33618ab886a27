//! AL-1.4 / NC-2.3.2 fixtures, all generated here.

use super::*;
use crate::archive::testutil::{mark_encrypted, zip_of};
use crate::mime::MAX_MESSAGE_DEPTH;
use crate::testutil::*;
use crate::Direction;
use mail_parser::MessageParser;

fn run(cfg: &AttachmentConfig, attachments: &[(&str, &str, &[u8])]) -> Verdict {
    let raw = message_with(attachments);
    let parsed = MessageParser::default().parse(&raw).unwrap();
    check(cfg, &ctx(&raw, &parsed, Direction::Inbound))
}

fn is_reject(v: &Verdict) -> bool {
    matches!(&v.action, Action::Reject(r) if r.code == 554 && r.status == EnhancedStatus::NOT_AUTHORIZED)
}

#[test]
fn al_1_4_pe_stub_renamed_pdf_is_refused_by_true_type() {
    let v = run(
        &AttachmentConfig::default(),
        &[("report.pdf", "application/pdf", &pe_stub())],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("Windows executable"), "{}", v.reason);
}

#[test]
fn al_1_4_double_extension_and_rtlo() {
    let cfg = AttachmentConfig::default();
    let v = run(
        &cfg,
        &[("invoice.pdf.exe", "application/octet-stream", b"hello")],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("double extension"), "{}", v.reason);

    let v = run(
        &cfg,
        &[(
            "invoice\u{202E}fdp.exe",
            "application/octet-stream",
            b"hello",
        )],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("right-to-left"), "{}", v.reason);
    // The reply text never carries the override character itself.
    let Action::Reject(r) = &v.action else {
        unreachable!()
    };
    assert!(r.text.is_ascii(), "{}", r.text);
}

#[test]
fn al_1_4_every_default_extension_blocked() {
    let cfg = AttachmentConfig::default();
    for ext in [
        "exe", "scr", "js", "ps1", "hta", "lnk", "iso", "vhd", "msc", "reg",
    ] {
        let name = format!("file.{ext}");
        let v = run(&cfg, &[(&name, "application/octet-stream", b"data")]);
        assert!(is_reject(&v), "{ext}: {v:?}");
    }
}

#[test]
fn al_1_4_macro_documents_are_quarantined() {
    let cfg = AttachmentConfig::default();
    let vba = ole2(&["/VBA"], &[("/VBA/dir", b"x"), ("/_VBA_PROJECT", b"x")]);
    // .docm: macro-enabled content type and vbaProject.bin.
    let docm = docx_with_types("Hi", DOCM_TYPES, &[("word/vbaProject.bin", &vba)]);
    let v = run(
        &cfg,
        &[(
            "a.docm",
            "application/vnd.ms-word.document.macroEnabled.12",
            &docm,
        )],
    );
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("macro"), "{}", v.reason);

    // A .docx whose content types look innocent but which carries vbaProject.bin.
    let sneaky = docx("Hi", &[("word/vbaProject.bin", b"not even ole2")]);
    let v = run(&cfg, &[("b.docx", "application/octet-stream", &sneaky)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("VBA macro project"), "{}", v.reason);

    // A legacy Word document (OLE2) with a Macros/VBA storage, built with cfb.
    let doc = ole2(
        &["/Macros/VBA"],
        &[
            ("/WordDocument", b"text"),
            ("/Macros/VBA/ThisDocument", b"Attribute VB_Name"),
        ],
    );
    let v = run(&cfg, &[("c.doc", "application/msword", &doc)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("VBA macros"), "{}", v.reason);

    // Reject when so configured.
    let strict = AttachmentConfig {
        on_embedded_code: PolicyAction::Reject,
        ..AttachmentConfig::default()
    };
    assert!(is_reject(&run(
        &strict,
        &[("c.doc", "application/msword", &doc)]
    )));
}

#[test]
fn al_1_4_msi_by_clsid_is_an_executable() {
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    cf.set_storage_clsid(
        "/",
        uuid::Uuid::parse_str("000C1084-0000-0000-C000-000000000046").unwrap(),
    )
    .unwrap();
    cf.flush().unwrap();
    let msi = cf.into_inner().into_inner();
    let v = run(
        &AttachmentConfig::default(),
        &[("setup.dat", "application/octet-stream", &msi)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("MSI"), "{}", v.reason);
}

#[test]
fn al_1_4_rtf_objects_and_pdf_javascript() {
    let cfg = AttachmentConfig::default();
    let rtf =
        b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata 0105000002000000}}}";
    let v = run(&cfg, &[("memo.rtf", "application/rtf", rtf)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("RTF"), "{}", v.reason);

    let js = pdf("3 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj");
    let v = run(&cfg, &[("form.pdf", "application/pdf", &js)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("/JavaScript"), "{}", v.reason);

    let escaped = pdf("3 0 obj << /S /J#61vaScript >> endobj");
    let v = run(&cfg, &[("form2.pdf", "application/pdf", &escaped)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
}

#[test]
fn al_1_4_archives_nested_encrypted_and_bombs() {
    let cfg = AttachmentConfig::default();
    let inner = zip_of(&[("tool.exe", &pe_stub())]);
    let outer = zip_of(&[("inner.zip", &inner)]);
    let v = run(&cfg, &[("parcel.zip", "application/zip", &outer)]);
    assert!(is_reject(&v), "{v:?}");
    assert!(
        v.reason.contains("parcel.zip > inner.zip > tool.exe"),
        "{}",
        v.reason
    );

    // A PE renamed .txt inside an archive: true type still wins.
    let z = zip_of(&[("readme.txt", &pe_stub())]);
    assert!(is_reject(&run(
        &cfg,
        &[("docs.zip", "application/zip", &z)]
    )));

    let enc = mark_encrypted(zip_of(&[("salary.xlsx", b"whatever")]));
    let v = run(&cfg, &[("locked.zip", "application/zip", &enc)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("encrypted"), "{}", v.reason);

    // Bomb: 32 MiB of zeros (a few KiB compressed) against a 4 MiB budget. The declared size
    // trips the limit before anything is inflated.
    let bomb = zip_of(&[("zeros.bin", &vec![0u8; 32 << 20])]);
    assert!(bomb.len() < 256 * 1024);
    let small = AttachmentConfig {
        max_uncompressed_bytes: 4 << 20,
        ..AttachmentConfig::default()
    };
    let v = run(&small, &[("bomb.zip", "application/zip", &bomb)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(
        v.reason.contains("over the inspection limits"),
        "{}",
        v.reason
    );

    // Too deep.
    let mut z = zip_of(&[("a.txt", b"x")]);
    for i in 0..5 {
        z = zip_of(&[(&format!("level{i}.zip"), &z)]);
    }
    let v = run(&cfg, &[("deep.zip", "application/zip", &z)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("nested deeper"), "{}", v.reason);

    // A password-protected .docx is an OLE2 file with an EncryptedPackage stream.
    let locked = ole2(
        &[],
        &[("/EncryptionInfo", b"x"), ("/EncryptedPackage", b"y")],
    );
    let v = run(
        &cfg,
        &[("salaries.docx", "application/octet-stream", &locked)],
    );
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("password-protected"), "{}", v.reason);

    let rar = b"Rar!\x1A\x07\x01\x00rest";
    let v = run(&cfg, &[("x.rar", "application/x-rar", rar)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
}

#[test]
fn al_1_4_shebang_script_and_nested_message() {
    let cfg = AttachmentConfig::default();
    let v = run(
        &cfg,
        &[("notes.txt", "text/plain", b"#!/bin/sh\ncurl x | sh\n")],
    );
    assert!(is_reject(&v), "{v:?}");

    // An executable inside an attached message/rfc822.
    let inner = message_with(&[("setup.exe", "application/octet-stream", &pe_stub())]);
    let v = run(&cfg, &[("fwd.eml", "message/rfc822", &inner)]);
    assert!(is_reject(&v), "{v:?}");
}

#[test]
fn al_1_4_clean_files_pass() {
    let cfg = AttachmentConfig::default();
    let clean_zip = zip_of(&[("a.txt", b"hello"), ("b.csv", b"1,2,3")]);
    let v = run(
        &cfg,
        &[
            (
                "letter.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                &docx("Dear colleague", &[]),
            ),
            ("report.pdf", "application/pdf", &pdf("")),
            ("logo.png", "image/png", &png()),
            ("data.zip", "application/zip", &clean_zip),
            ("table.csv", "text/csv", b"a,b\n1,2\n"),
        ],
    );
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

#[test]
fn outbound_is_checked_too() {
    // NC-2.3.2: dangerous attachments are filtered in both directions.
    let raw = message_with(&[("run.bat", "application/octet-stream", b"@echo off")]);
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let v = check(
        &AttachmentConfig::default(),
        &ctx(&raw, &parsed, Direction::Outbound),
    );
    assert!(is_reject(&v), "{v:?}");
}

#[test]
fn config_rejects_unknown_fields() {
    let err = toml::from_str::<AttachmentConfig>("on_executable = \"reject\"\nbogus = 1\n");
    assert!(err.is_err());
    let ok: AttachmentConfig = toml::from_str("on_uninspectable = \"reject\"\n").unwrap();
    assert_eq!(ok.on_uninspectable, PolicyAction::Reject);
    assert_eq!(ok.on_executable, PolicyAction::Reject);
}

/// A message whose one attachment is written as `raw_body` under the given headers.
fn raw_message(part_headers: &str, raw_body: &str) -> Vec<u8> {
    format!(
        "From: a@sender.example\r\nTo: user@{LOCAL}\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\n{part_headers}\r\n\r\n{raw_body}\r\n--b1--\r\n"
    )
    .into_bytes()
}

fn run_raw(cfg: &AttachmentConfig, raw: &[u8]) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    check(cfg, &ctx(raw, &parsed, Direction::Inbound))
}

fn base64_lines(data: &[u8]) -> Vec<String> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect()
}

#[test]
fn al_1_4_base64_with_a_bang_per_line_still_shows_the_zip() {
    // One "!" per line: mail-parser keeps the part as text, readers skip the "!" (RFC 2045
    // §6.8) and open the zip.
    let vba = ole2(&["/VBA"], &[("/VBA/dir", b"x")]);
    let docm = docx_with_types("Hi", DOCM_TYPES, &[("word/vbaProject.bin", &vba)]);
    let z = zip_of(&[
        ("run.exe", &pe_stub()),
        ("addin.xll", b"not much"),
        ("letter.docm", &docm),
    ]);
    let body = base64_lines(&z)
        .iter()
        .map(|l| format!("{l}!"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let raw = raw_message(
        "Content-Type: application/octet-stream; name=\"files.zip\"\r\n\
         Content-Transfer-Encoding: base64",
        &body,
    );
    let v = run_raw(&AttachmentConfig::default(), &raw);
    assert!(is_reject(&v), "{v:?}");
    for what in ["run.exe", "addin.xll", "macro"] {
        assert!(v.reason.contains(what), "{what}: {}", v.reason);
    }
}

#[test]
fn al_1_4_attacker_extensions_are_blocked() {
    let cfg = AttachmentConfig::default();
    for ext in [
        "one",
        "iqy",
        "slk",
        "xll",
        "url",
        "website",
        "library-ms",
        "settingcontent-ms",
        "appref-ms",
        "application",
        "gadget",
        "vsto",
        "vsix",
        "searchconnector-ms",
        "rdp",
        "cab",
        "jnlp",
        "hlp",
        "ade",
        "msh",
        "theme",
    ] {
        let name = format!("file.{ext}");
        let v = run(&cfg, &[(&name, "application/octet-stream", b"data")]);
        assert!(is_reject(&v), "{ext}: {v:?}");
    }
}

/// A PDF whose only interesting object is a stream with `dict` and `body`.
fn pdf_stream(dict: &str, body: &[u8]) -> Vec<u8> {
    let mut v =
        format!("%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n4 0 obj << {dict} >>\nstream\n")
            .into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
    v
}

#[test]
fn al_1_4_pdf_javascript_behind_stream_filters() {
    use std::io::Write;
    let js = b"<< /OpenAction << /S /JavaScript /JS (app.launchURL('x')) >> >>";
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(js).unwrap();
    let flate = z.finish().unwrap();
    let hex: String = js.iter().map(|b| format!("{b:02x} ")).collect();
    // ASCIIHex of the Flate bytes, in an object stream.
    let hex_flate: String = flate.iter().map(|b| format!("{b:02X}")).collect();
    let cfg = AttachmentConfig::default();
    for (what, pdf) in [
        ("flate", pdf_stream("/Filter /FlateDecode", &flate)),
        ("hex", pdf_stream("/Filter /ASCIIHexDecode", hex.as_bytes())),
        (
            "object stream",
            pdf_stream(
                "/Type /ObjStm /N 1 /First 4 /Filter [/AHx /FlateDecode]",
                format!("{hex_flate}>").as_bytes(),
            ),
        ),
    ] {
        let v = run(&cfg, &[("form.pdf", "application/pdf", &pdf)]);
        assert_eq!(v.action, Action::Quarantine, "{what}: {v:?}");
        assert!(v.reason.contains("/JavaScript"), "{what}: {}", v.reason);
    }
}

fn text_message(body: &str) -> Vec<u8> {
    format!(
        "From: a@sender.example\r\nTo: user@{LOCAL}\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[test]
fn al_1_4_html_smuggling_is_quarantined() {
    let cfg = AttachmentConfig::default();
    let script = b"<html><body><script>var b=new Blob([atob('TVqQ')]);</script></body></html>";
    let v = run(&cfg, &[("invoice.html", "text/html", script)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("HTML smuggling"), "{}", v.reason);
    // A data: URI blob, in a file labelled octet-stream and named .htm.
    let blob = b"<!DOCTYPE html><a href=\"data:application/octet-stream;base64,TVqQAAMAAAAEAAAA\" download=\"x.exe\">x</a>";
    let v = run(&cfg, &[("doc.htm", "application/octet-stream", blob)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    // Plain HTML with inline images passes.
    let clean =
        b"<html><body><p>Hi</p><img src=\"data:image/png;base64,iVBORw0KGgo=\"></body></html>";
    let v = run(&cfg, &[("letter.html", "text/html", clean)]);
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

#[test]
fn al_1_4_svg_with_script_is_quarantined() {
    let cfg = AttachmentConfig::default();
    let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>location='https://x.example'</script></svg>";
    let v = run(&cfg, &[("fax.svg", "image/svg+xml", svg)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("SVG image with script"), "{}", v.reason);
    let onload = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload =\"alert(1)\"/>";
    let v = run(&cfg, &[("logo.png", "image/png", onload)]);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    let clean = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></svg>";
    let v = run(&cfg, &[("dot.svg", "image/svg+xml", clean)]);
    assert_eq!(v.action, Action::Accept, "{v:?}");
}

#[test]
fn al_1_4_plain_tar_is_opened() {
    let t = containers::fixtures::tar_of(&[("readme.txt", b"hi"), ("bin/update.dat", &pe_stub())]);
    let v = run(
        &AttachmentConfig::default(),
        &[("files.tar", "application/x-tar", &t)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(
        v.reason.contains("files.tar > bin/update.dat"),
        "{}",
        v.reason
    );
}

#[test]
fn al_1_4_zip_with_data_prepended_is_opened() {
    let mut z = b"This is not a zip, look elsewhere.\r\n".repeat(20);
    z.extend_from_slice(&zip_of(&[("run.js", b"WScript.Echo(1)")]));
    let v = run(
        &AttachmentConfig::default(),
        &[("photos.dat", "application/octet-stream", &z)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("run.js"), "{}", v.reason);
}

#[test]
fn al_1_4_uuencoded_executable_in_the_body_is_refused() {
    let body = format!(
        "Hello,\r\nthe tool:\r\n\r\n{}\r\nregards",
        containers::fixtures::uuencode("tool.bin", &pe_stub()).replace('\n', "\r\n")
    );
    let v = run_raw(&AttachmentConfig::default(), &text_message(&body));
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("tool.bin"), "{}", v.reason);
    // And as a .uue attachment under a harmless name.
    let uue = containers::fixtures::uuencode("setup.scr", b"anything");
    let v = run(
        &AttachmentConfig::default(),
        &[("notes.txt", "text/plain", uue.as_bytes())],
    );
    assert!(is_reject(&v), "{v:?}");
}

#[test]
fn al_1_4_binhex_payload_is_refused() {
    let hqx = containers::fixtures::binhex("Installer", &pe_stub());
    let v = run(
        &AttachmentConfig::default(),
        &[("app.hqx", "application/mac-binhex40", hqx.as_bytes())],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("app.hqx > Installer"), "{}", v.reason);
}

#[test]
fn al_1_4_tnef_winmail_dat_is_opened() {
    let t = containers::fixtures::tnef("INVOICE.PDF", "invoice.pdf.js", b"WScript.Echo(1)");
    let v = run(
        &AttachmentConfig::default(),
        &[("winmail.dat", "application/ms-tnef", &t)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(
        v.reason.contains("winmail.dat > invoice.pdf.js"),
        "{}",
        v.reason
    );
}

#[test]
fn al_1_4_eml_sent_as_octet_stream_is_opened() {
    let inner = message_with(&[("setup.scr", "application/octet-stream", b"whatever")]);
    let v = run(
        &AttachmentConfig::default(),
        &[("fwd.eml", "application/octet-stream", &inner)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(v.reason.contains("fwd.eml > setup.scr"), "{}", v.reason);
}

/// `levels` messages, each carrying the next as a base64-encoded message/rfc822 part; the
/// innermost carries `payload` as `tool.exe`.
fn nested_base64_messages(levels: usize) -> Vec<u8> {
    let mut m = message_with(&[("tool.exe", "application/octet-stream", &pe_stub())]);
    for _ in 0..levels {
        m = raw_message(
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64",
            &base64_lines(&m).join("\r\n"),
        );
    }
    m
}

#[test]
fn al_1_4_rfc822_nested_is_opened_and_past_the_limit_held() {
    let cfg = AttachmentConfig::default();
    // Past mail-parser's own three encoded levels, within ours: the executable is found.
    let v = run_raw(&cfg, &nested_base64_messages(5));
    assert!(is_reject(&v), "{v:?}");
    // Past MAX_MESSAGE_DEPTH: held as uninspectable, never passed.
    let v = run_raw(&cfg, &nested_base64_messages(MAX_MESSAGE_DEPTH + 3));
    assert_ne!(v.action, Action::Accept, "{v:?}");
    assert!(v.reason.contains("nested deeper"), "{}", v.reason);
}

#[test]
fn al_1_4_tar_gz_is_opened() {
    use std::io::Write;
    let t = containers::fixtures::tar_of(&[("run.ps1", b"Write-Host 1")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&t).unwrap();
    let tgz = gz.finish().unwrap();
    let v = run(
        &AttachmentConfig::default(),
        &[("logs.tgz", "application/gzip", &tgz)],
    );
    assert!(is_reject(&v), "{v:?}");
    assert!(
        v.reason.contains("logs.tgz > logs.tar > run.ps1"),
        "{}",
        v.reason
    );
}
