//! Reload on SIGHUP (`systemctl reload`, issue 19 item 6): a running `rampart serve` takes a
//! new certificate, limits and content rules for new connections while sessions in progress
//! (one held open mid-transaction, two dozen sending) complete their messages; a changed section it cannot apply is named as needing a restart; a broken
//! configuration is refused with its error and the server goes on with the old one.

use crate::common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

const SIGHUP: i32 = 1;

/// The server's stdout lines, read on a thread of their own, so a wait is bounded.
fn stdout_lines(s: &mut Server) -> mpsc::Receiver<String> {
    let mut out = s.stdout.take().expect("the server's stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut line = String::new();
        match out.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx.send(line.trim_end().to_string()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Waits (bounded) for the line the server prints when it has handled a SIGHUP.
fn reload_line(lines: &mpsc::Receiver<String>) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the server printed nothing about the reload");
        if line.starts_with("configuration ") {
            return line;
        }
    }
}

/// The leaf certificate (DER) a new STARTTLS connection is served, verified against `ca_pem`
/// for mail.example.test; an error when it does not verify.
fn served_certificate(addr: SocketAddr, ca_pem: &str) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let reply = |reader: &mut BufReader<TcpStream>| loop {
        let mut l = String::new();
        reader.read_line(&mut l).unwrap();
        if l.len() < 4 || l.as_bytes()[3] == b' ' {
            return l;
        }
    };
    assert!(reply(&mut reader).starts_with("220"));
    tcp.write_all(b"EHLO client.test\r\n").unwrap();
    assert!(reply(&mut reader).starts_with("250"));
    tcp.write_all(b"STARTTLS\r\n").unwrap();
    assert!(reply(&mut reader).starts_with("220"));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "mail.example.test".try_into().unwrap())
            .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(conn.peer_certificates().unwrap()[0].to_vec())
}

fn der_of(pem: &std::path::Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(pem)
        .unwrap()
        .to_vec()
}

/// Replaces a file the way an administrator's tool should: written beside, renamed over.
fn replace(path: &std::path::Path, from: &std::path::Path) {
    let tmp = path.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn sighup_serves_the_new_certificate_and_keeps_the_session_in_progress() {
    let mut s = Server::start();
    let lines = stdout_lines(&mut s);
    let old_der = der_of(&s.pki.cert);
    assert_eq!(served_certificate(s.addr, &s.pki.ca_pem).unwrap(), old_der);

    // A session held open in the middle of its message.
    let mut held = s.ehlo();
    held.send("MAIL FROM:<sender@remote.test>");
    held.expect(250);
    held.send("RCPT TO:<alice@example.test>");
    held.expect(250);
    held.send("DATA");
    held.expect(354);
    held.send_raw(
        b"From: <sender@remote.test>\r\nSubject: held over the reload\r\n\r\nfirst half\r\n",
    );

    // A new certificate from another CA, put in place of the configured files.
    let fresh = TempDir::new("reload-pki");
    let new_pki = make_pki(&fresh.0);
    replace(&s.dir.0.join("cert.pem"), &new_pki.cert);
    replace(&s.dir.0.join("key.pem"), &new_pki.key);
    signal(s.pid(), SIGHUP);
    assert_eq!(reload_line(&lines), "configuration reloaded");

    // New connections get the new certificate; the old CA no longer verifies what is served.
    let new_der = der_of(&new_pki.cert);
    assert_ne!(new_der, old_der);
    assert_eq!(
        served_certificate(s.addr, &new_pki.ca_pem).unwrap(),
        new_der
    );
    assert!(served_certificate(s.addr, &s.pki.ca_pem).is_err());

    // The held session was not dropped: it finishes its message, which is delivered.
    held.send_raw(b"second half\r\n.\r\n");
    held.expect(250);
    held.send("QUIT");
    held.expect(221);
    let m = s.wait_mailbox("alice@example.test", 1);
    let id = m[0].split('\t').next().unwrap();
    let body = s.show("alice@example.test", id);
    assert!(
        body.contains("first half") && body.contains("second half"),
        "{body}"
    );

    // A section the sessions hold from start-up is named as needing a restart.
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        config.replace("shutdown_grace_secs = 10", "shutdown_grace_secs = 11"),
    )
    .unwrap();
    signal(s.pid(), SIGHUP);
    assert_eq!(
        reload_line(&lines),
        "configuration reloaded; needs a restart: shutdown_grace_secs"
    );

    // A broken configuration is refused with its error; the server goes on as it was.
    std::fs::write(
        &s.config,
        format!("{config}\n[limits]\nmax_line_length = \"long\"\n"),
    )
    .unwrap();
    signal(s.pid(), SIGHUP);
    let line = reload_line(&lines);
    assert!(
        line.starts_with("configuration refused, the old one stays: ") && line.contains("limits"),
        "{line}"
    );
    assert_eq!(
        served_certificate(s.addr, &new_pki.ca_pem).unwrap(),
        new_der
    );
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("after-refusal", "still serving"),
    );
    assert_eq!(code, 250, "{text}");
    // (The CLI reads the same file: it is mended before the mailbox is looked at.)
    std::fs::write(&s.config, &config).unwrap();
    s.wait_mailbox("alice@example.test", 2);
    // The certificate files broken instead: refused, the certificate in use stays.
    std::fs::write(s.dir.0.join("key.pem"), "not a key").unwrap();
    signal(s.pid(), SIGHUP);
    let line = reload_line(&lines);
    assert!(line.starts_with("configuration refused"), "{line}");
    assert_eq!(
        served_certificate(s.addr, &new_pki.ca_pem).unwrap(),
        new_der
    );
}

