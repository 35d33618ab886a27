//! The inbound authentication check against a real DNS server (rampart-testdns), with messages
//! signed in the test: SPF, DKIM, DMARC policies (AL-2.4), the own-domain rule (NC-2.1.7),
//! forged Authentication-Results, temporary DNS errors, trusted forwarders and ARC sealing.

mod auth_support;

use rampart_checks::EnhancedStatus;
use std::time::Duration;

use auth_support::*;
use mail_auth::arc::ArcSealer;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator};
use rampart_checks::auth::{
    ArcSealConfig, AuthConfig, Authenticator, DkimResult, DmarcResult, Policy, SpfResult,
    TempErrorAction,
};
use rampart_checks::{Action, Direction, Modification, Refusal};
use rampart_testdns::TestDns;

fn reject_text(action: &Action) -> &Refusal {
    match action {
        Action::Reject(r) => r,
        other => panic!("expected a reject, got {other:?}"),
    }
}

fn added_results(mods: &[Modification]) -> &str {
    mods.iter()
        .find_map(|m| match m {
            Modification::AddHeader { name, value } if name == "Authentication-Results" => {
                Some(value.as_str())
            }
            _ => None,
        })
        .expect("an Authentication-Results header is added")
}

#[tokio::test]
async fn spf_results() {
    let dns = TestDns::builder()
        .txt("pass.test", "v=spf1 ip4:192.0.2.0/24 -all")
        .txt("fail.test", "v=spf1 ip4:198.51.100.1 -all")
        .txt("softfail.test", "v=spf1 ip4:198.51.100.1 ~all")
        .txt("neutral.test", "v=spf1 ?all")
        .txt("permerror.test", "v=spf1 include:nxdomain.test -all")
        .txt("mail.sender.test", "v=spf1 a -all")
        .a("mail.sender.test", "192.0.2.10".parse().unwrap())
        .txt("none.test", "some other text record")
        .start();
    let auth = authenticator(&config(&dns));
    for (domain, expected) in [
        ("pass.test", SpfResult::Pass),
        ("fail.test", SpfResult::Fail),
        ("softfail.test", SpfResult::SoftFail),
        ("neutral.test", SpfResult::Neutral),
        ("none.test", SpfResult::None),
        ("nxdomain.test", SpfResult::None),
        ("permerror.test", SpfResult::PermError),
    ] {
        let mail_from = format!("bounce@{domain}");
        let raw = message(&format!("a@{domain}"), "spf");
        let o = check(&auth, &raw, &Envelope::from(&mail_from)).await;
        assert_eq!(o.spf_mail_from.result(), expected, "{domain}");
        assert_eq!(
            o.spf_helo.result(),
            SpfResult::Pass,
            "HELO mail.sender.test resolves to the client"
        );
        let ar = o.authentication_results.as_deref().unwrap();
        let word = expected.to_string().to_ascii_lowercase();
        assert!(ar.contains(&format!("spf={word}")), "{domain}: {ar}");
        assert!(ar.contains(&format!("smtp.mailfrom={mail_from}")), "{ar}");
        // None of these domains publishes DMARC: SPF alone never refuses.
        assert_eq!(
            o.verdict.action,
            Action::Accept,
            "{domain}: {}",
            o.verdict.reason
        );
    }
}

#[tokio::test]
async fn dkim_rsa_2048_and_ed25519_pass_and_align() {
    let (ed_pkcs8, ed_record) = ed25519_key();
    let dns = TestDns::builder()
        // A 2048-bit key's record is longer than 255 bytes: served as several strings.
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .txt("ed._domainkey.example.com", ed_record)
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let auth = authenticator(&config(&dns));
    // SPF says nothing for the sender's envelope domain: DKIM alone must carry DMARC.
    let env = Envelope::from("bounce@unrelated.test");

    let rsa = sign_rsa(&message("alice@example.com", "rsa"), "example.com", "rsa");
    let o = check(&auth, &rsa, &env).await;
    assert_eq!(o.dkim.len(), 1);
    assert_eq!(o.dkim[0].result, DkimResult::Pass, "{:?}", o.dkim);
    assert_eq!(
        (o.dkim[0].domain.as_str(), o.dkim[0].selector.as_str()),
        ("example.com", "rsa")
    );
    assert_eq!(o.dmarc.result(), DmarcResult::Pass);
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
    let ar = o.authentication_results.as_deref().unwrap();
    assert!(ar.starts_with("mx.rampart.test;"), "{ar}");
    assert!(
        ar.contains("dkim=pass header.d=example.com header.s=rsa"),
        "{ar}"
    );
    assert!(
        ar.contains("dmarc=pass header.from=example.com policy.dmarc=reject"),
        "{ar}"
    );

    let ed = sign_ed25519(
        &message("alice@example.com", "ed"),
        &ed_pkcs8,
        "example.com",
        "ed",
    );
    let o = check(&auth, &ed, &env).await;
    assert_eq!(o.dkim[0].result, DkimResult::Pass, "{:?}", o.dkim);
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
}

