//! SMTP smuggling (the end-of-data variants of CVE-2023-51764 and kin): only `<CRLF>.<CRLF>` may
//! end DATA. Otherwise a message can carry a second, forged one past the sender's own server,
//! signed and SPF-aligned by it: a sender-validation failure, hence NC-2.1.7.
//!
//! Each variant is one real message to the postmaster, its Subject saying it is an audit test:
//! the body ends in the fake terminator, followed by a smuggled `MAIL FROM`, then the real
//! `<CRLF>.<CRLF>`. A server that ended the data at the fake terminator answers the smuggled
//! `MAIL FROM` as a command; one that did not answers only the one message. No timing: after the
//! first reply a QUIT is sent and the replies before its `221` are counted.
//!
//! In a self-test (`rampart audit` on the server itself, [`super::Target::self_test`]) nothing
//! may reach a mailbox on any run, so each probe message also carries a line ending in a bare LF
//! before the fake terminator: a server that refuses bare line endings (Rampart does, NC-2.1.7)
//! refuses the message whichever end it takes, before a message exists. What is judged is then
//! only whether the smuggled `MAIL FROM` was answered as a command; and a message the server
//! accepted in spite of the bare LF is itself a fail, since that server was meant to refuse it.

use super::session::{ProbeError, Reply, Session};
use super::{Probe, FOREIGN};
use crate::Finding;

/// The fake terminators, as (name, bytes).
pub(crate) const VARIANTS: &[(&str, &[u8])] = &[
    ("<LF>.<LF>", b"\n.\n"),
    ("<LF>.<CRLF>", b"\n.\r\n"),
    ("<CRLF>.<LF>", b"\r\n.\n"),
    ("<CR>.<CR>", b"\r.\r"),
    ("<CRLF>.<CR>", b"\r\n.\r"),
    ("<CR>.<CRLF>", b"\r.\r\n"),
];

/// What the server did with one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The smuggled command was answered: data ended at the fake terminator.
    Ended(Vec<Reply>),
    /// One answer for the whole message (accepted or refused): the fake terminator was data.
    Held(Reply),
    /// Self-test only: the message with its bare LF was accepted (and may be delivered).
    Accepted(Reply),
}

/// Judges the replies read after the message: `first` to the data, then every reply before
/// QUIT's `221`.
pub(crate) fn outcome(first: Reply, rest: Vec<Reply>) -> Outcome {
    // A server that ended the data early answers the smuggled MAIL FROM (and then complains
    // about the lines after it); one that did not has nothing more to say before 221.
    let mut extra: Vec<Reply> = rest.into_iter().filter(|r| r.code != 221).collect();
    if extra.is_empty() || !first.positive() {
        // A refusal of the message (bare CR or LF refused) is a refusal, whatever follows.
        Outcome::Held(first)
    } else {
        extra.insert(0, first);
        Outcome::Ended(extra)
    }
}

/// The self-test's judgement: the smuggled command answered is smuggling, whatever the first
/// reply (the bare LF makes a refusal of the first part expected); a positive first reply means
/// the bare LF was taken, which a self-test must not see.
pub(crate) fn outcome_self_test(first: Reply, rest: Vec<Reply>) -> Outcome {
    let mut extra: Vec<Reply> = rest.into_iter().filter(|r| r.code != 221).collect();
    if !extra.is_empty() {
        extra.insert(0, first);
        Outcome::Ended(extra)
    } else if first.positive() {
        Outcome::Accepted(first)
    } else {
        Outcome::Held(first)
    }
}

/// The line of a self-test's message that ends in a bare LF (see the module doc).
const SELF_TEST_POISON: &[u8] =
    b"\r\nThis line ends in a bare LF so that no server refusing bare line endings accepts it.\n";

