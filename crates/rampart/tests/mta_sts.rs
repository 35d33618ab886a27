//! MTA-STS outbound (RFC 8461, AL-1.1): a policy served over HTTPS on loopback by a server of
//! the test's own, a receiving Rampart whose certificate names mail.example.test, and DNS from
//! a test server. Each trace event of an attempt says how the hop was secured (TLS version,
//! cipher, verified or not, policy), and each outcome is counted for the TLS report (RFC 8460).

use crate::common;
use crate::sts;

use common::*;
use sts::*;

fn queued(s: &Server) -> bool {
    cli(&s.config, &["queue", "list"], None).contains("carol@remote.test")
}

/// Enforce, the MX named by the policy and its certificate valid for it: delivered, and the
/// trace says TLS version, cipher, certificate verified and policy MTA-STS enforce.
#[test]
fn rfc8461_al_1_1_enforce_with_a_valid_certificate_delivers() {
    let dns = dns("mail.example.test", "1");
    let policy = PolicyServer::start(Answer::policy("enforce", "mail.example.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "good1");
    r.wait_mailbox("carol@remote.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(
        t.contains("via mail.example.test (TLSv1.3 TLS13_")
            && t.contains("; certificate verified; policy MTA-STS enforce)"),
        "{t}"
    );
    assert_eq!(policy.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    // RFC 8460: one successful session counted for remote.test's sts policy.
    let report = outgoing_report(&s);
    assert_eq!(counts(&report, "-"), (1, 0), "{report}");
    assert_eq!(report["policies"][0]["policy"]["policy-type"], "sts");
}

/// Enforce, and the MX's certificate names another host: not delivered, a temporary failure
/// whose reason the trace shows, counted as certificate-host-mismatch.
#[test]
fn rfc8461_enforce_holds_mail_for_a_certificate_of_another_name() {
    let dns = dns("mx.remote.test", "1");
    let policy = PolicyServer::start(Answer::policy("enforce", "mx.remote.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "badcert1");
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "deferred");
    assert!(
        t.contains("MTA-STS (enforce): the certificate of mx.remote.test is not valid (certificate-host-mismatch)"),
        "{t}"
    );
    assert!(!t.contains("delivered to carol@remote.test"), "{t}");
    assert!(queued(&s), "the message stays queued");
    assert!(r.mailbox("carol@remote.test").is_empty());
    let report = outgoing_report(&s);
    assert!(
        counts(&report, "certificate-host-mismatch").1 >= 1,
        "{report}"
    );
}

/// Enforce, and the domain's MX is not one the policy names: never connected to (section 4.1).
#[test]
fn rfc8461_enforce_holds_mail_for_an_mx_the_policy_does_not_name() {
    let dns = dns("mail.example.test", "1");
    let policy = PolicyServer::start(Answer::policy("enforce", "*.remote.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "notmx1");
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "deferred");
    assert!(
        t.contains("MTA-STS (enforce): mail.example.test is not an MX host of remote.test's MTA-STS policy"),
        "{t}"
    );
    assert!(queued(&s));
    assert!(r.mailbox("carol@remote.test").is_empty());
}

/// Testing: the same bad certificate is delivered to, and counted as a failure for the report.
#[test]
fn rfc8461_testing_delivers_and_counts_the_failure() {
    let dns = dns("mx.remote.test", "1");
    let policy = PolicyServer::start(Answer::policy("testing", "mx.remote.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "testing1");
    r.wait_mailbox("carol@remote.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(
        t.contains("; certificate not verified; policy MTA-STS testing)"),
        "{t}"
    );
    let report = outgoing_report(&s);
    assert_eq!(
        counts(&report, "certificate-host-mismatch"),
        (0, 1),
        "{report}"
    );
    let p = &report["policies"][0]["policy"];
    assert_eq!(p["policy-type"], "sts");
    assert!(
        p["policy-string"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "mode: testing"),
        "{report}"
    );
}

/// A fetched policy is cached: when the id changes and the fetch then fails, the cached
/// enforce policy still applies (section 5.1), so an MX with a bad certificate gets nothing.
#[test]
fn rfc8461_a_cached_policy_holds_when_the_fetch_fails() {
    let dns = dns("mail.example.test", "1");
    let policy = PolicyServer::start(Answer::policy("enforce", "*.example.test"));
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let first = submit(&s, "cache1");
    r.wait_mailbox("carol@remote.test", 1);
    wait_trace(&s, &["trace", "--queue-id", &first], "relayed");
    // A new id says the policy changed; the server now fails; the MX moves to a host the
    // cached policy allows by name (*.example.test) but whose certificate is for another.
    dns.set_txt("_mta-sts.remote.test", "v=STSv1; id=2");
    policy.set(Answer {
        status: "500 Internal Server Error".into(),
        content_type: "text/plain".into(),
        extra: String::new(),
        body: b"down".to_vec(),
    });
    dns.add(rampart_testdns::Record::a(
        "other.example.test",
        "127.0.0.1".parse().unwrap(),
    ));
    set_mx(&dns, "other.example.test");
    let second = submit(&s, "cache2");
    let t = wait_trace(&s, &["trace", "--queue-id", &second], "deferred");
    assert!(
        t.contains("MTA-STS (enforce): the certificate of other.example.test is not valid"),
        "the cached enforce policy applied: {t}"
    );
    assert!(
        policy.requests.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the new id was fetched"
    );
    assert_eq!(r.mailbox("carol@remote.test").len(), 1);
}

/// A redirect is not followed (section 3.3): one request, the fetch fails, and without a
/// cached policy the mail goes as without one, the failure counted.
#[test]
fn rfc8461_a_redirect_is_not_followed() {
    let dns = dns("mx.remote.test", "1");
    let mut answer = Answer::policy("enforce", "mx.remote.test");
    answer.status = "301 Moved Permanently".into();
    answer.extra = "Location: https://mta-sts.remote.test/elsewhere.txt\r\n".into();
    let policy = PolicyServer::start(answer);
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "redirect1");
    r.wait_mailbox("carol@remote.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(t.contains("policy opportunistic)"), "{t}");
    let paths = policy.paths.lock().unwrap().clone();
    assert_eq!(
        paths,
        vec!["/.well-known/mta-sts.txt"],
        "only the policy path was asked"
    );
    let report = outgoing_report(&s);
    assert_eq!(counts(&report, "sts-policy-fetch-error").1, 1, "{report}");
}

/// A policy over 64 KiB is refused (section 3.3): the mail goes as without a policy, and the
/// invalid policy is counted.
#[test]
fn rfc8461_an_oversized_policy_is_refused() {
    let dns = dns("mx.remote.test", "1");
    let mut answer = Answer::policy("enforce", "mx.remote.test");
    for i in 0..5000 {
        answer
            .body
            .extend_from_slice(format!("x{i}: padding\r\n").as_bytes());
    }
    assert!(answer.body.len() > 64 * 1024);
    let policy = PolicyServer::start(answer);
    let r = receiver(&dns);
    let s = sender(&dns, &r, &policy, "");
    let qid = submit(&s, "big1");
    r.wait_mailbox("carol@remote.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "relayed");
    assert!(
        t.contains("policy opportunistic)"),
        "an enforce policy would have held it: {t}"
    );
    let report = outgoing_report(&s);
    assert_eq!(counts(&report, "sts-policy-invalid").1, 1, "{report}");
}
