//! AL-1.2, issue 21 item 4: each phishing signal the issue lists is scored by a named rule of
//! the default set (or a code rule of the spam check), with a score above zero.
//!
//! | signal | rules |
//! |---|---|
//! | login-form HTML attachment | `LOGIN_FORM_ATTACHMENT` (+ `html_form`) |
//! | link text names one domain, target another | `mismatched_link` (URL check on), `LINK_TEXT_MISMATCH` (off) |
//! | look-alike and punycode domains of ours | `lookalike_domain` (senders), `OWN_LOOKALIKE_LINK` (links), `PUNYCODE_DOMAIN` |
//! | look-alike and punycode domains of brands | `BRAND_LOOKALIKE`, `PUNYCODE_DOMAIN` |
//! | urgent payment language, new external sender | `PAYMENT_URGENT_EXTERNAL`, `PAYMENT_URGENT_NEW_THREAD` |
//! | Reply-To differing from From | `reply_to_mismatch` (+ `FREEMAIL_REPLY_TO` at a free mail provider) |

use super::tests_samples::{names, score};
use crate::spam::{score_content, score_rules, Score, SpamConfig, SpamSignals};
use crate::testutil::{ctx, LOCAL};
use crate::Direction;
use mail_parser::MessageParser;

/// The score with no URL check report (the URL check switched off).
fn score_without_url_check(raw: &str) -> Score {
    let raw = raw.replace('\n', "\r\n");
    let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let c = ctx(raw.as_bytes(), &parsed, Direction::Inbound);
    let signals = SpamSignals::default();
    let mut s = score_content(&SpamConfig::default(), &signals, &c);
    score_rules(super::builtin(), &signals, &c, &mut s);
    s
}

/// The points `rule` gave in `s`; fails when it did not fire or gave nothing.
fn points(s: &Score, rule: &str) -> f32 {
    let p = s
        .rules
        .iter()
        .filter(|r| r.rule == rule)
        .map(|r| r.weight)
        .chain(s.content.iter().filter(|h| h.name == rule).map(|h| h.score))
        .sum::<f32>();
    assert!(p > 0.0, "{rule} did not score: {:?}", names(s));
    p
}

fn absent(s: &Score, rule: &str) {
    assert!(
        !names(s).iter().any(|n| n == rule),
        "{rule} fired: {:?}",
        names(s)
    );
}

fn mail(from: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: user@{LOCAL}\nSubject: Notice\nDate: Tue, 02 Dec 2026 09:12:00 +0000\n\
         Message-ID: <m.1@sender.example>\n{extra}MIME-Version: 1.0\n{body}"
    )
}

#[test]
fn al_1_2_login_form_attachment() {
    let m = mail(
        "Billing <billing@invoices.example>",
        "",
        "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
         Your statement is attached.\n--b\nContent-Type: text/html; name=\"Statement.htm\"\n\
         Content-Disposition: attachment; filename=\"Statement.htm\"\n\n<form action=\"https://\
         collect.example/p\"><input name=u><input type=password name=p></form>\n--b--\n",
    );
    let s = score(&m);
    points(&s, "LOGIN_FORM_ATTACHMENT");
    points(&s, "html_form");
    absent(&s, "LOGIN_FORM_BODY");
}

#[test]
fn al_1_2_link_text_names_another_domain() {
    let m = mail(
        "Bank <news@bank-news.example>",
        "",
        "Content-Type: text/html\n\n<p>Review your statement at \
         <a href=\"http://statements.evil.example/s\">https://www.mybank.example/statements</a></p>\n",
    );
    // With the URL check's report the code rule scores it, without it the content rule: the
    // same signal once either way.
    let with = score(&m);
    points(&with, "mismatched_link");
    absent(&with, "LINK_TEXT_MISMATCH");
    let without = score_without_url_check(&m);
    points(&without, "LINK_TEXT_MISMATCH");
    absent(&without, "mismatched_link");
    assert_eq!(
        points(&with, "mismatched_link"),
        points(&without, "LINK_TEXT_MISMATCH")
    );
    // A link whose text is its own target is no mismatch.
    let fair = m.replace(
        "https://www.mybank.example/statements",
        "http://statements.evil.example/s",
    );
    absent(&score_without_url_check(&fair), "LINK_TEXT_MISMATCH");
}

