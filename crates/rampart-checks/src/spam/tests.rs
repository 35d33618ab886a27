//! AL-1.2 scoring without DNS (IP blocklists: tests/dns_lists.rs).

use super::*;
use crate::testutil::{ctx, LOCAL};
use crate::urls::extract::extract;
use mail_parser::MessageParser;

fn raw(from: &str, extra_headers: &str, html: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: user@{LOCAL}\r\nSubject: Invoice\r\n{extra_headers}MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    )
    .into_bytes()
}

async fn run(raw: &[u8], auth_failed: bool, direction: Direction) -> (Verdict, Score) {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let c = ctx(raw, &parsed, direction);
    let report = UrlReport {
        extracted: extract(&parsed, 100),
        ..UrlReport::default()
    };
    let signals = SpamSignals {
        auth_failed,
        urls: Some(&report),
        ..SpamSignals::default()
    };
    let cfg = SpamConfig::default();
    let score = score_content(&cfg, &signals, &c);
    // The code rules alone: the content rules have their own tests (rules/tests.rs).
    let none = rules::RuleSet::default();
    (
        check_with_rules(&cfg, &none, None, &signals, &c).await,
        score,
    )
}

fn rules(s: &Score) -> Vec<&'static str> {
    s.rules.iter().map(|r| r.rule).collect()
}

#[tokio::test]
async fn al_1_2_clean_mail_scores_zero() {
    let (v, s) = run(
        &raw("Ann <ann@partner.example>", "", "<p>Hello</p>"),
        false,
        Direction::Inbound,
    )
    .await;
    assert_eq!(s.total, 0.0, "{s:?}");
    assert_eq!(v.action, Action::Accept);
    assert!(v.modifications.is_empty());
}

#[tokio::test]
async fn al_1_2_each_rule() {
    let own = format!("\"IT Desk {LOCAL}\" <helpdesk@evil.example>");
    let (_, s) = run(&raw(&own, "", "hi"), false, Direction::Inbound).await;
    assert_eq!(rules(&s), vec!["display_name_impersonation"]);

    let addr = format!("\"ceo@{LOCAL}\" <ceo@mailer.example>");
    let (_, s) = run(&raw(&addr, "", "hi"), false, Direction::Inbound).await;
    assert_eq!(rules(&s), vec!["display_name_impersonation"]);

    // Our own address in our own display name is not impersonation.
    let ours = format!("\"IT Desk {LOCAL}\" <helpdesk@{LOCAL}>");
    let (_, s) = run(&raw(&ours, "", "hi"), false, Direction::Inbound).await;
    assert!(s.rules.is_empty(), "{s:?}");

    let (_, s) = run(
        &raw("ceo@agnecy.example.gov", "", "hi"),
        false,
        Direction::Inbound,
    )
    .await;
    assert_eq!(rules(&s), vec!["lookalike_domain"]);
    assert!(s.rules[0].detail.contains("one character"), "{s:?}");

    let (_, s) = run(
        &raw(
            "a@partner.example",
            "Reply-To: collect@elsewhere.example\r\n",
            "hi",
        ),
        false,
        Direction::Inbound,
    )
    .await;
    assert_eq!(rules(&s), vec!["reply_to_mismatch"]);
    let (_, s) = run(
        &raw(
            "a@partner.example",
            "Reply-To: b@mail.partner.example\r\n",
            "hi",
        ),
        false,
        Direction::Inbound,
    )
    .await;
    assert!(s.rules.is_empty(), "subdomain is related: {s:?}");

    let (_, s) = run(
        &raw(
            "a@partner.example",
            "",
            "<form action=\"https://x.example/\"><input name=p></form>",
        ),
        false,
        Direction::Inbound,
    )
    .await;
    assert_eq!(rules(&s), vec!["html_form"]);

    let (_, s) = run(
        &raw(
            "a@partner.example",
            "",
            "<a href=\"https://evil.example/\">https://bank.example/</a>",
        ),
        false,
        Direction::Inbound,
    )
    .await;
    assert_eq!(rules(&s), vec!["mismatched_link"]);

    let (_, s) = run(
        &raw("a@partner.example", "", "hi"),
        true,
        Direction::Inbound,
    )
    .await;
    assert_eq!(rules(&s), vec!["auth_failed"]);
}