#[tokio::test]
async fn dkim_failures_fail_dmarc_and_reject() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .txt(
            "broken._domainkey.example.com",
            "v=DKIM1; k=rsa; p=bm90IGEga2V5",
        )
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let auth = authenticator(&config(&dns));
    let env = Envelope::from("bounce@unrelated.test");
    let raw = message("alice@example.com", "dkimfail");

    // Missing key record.
    let missing = sign_rsa(&raw, "example.com", "gone");
    let o = check(&auth, &missing, &env).await;
    assert!(
        matches!(o.dkim[0].result, DkimResult::PermError(_)),
        "{:?}",
        o.dkim
    );
    // Broken key record.
    let broken = sign_rsa(&raw, "example.com", "broken");
    let o2 = check(&auth, &broken, &env).await;
    assert!(
        matches!(
            o2.dkim[0].result,
            DkimResult::PermError(_) | DkimResult::Fail(_)
        ),
        "{:?}",
        o2.dkim
    );
    // Body changed after signing.
    let changed = sign_rsa(&raw, "example.com", "rsa").replace("the body", "a changed body");
    let o3 = check(&auth, &changed, &env).await;
    assert!(
        matches!(o3.dkim[0].result, DkimResult::Fail(_)),
        "{:?}",
        o3.dkim
    );
    assert!(o3
        .authentication_results
        .as_deref()
        .unwrap()
        .contains("dkim=fail"));
    // A signed header changed after signing.
    let header =
        sign_rsa(&raw, "example.com", "rsa").replace("Subject: dkimfail", "Subject: urgent");
    let o4 = check(&auth, &header, &env).await;
    assert!(
        matches!(o4.dkim[0].result, DkimResult::Fail(_)),
        "{:?}",
        o4.dkim
    );

    // AL-2.4: each fails DMARC under p=reject: 550 5.7.1 naming the From domain.
    for o in [&o, &o2, &o3, &o4] {
        assert!(
            matches!(o.dmarc.result(), DmarcResult::Fail(_)),
            "{:?}",
            o.dmarc
        );
        let r = reject_text(&o.verdict.action);
        assert_eq!((r.code, r.status), (550, EnhancedStatus::NOT_AUTHORIZED));
        assert!(r.text.contains("example.com"), "{}", r.text);
        assert_eq!(o.verdict.check, "dmarc");
        assert!(o.verdict.reason.contains("AL-2.4"), "{}", o.verdict.reason);
    }
}

/// Each DKIM signature costs a DNS lookup: only the first ten are verified.
#[tokio::test]
async fn dkim_signatures_are_capped() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .start();
    let auth = authenticator(&config(&dns));
    let mut raw = message("a@example.com", "many");
    for _ in 0..12 {
        raw = sign_rsa(&raw, "example.com", "rsa");
    }
    let o = check(&auth, &raw, &Envelope::from("bounce@unrelated.test")).await;
    assert_eq!(o.dkim.len(), 10);
    assert!(
        o.dkim.iter().all(|d| d.result == DkimResult::Pass),
        "{:?}",
        o.dkim
    );
}

/// AL-2.4: reject refused, quarantine quarantined, none delivered; sp= for subdomains.
#[tokio::test]
async fn dmarc_policies() {
    let dns = TestDns::builder()
        .txt("_dmarc.reject.test", "v=DMARC1; p=reject")
        .txt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine")
        .txt(
            "_dmarc.none.test",
            "v=DMARC1; p=none; rua=mailto:r@none.test",
        )
        .txt("_dmarc.parent.test", "v=DMARC1; p=none; sp=reject")
        .a("sub.parent.test", "192.0.2.99".parse().unwrap())
        .txt("_dmarc.testing.test", "v=DMARC1; p=reject; t=y")
        .start();
    let auth = authenticator(&config(&dns));
    let env = Envelope::from("bounce@unrelated.test");
    let run = |domain: &'static str| {
        let auth = &auth;
        let env = &env;
        async move { check(auth, &message(&format!("x@{domain}"), "pol"), env).await }
    };

    let o = run("reject.test").await;
    assert_eq!(o.dmarc.policy(), Policy::Reject);
    let r = reject_text(&o.verdict.action);
    assert_eq!((r.code, r.status), (550, EnhancedStatus::NOT_AUTHORIZED));
    assert!(r.text.contains("reject.test"), "{}", r.text);

    let o = run("quarantine.test").await;
    assert_eq!(o.verdict.action, Action::Quarantine);
    assert_eq!(o.verdict.check, "dmarc");

    let o = run("none.test").await;
    assert!(matches!(o.dmarc.result(), DmarcResult::Fail(_)));
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);

    // The organisation says p=none for itself but sp=reject for its subdomains.
    let o = run("parent.test").await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
    let o = run("sub.parent.test").await;
    assert_eq!(
        o.dmarc.policy(),
        Policy::Reject,
        "sp= applies to an existing subdomain"
    );
    assert!(reject_text(&o.verdict.action)
        .text
        .contains("sub.parent.test"));

    // t=y (testing): reject is applied one level down, as quarantine.
    let o = run("testing.test").await;
    assert_eq!(o.verdict.action, Action::Quarantine);
}

