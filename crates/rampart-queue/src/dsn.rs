//! Delivery status notifications (RFC 3464), built with mail-builder. They come from
//! `MAILER-DAEMON@<hostname>` (a null client's: its bounce address) with the null sender, and
//! name no software (NC-2.1.3).

use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use rampart_store::Failure;

/// Builds the bounce for `original` (its header is quoted, not its body), from `daemon`
/// (`MAILER-DAEMON@<hostname>`, or a null client's bounce address: NC-2.1.7, its From must be in
/// a represented domain).
pub fn build(
    hostname: &str,
    daemon: &str,
    queue_id: &str,
    sender: &str,
    failed: &[(String, Failure)],
    original: &[u8],
    arrival: &str,
) -> Vec<u8> {
    let header_end = original
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(original.len().min(64 * 1024));
    let headers = &original[..header_end];
    // Diagnostics come from remote servers: printable ASCII on one line, bounded.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    ' '
                }
            })
            .take(900)
            .collect()
    };
    let mut text = format!(
        "This is the mail system at {hostname}.\r\n\r\n\
         Your message could not be delivered to one or more recipients.\r\n\
         It has been returned with the reasons below.\r\n\r\n"
    );
    for (rcpt, f) in failed {
        text.push_str(&format!("<{rcpt}>: {}\r\n", clean(&f.reply)));
    }
    let mut status = format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Queue-ID: {queue_id}\r\nArrival-Date: {arrival}\r\n"
    );
    for (rcpt, f) in failed {
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {}\r\n",
            f.status
        ));
        if let Some(m) = &f.remote_mta {
            status.push_str(&format!("Remote-MTA: dns; {m}\r\n"));
        }
        status.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", clean(&f.reply)));
    }
    let id = format!("{queue_id}.dsn@{hostname}");
    MessageBuilder::new()
        .from(("Mail Delivery System", daemon))
        .to(sender)
        .subject("Undelivered Mail Returned to Sender")
        .message_id(id)
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            vec![
                MimePart::new("text/plain", text),
                // Machine-read parts stay as they are: 7-bit text, lines well under 998.
                MimePart::new("message/delivery-status", status).transfer_encoding("7bit"),
                MimePart::new(
                    "text/rfc822-headers",
                    String::from_utf8_lossy(headers).into_owned(),
                )
                .transfer_encoding("8bit"),
            ],
        ))
        .write_to_vec()
        .unwrap_or_default()
}