fn message(domain: &str, name: &str, fake: &[u8], self_test: bool) -> Vec<u8> {
    let mut m = format!(
        "From: <postmaster@{domain}>\r\nTo: <postmaster@{domain}>\r\n\
         Subject: rampart audit test: SMTP smuggling probe {name}, please ignore\r\n\
         Date: {}\r\nMessage-ID: <smuggling-{}@{}>\r\n\r\n\
         This message was sent by `rampart audit --remote` to see whether this server ends\r\n\
         message data at {name} instead of <CRLF>.<CRLF> only. No action is needed.",
        rfc5322_date(),
        super::tls_legacy::random()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        super::EHLO_NAME
    )
    .into_bytes();
    if self_test {
        m.extend_from_slice(SELF_TEST_POISON);
        m.extend_from_slice(b"End of the audit test.");
    }
    m.extend_from_slice(fake);
    m.extend_from_slice(format!("MAIL FROM:<smuggled@{FOREIGN}>\r\n").as_bytes());
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

/// One variant on a fresh connection.
async fn one(p: &mut Probe<'_>, name: &str, fake: &[u8]) -> Result<Outcome, ProbeError> {
    let domain = p.domain();
    // Without --domain, RFC 5321 section 4.5.1's <postmaster>: every server must take it.
    let rcpt = match &p.target.domain {
        Some(d) => format!("RCPT TO:<postmaster@{d}>"),
        None => "RCPT TO:<postmaster>".to_string(),
    };
    let (mut s, _) = p.open(p.target.port).await?;
    let steps = ["MAIL FROM:<>".to_string(), rcpt, "DATA".to_string()];
    for (i, cmd) in steps.iter().enumerate() {
        let r = s.command(cmd).await?;
        let want_ok = if i == 2 { r.code == 354 } else { r.positive() };
        if !want_ok {
            let _ = s.command("QUIT").await;
            return Err(ProbeError::Refused(format!("{cmd}: {}", r.show())));
        }
    }
    let self_test = p.target.self_test;
    s.write_raw(&message(&domain, name, fake, self_test))
        .await?;
    let first = s.reply().await?;
    let rest = after_quit(&mut s).await;
    Ok(if self_test {
        outcome_self_test(first, rest)
    } else {
        outcome(first, rest)
    })
}

/// Sends QUIT and reads every reply up to its `221` (or the end of the connection).
async fn after_quit(s: &mut Session) -> Vec<Reply> {
    let mut rest = Vec::new();
    if s.send("QUIT").await.is_err() {
        return rest;
    }
    while rest.len() < 20 {
        match s.reply().await {
            Ok(r) => {
                let done = r.code == 221;
                rest.push(r);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    rest
}

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, fake) in VARIANTS {
        let check = format!("smuggling {name}");
        out.push(match one(p, name, fake).await {
            // NC-2.1.7: data ended at a non-<CRLF>.<CRLF> sequence lets a forged message ride in.
            Ok(Outcome::Ended(replies)) => Finding::fail(
                "NC-2.1.7",
                check,
                format!(
                    "data ended at {name}; the smuggled MAIL FROM was answered: {}",
                    replies.iter().map(Reply::show).collect::<Vec<_>>().join(" | ")
                ),
                "end DATA at <CRLF>.<CRLF> only (Postfix: smtpd_forbid_bare_newline = normalize or reject)",
            ),
            // NC-2.1.7, self-test: the message with a bare LF was accepted; this server must
            // refuse bare line endings, and the self-test must not leave a message.
            Ok(Outcome::Accepted(r)) => Finding::fail(
                "NC-2.1.7",
                check,
                format!("a message with a bare LF was accepted: {}", r.show()),
                "refuse messages with a bare CR or LF (Rampart does by default; check that this is the server the configuration describes)",
            ),
            Ok(Outcome::Held(r)) => Finding::pass(
                "NC-2.1.7",
                check,
                format!("{name} was not taken as the end of data; one reply: {}", r.show()),
            ),
            Err(e) => super::untested("NC-2.1.7", &check, &e),
        });
    }
    out
}

/// `Thu, 03 Dec 2026 15:13:19 +0000` (RFC 5322 section 3.3), from the system clock.
fn rfc5322_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        MON[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: u16) -> Reply {
        Reply {
            code,
            lines: vec!["x".into()],
        }
    }

    #[test]
    fn nc_2_1_7_an_answered_smuggled_command_is_smuggling() {
        // Postfix before smtpd_forbid_bare_newline: 250 queued, 250 for MAIL, 500 and 502 for
        // the lines after it, 221.
        let o = outcome(r(250), vec![r(250), r(500), r(502), r(221)]);
        assert!(matches!(o, Outcome::Ended(ref v) if v.len() == 4), "{o:?}");
        assert_eq!(outcome(r(250), vec![r(221)]), Outcome::Held(r(250)));
        assert_eq!(outcome(r(250), vec![]), Outcome::Held(r(250)));
        // Bare LF refused as a message: held, whatever the server says next.
        assert_eq!(outcome(r(550), vec![r(500), r(221)]), Outcome::Held(r(550)));
    }

    #[test]
    fn nc_2_1_7_the_message_carries_the_fake_terminator_then_the_real_one() {
        let m = message("example.test", "<LF>.<LF>", b"\n.\n", false);
        let s = String::from_utf8(m).unwrap();
        assert!(s.contains("Subject: rampart audit test: SMTP smuggling probe"));
        assert!(s.contains("No action is needed.\n.\nMAIL FROM:<smuggled@example.net>\r\n"));
        assert!(s.ends_with("\r\n\r\n.\r\n"));
        // The text before the fake terminator has no other bare LF or CR.
        let head = &s[..s.find("No action").unwrap()];
        assert!(!head.replace("\r\n", "").contains(['\r', '\n']));
    }

    #[test]
    fn nc_2_1_7_a_self_test_message_is_refused_whichever_end_is_taken() {
        for (name, fake) in VARIANTS {
            let m = message("example.test", name, fake, true);
            let cut = m.len() - fake.len() - b"MAIL FROM:<smuggled@example.net>\r\n\r\n.\r\n".len();
            // The part before the fake terminator already holds a bare LF: a server ending the
            // data there refuses it just as one ending it at <CRLF>.<CRLF>.
            let head = String::from_utf8_lossy(&m[..cut]);
            assert!(head.replace("\r\n", "").contains('\n'), "{name}");
            assert!(m.ends_with(b"\r\n.\r\n"));
        }
        // The smuggled command answered is smuggling even when the first part was refused.
        let o = outcome_self_test(r(554), vec![r(250), r(500), r(221)]);
        assert!(matches!(o, Outcome::Ended(ref v) if v.len() == 3), "{o:?}");
        assert_eq!(
            outcome_self_test(r(554), vec![r(221)]),
            Outcome::Held(r(554))
        );
        assert_eq!(
            outcome_self_test(r(250), vec![r(221)]),
            Outcome::Accepted(r(250))
        );
    }

    #[test]
    fn the_date_is_rfc5322() {
        let d = rfc5322_date();
        assert!(d.ends_with(" +0000") && d.len() == 31, "{d}");
    }
}