#[tokio::test]
async fn alignment_relaxed_and_strict() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.mail.relaxed.test", rsa_key().dns_record())
        .txt("rsa._domainkey.mail.strict.test", rsa_key().dns_record())
        .txt("_dmarc.relaxed.test", "v=DMARC1; p=reject; adkim=r; aspf=r")
        .txt("_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s")
        .txt("bounce.relaxed.test", "v=spf1 ip4:192.0.2.10 -all")
        .txt("bounce.strict.test", "v=spf1 ip4:192.0.2.10 -all")
        .start();
    let auth = authenticator(&config(&dns));

    // DKIM d= a subdomain of the From domain.
    for (domain, aligned) in [("relaxed.test", true), ("strict.test", false)] {
        let raw = sign_rsa(
            &message(&format!("a@{domain}"), "dk"),
            &format!("mail.{domain}"),
            "rsa",
        );
        let o = check(&auth, &raw, &Envelope::from("bounce@unrelated.test")).await;
        assert_eq!(o.dkim[0].result, DkimResult::Pass);
        assert_eq!(
            o.dmarc.result() == DmarcResult::Pass,
            aligned,
            "{domain} DKIM: {:?}",
            o.dmarc
        );
        assert_eq!(
            o.verdict.action == Action::Accept,
            aligned,
            "{}",
            o.verdict.reason
        );
    }
    // SPF for a MAIL FROM in a subdomain of the From domain.
    for (domain, aligned) in [("relaxed.test", true), ("strict.test", false)] {
        let mail_from = format!("b@bounce.{domain}");
        let o = check(
            &auth,
            &message(&format!("a@{domain}"), "sp"),
            &Envelope::from(&mail_from),
        )
        .await;
        assert_eq!(o.spf_mail_from.result(), SpfResult::Pass);
        assert_eq!(
            o.dmarc.result() == DmarcResult::Pass,
            aligned,
            "{domain} SPF: {:?}",
            o.dmarc
        );
        assert_eq!(
            o.verdict.action == Action::Accept,
            aligned,
            "{}",
            o.verdict.reason
        );
    }
}

/// NC-2.1.7: From in one of our domains, from the Internet, without alignment: refused,
/// whatever that domain publishes; with alignment: accepted.
#[tokio::test]
async fn own_domain_from_outside_is_refused_unless_aligned() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.rampart.gov", rsa_key().dns_record())
        .txt("_dmarc.rampart.gov", "v=DMARC1; p=none")
        .txt("rampart.gov", "v=spf1 ip4:203.0.113.0/24 ~all")
        .start();
    let auth = authenticator(&config(&dns));
    let forged = message("ceo@rampart.gov", "wire-transfer");

    // Envelope from anywhere; the domain publishes only p=none and ~all: still refused.
    for mail_from in ["ceo@rampart.gov", "x@attacker.test", ""] {
        let o = check(&auth, &forged, &Envelope::from(mail_from)).await;
        let r = reject_text(&o.verdict.action);
        assert_eq!(
            (r.code, r.status),
            (550, EnhancedStatus::NOT_AUTHORIZED),
            "{mail_from}"
        );
        assert!(r.text.contains("rampart.gov"), "{}", r.text);
        assert!(
            o.verdict.reason.contains("NC-2.1.7"),
            "{}",
            o.verdict.reason
        );
    }
    // Case does not matter.
    let o = check(
        &auth,
        &message("ceo@RAMPART.GOV", "case"),
        &Envelope::from("x@attacker.test"),
    )
    .await;
    assert!(
        matches!(o.verdict.action, Action::Reject(_)),
        "{}",
        o.verdict.reason
    );

    // Signed by the domain (e.g. a cloud service sending for it): aligned, accepted.
    let signed = sign_rsa(
        &message("news@rampart.gov", "newsletter"),
        "rampart.gov",
        "rsa",
    );
    let o = check(&auth, &signed, &Envelope::from("bounce@esp.test")).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);

    // Sent from the domain's own SPF-listed network: aligned, accepted.
    let env = Envelope {
        ip: "203.0.113.5",
        ..Envelope::from("ceo@rampart.gov")
    };
    let o = check(&auth, &forged, &env).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);

    // A domain that publishes nothing at all is protected just the same.
    let o = check(
        &auth,
        &message("x@other.gov", "nothing"),
        &Envelope {
            local_domains: &["rampart.gov", "other.gov"],
            ..Envelope::from("x@other.gov")
        },
    )
    .await;
    assert!(
        matches!(o.verdict.action, Action::Reject(_)),
        "{}",
        o.verdict.reason
    );
}

