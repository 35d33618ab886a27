//! End to end with clients we did not write: Python's smtplib and swaks, over STARTTLS with the
//! server certificate verified against the test CA (AL-1.1), delivering to local mailboxes.

use crate::common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOST: &str = "mail.example.test";

/// Writes the CA that signed the server certificate where the clients can read it.
fn write_ca(s: &Server) -> PathBuf {
    let path = s.dir.0.join("ca.pem");
    std::fs::write(&path, &s.pki.ca_pem).unwrap();
    path
}

/// The text of a message's first `Received:` field, unfolded.
fn received(stored: &str) -> String {
    let start = stored.find("\r\nReceived: ").expect("a Received field") + 2;
    let mut field = String::new();
    for (i, line) in stored[start..].split("\r\n").enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        field.push_str(line.trim_start());
        field.push(' ');
    }
    field
}

/// The one message in `user`'s mailbox with this Message-ID, as stored.
fn stored_by_message_id(s: &Server, user: &str, message_id: &str) -> String {
    let list = s.mailbox(user);
    let found: Vec<&String> = list
        .iter()
        .filter(|l| l.ends_with(&format!("\t<{message_id}>")))
        .collect();
    assert_eq!(found.len(), 1, "{message_id} in {user}'s mailbox: {list:?}");
    let id = found[0].split('\t').next().unwrap();
    s.show(user, id)
}

// ---------------------------------------------------------------------------------------------
// Python smtplib

/// STARTTLS with the certificate checked against the test CA for mail.example.test (the client
/// connects to 127.0.0.1, so the name to check is given explicitly), one message to alice and to
/// the alias team, then a relay attempt.
const SMTPLIB_SEND: &str = r#"
import smtplib, ssl, sys
from email.message import EmailMessage
port, cafile, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.test', timeout=20)
s._host = host  # smtplib passes this as server_hostname to wrap_socket in starttls()
s.ehlo()
print('advertised-starttls', s.has_extn('starttls'))
code, _ = s.starttls(context=ctx)
print('starttls', code)
s.ehlo()
print('tls', s.sock.version())
m = EmailMessage()
m['From'] = 'x@remote.test'
m['To'] = 'alice@example.test, team@example.test'
m['Subject'] = 'from smtplib'
m['Message-ID'] = '<smtplib1@remote.test>'
m.set_content('hello from smtplib\n')
print('refused', s.send_message(m, from_addr='x@remote.test',
                                to_addrs=['alice@example.test', 'team@example.test']))
try:
    s.sendmail('x@remote.test', ['someone@elsewhere.test'],
               b'Subject: relay\r\nMessage-ID: <smtplib-relay@remote.test>\r\n\r\nno\r\n')
    print('relay-accepted')
except smtplib.SMTPRecipientsRefused as e:
    for rcpt, (code, msg) in e.recipients.items():
        print('relay-refused', rcpt, code, msg.decode())
print('quit', s.quit()[0])
"#;

/// The same client must fail the handshake without the test CA, and with the test CA but the
/// wrong name: the positive case above really verifies.
const SMTPLIB_BAD_TLS: &str = r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
for name, ctx, host in [('system-roots', ssl.create_default_context(), 'mail.example.test'),
                        ('wrong-name', ssl.create_default_context(cafile=cafile), 'other.example.test')]:
    s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.test', timeout=20)
    s._host = host
    s.ehlo()
    try:
        s.starttls(context=ctx)
        print(name, 'handshake-succeeded')
    except ssl.SSLCertVerificationError as e:
        print(name, 'verify-failed', e.verify_message)
    s.close()
"#;

// AL-1.1: a standard client negotiates TLS 1.2 or higher and verifies the certificate.
#[test]
fn smtplib_starttls_verified_delivers_to_user_and_alias() {
    let s = Server::start();
    let ca = write_ca(&s);
    let port = s.addr.port().to_string();
    let out = python(SMTPLIB_SEND, &[&port, ca.to_str().unwrap(), HOST]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "advertised-starttls True", "{stdout}");
    assert_eq!(lines[1], "starttls 220", "{stdout}");
    let tls = lines[2].strip_prefix("tls ").expect("tls line");
    assert!(tls == "TLSv1.3" || tls == "TLSv1.2", "{stdout}");
    assert_eq!(lines[3], "refused {}", "no recipient refused: {stdout}");
    // NC-2.1.5 / NC-2.1.6: an unauthenticated client cannot relay; refused with 550 5.7.1.
    assert!(
        lines[4].starts_with("relay-refused someone@elsewhere.test 550 5.7.1 "),
        "{stdout}"
    );
    assert_eq!(lines[5], "quit 221", "{stdout}");

    // team expands to alice and bob; alice, named twice, gets one copy.
    let alice = s.wait_mailbox("alice@example.test", 1);
    let bob = s.wait_mailbox("bob@example.test", 1);
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(bob.len(), 1, "{bob:?}");
    let stored = stored_by_message_id(&s, "alice@example.test", "smtplib1@remote.test");
    assert!(
        stored.starts_with(
            "Return-Path: <x@remote.test>\r\nReceived: from client.test ([127.0.0.1])"
        ),
        "{stored}"
    );
    let rcvd = received(&stored);
    assert!(rcvd.contains(&format!("by {HOST} ({tls} ")), "{rcvd}");
    assert!(rcvd.contains(" with ESMTPS id "), "{rcvd}");
    assert!(
        stored.contains("\r\n\r\nhello from smtplib\r\n"),
        "{stored}"
    );
    // The relay attempt left nothing behind.
    let queue = cli(&s.config, &["queue", "list"], None);
    assert!(!queue.contains("elsewhere.test"), "{queue}");
}

