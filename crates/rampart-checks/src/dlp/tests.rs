//! AL-1.5 tests over whole messages.

use super::*;
use crate::archive::testutil::zip_of;
use crate::testutil::{ctx, docx};
use mail_builder::MessageBuilder;
use mail_parser::MessageParser;

fn message(body: &str, html: Option<&str>, attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .from("clerk@agency.example.gov")
        .to("someone@outside.example")
        .subject("Records")
        .text_body(body.to_string());
    if let Some(h) = html {
        b = b.html_body(h.to_string());
    }
    for (name, ct, data) in attachments {
        b = b.attachment(ct.to_string(), name.to_string(), data.to_vec());
    }
    b.write_to_vec().unwrap()
}

fn run_with(dlp: &Dlp, raw: &[u8], direction: Direction) -> Verdict {
    let parsed = MessageParser::default().parse(raw).unwrap();
    check(dlp, &ctx(raw, &parsed, direction))
}

fn run(raw: &[u8]) -> Verdict {
    run_with(
        &Dlp::new(DlpConfig::default()).unwrap(),
        raw,
        Direction::Outbound,
    )
}

fn refused(v: &Verdict, rule: &str) {
    match &v.action {
        Action::Reject(r) => {
            assert_eq!(
                (r.code, r.status),
                (550, EnhancedStatus::NOT_AUTHORIZED),
                "{v:?}"
            );
            assert!(r.text.contains(rule), "{v:?}");
        }
        other => panic!("expected reject by {rule}, got {other:?}: {}", v.reason),
    }
}

#[test]
fn al_1_5_valid_values_are_caught_and_never_echoed() {
    let v = run(&message("My SSN is 123-45-6789, thanks", None, &[]));
    refused(&v, "ssn");
    let Action::Reject(r) = &v.action else {
        unreachable!()
    };
    assert!(
        !r.text.contains("6789") && !v.reason.contains("6789"),
        "{v:?}"
    );

    let v = run(&message("Card 4111 1111 1111 1111 exp 12/29", None, &[]));
    refused(&v, "payment_card");
    assert!(!v.reason.contains("1111"), "{}", v.reason);

    // Routing numbers notify by default.
    let v = run(&message(
        "Wire to routing number 021000021, account 1234",
        None,
        &[],
    ));
    assert_eq!(v.action, Action::Tag, "{v:?}");
    assert_eq!(v.notices.len(), 1, "{v:?}");
    assert!(v.notices[0].contains("aba_routing"), "{v:?}");
}

#[test]
fn al_1_5_invalid_values_pass() {
    for body in [
        "Card 4111 1111 1111 1112 (bad Luhn)",
        "Number 000-12-3456 is not an SSN",
        "Routing number 021000022 fails the checksum",
        "Order 123456789 has no keyword",
        "Call 555-123-4567",
    ] {
        let v = run(&message(body, None, &[]));
        assert_eq!(v.action, Action::Accept, "{body}: {v:?}");
    }
}

#[test]
fn al_1_5_attachments_html_and_office_files() {
    // A .docx with a card number in word/document.xml.
    let d = docx("Customer card: 5500 0000 0000 0004", &[]);
    let v = run(&message(
        "see attached",
        None,
        &[(
            "customers.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &d,
        )],
    ));
    refused(&v, "payment_card");
    assert!(v.reason.contains("customers.docx"), "{}", v.reason);

    // An .xlsx with SSNs in the shared strings table.
    let strings = "<sst><si><t>Name</t></si><si><t>SSN</t></si><si><t>078-05-1121</t></si></sst>";
    let sheet = "<worksheet><sheetData><row><c t=\"s\"><v>2</v></c></row></sheetData></worksheet>";
    let x = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/sharedStrings.xml", strings.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ]);
    refused(
        &run(&message(
            "",
            None,
            &[("staff.xlsx", "application/octet-stream", &x)],
        )),
        "ssn",
    );

    // HTML split by inline tags.
    let v = run(&message("x", Some("<p>SSN 123-<b>45</b>-6789</p>"), &[]));
    refused(&v, "ssn");

    // A csv inside a zip.
    let z = zip_of(&[("export/cards.csv", b"name,card\nA,378282246310005\n")]);
    refused(
        &run(&message("", None, &[("export.zip", "application/zip", &z)])),
        "payment_card",
    );

    // A text attachment.
    refused(
        &run(&message(
            "",
            None,
            &[("notes.txt", "text/plain", b"ssn: 123456789")],
        )),
        "ssn",
    );
}

#[test]
fn al_1_5_inbound_is_not_inspected() {
    let raw = message("My SSN is 123-45-6789", None, &[]);
    let v = run_with(
        &Dlp::new(DlpConfig::default()).unwrap(),
        &raw,
        Direction::Inbound,
    );
    assert_eq!(v.action, Action::Accept);
}

#[test]
fn al_1_5_custom_patterns_dictionaries_thresholds_actions() {
    let cfg: DlpConfig = toml::from_str(
        r#"
        [aba_routing]
        action = "reject"

        [[patterns]]
        name = "employee-id"
        pattern = '\bEMP-\d{6}\b'
        threshold = 2
        action = "quarantine"

        [[dictionaries]]
        name = "classified"
        keywords = ["top secret", "noforn"]
        threshold = 2
        "#,
    )
    .unwrap();
    assert_eq!(
        cfg.aba_routing.threshold, 1,
        "unset fields keep their defaults"
    );
    let dlp = Dlp::new(cfg).unwrap();

    let one = message("EMP-123456 only", None, &[]);
    assert_eq!(
        run_with(&dlp, &one, Direction::Outbound).action,
        Action::Accept
    );
    let two = message("EMP-123456 and EMP-654321", None, &[]);
    let v = run_with(&dlp, &two, Direction::Outbound);
    assert_eq!(v.action, Action::Quarantine, "{v:?}");
    assert!(v.reason.contains("employee-id matched 2"), "{}", v.reason);

    let words = message("TOP SECRET // NOFORN", None, &[]);
    refused(&run_with(&dlp, &words, Direction::Outbound), "classified");
    let partial = message("topsecretary noforns", None, &[]);
    assert_eq!(
        run_with(&dlp, &partial, Direction::Outbound).action,
        Action::Accept
    );

    let routing = message("ABA 011000015", None, &[]);
    refused(
        &run_with(&dlp, &routing, Direction::Outbound),
        "aba_routing",
    );
}

#[test]
fn invalid_rules_are_all_reported() {
    let cfg = DlpConfig {
        patterns: vec![
            PatternRule {
                name: "a".into(),
                pattern: "(".into(),
                threshold: 1,
                action: DlpAction::Reject,
            },
            PatternRule {
                name: "b".into(),
                pattern: "x{99999999}".into(),
                threshold: 0,
                action: DlpAction::Reject,
            },
        ],
        ..DlpConfig::default()
    };
    let errors = Dlp::new(cfg).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(toml::from_str::<DlpConfig>("unknown = 1").is_err());
}