/// AL-2.4: a second From field, or From addresses in several domains, would make DMARC "not
/// apply"; such messages are refused rather than passed.
#[tokio::test]
async fn several_from_fields_or_domains_are_refused() {
    let dns = TestDns::builder()
        .txt("_dmarc.bank.test", "v=DMARC1; p=reject")
        .txt("attacker.test", "v=spf1 ip4:192.0.2.10 -all")
        .start();
    let auth = authenticator(&config(&dns));
    let env = Envelope::from("x@attacker.test");
    let two_fields = format!(
        "From: x@attacker.test\r\n{}",
        message("ceo@bank.test", "two")
    );
    let o = check(&auth, &two_fields, &env).await;
    let r = reject_text(&o.verdict.action);
    assert!(r.text.contains("more than one From"), "{}", r.text);

    let two_domains = message("ceo@bank.test", "list").replace(
        "From: Sender <ceo@bank.test>",
        "From: Sender <ceo@bank.test>, x@attacker.test",
    );
    let o = check(&auth, &two_domains, &env).await;
    assert!(
        matches!(o.verdict.action, Action::Reject(_)),
        "{}",
        o.verdict.reason
    );
    assert!(
        o.verdict.reason.contains("more than one domain"),
        "{}",
        o.verdict.reason
    );
}

