//! Reload on SIGHUP (`systemctl reload`, issue 19 item 6): a running `rampart serve` takes a
//! new certificate for new connections while a session held open mid-transaction completes its
//! message; a changed section it cannot apply is named as needing a restart; a broken
//! configuration is refused with its error and the server goes on with the old one.

mod common;

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
