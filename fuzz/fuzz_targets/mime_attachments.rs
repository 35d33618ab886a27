//! The attachment check (AL-1.4, NC-2.3.2) on what a sender controls: a whole message through
//! mail-parser, `mime::walk` and `attachments::check` as the gateway runs them, or one file
//! handed straight to `attachments::inspect`, so the fuzzer reaches the archive, OLE2, PDF and RTF
//! readers without having to learn base64 first.
//!
//! Input: byte 0 picks the mode (even: a message; odd: a file, with the name from `NAMES`), the
//! rest is the message or the file. Nothing may panic, hang or run out of memory.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use rampart_checks::attachments::{self, AttachmentConfig};
use rampart_checks::{mime, Context, Direction, Envelope};

/// The shipped policy: what a real server inspects, with its real archive budgets.
static CONFIG: LazyLock<AttachmentConfig> = LazyLock::new(AttachmentConfig::default);

/// Names that steer `inspect` to each reader (by extension) and to the name rules.
const NAMES: [&str; 10] = [
    "invoice.zip",
    "report.doc",
    "sheet.xlsm",
    "letter.docx",
    "statement.pdf",
    "memo.rtf",
    "setup.exe",
    "photo.jpg.js",
    "noname",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        message(rest);
    } else {
        let name = NAMES[(mode >> 1) as usize % NAMES.len()];
        let findings = attachments::inspect(&CONFIG, name, rest);
        let _ = attachments::verdict(&CONFIG, &findings);
    }
});

fn message(raw: &[u8]) {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return;
    };
    let walk = mime::walk(&parsed);
    for leaf in &walk.leaves {
        assert!(leaf.depth <= mime::MAX_MESSAGE_DEPTH);
        let name = leaf.display_name();
        let _ = attachments::inspect(&CONFIG, &name, &leaf.bytes);
    }
    // Checks see the strict reading of the header section; a message it refuses gets none.
    let headers = rampart_checks::message::read_headers(raw).unwrap_or_default();
    let rcpts = ["alice@example.test".to_string()];
    let local_domains = ["example.test".to_string()];
    let ctx = Context {
        envelope: Envelope {
            direction: Direction::Inbound,
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            helo: "client.remote.test",
            mail_from: "sender@remote.test",
            rcpts: &rcpts,
            authenticated: None,
        },
        local_domains: &local_domains,
        raw,
        headers: &headers,
        parsed: &parsed,
    };
    let _ = attachments::check(&CONFIG, &ctx);
}