/// RFC 8601 section 5: Authentication-Results claiming our authserv-id are removed, others kept,
/// however they are folded, cased or spaced (the folded form once survived).
#[tokio::test]
async fn forged_authentication_results_are_removed() {
    let dns = TestDns::builder().start();
    let auth = authenticator(&config(&dns));
    let raw = format!(
        "Authentication-Results: MX.Rampart.TEST; dkim=pass header.d=bank.test; dmarc=pass\r\n\
         Authentication-Results: (comment) \"mx.rampart.test\"; spf=pass\r\n\
         Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=x@other.test\r\n\
         authentication-results:\r\n\t mx.rampart.test.\r\n ; dmarc=pass\r\n\
         X-Filler: x\r\n\
         ARC-Seal: i=1; a=rsa-sha256; cv=none; d=other.test; s=s; b=AAAA\r\n\
         ARC-Message-Signature: i=1; a=rsa-sha256; d=other.test; s=s; h=from; bh=AAAA; b=AAAA\r\n\
         ARC-Authentication-Results: i=1;\r\n mx.rampart.test; dmarc=pass\r\n{}",
        message("x@other.test", "forged")
    );
    let o = check(&auth, &raw, &Envelope::from("x@other.test")).await;
    let removed = |field: &str| -> Vec<usize> {
        o.verdict
            .modifications
            .iter()
            .filter_map(|m| match m {
                Modification::RemoveFields { name, indices } if name == field => {
                    Some(indices.clone())
                }
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert_eq!(removed("Authentication-Results"), [0, 1, 3]);
    assert_eq!(removed("ARC-Seal"), [5]);
    assert_eq!(removed("ARC-Message-Signature"), [6]);
    assert_eq!(removed("ARC-Authentication-Results"), [7]);
    let ours = added_results(&o.verdict.modifications);
    assert!(ours.starts_with("mx.rampart.test;"), "{ours}");
    assert_eq!(o.authentication_results.as_deref(), Some(ours));
}

/// DNS that does not answer, or answers SERVFAIL: 451 4.7.x, not a guess.
#[tokio::test]
async fn dns_failure_is_a_temporary_failure() {
    let dns = TestDns::builder()
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
        .start();
    let mut cfg = config(&dns);
    cfg.dns_timeout_ms = 300;
    let auth = authenticator(&cfg);
    let raw = message("a@example.com", "dnsdown");

    dns.set_silent(true);
    let o = check(&auth, &raw, &Envelope::from("a@example.com")).await;
    match &o.verdict.action {
        Action::TempFail(r) => {
            assert_eq!(r.code, 451);
            assert!(r.status.subject() == 7, "{:?}", r.status);
        }
        other => panic!("expected 451, got {other:?} ({})", o.verdict.reason),
    }
    assert!(o
        .authentication_results
        .as_deref()
        .unwrap()
        .contains("temperror"));

    // The whole check has a time budget, whatever the per-query timeout.
    let slow = authenticator(&AuthConfig {
        dns_timeout_ms: 5_000,
        check_timeout_secs: 1,
        ..config(&dns)
    });
    let started = std::time::Instant::now();
    let o = check(&slow, &raw, &Envelope::from("a@example.com")).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(o.verdict.action, Action::TempFail(_)),
        "{:?}",
        o.verdict
    );
    assert!(
        o.verdict.reason.contains("timed out"),
        "{}",
        o.verdict.reason
    );

    dns.set_silent(false);
    dns.set_servfail(true);
    let o = check(&auth, &raw, &Envelope::from("a@example.com")).await;
    assert!(
        matches!(o.verdict.action, Action::TempFail(_)),
        "{:?}",
        o.verdict
    );

    // Configured to accept on a DMARC temperror: delivered, with the reason saying why.
    let mut lenient = cfg.clone();
    lenient.dmarc_temperror = TempErrorAction::Accept;
    lenient.spf_temperror = TempErrorAction::Accept;
    let o = check(
        &authenticator(&lenient),
        &raw,
        &Envelope::from("a@example.com"),
    )
    .await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
    assert!(
        o.verdict.reason.contains("temperror"),
        "{}",
        o.verdict.reason
    );

    dns.set_servfail(false);
    let o = check(&auth, &raw, &Envelope::from("a@example.com")).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
}

/// A temporary error on the one lookup that could have passed DMARC under p=reject decides the
/// outcome: 451, with the per-check setting honoured.
#[tokio::test]
async fn temperror_that_decides_is_a_temporary_failure() {
    let dns = TestDns::builder()
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
        .start();
    let auth = authenticator(&config(&dns));
    let signed = sign_rsa(&message("a@example.com", "keydown"), "example.com", "rsa");

    // DKIM: the key cannot be fetched, SPF does not align: DKIM decides.
    dns.set_servfail_name("rsa._domainkey.example.com", true);
    let o = check(&auth, &signed, &Envelope::from("bounce@unrelated.test")).await;
    assert!(
        matches!(o.dkim[0].result, DkimResult::TempError(_)),
        "{:?}",
        o.dkim
    );
    match &o.verdict.action {
        Action::TempFail(r) => {
            assert_eq!((r.code, r.status), (451, EnhancedStatus::SECURITY_OTHER))
        }
        other => panic!("{other:?}: {}", o.verdict.reason),
    }
    assert!(o.verdict.reason.contains("DKIM"), "{}", o.verdict.reason);
    // ...but not when SPF passes aligned anyway.
    let o = check(&auth, &signed, &Envelope::from("bounce@example.com")).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
    let quarantine = authenticator(&AuthConfig {
        dkim_temperror: TempErrorAction::Quarantine,
        ..config(&dns)
    });
    let o = check(
        &quarantine,
        &signed,
        &Envelope::from("bounce@unrelated.test"),
    )
    .await;
    assert_eq!(o.verdict.action, Action::Quarantine, "{}", o.verdict.reason);
    dns.set_servfail_name("rsa._domainkey.example.com", false);

    // SPF: the aligned MAIL FROM's SPF record cannot be fetched, no DKIM: 451 4.7.24.
    dns.set_servfail_name("example.com", true);
    let unsigned = message("a@example.com", "spfdown");
    let o = check(&auth, &unsigned, &Envelope::from("bounce@example.com")).await;
    assert_eq!(o.spf_mail_from.result(), SpfResult::TempError);
    match &o.verdict.action {
        Action::TempFail(r) => assert_eq!((r.code, r.status), (451, EnhancedStatus::SPF_ERROR)),
        other => panic!("{other:?}: {}", o.verdict.reason),
    }
    let lenient = authenticator(&AuthConfig {
        spf_temperror: TempErrorAction::Accept,
        ..config(&dns)
    });
    let o = check(&lenient, &unsigned, &Envelope::from("bounce@example.com")).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
}

/// Trusted forwarders override a failing reject policy, and say so; others do not.
#[tokio::test]
async fn trusted_forwarder_network_overrides_dmarc_reject() {
    let dns = TestDns::builder()
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let raw = message("a@example.com", "fwd");
    let mut cfg = config(&dns);
    cfg.trusted_forwarders.networks = vec!["192.0.2.0/28".parse().unwrap()];
    let auth = authenticator(&cfg);

    let o = check(&auth, &raw, &Envelope::from("a@example.com")).await;
    assert_eq!(o.verdict.action, Action::Accept);
    assert!(
        o.verdict.reason.contains("overridden"),
        "{}",
        o.verdict.reason
    );
    assert!(
        o.verdict.reason.contains("192.0.2.0/28"),
        "{}",
        o.verdict.reason
    );

    let o = check(
        &auth,
        &raw,
        &Envelope {
            ip: "192.0.2.200",
            ..Envelope::from("a@example.com")
        },
    )
    .await;
    assert!(matches!(o.verdict.action, Action::Reject(_)));

    // The own-domain rule is not a DMARC policy: a trusted network does not lift it by default.
    let o = check(
        &auth,
        &message("ceo@rampart.gov", "own"),
        &Envelope::from("x@other.test"),
    )
    .await;
    assert!(
        matches!(o.verdict.action, Action::Reject(_)),
        "{}",
        o.verdict.reason
    );
}

#[tokio::test]
async fn outbound_is_not_checked() {
    let dns = TestDns::builder()
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let auth = authenticator(&config(&dns));
    let env = Envelope {
        direction: Direction::Outbound,
        ..Envelope::from("a@example.com")
    };
    let o = check(&auth, &message("a@example.com", "out"), &env).await;
    assert_eq!(o.verdict.action, Action::Accept);
    assert!(o.verdict.modifications.is_empty());
    assert!(o.authentication_results.is_none());
    assert_eq!(dns.queries(), 0, "no DNS for outbound mail");
}

/// ARC: we seal after changing the message (the [External] tag breaks DKIM); mail-auth's ARC
/// verifier validates the chain; a receiver trusting us as a sealer accepts what would
/// otherwise be refused under p=reject.
#[tokio::test]
async fn arc_seal_verifies_and_trusted_sealer_overrides() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
        .txt("arc._domainkey.rampart.test", rsa_key().dns_record())
        .start();
    let mut cfg = config(&dns);
    cfg.arc_seal = Some(ArcSealConfig {
        domain: "rampart.test".into(),
        selector: "arc".into(),
        key_file: rsa_key().path().to_path_buf(),
    });
    let gateway = authenticator(&cfg);

    // Hop 1: the gateway receives authentic mail, tags the subject, seals.
    let original = sign_rsa(
        &message("a@example.com", "Quarterly report"),
        "example.com",
        "rsa",
    );
    let o = check(&gateway, &original, &Envelope::from("a@example.com")).await;
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);
    let tagged = original.replace(
        "Subject: Quarterly report",
        "Subject: [External] Quarterly report",
    );
    let seal = gateway
        .seal(tagged.as_bytes(), &o)
        .expect("a sealing key is configured");
    assert!(seal.starts_with("ARC-Seal: i=1;"), "{seal}");
    assert!(seal.contains("ARC-Message-Signature: i=1;"));
    assert!(
        seal.contains("ARC-Authentication-Results: i=1; mx.rampart.test;"),
        "{seal}"
    );
    assert!(seal.contains("dmarc=pass"), "{seal}");
    let delivered = format!(
        "{seal}Authentication-Results: {}\r\n{tagged}",
        o.authentication_results.as_deref().unwrap()
    );

    // mail-auth's verifier, asking the same DNS: the chain passes.
    let verifier =
        MessageAuthenticator::new(dns.resolver_config(), TestDns::resolver_opts()).unwrap();
    let parsed = AuthenticatedMessage::parse(delivered.as_bytes()).unwrap();
    let arc = verifier.verify_arc(&parsed).await;
    assert_eq!(arc.result(), &DkimResult::Pass, "{delivered}");

    // Hop 2: a receiver behind us. The sender's DKIM no longer verifies, SPF fails (we are not
    // in example.com's SPF), so DMARC fails under p=reject...
    let env = Envelope {
        ip: "198.51.100.25",
        helo: "mx.rampart.test",
        ..Envelope::from("a@example.com")
    };
    let downstream = Authenticator::new(&config(&dns), "inbound.receiver.test").unwrap();
    let o2 = check(&downstream, &delivered, &env).await;
    assert_eq!(o2.arc.result, DkimResult::Pass);
    assert_eq!(o2.arc.sealer.as_deref(), Some("rampart.test"));
    assert!(o2.arc.sealer_reports_dmarc_pass);
    assert!(
        matches!(o2.verdict.action, Action::Reject(_)),
        "untrusted sealer: {}",
        o2.verdict.reason
    );

    // ...unless it trusts our seal, which then records the override.
    let mut trusting = config(&dns);
    trusting.trusted_forwarders.arc_sealers = vec!["Rampart.Test".into()];
    let o3 = check(
        &Authenticator::new(&trusting, "inbound.receiver.test").unwrap(),
        &delivered,
        &env,
    )
    .await;
    assert_eq!(o3.verdict.action, Action::Accept, "{}", o3.verdict.reason);
    assert!(
        o3.verdict.reason.contains("trusted forwarder rampart.test"),
        "{}",
        o3.verdict.reason
    );

    // A trusted sealer that sealed a spoof (its own results say dmarc=fail) does not launder it.
    let spoof = message("a@example.com", "spoof");
    let o4 = check(
        &gateway,
        &spoof,
        &Envelope {
            ip: "203.0.113.66",
            ..Envelope::from("x@attacker.test")
        },
    )
    .await;
    assert!(matches!(o4.verdict.action, Action::Reject(_)));
    let sealed_spoof = format!("{}{spoof}", gateway.seal(spoof.as_bytes(), &o4).unwrap());
    let o5 = check(
        &Authenticator::new(&trusting, "inbound.receiver.test").unwrap(),
        &sealed_spoof,
        &env,
    )
    .await;
    assert_eq!(o5.arc.result, DkimResult::Pass);
    assert!(!o5.arc.sealer_reports_dmarc_pass);
    assert!(
        matches!(o5.verdict.action, Action::Reject(_)),
        "{}",
        o5.verdict.reason
    );
}

