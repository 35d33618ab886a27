//! The DNS records a domain publishes so that others can authenticate its mail and reach it
//! over TLS: printed ready to paste into a zone file (`rampart dns-records`).
//!
//! Choices, for a domain whose mail all goes through Rampart:
//! - SPF `v=spf1 mx -all` (AL-2.1): the MX hosts send, nothing else does; `-all` so receivers
//!   may refuse the rest outright.
//! - DMARC `p=reject; sp=reject; adkim=s; aspf=s` (AL-2.3): Rampart signs with `d=<domain>` and
//!   sends with a MAIL FROM in `<domain>`, so strict alignment passes for all it sends, and a
//!   subdomain (delegated to a vendor, or taken over) cannot pass for the organisation. A
//!   third-party sender must sign with `d=<domain>` or use its own subdomain in From, with its
//!   own DMARC record.
//!
//! MTA-STS, TLS-RPT and TLSA (AL-1.1) depend on the server's configuration and certificate:
//! the binary prints them after these (`crates/rampart/src/mta_sts.rs`).

use std::fmt::Write;

/// Longest character-string in a TXT record (RFC 1035 section 3.3).
const TXT_STRING_MAX: usize = 255;

/// The zone-file lines for `domain`: SPF, one DKIM key per `(selector, algorithm, public key in
/// base64)` (algorithm `rsa` or `ed25519`) and DMARC, each after a comment
/// naming the control it serves. `hostname` is the MX host; `rua` the address receiving DMARC
/// and TLS reports (with or without `mailto:`).
pub fn dns_records(
    domain: &str,
    selectors: &[(&str, &str, &str)],
    hostname: &str,
    rua: &str,
) -> String {
    let domain = clean_name(domain);
    let hostname = clean_name(hostname);
    let rua = clean_address(rua.trim().strip_prefix("mailto:").unwrap_or(rua.trim()));
    let mut out = String::new();

    let _ = writeln!(
        out,
        "; Prerequisite of AL-2.1 and AL-1.1: mail for {domain} goes to {hostname}"
    );
    let _ = writeln!(out, "{domain}. IN MX 10 {hostname}.");

    let _ = writeln!(
        out,
        "; AL-2.1 SPF: only the MX hosts of {domain} send its mail; receivers refuse the rest"
    );
    let _ = writeln!(
        out,
        "{domain}. IN TXT {}",
        quoted(&["v=spf1 mx -all".to_string()])
    );

    for (selector, algorithm, key) in selectors {
        let selector = clean_name(selector);
        let k = dkim_k(algorithm);
        let value = dkim_record(algorithm, key);
        let _ = writeln!(
            out,
            "; AL-2.2 DKIM: public key ({k}) of selector {selector}, for signatures d={domain}"
        );
        let _ = writeln!(
            out,
            "{selector}._domainkey.{domain}. IN TXT {}",
            quoted(&split_txt(&value))
        );
    }

    let _ = writeln!(out, "; AL-2.3 DMARC: reject mail that fails aligned SPF and DKIM (strict), aggregate reports to {rua}");
    let dmarc = format!("v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:{rua}");
    let _ = writeln!(out, "_dmarc.{domain}. IN TXT {}", quoted(&[dmarc]));

    out
}

fn dkim_k(algorithm: &str) -> &'static str {
    if algorithm.to_ascii_lowercase().starts_with("ed25519") {
        "ed25519"
    } else {
        "rsa"
    }
}

/// AL-2.2: the TXT value of a DKIM key record, `v=DKIM1; k=...; p=...`, as [`dns_records`]
/// prints it (and `rampart audit` compares with DNS).
pub fn dkim_record(algorithm: &str, key: &str) -> String {
    let key: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+/=".contains(*c))
        .collect();
    format!("v=DKIM1; k={}; p={key}", dkim_k(algorithm))
}

/// Splits a TXT value into character-strings of at most 255 bytes (values here are ASCII).
fn split_txt(value: &str) -> Vec<String> {
    value
        .as_bytes()
        .chunks(TXT_STRING_MAX)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// `"one"` or `( "one" "two" )`.
fn quoted(parts: &[String]) -> String {
    let parts: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("( {} )", parts.join(" "))
    }
}

/// A DNS name as printed: lower case, no trailing dot, only name characters (nothing that could
/// break out of the zone-file line).
fn clean_name(name: &str) -> String {
    name.trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c))
        .collect::<String>()
        .to_ascii_lowercase()
}

fn clean_address(addr: &str) -> String {
    addr.chars()
        .filter(|c| c.is_ascii_graphic() && !"\";,!".contains(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_every_record_with_its_control() {
        let rsa_key = "M".repeat(392); // the length of a 2048-bit key's p=
        let out = dns_records(
            "Example.GOV.",
            &[
                ("s2048", "rsa", rsa_key.as_str()),
                (
                    "ed",
                    "ed25519-sha256",
                    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                ),
            ],
            "mx.example.gov",
            "mailto:dmarc-reports@example.gov",
        );
        // AL-2.1
        assert!(out.contains("; AL-2.1 SPF"));
        assert!(out.contains("example.gov. IN TXT \"v=spf1 mx -all\"\n"));
        // AL-2.2: the long key is split into strings of at most 255 bytes.
        assert!(out.contains("; AL-2.2 DKIM: public key (rsa) of selector s2048"));
        let dkim = out
            .lines()
            .find(|l| l.starts_with("s2048._domainkey.example.gov. IN TXT ( \""))
            .unwrap();
        let strings: Vec<&str> = dkim.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert_eq!(strings.concat(), format!("v=DKIM1; k=rsa; p={rsa_key}"));
        assert!(out.contains("ed._domainkey.example.gov. IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""));
        // AL-2.3
        assert!(out.contains("; AL-2.3 DMARC"));
        assert!(out.contains(
            "_dmarc.example.gov. IN TXT \"v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-reports@example.gov\""
        ));
        // Every record line follows a comment line.
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains(" IN ") {
                assert!(lines[i - 1].starts_with(';'), "{l}");
            }
        }
    }

    #[test]
    fn records_parse_as_what_they_claim() {
        use mail_auth::common::parse::TxtRecordParser;
        let out = dns_records("example.gov", &[], "mx.example.gov", "r@example.gov");
        let value = |prefix: &str| {
            let l = out.lines().find(|l| l.starts_with(prefix)).unwrap();
            l.split('"').nth(1).unwrap().to_string()
        };
        let spf = mail_auth::spf::Spf::parse(value("example.gov. IN TXT").as_bytes()).unwrap();
        assert_eq!(spf.directives.len(), 2);
        let dmarc =
            mail_auth::dmarc::Dmarc::parse(value("_dmarc.example.gov.").as_bytes()).unwrap();
        assert_eq!(dmarc.p, mail_auth::dmarc::Policy::Reject);
        assert_eq!(dmarc.sp, mail_auth::dmarc::Policy::Reject);
        assert_eq!(dmarc.adkim, mail_auth::dmarc::Alignment::Strict);
        assert_eq!(dmarc.aspf, mail_auth::dmarc::Alignment::Strict);
    }

    #[test]
    fn hostile_input_stays_on_its_line() {
        let out = dns_records(
            "evil.example\n@ IN NS x",
            &[("s\"1", "rsa", "AB\"C\nD")],
            "mx\n",
            "a\"b@example",
        );
        assert!(!out.contains("IN NS"));
        assert!(out
            .lines()
            .all(|l| l.starts_with(';') || l.matches('"').count() % 2 == 0));
        assert_eq!(out.lines().filter(|l| !l.starts_with(';')).count(), 4); // MX, SPF, DKIM, DMARC
    }
}