#[test]
fn smtplib_refuses_unverifiable_certificate() {
    let s = Server::start();
    let ca = write_ca(&s);
    let port = s.addr.port().to_string();
    let out = python(SMTPLIB_BAD_TLS, &[&port, ca.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("system-roots verify-failed"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("wrong-name verify-failed"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// swaks

/// `swaks --help`; fails the test (does not skip it) when swaks is missing.
fn swaks_help() -> String {
    match Command::new("swaks").arg("--help").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).to_string(),
        Err(e) => panic!(
            "swaks is not installed ({e}): install it (e.g. `apt-get install -y swaks`) to run these tests"
        ),
    }
}

/// Runs swaks against the server; returns (success, transcript).
fn swaks(s: &Server, args: &[&str]) -> (bool, String) {
    let server = s.addr.to_string();
    let out = Command::new("swaks")
        .args([
            "--server",
            &server,
            "--helo",
            "client.test",
            "--from",
            "x@remote.test",
        ])
        .args(["--timeout", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run swaks");
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), transcript)
}

/// Options that make swaks verify the server certificate against `ca`. Version 20201014 checks
/// the chain only; 20240103 (which has --tls-target) also checks the name given there.
fn swaks_verify_args(help: &str, ca: &Path) -> Vec<String> {
    let mut args = vec![
        "--tls".to_string(),
        "--tls-verify".to_string(),
        "--tls-ca-path".to_string(),
        ca.display().to_string(),
        "--tls-sni".to_string(),
        HOST.to_string(),
    ];
    if help.contains("--tls-target") {
        args.extend(["--tls-target".to_string(), HOST.to_string()]);
    }
    args
}

// AL-1.1: swaks with STARTTLS, the certificate verified against the test CA.
#[test]
fn swaks_starttls_verified_delivers() {
    let help = swaks_help();
    let s = Server::start();
    let ca = write_ca(&s);
    let mut args = swaks_verify_args(&help, &ca);
    args.extend(
        [
            "--to",
            "alice@example.test",
            "--header",
            "Message-Id: <swaks-tls@remote.test>",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&s, &args);
    assert!(ok, "swaks failed:\n{transcript}");
    assert!(
        transcript.contains("<~  250 2.0.0 Ok: queued as "),
        "{transcript}"
    );
    s.wait_mailbox("alice@example.test", 1);
    let stored = stored_by_message_id(&s, "alice@example.test", "swaks-tls@remote.test");
    assert!(
        stored.starts_with("Return-Path: <x@remote.test>\r\n"),
        "{stored}"
    );
    let rcvd = received(&stored);
    assert!(
        rcvd.contains("(TLSv1.3 ") || rcvd.contains("(TLSv1.2 "),
        "{rcvd}"
    );
    assert!(rcvd.contains(" with ESMTPS id "), "{rcvd}");
}

// The positive case verifies for real: against a CA that did not sign the certificate, swaks
// refuses the handshake and nothing is delivered.
#[test]
fn swaks_rejects_certificate_from_another_ca() {
    let help = swaks_help();
    let s = Server::start();
    let other = TempDir::new("other-ca");
    let other_ca = other.0.join("ca.pem");
    std::fs::write(&other_ca, make_pki(&other.0).ca_pem).unwrap();
    let mut args = swaks_verify_args(&help, &other_ca);
    args.extend(["--to", "alice@example.test"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&s, &args);
    assert!(
        !ok,
        "swaks accepted a certificate it cannot verify:\n{transcript}"
    );
    assert!(!transcript.contains("queued as"), "{transcript}");
    assert!(s.mailbox("alice@example.test").is_empty());
}

// RFC 2920: swaks sends MAIL, both RCPTs and DATA in one go and reads the replies afterwards.
#[test]
fn swaks_pipelining_delivers() {
    swaks_help();
    let s = Server::start();
    let (ok, transcript) = swaks(
        &s,
        &[
            "--pipeline",
            "--to",
            "alice@example.test,bob@example.test",
            "--header",
            "Message-Id: <swaks-pipe@remote.test>",
        ],
    );
    assert!(ok, "swaks failed:\n{transcript}");
    // The transcript shows the commands sent back to back, before any of their replies.
    let sent: Vec<&str> = transcript
        .lines()
        .skip_while(|l| !l.starts_with(" -> MAIL FROM"))
        .take(4)
        .collect();
    assert_eq!(
        sent,
        [
            " -> MAIL FROM:<x@remote.test>",
            " -> RCPT TO:<alice@example.test>",
            " -> RCPT TO:<bob@example.test>",
            " -> DATA"
        ],
        "{transcript}"
    );
    assert!(
        transcript.contains("<-  250 2.0.0 Ok: queued as "),
        "{transcript}"
    );
    s.wait_mailbox("alice@example.test", 1);
    s.wait_mailbox("bob@example.test", 1);
    stored_by_message_id(&s, "alice@example.test", "swaks-pipe@remote.test");
    stored_by_message_id(&s, "bob@example.test", "swaks-pipe@remote.test");
}

// swaks has no BDAT (CHUNKING, RFC 3030) option in any released version, so CHUNKING is covered by
// the raw-socket tests in smtp.rs rather than here.