/// The EHLO reply of a new session.
fn ehlo_reply(s: &Server) -> String {
    let mut c = s.connect();
    c.expect(220);
    c.send("EHLO client.test");
    let text = c.expect(250);
    c.send("QUIT");
    c.expect(221);
    text
}

/// A message whose body carries `marker` (a word the site's new rule looks for).
fn marked(id: &str, marker: &str) -> String {
    message(id, &format!("a line of text\r\n{marker}\r\n"))
}

/// Issue 19 item 6, NC-2.1.8, AL-1.2: SIGHUP in the middle of 24 concurrent sessions sending. A
/// new certificate, a changed `[limits]` and a new rule in the site's rule file come into force
/// for new connections; no session is dropped (every message got its 250, every session its
/// 221), and every message is in the mailboxes.
#[test]
fn sighup_under_load_drops_nothing_and_new_sessions_see_the_new_configuration() {
    const SESSIONS: usize = 24;
    const BEFORE: usize = 2;
    const AFTER: usize = 4;
    const MARKER: &str = "reload-marker-7f3";
    let rules_dir = TempDir::new("reload-rules");
    let rules = rules_dir.0.join("site.rules");
    std::fs::write(
        &rules,
        "body     SITE_OLD    (?i)\\bnothing-matches-this-9q\\b\nscore    SITE_OLD    0.5\n",
    )
    .unwrap();
    let mut s = Server::start_with(Options {
        checks: Some(format!(
            "disabled = [\"antivirus\"]\n[checks.spam]\nrule_files = [\"{}\"]\n",
            rules.display()
        )),
        limits: "max_message_size = 50000".into(),
        ..Default::default()
    });
    let lines = stdout_lines(&mut s);
    let old_der = der_of(&s.pki.cert);
    assert!(ehlo_reply(&s).contains("SIZE 50000"));
    // Before the reload the marker is nothing special: accepted.
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &marked("before", MARKER),
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    c.expect(221);

    // The sessions: each sends BEFORE messages, meets the others, then AFTER more while the
    // reload happens; once the reload is done, one more on the same connection, so every
    // session was open across it.
    let started = Arc::new(std::sync::Barrier::new(SESSIONS + 1));
    let reloaded = Arc::new(std::sync::Barrier::new(SESSIONS + 1));
    let addr = s.addr;
    let clients: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (started, reloaded) = (started.clone(), reloaded.clone());
            std::thread::spawn(move || {
                let to = if i % 2 == 0 {
                    "alice@example.test"
                } else {
                    "bob@example.test"
                };
                let mut c = Client::connect(addr);
                c.expect(220);
                c.send("EHLO load.test");
                c.expect(250);
                let mut codes = Vec::new();
                for n in 0..=BEFORE + AFTER {
                    if n == BEFORE {
                        started.wait();
                    }
                    if n == BEFORE + AFTER {
                        reloaded.wait();
                    }
                    let id = format!("load-{i}-{n}");
                    let (code, text) =
                        c.send_mail("sender@remote.test", &[to], &message(&id, "under load"));
                    codes.push((code, text));
                }
                c.send("QUIT");
                let quit = c.reply();
                (codes, quit)
            })
        })
        .collect();
    started.wait();

    // The new configuration, put in place while the sessions send: a certificate from another
    // CA, a smaller message size, and a rule that refuses the marker (score 20 ≥ reject 15).
    let fresh = TempDir::new("reload-pki");
    let new_pki = make_pki(&fresh.0);
    replace(&s.dir.0.join("cert.pem"), &new_pki.cert);
    replace(&s.dir.0.join("key.pem"), &new_pki.key);
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        config.replace("max_message_size = 50000", "max_message_size = 30000"),
    )
    .unwrap();
    let new_rules = rules_dir.0.join("site.rules.new");
    std::fs::write(
        &new_rules,
        format!("body     SITE_MARKER (?i)\\b{MARKER}\\b\nscore    SITE_MARKER 20\ndescribe SITE_MARKER the marker of the reload test\n"),
    )
    .unwrap();
    std::fs::rename(&new_rules, &rules).unwrap();
    signal(s.pid(), SIGHUP);
    assert_eq!(reload_line(&lines), "configuration reloaded");
    reloaded.wait();

    // Every session finished: each message got its 250, each QUIT its 221.
    for (i, t) in clients.into_iter().enumerate() {
        let (codes, quit) = t.join().unwrap_or_else(|_| panic!("session {i} failed"));
        for (n, (code, text)) in codes.iter().enumerate() {
            assert_eq!(*code, 250, "session {i} message {n}: {text}");
        }
        assert_eq!(quit.map(|q| q.0), Some(221), "session {i} QUIT");
    }
    // Every message is in the mailboxes.
    let half = SESSIONS / 2 * (BEFORE + AFTER + 1);
    assert_eq!(
        s.wait_mailbox("alice@example.test", half + 1).len(),
        half + 1
    );
    assert_eq!(s.wait_mailbox("bob@example.test", half).len(), half);

    // New connections: the new certificate, the new limit, the new rule.
    let new_der = der_of(&new_pki.cert);
    assert_ne!(new_der, old_der);
    assert_eq!(
        served_certificate(s.addr, &new_pki.ca_pem).unwrap(),
        new_der
    );
    assert!(ehlo_reply(&s).contains("SIZE 30000"));
    let mut c = s.ehlo();
    c.send("MAIL FROM:<sender@remote.test> SIZE=40000");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 552, "{text}");
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &marked("after", MARKER),
    );
    assert_eq!(code, 554, "the new rule is not in force: {text}");
    // (Before the reload the same message was accepted: the new rule made the difference.)
    c.send("QUIT");
    c.expect(221);

    // A rule file that does not parse refuses the whole reload: the old rules stay.
    std::fs::write(&rules, "body SITE_BROKEN (unclosed\n").unwrap();
    std::fs::write(
        &s.config,
        config.replace("max_message_size = 50000", "max_message_size = 20000"),
    )
    .unwrap();
    signal(s.pid(), SIGHUP);
    let line = reload_line(&lines);
    assert!(
        line.starts_with("configuration refused, the old one stays: ")
            && line.contains("rule_files"),
        "{line}"
    );
    assert!(ehlo_reply(&s).contains("SIZE 30000"));
}

