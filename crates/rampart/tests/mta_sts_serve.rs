//! Our own MTA-STS policy (AL-1.1, RFC 8461 section 3) served on the HTTPS listener, and the
//! records `rampart dns-records` prints for it: the `_mta-sts` id of the policy served, TLS-RPT,
//! and a TLSA 3 1 1 record that `ldns-dane` (ldnsutils) accepts against the served certificate.

use crate::common;

use common::jmap::start_jmap;
use common::*;
use std::process::Command;

/// curl to `https://HOST/.well-known/mta-sts.txt`, HOST resolved to the HTTPS listener.
/// `-k`: the harness's certificate names mail.example.test, not mta-sts.*; what is under test
/// is which Host gets which policy.
fn fetch(s: &Server, host: &str) -> (u16, String, String) {
    let addr = s.listener("https");
    let out = Command::new("curl")
        .args(["-sk", "-D", "-", "-o", "-", "--max-time", "20"])
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", addr.port()))
        .arg(format!(
            "https://{host}:{}/.well-known/mta-sts.txt",
            addr.port()
        ))
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

/// FNV-1a, 64 bits, hex: the id the policy should carry, computed here from the bytes served.
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[test]
fn al_1_1_policy_served_for_represented_domains_only() {
    let s = start_jmap();
    let (status, ctype, body) = fetch(&s, "mta-sts.example.test");
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    // Defaults: testing, the hostname as MX, one week; CRLF lines (RFC 8461 section 3.2).
    assert_eq!(
        body,
        "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
    );
    // Not a domain of ours, our own host name, and no mta-sts. prefix: 404.
    for host in ["mta-sts.other.test", "mail.example.test", "example.test"] {
        let (status, _, body) = fetch(&s, host);
        assert_eq!(status, 404, "{host}: {body}");
    }
}

#[test]
fn al_1_1_dns_records_match_the_served_policy_and_certificate() {
    let s = start_jmap();
    let out = cli(
        &s.config,
        &["dns-records", "--domain", "example.test"],
        None,
    );
    let (_, _, body) = fetch(&s, "mta-sts.example.test");
    // The id in the TXT record is the hash of the policy as served: it changes with it.
    assert!(
        out.contains(&format!(
            "_mta-sts.example.test. IN TXT \"v=STSv1; id={}\"",
            fnv1a(body.as_bytes())
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "_smtp._tls.example.test. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@example.test\""
        ),
        "{out}"
    );
    // The test CA is no public CA: the advice is testing, never enforce.
    assert!(out.contains("advice: keep mode \"testing\""), "{out}");
    assert!(!out.contains("mode: enforce"), "{out}");

    // TLSA 3 1 1 of the served certificate, checked by ldns-dane against the live listener
    // (the same certificate as SMTP), with the record moved to the HTTPS port. `-n`: DANE-EE
    // binds the key, not a name (RFC 7672 section 3.1.1), and ldns-dane would check it against
    // the address it was given.
    let tlsa = out
        .lines()
        .find(|l| l.starts_with("_25._tcp.mail.example.test. IN TLSA 3 1 1 "))
        .unwrap_or_else(|| panic!("no TLSA record:\n{out}"));
    let port = s.listener("https").port();
    let file = s.dir.0.join("tlsa.txt");
    std::fs::write(
        &file,
        format!("{}\n", tlsa.replace("_25._tcp.", &format!("_{port}._tcp."))),
    )
    .unwrap();
    let v = Command::new("ldns-dane")
        .args(["-n", "-a", "127.0.0.1", "-t"])
        .arg(&file)
        .arg("verify")
        .output()
        .expect("ldns-dane (Debian's ldnsutils) must be installed");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        v.status.success() && said.contains("dane-validated successfully"),
        "{said}"
    );
    // A record for another key is refused by the same check: the check can fail.
    let wrong = tlsa[..tlsa.len() - 4].to_string() + "0000";
    std::fs::write(
        &file,
        format!(
            "{}\n",
            wrong.replace("_25._tcp.", &format!("_{port}._tcp."))
        ),
    )
    .unwrap();
    let v = Command::new("ldns-dane")
        .args(["-n", "-a", "127.0.0.1", "-t"])
        .arg(&file)
        .arg("verify")
        .output()
        .unwrap();
    assert!(!v.status.success(), "a wrong digest must not validate");
}
