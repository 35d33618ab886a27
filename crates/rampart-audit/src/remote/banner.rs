//! NC-2.1.3: the greeting, the EHLO reply, HELP, an error reply and QUIT name no software and no
//! version. One connection; nothing is sent but EHLO, HELP, an unknown verb and QUIT.

use super::session::{ProbeError, Reply};
use super::{Probe, EHLO_NAME};
use crate::Finding;

/// Words that name mail software or the system it runs on, as servers put them in replies.
const SOFTWARE: &[&str] = &[
    "postfix",
    "sendmail",
    "exim",
    "qmail",
    "microsoft",
    "exchange",
    "haraka",
    "opensmtpd",
    "courier",
    "zimbra",
    "mdaemon",
    "hmailserver",
    "kerio",
    "communigate",
    "ironport",
    "barracuda",
    "proofpoint",
    "mimecast",
    "stalwart",
    "maddy",
    "rampart",
    "postscreen",
    "smartermail",
    "axigen",
    "icewarp",
    "mailenable",
    "fortimail",
    "sophos",
    "symantec",
    "gsmtp",
    "debian",
    "ubuntu",
    "centos",
    "redhat",
    "fedora",
    "freebsd",
    "openbsd",
    "windows",
    "linux",
];

/// What in `text` (one reply's text, code removed) names software or a version, if anything.
pub(crate) fn software_named(text: &str) -> Option<String> {
    for (i, token) in text
        .split(|c: char| c.is_whitespace() || "()[]<>;,/\"'=".contains(c))
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        for word in token.split(|c: char| !c.is_ascii_alphanumeric()) {
            if SOFTWARE.iter().any(|s| word.eq_ignore_ascii_case(s)) {
                return Some(word.to_string());
            }
        }
        if is_version(token) && !(i == 0 && is_enhanced_code(token)) {
            return Some(token.to_string());
        }
    }
    None
}

/// `3.7`, `v8.15.2`, `4.96-58`: two or three dotted numbers (four are an IPv4 address).
fn is_version(token: &str) -> bool {
    let t = token.trim_start_matches(['v', 'V']);
    let core = t.split(['-', '+', '_']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An RFC 3463 enhanced status code at the start of a reply text (`2.0.0`, `5.5.1`).
fn is_enhanced_code(token: &str) -> bool {
    let p: Vec<&str> = token.split('.').collect();
    p.len() == 3 && matches!(p[0], "2" | "4" | "5")
}

/// One finding for one reply.
fn judge(check: &str, r: &Reply) -> Finding {
    let named = r.lines.iter().find_map(|l| software_named(l));
    match named {
        // NC-2.1.3: software or version in a reply tells an attacker which exploits to try.
        Some(w) => Finding::fail(
            "NC-2.1.3",
            check,
            format!("{} (names `{w}`)", r.show()),
            "configure the reply without software or version (Postfix: smtpd_banner = $myhostname ESMTP)",
        ),
        None => Finding::pass("NC-2.1.3", check, r.show()),
    }
}

/// Runs the banner probe. `Err` only when the server cannot be reached or does not greet: the
/// audit as a whole could not run.
pub(crate) async fn probe(p: &mut Probe<'_>) -> Result<Vec<Finding>, ProbeError> {
    let (mut s, greeting) = p.connect(p.target.port).await?;
    if !(200..300).contains(&greeting.code) {
        return Err(ProbeError::Refused(format!(
            "the session: {}",
            greeting.show()
        )));
    }
    p.server_name = greeting.lines[0]
        .split_whitespace()
        .next()
        .filter(|n| n.contains('.'))
        .map(|n| n.to_ascii_lowercase());
    let mut out = vec![judge("greeting", &greeting)];
    let steps: [(&str, String); 4] = [
        ("EHLO reply", format!("EHLO {EHLO_NAME}")),
        ("HELP reply", "HELP".into()),
        ("error reply", "XAUDIT".into()),
        ("QUIT reply", "QUIT".into()),
    ];
    for (check, cmd) in steps {
        match s.command(&cmd).await {
            Ok(r) => {
                if check == "EHLO reply" && r.code == 250 {
                    p.ehlo = Some(r.clone());
                }
                out.push(judge(check, &r));
            }
            Err(e) => {
                out.push(super::untested("NC-2.1.3", check, &e));
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_2_1_3_software_and_versions_are_seen() {
        assert_eq!(
            software_named("mail.example.test ESMTP Postfix (Debian/GNU)").as_deref(),
            Some("Postfix")
        );
        assert_eq!(
            software_named("mx.example ESMTP Exim 4.96 Thu, 03 Dec 2026").as_deref(),
            Some("Exim")
        );
        assert_eq!(
            software_named("mx.example ESMTP Sendmail 8.15.2/8.15.2").as_deref(),
            Some("Sendmail")
        );
        assert_eq!(
            software_named("mx.example ESMTP v2.1").as_deref(),
            Some("v2.1")
        );
        assert_eq!(
            software_named("2.0.0 Bye from 3.7.11").as_deref(),
            Some("3.7.11")
        );
    }

    #[test]
    fn nc_2_1_3_plain_replies_pass() {
        for t in [
            "mail.example.test ESMTP",
            "2.0.0 Bye",
            "mail.example.test Hello [127.0.0.1]",
            "5.5.2 Error: command not recognized",
            "SIZE 10240000",
            "mx1.example.com at your service, [192.0.2.7]",
        ] {
            assert_eq!(software_named(t), None, "{t}");
        }
    }
}