/// `rampart sendmail` with the message on standard input; it must succeed (the message is in
/// the drop directory when it returns).
fn sendmail(s: &Server, to: &str, message: &str) {
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["sendmail", to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sendmail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// AL-1.5 after a reload: the sendmail pickup (and the JMAP submission, which takes its context
/// the same way) uses the checks of the reloaded configuration, not those of the start. A DLP
/// pattern added by SIGHUP refuses the next dropped message that carries it; the same words
/// were delivered before the reload.
#[test]
fn sighup_new_dlp_pattern_applies_to_the_sendmail_pickup() {
    const ALICE: &str = "alice@example.test";
    const BOB: &str = "bob@example.test";
    let mut s = Server::start_with(Options {
        top: format!("[sendmail]\nsender = \"{ALICE}\"\n"),
        checks: Some("disabled = [\"antivirus\"]\n".into()),
        ..Default::default()
    });
    let lines = stdout_lines(&mut s);
    let secret = "Subject: plans\n\nThe codename is PROJECT-ZEBRA-42.\n";
    sendmail(&s, BOB, secret);
    assert_eq!(
        s.wait_mailbox(BOB, 1).len(),
        1,
        "delivered before the reload"
    );

    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!(
            "{config}\n[[checks.dlp.patterns]]\nname = \"codenames\"\npattern = \"PROJECT-ZEBRA-[0-9]+\"\n"
        ),
    )
    .unwrap();
    signal(s.pid(), SIGHUP);
    assert_eq!(reload_line(&lines), "configuration reloaded");

    sendmail(&s, BOB, secret);
    // The refusal reaches the sender as a notice naming the pattern; Bob gets nothing more.
    let notices = s.wait_mailbox(ALICE, 1);
    let notice = s.show(ALICE, notices[0].split('\t').next().unwrap());
    assert!(notice.contains("sendmail message refused"), "{notice}");
    assert!(notice.contains("codenames"), "{notice}");
    assert_eq!(s.mailbox(BOB).len(), 1, "the second copy was not delivered");
}