/// mail-auth's own sealer, as an independent second hop on top of ours: the chain of two
/// still validates, and our check reads it.
#[tokio::test]
async fn arc_chain_of_two_validates() {
    let dns = TestDns::builder()
        .txt("rsa._domainkey.example.com", rsa_key().dns_record())
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .txt("arc._domainkey.rampart.test", rsa_key().dns_record())
        .txt("arc._domainkey.list.test", rsa_key().dns_record())
        .start();
    let mut cfg = config(&dns);
    cfg.arc_seal = Some(ArcSealConfig {
        domain: "rampart.test".into(),
        selector: "arc".into(),
        key_file: rsa_key().path().to_path_buf(),
    });
    // First hop: a list seals with mail-auth directly.
    let verifier =
        MessageAuthenticator::new(dns.resolver_config(), TestDns::resolver_opts()).unwrap();
    let original = sign_rsa(&message("a@example.com", "list"), "example.com", "rsa");
    let parsed = AuthenticatedMessage::parse(original.as_bytes()).unwrap();
    let dkim = verifier.verify_dkim(&parsed).await;
    let arc = verifier.verify_arc(&parsed).await;
    let ar =
        mail_auth::AuthenticationResults::new("list.test").with_dkim_results(&dkim, "example.com");
    let set = ArcSealer::from_key(rsa_key().signing_key())
        .domain("list.test")
        .selector("arc")
        .headers(["From", "To", "Subject", "DKIM-Signature"])
        .seal(&parsed, &ar, &arc)
        .unwrap();
    use mail_auth::common::headers::HeaderWriter;
    let hop1 = format!("{}{}", set.to_header(), original);

    // Second hop: us.
    let gateway = authenticator(&cfg);
    let o = check(&gateway, &hop1, &Envelope::from("bounce@list.test")).await;
    assert_eq!(o.arc.result, DkimResult::Pass);
    assert_eq!(o.arc.instances, 1);
    let seal = gateway.seal(hop1.as_bytes(), &o).unwrap();
    assert!(
        seal.starts_with("ARC-Seal: i=2; a=rsa-sha256; s=arc; d=rampart.test; cv=pass;"),
        "{seal}"
    );
    let hop2 = format!("{seal}{hop1}");
    let parsed = AuthenticatedMessage::parse(hop2.as_bytes()).unwrap();
    assert_eq!(
        verifier.verify_arc(&parsed).await.result(),
        &DkimResult::Pass
    );
}

