#![allow(dead_code)]
//! MTA-STS test fixtures: a policy web server (HTTPS on loopback, a certificate for
//! `mta-sts.remote.test` from a CA of its own) and the sending and receiving servers, with DNS
//! saying MX remote.test -> mail.example.test (the receiver's certificate name) at 127.0.0.1.

use crate::common::{cli, Options, Server, PASSWORD};
use rampart_testdns::{Record, TestDns};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the policy server answers: status line, content type, body.
#[derive(Clone)]
pub struct Answer {
    pub status: String,
    pub content_type: String,
    pub extra: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn policy(mode: &str, mx: &str) -> Answer {
        Answer {
            status: "200 OK".into(),
            content_type: "text/plain".into(),
            extra: String::new(),
            body: format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
                .into_bytes(),
        }
    }
}

/// A tiny HTTPS server for `/.well-known/mta-sts.txt`, on a thread; counts the requests.
pub struct PolicyServer {
    pub port: u16,
    pub answer: Arc<Mutex<Answer>>,
    pub requests: Arc<AtomicUsize>,
    /// Paths asked for, in order.
    pub paths: Arc<Mutex<Vec<String>>>,
    /// The CA that signed its certificate (PEM).
    pub ca_pem: String,
}

impl PolicyServer {
    pub fn start(answer: Answer) -> PolicyServer {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Policy Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["mta-sts.remote.test".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (a, r, p) = (answer.clone(), requests.clone(), paths.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                if req.is_empty() {
                    continue; // a handshake the client refused
                }
                r.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                p.lock()
                    .unwrap()
                    .push(line.split(' ').nth(1).unwrap_or("").to_string());
                let ans = a.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
                    ans.status,
                    ans.content_type,
                    ans.body.len(),
                    ans.extra
                );
                let _ = tls.write_all(head.as_bytes());
                let _ = tls.write_all(&ans.body);
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        PolicyServer {
            port,
            answer,
            requests,
            paths,
            ca_pem: ca.pem(),
        }
    }

    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

/// DNS: remote.test has MX `mx` (at 127.0.0.1), `_mta-sts` id `id`, and mta-sts.remote.test.
pub fn dns(mx: &str, id: &str) -> TestDns {
    TestDns::builder()
        .mx("remote.test", 10, mx)
        .a(mx, "127.0.0.1".parse().unwrap())
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .a("mail.example.test", "127.0.0.1".parse().unwrap())
        .a("mta-sts.remote.test", "127.0.0.1".parse().unwrap())
        .txt("_mta-sts.remote.test", format!("v=STSv1; id={id}").as_str())
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

/// Points remote.test's MX at `mx`.
pub fn set_mx(dns: &TestDns, mx: &str) {
    dns.remove("remote.test");
    dns.add(Record::mx("remote.test", 10, mx));
}

/// The receiving server: MX for remote.test with user carol; its certificate names
/// mail.example.test.
pub fn receiver(dns: &TestDns) -> Server {
    let r = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    r
}

/// The sending server, trusting the receiver's CA and the policy server's for MTA-STS.
pub fn sender(dns: &TestDns, r: &Server, policy: &PolicyServer, extra: &str) -> Server {
    let ca = r.dir.0.join("sts-ca.pem");
    std::fs::write(&ca, format!("{}{}", r.pki.ca_pem, policy.ca_pem)).unwrap();
    let top = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [delivery]\nport = {}\nretry_secs = [1]\ntimeout_secs = 10\n\
         mta_sts_port = {}\nmta_sts_ca_file = \"{}\"\n{extra}\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
        dns.addr(),
        r.addr.port(),
        policy.port,
        ca.display()
    );
    Server::start_with(Options {
        top,
        ..Default::default()
    })
}

/// Sends as alice to carol@remote.test; returns the queue id.
pub fn submit(s: &Server, id: &str) -> String {
    let body = format!(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: sts {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n\r\nHello.\r\n"
    );
    let mut c = s.login_alice();
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], &body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    text.rsplit(' ').next().unwrap().to_string()
}

/// The outgoing TLS report of remote.test as JSON (`rampart report tls --outgoing`).
pub fn outgoing_report(s: &Server) -> serde_json::Value {
    let out = cli(
        &s.config,
        &["report", "tls", "--outgoing", "--domain", "remote.test"],
        None,
    );
    let line = out
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no outgoing report: {out:?}"));
    serde_json::from_str(line).unwrap()
}

/// (successes, failures of `result_type`) in a report.
pub fn counts(report: &serde_json::Value, result_type: &str) -> (u64, u64) {
    let mut ok = 0;
    let mut failed = 0;
    for p in report["policies"].as_array().unwrap() {
        ok += p["summary"]["total-successful-session-count"]
            .as_u64()
            .unwrap();
        for f in p["failure-details"].as_array().into_iter().flatten() {
            if f["result-type"] == result_type {
                failed += f["failed-session-count"].as_u64().unwrap();
            }
        }
    }
    (ok, failed)
}
