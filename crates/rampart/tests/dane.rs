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

use crate::common;

use common::*;
use rampart_testdns::TestDns;
use std::net::TcpListener;
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

/// unbound on a port of its own, with its port: it must be told one, so it is started through
/// the tests' rule for such daemons (started again on new ports when its port was taken).
fn unbound(dir: &Path) -> (Unbound, u16) {
    start_outside_daemon("unbound", 1, |ports| {
        unbound_on(dir, ports[0])
            .map(|u| (u, ports[0]))
            .ok_or_else(|| {
                PortTaken(format!(
                    "unbound ended at once on port {} (its error above)",
                    ports[0]
                ))
            })
    })
}

/// One start on `port`; None when unbound ended at once (its port taken; it says why on stderr).
fn unbound_on(dir: &Path, port: u16) -> Option<Unbound> {
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
    let mut u = Unbound(child);
    // Ready when it answers over TCP and is still running (bounded: 200 tries).
    for _ in 0..200 {
        if u.0.try_wait().unwrap().is_some() {
            return None;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && u.0.try_wait().unwrap().is_none()
        {
            return Some(u);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("unbound did not start on port {port}");
}

/// Signs `zone` (the `test.` zone text) with a fresh KSK and ZSK, then breaks the signature of
/// each RRset of `broken` (record name, type) so that validation finds it bogus.
fn sign(dir: &Path, zone: &str, broken: &[(&str, &str)]) {
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
    let mut done = 0;
    let out: Vec<String> = signed
        .lines()
        .map(|l| {
            let owner = l.split_whitespace().next().unwrap_or_default();
            if broken
                .iter()
                .any(|(name, rtype)| owner == *name && l.contains(&format!("RRSIG\t{rtype} ")))
            {
                // The signature's first base64 character, changed.
                let at = l.find(" test. ").unwrap() + " test. ".len();
                let mut b = l.as_bytes().to_vec();
                b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                done += 1;
                String::from_utf8(b).unwrap()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(
        done,
        broken.len(),
        "not every signature of {broken:?} found to break:\n{signed}"
    );
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
    sign(&dir.0, &zone, &[(&format!("{p}.mx.bogus.test."), "TLSA")]);
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
    let (_unbound, ub_port) = unbound(&dir.0);

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

/// SHA-256 of the DER of the certificate in `pem_file`, as hex (TLSA matching type 1,
/// selector 0): computed with openssl, not with our code.
fn cert_sha256(pem_file: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -outform der | sha256sum",
            pem_file.display()
        ))
        .output()
        .expect("openssl");
    let s = String::from_utf8(out.stdout).unwrap();
    let hex = s.split_whitespace().next().unwrap_or_default().to_string();
    assert_eq!(hex.len(), 64, "openssl: {s}");
    hex
}

/// A CA and a certificate it signed for `name`: (CA PEM, leaf PEM, leaf key PEM).
fn ca_and_leaf(ca_name: &str, name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec![name.to_string()]).unwrap();
    leaf_params.distinguished_name = rcgen::DistinguishedName::new();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let leaf = leaf_params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// A receiving Rampart on `mx_address` with user carol at each of `domains`.
fn receiving(rdns: &TestDns, mx_address: String, domains: &[&str]) -> Server {
    let r = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\n", rdns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        mx_address: Some(mx_address),
        ..Default::default()
    });
    for d in domains {
        cli(&r.config, &["domain", "add", d], None);
        cli(
            &r.config,
            &["user", "add", &format!("carol@{d}"), "--password-stdin"],
            Some(PASSWORD),
        );
    }
    r
}

/// RFC 7672 section 2.2.2 (CNAME-expanded MX names, secure address records) and DANE-TA(2)
/// end to end, with the signed zone `test.` and the unsigned `unsigned.example.`:
///
/// | domain              | MX host (-> CNAME target)         | TLSA                               | expected             |
/// |---------------------|-----------------------------------|------------------------------------|----------------------|
/// | alias.test          | mx.alias.test -> host.alias.test  | expanded: 3 1 1 good; MX name: other | delivered (expanded first) |
/// | alias2.test         | mx.alias2.test -> host.alias2.test | expanded: none; MX name: other    | held (MX name asked next) |
/// | addrinsecure.test   | mx.addrinsecure.test -> h4.unsigned.example (A) | MX name: other      | delivered, opportunistic |
/// | aaaainsecure.test   | mx.aaaainsecure.test -> h6.unsigned.example (AAAA ::1 only) | MX name: other | delivered, opportunistic |
/// | aaaabogus.test      | mx.aaaabogus.test (A fine, AAAA RRSIG broken) | 3 1 1 good             | held: DNSSEC bogus   |
/// | ta.test             | mx.ta.test (chain leaf + CA)      | 2 0 1 of that CA                   | delivered            |
/// | ta2.test            | mx.ta2.test (same server)         | 2 0 1 of another CA                | held, reason traced  |
#[test]
fn al_1_1_dane_expanded_names_secure_addresses_and_dane_ta() {
    // The sender reaches the receivers from 127.0.0.1 and ::1.
    let rdns = TestDns::builder()
        .txt("example.test", "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all")
        .start();
    // On 127.0.0.1: the alias, address and bogus cases.
    let r = receiving(
        &rdns,
        "127.0.0.1:0".into(),
        &[
            "alias.test",
            "alias2.test",
            "addrinsecure.test",
            "aaaabogus.test",
        ],
    );
    let port = r.addr.port();
    // On ::1, the same port: the host that has only an AAAA record.
    let r6 = receiving(&rdns, format!("[::1]:{port}"), &["aaaainsecure.test"]);
    // On 127.0.0.3, the same port: a certificate for mx.ta.test whose chain includes its CA.
    let mut rta = receiving(&rdns, format!("127.0.0.3:{port}"), &["ta.test", "ta2.test"]);
    let (ta_ca, ta_leaf, ta_key) = ca_and_leaf("DANE-TA Test CA", "mx.ta.test");
    rta.terminate();
    std::fs::write(&rta.pki.cert, format!("{ta_leaf}{ta_ca}")).unwrap();
    std::fs::write(&rta.pki.key, ta_key).unwrap();
    rta.spawn();

    let dir = TempDir::new("dane-names");
    let good = spki_sha256(&r.pki.cert);
    let other = "00".repeat(32);
    let ta_ca_file = dir.0.join("ta-ca.pem");
    std::fs::write(&ta_ca_file, &ta_ca).unwrap();
    let other_ca_file = dir.0.join("other-ca.pem");
    std::fs::write(&other_ca_file, &r.pki.ca_pem).unwrap();
    let (ta_good, ta_other) = (cert_sha256(&ta_ca_file), cert_sha256(&other_ca_file));
    assert_ne!(ta_good, ta_other);
    let p = format!("_{port}._tcp");
    let zone = format!(
        "$TTL 300\n\
         test. IN SOA ns.test. admin.test. 1 3600 600 86400 300\n\
         test. IN NS ns.test.\n\
         ns.test. IN A 127.0.0.1\n\
         alias.test. IN MX 10 mx.alias.test.\n\
         mx.alias.test. IN CNAME host.alias.test.\n\
         host.alias.test. IN A 127.0.0.1\n\
         {p}.host.alias.test. IN TLSA 3 1 1 {good}\n\
         {p}.mx.alias.test. IN TLSA 3 1 1 {other}\n\
         alias2.test. IN MX 10 mx.alias2.test.\n\
         mx.alias2.test. IN CNAME host.alias2.test.\n\
         host.alias2.test. IN A 127.0.0.1\n\
         {p}.mx.alias2.test. IN TLSA 3 1 1 {other}\n\
         addrinsecure.test. IN MX 10 mx.addrinsecure.test.\n\
         mx.addrinsecure.test. IN CNAME h4.unsigned.example.\n\
         {p}.mx.addrinsecure.test. IN TLSA 3 1 1 {other}\n\
         aaaainsecure.test. IN MX 10 mx.aaaainsecure.test.\n\
         mx.aaaainsecure.test. IN CNAME h6.unsigned.example.\n\
         {p}.mx.aaaainsecure.test. IN TLSA 3 1 1 {other}\n\
         aaaabogus.test. IN MX 10 mx.aaaabogus.test.\n\
         mx.aaaabogus.test. IN A 127.0.0.1\n\
         mx.aaaabogus.test. IN AAAA ::1\n\
         {p}.mx.aaaabogus.test. IN TLSA 3 1 1 {good}\n\
         ta.test. IN MX 10 mx.ta.test.\n\
         mx.ta.test. IN A 127.0.0.3\n\
         {p}.mx.ta.test. IN TLSA 2 0 1 {ta_good}\n\
         ta2.test. IN MX 10 mx.ta2.test.\n\
         mx.ta2.test. IN A 127.0.0.3\n\
         {p}.mx.ta2.test. IN TLSA 2 0 1 {ta_other}\n"
    );
    sign(&dir.0, &zone, &[("mx.aaaabogus.test.", "AAAA")]);
    std::fs::write(
        dir.0.join("unsigned.zone"),
        "$TTL 300\n\
         unsigned.example. IN SOA ns.unsigned.example. admin.unsigned.example. 1 3600 600 86400 300\n\
         unsigned.example. IN NS ns.unsigned.example.\n\
         ns.unsigned.example. IN A 127.0.0.1\n\
         h4.unsigned.example. IN A 127.0.0.1\n\
         h6.unsigned.example. IN AAAA ::1\n",
    )
    .unwrap();
    let (_unbound, ub_port) = unbound(&dir.0);

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
    let q_alias = qid("carol@alias.test");
    let q_alias2 = qid("carol@alias2.test");
    let q_addr = qid("carol@addrinsecure.test");
    let q_aaaa = qid("carol@aaaainsecure.test");
    let q_aaaabogus = qid("carol@aaaabogus.test");
    let q_ta = qid("carol@ta.test");
    let q_ta2 = qid("carol@ta2.test");

    // RFC 7672 2.2.2: TLSA at the expanded name first; its record matches: delivered under DANE
    // (the record at the MX name, which does not match, is not reached).
    r.wait_mailbox("carol@alias.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_alias], "relayed");
    assert!(t.contains("via mx.alias.test (TLSv1."), "{t}");
    // No TLSA at the expanded name: the MX name's record applies, and it does not match.
    let t = wait_trace(&s, &["trace", "--queue-id", &q_alias2], "deferred");
    assert!(
        t.contains("DANE: no TLSA record of mx.alias2.test matches its certificate"),
        "{t}"
    );
    // AL-1.1, 2.2.2: the address records are insecure (the alias leads into an unsigned zone):
    // the secure, non-matching TLSA record at the MX name is not trusted; opportunistic TLS.
    r.wait_mailbox("carol@addrinsecure.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_addr], "relayed");
    assert!(t.contains("(TLSv1.") && !t.contains("DANE"), "{t}");
    // The same with an AAAA record only, delivered over IPv6.
    r6.wait_mailbox("carol@aaaainsecure.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_aaaa], "relayed");
    assert!(t.contains("(TLSv1.") && !t.contains("DANE"), "{t}");
    // A secure A but a bogus AAAA RRset: the host's addresses are not secure, held.
    let t = wait_trace(&s, &["trace", "--queue-id", &q_aaaabogus], "deferred");
    assert!(
        t.contains("DANE: AAAA lookup of mx.aaaabogus.test") && t.contains("(DNSSEC bogus)"),
        "{t}"
    );
    // DANE-TA(2): the CA the server's chain includes is the anchor: delivered.
    rta.wait_mailbox("carol@ta.test", 1);
    let t = wait_trace(&s, &["trace", "--queue-id", &q_ta], "relayed");
    assert!(t.contains("via mx.ta.test (TLSv1."), "{t}");
    // A DANE-TA record of another CA: held, the reason in the trace.
    let t = wait_trace(&s, &["trace", "--queue-id", &q_ta2], "deferred");
    assert!(
        t.contains("DANE: no TLSA record of mx.ta2.test matches its certificate"),
        "{t}"
    );
    for (server, d) in [
        (&r, "alias2.test"),
        (&r, "aaaabogus.test"),
        (&rta, "ta2.test"),
    ] {
        assert!(server.mailbox(&format!("carol@{d}")).is_empty(), "{d}");
    }
}
