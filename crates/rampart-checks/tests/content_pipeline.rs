//! The content checks together, as the SMTP session will run them: parse once, one verdict per
//! check, `decide`, then apply the modifications to the raw message.

mod support;

use mail_parser::MessageParser;
use rampart_checks::attachments::{self, AttachmentConfig};
use rampart_checks::dlp::{self, Dlp, DlpConfig};
use rampart_checks::external::{self, ExternalTagConfig};
use rampart_checks::modify::{apply_banner, apply_modifications};
use rampart_checks::spam::{self, SpamConfig, SpamSignals};
use rampart_checks::urls::{self, UrlConfig, UrlFeeds};
use rampart_checks::EnhancedStatus;
use rampart_checks::{decide, Action, Context, Direction, Verdict};
use support::{ctx, message_with, zip_of};

async fn run_all(c: &Context<'_>) -> Vec<Verdict> {
    let feeds = UrlFeeds::new(&[]);
    let url_cfg = UrlConfig::default();
    let report = urls::inspect(&url_cfg, &feeds, None, c.local_domains, c.parsed).await;
    let dlp = Dlp::new(DlpConfig::default()).unwrap();
    vec![
        attachments::check(&AttachmentConfig::default(), c),
        urls::verdict(&url_cfg, &report),
        spam::check(
            &SpamConfig::default(),
            None,
            &SpamSignals {
                auth_failed: false,
                urls: Some(&report),
                ..SpamSignals::default()
            },
            c,
        )
        .await,
        dlp::check(&dlp, c),
        external::check(&ExternalTagConfig::default(), c),
    ]
}

#[tokio::test]
async fn inbound_clean_mail_is_tagged_external_once() {
    let z = zip_of(&[("minutes.txt", b"Meeting at 10.")]);
    let raw = message_with(
        "Hello, minutes attached.\r\n",
        &[("minutes.zip", "application/zip", &z)],
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let c = ctx(&raw, &parsed, Direction::Inbound);
    let d = decide(&run_all(&c).await);
    assert_eq!(
        (d.action.clone(), d.decided_by),
        (Action::Tag, Some("external-tag"))
    );
    let out = apply_modifications(&raw, c.headers, &d.modifications);
    let reparsed = MessageParser::default().parse(&out).unwrap();
    assert_eq!(reparsed.subject(), Some("[External] Test"));
    // Delivery time: the same checks on the tagged message add nothing more (AL-1.6).
    let c2 = ctx(&out, &reparsed, Direction::Inbound);
    let d2 = decide(&run_all(&c2).await);
    assert_eq!(
        apply_modifications(&out, c2.headers, &d2.modifications),
        out
    );

    // The optional banner needs a single-part text message; this one is multipart.
    assert!(apply_banner(&out, "CAUTION: external sender").is_err());
}

#[tokio::test]
async fn outbound_card_number_is_refused_by_dlp_and_not_tagged() {
    let raw = message_with("Card: 4111 1111 1111 1111\r\n", &[]);
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let c = ctx(&raw, &parsed, Direction::Outbound);
    let d = decide(&run_all(&c).await);
    assert_eq!(d.decided_by, Some("dlp"));
    assert!(matches!(&d.action, Action::Reject(r) if r.code == 550 && !r.text.contains("4111")));
    assert!(d.modifications.is_empty(), "outbound mail is never tagged");
}

#[tokio::test]
async fn inbound_executable_is_refused_whatever_else() {
    let mut pe = vec![0u8; 128];
    pe[..2].copy_from_slice(b"MZ");
    let raw = message_with(
        "invoice attached",
        &[("invoice.pdf", "application/pdf", &pe)],
    );
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let c = ctx(&raw, &parsed, Direction::Inbound);
    let d = decide(&run_all(&c).await);
    assert_eq!(d.decided_by, Some("attachments"));
    assert!(
        matches!(&d.action, Action::Reject(r) if r.code == 554 && r.status == EnhancedStatus::NOT_AUTHORIZED)
    );
}

/// AL-1.4 end to end: a zip with an executable, written as base64 with one `!` per line. Mail
/// readers skip the `!` (RFC 2045 §6.8) and open the zip; the pipeline must see it too.
#[tokio::test]
async fn al_1_4_base64_with_stray_characters_still_refused() {
    let z = zip_of(&[("invoice.exe", b"MZ\x90\x00\x03\x00\x00\x00")]);
    let clean = message_with("x", &[("files.zip", "application/zip", &z)]);
    // Re-encode the attachment's base64 lines with a "!" after each.
    let text = String::from_utf8(clean).unwrap();
    let (head, rest) = text
        .split_once("Content-Transfer-Encoding: base64")
        .unwrap();
    let (hdr_end, body) = rest.split_once("\r\n\r\n").unwrap();
    let (b64, tail) = body.split_once("\r\n--").unwrap();
    let banged: Vec<String> = b64.lines().map(|l| format!("{l}!")).collect();
    let raw = format!(
        "{head}Content-Transfer-Encoding: base64{hdr_end}\r\n\r\n{}\r\n--{tail}",
        banged.join("\r\n")
    )
    .into_bytes();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let c = ctx(&raw, &parsed, Direction::Inbound);
    let d = decide(&run_all(&c).await);
    assert_eq!(d.decided_by, Some("attachments"), "{d:?}");
    assert!(matches!(&d.action, Action::Reject(r) if r.code == 554));
}