/// An Ed25519 sealing key (PKCS#8 PEM, as `openssl genpkey` writes it) works too.
#[tokio::test]
async fn arc_seal_with_ed25519() {
    let dir = TempDir::new("ed-arc");
    let pem = dir.path("ed.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&pem)
        .status()
        .unwrap();
    assert!(ok.success());
    let spki = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap()
        .stdout;
    let raw_public = &spki[spki.len() - 32..];
    let dns = TestDns::builder()
        .txt(
            "ed._domainkey.rampart.test",
            format!("v=DKIM1; k=ed25519; p={}", base64(raw_public)),
        )
        .start();
    let mut cfg = config(&dns);
    cfg.arc_seal = Some(ArcSealConfig {
        domain: "rampart.test".into(),
        selector: "ed".into(),
        key_file: pem,
    });
    let gateway = authenticator(&cfg);
    let raw = message("a@example.com", "ed-seal");
    let o = check(&gateway, &raw, &Envelope::from("a@example.com")).await;
    let seal = gateway.seal(raw.as_bytes(), &o).unwrap();
    assert!(seal.contains("a=ed25519-sha256"), "{seal}");
    let sealed = format!("{seal}{raw}");
    let verifier =
        MessageAuthenticator::new(dns.resolver_config(), TestDns::resolver_opts()).unwrap();
    let parsed = AuthenticatedMessage::parse(sealed.as_bytes()).unwrap();
    assert_eq!(
        verifier.verify_arc(&parsed).await.result(),
        &DkimResult::Pass
    );
}

#[tokio::test]
async fn no_seal_without_a_key_and_bad_keys_are_reported() {
    let dns = TestDns::builder().start();
    let auth = authenticator(&config(&dns));
    let raw = message("a@example.com", "nokey");
    let o = check(&auth, &raw, &Envelope::from("a@example.com")).await;
    assert!(auth.seal(raw.as_bytes(), &o).is_none());

    let dir = TempDir::new("badkey");
    std::fs::write(dir.path("bad.pem"), "not a key").unwrap();
    let mut cfg = config(&dns);
    cfg.arc_seal = Some(ArcSealConfig {
        domain: "rampart.test".into(),
        selector: "arc".into(),
        key_file: dir.path("bad.pem"),
    });
    let err = rampart_checks::auth::Authenticator::new(&cfg, HOSTNAME)
        .err()
        .expect("a bad key is refused");
    assert!(err.to_string().contains("auth.arc_seal.key_file"), "{err}");
    cfg.arc_seal = None;
    cfg.authserv_id = Some("bad id; x".into());
    assert!(rampart_checks::auth::Authenticator::new(&cfg, HOSTNAME).is_err());
}

#[test]
fn config_parses_from_toml_and_refuses_unknown_keys() {
    let cfg: AuthConfig = toml::from_str(
        r#"
        authserv_id = "mx.example.gov"
        dns_servers = ["192.0.2.53", "[2001:db8::53]:5353"]
        dns_timeout_ms = 2000
        spf_temperror = "accept"
        dkim_temperror = "quarantine"
        [trusted_forwarders]
        arc_sealers = ["google.com"]
        networks = ["198.51.100.0/24", "192.0.2.7"]
        [arc_seal]
        domain = "example.gov"
        selector = "arc2026"
        key_file = "/etc/rampart/arc.pem"
        "#,
    )
    .unwrap();
    assert_eq!(cfg.dns_servers.len(), 2);
    assert_eq!(cfg.dns_servers[1].0, "[2001:db8::53]:5353".parse().unwrap());
    assert_eq!(cfg.spf_temperror, TempErrorAction::Accept);
    assert_eq!(cfg.dkim_temperror, TempErrorAction::Quarantine);
    assert_eq!(cfg.dmarc_temperror, TempErrorAction::TempFail);
    assert!(cfg.trusted_forwarders.networks[1].contains("192.0.2.7".parse().unwrap()));
    assert!(toml::from_str::<AuthConfig>("dns_timeout = 3").is_err());
    assert!(toml::from_str::<AuthConfig>("[trusted_forwarders]\nnetwork = []").is_err());
    assert!(toml::from_str::<AuthConfig>("dns_servers = [\"resolver.local\"]").is_err());
}

/// The authenticator can be built before the runtime starts (configuration loading is sync),
/// and with the system resolver when no servers are configured.
#[test]
fn builds_outside_a_runtime_and_with_the_system_resolver() {
    let auth = Authenticator::new(&AuthConfig::default(), "MX.Example.GOV").unwrap();
    assert_eq!(auth.authserv_id(), "MX.Example.GOV");
    let named = AuthConfig {
        authserv_id: Some("auth.example.gov".into()),
        ..AuthConfig::default()
    };
    assert_eq!(
        Authenticator::new(&named, "mx").unwrap().authserv_id(),
        "auth.example.gov"
    );
}