#[test]
fn al_1_2_lookalike_and_punycode_domains_of_ours() {
    // One edit away from agency.example.gov, as the sender.
    let s = score(&mail("IT <it@agency-example.gov>", "", "\nPlease read.\n"));
    points(&s, "lookalike_domain");
    // The same name with a Cyrillic а, as an IDN (xn--gency-3ve.example.gov).
    let s = score(&mail(
        "IT <it@xn--gency-3ve.example.gov>",
        "",
        "\nPlease read.\n",
    ));
    points(&s, "lookalike_domain");
    points(&s, "PUNYCODE_DOMAIN");
    // In a link only.
    let s = score(&mail(
        "News <news@journal.example>",
        "",
        "Content-Type: text/plain\n\nSign in at https://xn--gency-3ve.example.gov/sso\n",
    ));
    points(&s, "OWN_LOOKALIKE_LINK");
    points(&s, "PUNYCODE_DOMAIN");
    // Our own domain itself is none of these.
    let s = score(&mail(
        &format!("IT <it@{LOCAL}>"),
        "",
        &format!("Content-Type: text/plain\n\nSign in at https://sso.{LOCAL}/\n"),
    ));
    for r in ["lookalike_domain", "OWN_LOOKALIKE_LINK", "PUNYCODE_DOMAIN"] {
        absent(&s, r);
    }
}

#[test]
fn al_1_2_lookalike_and_punycode_domains_of_brands() {
    let s = score(&mail(
        "Microsoft <account@rnicrosoft-support.example>",
        "",
        "\nYour licence needs attention.\n",
    ));
    points(&s, "BRAND_LOOKALIKE");
    // pаypal.com with a Cyrillic а, in a link.
    let s = score(&mail(
        "Shop <orders@shop.example>",
        "",
        "Content-Type: text/plain\n\nPay with https://xn--pypal-4ve.com/checkout\n",
    ));
    points(&s, "BRAND_LOOKALIKE");
    points(&s, "PUNYCODE_DOMAIN");
    // The brand's own domain is not an imitation.
    let s = score(&mail(
        "PayPal <service@paypal.com>",
        "",
        "Content-Type: text/plain\n\nYour receipt: https://www.paypal.com/activity\n",
    ));
    absent(&s, "BRAND_LOOKALIKE");
}

#[test]
fn al_1_2_urgent_payment_from_a_new_external_sender() {
    let body = "Content-Type: text/plain\n\nPlease pay the attached invoice by wire transfer \
                immediately; our bank details changed.\n";
    let s = score(&mail("Accounts <ap@vendor.example>", "", body));
    points(&s, "PAYMENT_URGENT_EXTERNAL");
    points(&s, "PAYMENT_URGENT_NEW_THREAD");
    // An answer in a running conversation is not a new sender's opening.
    let s = score(&mail(
        "Accounts <ap@vendor.example>",
        "In-Reply-To: <q.7@agency.example.gov>\n",
        body,
    ));
    points(&s, "PAYMENT_URGENT_EXTERNAL");
    absent(&s, "PAYMENT_URGENT_NEW_THREAD");
    // From inside, neither.
    let s = score(&mail(&format!("Accounts <ap@{LOCAL}>"), "", body));
    absent(&s, "PAYMENT_URGENT_EXTERNAL");
    absent(&s, "PAYMENT_URGENT_NEW_THREAD");
}

#[test]
fn al_1_2_reply_to_differs_from_from() {
    let s = score(&mail(
        "Director <director@vendor.example>",
        "Reply-To: director.private@elsewhere.example\n",
        "\nCan you call me?\n",
    ));
    points(&s, "reply_to_mismatch");
    absent(&s, "FREEMAIL_REPLY_TO");
    let s = score(&mail(
        "Director <director@vendor.example>",
        "Reply-To: director.private@gmail.com\n",
        "\nCan you call me?\n",
    ));
    points(&s, "reply_to_mismatch");
    points(&s, "FREEMAIL_REPLY_TO");
    // A Reply-To in the same organisation is no mismatch.
    let s = score(&mail(
        "Director <director@vendor.example>",
        "Reply-To: office@mail.vendor.example\n",
        "\nCan you call me?\n",
    ));
    absent(&s, "reply_to_mismatch");
}
