//! DANE for outbound SMTP (AL-1.1, RFC 7672) end to end: a zone signed by `dnssec-signzone`,
//! validated by a real `unbound` on loopback (the sender trusts its AD bit,
//! `dnssec = "ad-from-loopback"`), a receiving Rampart, and a plain server without STARTTLS.
//!
//! One signed zone `test.` holds a domain for each case; an unsigned zone `unsigned.example.`
//! (no trust anchor covers it) holds the opportunistic one:
//!
//! | domain            | MX host           | TLSA                          | expected            |
//! |-------------------|-------------------|-------------------------------|---------------------|
//! | good.test         | mx.good.test      | 3 1 1 of the receiver's key   | delivered over TLS  |
//! | nomatch.test      | mx.nomatch.test   | 3 1 1 of another key          | held, reason traced |
//! | plain.test        | mx.plain.test     | 3 1 1 of the receiver's key   | held: no STARTTLS   |
//! | bogus.test        | mx.bogus.test     | its RRSIG broken              | held: DNSSEC bogus  |
//! | unsigned.example  | mx.unsigned.example | 3 1 1 of another key (ignored) | delivered        |

mod common;

use common::*;
use rampart_testdns::TestDns;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// SHA-256 of the SubjectPublicKeyInfo of the first certificate in `pem`, as hex: computed
/// with openssl, not with our code.
fn spki_sha256(pem_file: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform der | sha256sum",
            pem_file.display()
        ))
        .output()
        .expect("openssl");
    let s = String::from_utf8(out.stdout).unwrap();
    let hex = s.split_whitespace().next().unwrap_or_default().to_string();
    assert_eq!(hex.len(), 64, "openssl: {s}");
    hex
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// unbound on 127.0.0.1:`port`, validating `test.` with the key of `dir`, serving the signed
/// zone and the unsigned one from files. Ended on drop.
struct Unbound(Child);

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unbound(dir: &Path, port: u16) -> Unbound {
    let d = dir.display();
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  use-syslog: no\n\
         \x20 logfile: \"\"\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n\
         \x20 do-ip6: no\n  verbosity: 0\n  ede: yes\n  trust-anchor-file: \"{d}/dsset-test.\"\n\
         \x20 module-config: \"validator iterator\"\n  local-zone: \"test.\" nodefault\n\
         \x20 cache-max-ttl: 0\n\
         remote-control:\n  control-enable: no\n\
         auth-zone:\n  name: \"test.\"\n  zonefile: \"{d}/test.zone.signed\"\n  for-upstream: yes\n  for-downstream: no\n  fallback-enabled: no\n\
         auth-zone:\n  name: \"unsigned.example.\"\n  zonefile: \"{d}/unsigned.zone\"\n  for-upstream: yes\n  for-downstream: no\n  fallback-enabled: no\n"
    );
    let path = dir.join("unbound.conf");
    std::fs::write(&path, conf).unwrap();
    run(Command::new("unbound-checkconf").arg(&path));
    let child = Command::new("unbound")
        .arg("-d")
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unbound (Debian's unbound package) must be installed");
    let u = Unbound(child);
    // Ready when it answers over TCP (bounded: 200 tries).
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return u;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("unbound did not start on port {port}");
}

