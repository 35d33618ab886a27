//! Helpers for the integration tests: a [`Context`] over a parsed message, message builders,
//! and real services started by the test (clamd, a tiny DNS server).
#![allow(dead_code)]

pub mod clamd;
pub mod dns;

use std::io::{Cursor, Write};

use mail_builder::MessageBuilder;
use mail_parser::Message;
use rampart_checks::{Context, Direction, Envelope};

pub const LOCAL: &str = "agency.example.gov";

/// A context over `raw`/`parsed`.
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
            rampart_checks::message::read_headers(raw).unwrap_or_default(),
        )),
        parsed,
    }
}

/// A message with a text body and attachments `(file name, content type, bytes)`; binary
/// attachments are base64-encoded by mail-builder.
pub fn message_with(body: &str, attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let to = format!("user@{LOCAL}");
    let mut b = MessageBuilder::new()
        .from(("Sender", "sender@sender.example"))
        .to(to.as_str())
        .subject("Test")
        .text_body(body.to_string());
    for (name, ct, data) in attachments {
        b = b.attachment(ct.to_string(), name.to_string(), data.to_vec());
    }
    b.write_to_vec().unwrap()
}

/// A deflated zip of `(name, bytes)` entries.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}