#[tokio::test]
async fn al_1_2_thresholds_tag_quarantine_reject() {
    // 6 (impersonation) → tag.
    let from = format!("\"{LOCAL} payroll\" <payroll@evil.example>");
    let (v, s) = run(&raw(&from, "", "hi"), false, Direction::Inbound).await;
    assert_eq!(s.total, 6.0);
    assert_eq!(v.action, Action::Tag);
    assert!(v.modifications.contains(&Modification::AddHeader {
        name: "X-Spam-Flag".into(),
        value: "YES".into()
    }));

    // 6 + 5 (auth failed) = 11 → quarantine.
    let (v, _) = run(&raw(&from, "", "hi"), true, Direction::Inbound).await;
    assert_eq!(v.action, Action::Quarantine, "{v:?}");

    // 8 (look-alike) + 5 + 1.5 (form) + 1 (Reply-To elsewhere) = 15.5 → reject.
    let (v, s) = run(
        &raw(
            "ceo@agency-example.gov",
            "Reply-To: ceo@mailbox.example\r\n",
            "<form></form>",
        ),
        true,
        Direction::Inbound,
    )
    .await;
    assert_eq!(s.total, 15.5, "{s:?}");
    assert!(
        matches!(&v.action, Action::Reject(r) if r.code == 554 && r.status == EnhancedStatus::NOT_AUTHORIZED),
        "{v:?}"
    );
    assert!(v.reason.contains("lookalike_domain"), "{}", v.reason);
}

/// The reason shows the total as the thresholds see it: 4.96 is below the tag line of 5, and
/// with one decimal it read "score 5.0".
#[test]
fn al_1_2_the_reason_does_not_round_a_total_over_a_threshold() {
    let raw = raw("Ann <ann@partner.example>", "", "<p>Hello</p>");
    let parsed = MessageParser::default().parse(&raw[..]).unwrap();
    let c = ctx(&raw, &parsed, Direction::Inbound);
    let mut score = Score::default();
    score.add("bayes", 4.96, "p 0.748".into());
    let v = verdict(&SpamConfig::default(), &score, &[], false, &c);
    assert_eq!(v.action, Action::Accept, "{v:?}");
    assert!(
        v.reason
            .starts_with("AL-1.2: score 4.96: bayes +4.96 (p 0.748)"),
        "{}",
        v.reason
    );
}

#[tokio::test]
async fn al_1_2_forged_spam_headers_removed_and_outbound_not_scored() {
    let r = raw(
        "a@partner.example",
        "X-Spam-Flag: NO\r\nX-Spam-Score: -100\r\n",
        "hi",
    );
    let (v, _) = run(&r, false, Direction::Inbound).await;
    assert_eq!(v.action, Action::Accept);
    assert!(v.modifications.iter().any(|m| matches!(
        m,
        Modification::RemoveFields { name, indices } if name == "X-Spam-Flag" && indices.len() == 1
    )));
    let headers = crate::message::read_headers(&r).unwrap();
    let out = crate::modify::apply_modifications(&r, &headers, &v.modifications);
    assert!(!String::from_utf8_lossy(&out).contains("X-Spam"), "removed");

    let from = format!("\"{LOCAL}\" <x@evil.example>");
    let (v, _) = run(&raw(&from, "", "<form>"), true, Direction::Outbound).await;
    assert_eq!(v.action, Action::Accept);

    // NC-2.3.4: not scored (outbound, or the check switched off), the fields a sender wrote
    // go all the same, and the reason says so: a store behind us reads `X-Spam-Flag` as ours.
    let r = raw(
        "a@partner.example",
        "X-Spam-Flag: YES\r\nX-Spam-Status: Yes\r\n",
        "hi",
    );
    let (v, _) = run(&r, false, Direction::Outbound).await;
    let headers = crate::message::read_headers(&r).unwrap();
    let out = crate::modify::apply_modifications(&r, &headers, &v.modifications);
    assert!(!String::from_utf8_lossy(&out).contains("X-Spam"), "removed");
    assert!(
        v.reason
            .ends_with("removed spam verdict fields the sender wrote (X-Spam-Flag, X-Spam-Status)"),
        "{}",
        v.reason
    );
    let parsed = MessageParser::default().parse(&r[..]).unwrap();
    let cfg = SpamConfig {
        enabled: false,
        ..SpamConfig::default()
    };
    let c = ctx(&r, &parsed, Direction::Inbound);
    let none = rules::RuleSet::default();
    let v = check_with_rules(&cfg, &none, None, &SpamSignals::default(), &c).await;
    assert_eq!(v.action, Action::Accept);
    assert_eq!(v.modifications.len(), 2, "{v:?}");
}

#[test]
fn config_parses_with_defaults() {
    let c: SpamConfig = toml::from_str(
        "reject_threshold = 20.0\n[weights]\nhtml_form = 1.5\n[[ip_blocklists]]\nzone = \"zen.example\"\n",
    )
    .unwrap();
    assert_eq!(c.weights.html_form, 1.5);
    assert_eq!(c.weights.auth_failed, 5.0);
    assert_eq!(c.tag_threshold, 5.0);
    assert!(toml::from_str::<SpamConfig>("[weights]\nunknown = 1.0\n").is_err());
}