/// A port free on 127.0.0.1 for both UDP and TCP (bound and released).
fn free_dns_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Signs `zone` (the `test.` zone text) with a fresh KSK and ZSK, then breaks the signature of
/// the TLSA RRset of `broken` (a record name) so that validation finds it bogus.
fn sign(dir: &Path, zone: &str, broken: &str) {
    std::fs::write(dir.join("test.zone"), zone).unwrap();
    for ksk in [true, false] {
        let mut c = Command::new("dnssec-keygen");
        c.current_dir(dir)
            .args(["-q", "-a", "ECDSAP256SHA256", "-n", "ZONE"]);
        if ksk {
            c.args(["-f", "KSK"]);
        }
        run(c.arg("test."));
    }
    run(Command::new("dnssec-signzone")
        .current_dir(dir)
        .args(["-q", "-S", "-O", "full", "-o", "test.", "-K", "."])
        .args(["-f", "test.zone.signed", "test.zone"]));
    let signed = std::fs::read_to_string(dir.join("test.zone.signed")).unwrap();
    let mut done = false;
    let out: Vec<String> = signed
        .lines()
        .map(|l| {
            if l.starts_with(broken) && l.contains("RRSIG\tTLSA") {
                // The signature's first base64 character, changed.
                let at = l.find(" test. ").unwrap() + " test. ".len();
                let mut b = l.as_bytes().to_vec();
                b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                done = true;
                String::from_utf8(b).unwrap()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no TLSA signature of {broken} to break:\n{signed}");
    std::fs::write(dir.join("test.zone.signed"), out.join("\n") + "\n").unwrap();
}

/// A server at 127.0.0.2:`port` that speaks SMTP without offering STARTTLS, and records
/// whether any client got as far as MAIL FROM.
fn plain_server(port: u16) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind(("127.0.0.2", port)).expect("127.0.0.2 on loopback");
    let got_mail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = got_mail.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut w) = conn else { return };
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(w.try_clone().unwrap());
                let _ = w.write_all(b"220 plain.test ESMTP\r\n");
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-plain.test\r\n250 SIZE 10000000\r\n"
                    } else if cmd.starts_with("MAIL") {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        b"250 ok\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(reply).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    got_mail
}

fn message_to(to: &str, id: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\nTo: <{to}>\r\nSubject: dane {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n\r\nHello.\r\n"
    )
}

#[test]
fn al_1_1_dane_secure_tlsa_binds_the_certificate_and_insecure_is_opportunistic() {
    // The receiver: a Rampart for every test domain, its certificate the harness's.
    let rdns = TestDns::builder()
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start();
    let r = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\n", rdns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    let domains = [
        "good.test",
        "nomatch.test",
        "plain.test",
        "bogus.test",
        "unsigned.example",
    ];
    for d in domains {
        cli(&r.config, &["domain", "add", d], None);
        cli(
            &r.config,
            &["user", "add", &format!("carol@{d}"), "--password-stdin"],
            Some(PASSWORD),
        );
    }
    let port = r.addr.port();
    let plain_got_mail = plain_server(port);

    let dir = TempDir::new("dane");
    let good = spki_sha256(&r.pki.cert);
    let other = "00".repeat(32);
    let p = format!("_{port}._tcp");
    let zone = format!(
        "$TTL 300\n\
         test. IN SOA ns.test. admin.test. 1 3600 600 86400 300\n\
         test. IN NS ns.test.\n\
         ns.test. IN A 127.0.0.1\n\
         good.test. IN MX 10 mx.good.test.\n\
         mx.good.test. IN A 127.0.0.1\n\
         {p}.mx.good.test. IN TLSA 3 1 1 {good}\n\
         nomatch.test. IN MX 10 mx.nomatch.test.\n\
         mx.nomatch.test. IN A 127.0.0.1\n\
         {p}.mx.nomatch.test. IN TLSA 3 1 1 {other}\n\
         plain.test. IN MX 10 mx.plain.test.\n\
         mx.plain.test. IN A 127.0.0.2\n\
         {p}.mx.plain.test. IN TLSA 3 1 1 {good}\n\
         bogus.test. IN MX 10 mx.bogus.test.\n\
         mx.bogus.test. IN A 127.0.0.1\n\
         {p}.mx.bogus.test. IN TLSA 3 1 1 {good}\n"
    );
    sign(&dir.0, &zone, &format!("{p}.mx.bogus.test."));
    std::fs::write(
        dir.0.join("unsigned.zone"),
        format!(
            "$TTL 300\n\
             unsigned.example. IN SOA ns.unsigned.example. admin.unsigned.example. 1 3600 600 86400 300\n\
             unsigned.example. IN NS ns.unsigned.example.\n\
             ns.unsigned.example. IN A 127.0.0.1\n\
             unsigned.example. IN MX 10 mx.unsigned.example.\n\
             mx.unsigned.example. IN A 127.0.0.1\n\
             {p}.mx.unsigned.example. IN TLSA 3 1 1 {other}\n"
        ),
    )
    .unwrap();
    let ub_port = free_dns_port();
    let _unbound = unbound(&dir.0, ub_port);

    // The sender trusts unbound's AD bit; no other TLS policy is configured.
    let s = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"127.0.0.1:{ub_port}\"]\ntimeout_secs = 3\ndnssec = \"ad-from-loopback\"\n\
             [delivery]\nport = {port}\nretry_secs = [3600]\ntimeout_secs = 10\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n"
        ),
        ..Default::default()
    });
    let qid = |to: &str| {
        let mut c = s.login_alice();
        let (code, text) = c.send_mail(
            "alice@example.test",
            &[to],
            &message_to(to, &to.replace('@', ".")),
        );
        assert_eq!(code, 250, "{text}");
        c.send("QUIT");
        text.rsplit(' ').next().unwrap().to_string()
    };
    let q_good = qid("carol@good.test");
    let q_nomatch = qid("carol@nomatch.test");
    let q_plain = qid("carol@plain.test");
    let q_bogus = qid("carol@bogus.test");
    let q_unsigned = qid("carol@unsigned.example");

    // Secure TLSA that matches: delivered, over TLS.
    r.wait_mailbox("carol@good.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_good], "relayed");
    assert!(t.contains("via mx.good.test (TLSv1."), "{t}");
    // Insecure (unsigned) zone: its TLSA record is not trusted, delivery is opportunistic.
    r.wait_mailbox("carol@unsigned.example", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_unsigned], "relayed");
    assert!(t.contains("(TLSv1."), "{t}");
    // Secure TLSA that does not match: held, the reason in the trace.
    let t = wait_trace(&s, &["trace", "--queue-id", &q_nomatch], "deferred");
    assert!(
        t.contains("DANE: no TLSA record of mx.nomatch.test matches its certificate"),
        "{t}"
    );
    // Secure TLSA, no STARTTLS: held, and the message never reached the plain server.
    let t = wait_trace(&s, &["trace", "--queue-id", &q_plain], "deferred");
    assert!(t.contains("DANE:") && t.contains("STARTTLS"), "{t}");
    assert!(!plain_got_mail.load(std::sync::atomic::Ordering::SeqCst));
    // Bogus signature on the TLSA RRset: held, never "no DANE".
    let t = wait_trace(&s, &["trace", "--queue-id", &q_bogus], "deferred");
    assert!(t.contains("DANE:") && t.contains("(DNSSEC bogus)"), "{t}");
    // None of the held ones reached the receiver.
    for d in ["nomatch.test", "bogus.test"] {
        assert!(r.mailbox(&format!("carol@{d}")).is_empty(), "{d}");
    }
    let q = cli(&s.config, &["queue", "list"], None);
    for d in ["nomatch.test", "plain.test", "bogus.test"] {
        assert!(q.contains(&format!("carol@{d}\tqueued")), "{d}: {q}");
    }
}
