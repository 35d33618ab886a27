//! Fixtures shared by the unit tests: messages built with mail-builder, a [`Context`] over them,
//! and generated documents (no downloaded files).

use mail_builder::MessageBuilder;
use mail_parser::Message;

use crate::archive::testutil::zip_of;
use crate::{Context, Direction, Envelope};

/// The domains the test server represents.
pub const LOCAL: &str = "agency.example.gov";

/// A context over `raw`/`parsed` coming from the Internet (or from a user, for `Outbound`).
pub fn ctx<'a>(raw: &'a [u8], parsed: &'a Message<'a>, direction: Direction) -> Context<'a> {
    let rcpts: &'static [String] = Box::leak(Box::new([format!("user@{LOCAL}")]));
    let local: &'static [String] = Box::leak(Box::new([LOCAL.to_string()]));
    Context {
        envelope: Envelope {
            direction,
            client_ip: "192.0.2.10".parse().unwrap(),
            helo: "mail.sender.example",
            mail_from: "sender@sender.example",
            rcpts,
            authenticated: None,
        },
        local_domains: local,
        raw,
        // The strict reading of the header section; a test message that has none (or is
        // refused by the normaliser) gets an empty list, as a check must cope with.
        headers: Box::leak(Box::new(
            crate::message::read_headers(raw).unwrap_or_default(),
        )),
        parsed,
    }
}

/// A message with a text body and the given attachments `(file name, content type, bytes)`.
pub fn message_with(attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let to = format!("user@{LOCAL}");
    let mut b = MessageBuilder::new()
        .from(("Sender", "sender@sender.example"))
        .to(to.as_str())
        .subject("Documents")
        .text_body("Please see the attached files.\r\n");
    for (name, ct, data) in attachments {
        b = b.attachment(ct.to_string(), name.to_string(), data.to_vec());
    }
    b.write_to_vec().unwrap()
}

/// A minimal PE stub: DOS header with `e_lfanew` pointing at a `PE\0\0` signature.
pub fn pe_stub() -> Vec<u8> {
    let mut v = vec![0u8; 256];
    v[0..2].copy_from_slice(b"MZ");
    v[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    v[0x80..0x84].copy_from_slice(b"PE\0\0");
    v
}

/// A clean .docx: content types, relationships, one paragraph of `text`.
pub fn docx(text: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    docx_with_types(text, DOCX_TYPES, extra)
}

pub const DOCX_TYPES: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
    "<Override PartName=\"/word/document.xml\" ",
    "ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>",
    "</Types>"
);

pub const DOCM_TYPES: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
    "<Default Extension=\"bin\" ContentType=\"application/vnd.ms-office.vbaProject\"/>",
    "<Override PartName=\"/word/document.xml\" ",
    "ContentType=\"application/vnd.ms-word.document.macroEnabled.main+xml\"/>",
    "</Types>"
);

pub fn docx_with_types(text: &str, types: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let doc = format!(
        "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    );
    let rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"/>";
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", doc.as_bytes()),
    ];
    entries.extend_from_slice(extra);
    zip_of(&entries)
}

/// An OLE2 compound file with the given storages and streams (paths like `/Macros/VBA`).
pub fn ole2(storages: &[&str], streams: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    for s in storages {
        cf.create_storage_all(s).unwrap();
    }
    for (path, data) in streams {
        cf.create_stream(path).unwrap().write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// A small valid-looking PDF; `extra` is added as one more object.
pub fn pdf(extra: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n{extra}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// The 8-byte PNG signature and an IHDR chunk.
pub fn png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE,
    ]);
    v
}

/// A PDF whose one content stream is `content` compressed with /FlateDecode; `objects` are
/// added as they are (e.g. a link annotation).
pub fn pdf_flate(content: &[u8], objects: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(content).unwrap();
    let packed = z.finish().unwrap();
    let mut v = format!(
        "%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n4 0 obj << /Length {} /Filter /FlateDecode >>\nstream\r\n",
        packed.len()
    )
    .into_bytes();
    v.extend_from_slice(&packed);
    v.extend_from_slice(b"\r\nendstream\nendobj\n");
    v.extend_from_slice(objects.as_bytes());
    v.extend_from_slice(b"\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    v
}

/// Standard base64 in lines of 76 characters, CRLF-separated (RFC 2045 section 6.8).
pub fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut flat = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                flat.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                flat.push('=');
            }
        }
    }
    flat.as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Numbers below `n` from a fixed seed (xorshift), so a failing random input repeats.
pub fn below(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
