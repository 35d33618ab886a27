//! The https listener of `rampart serve`, end to end: a real server process on 127.0.0.1:0,
//! spoken to by curl (a client we did not write) and by rustls.

use crate::common;

use common::*;
use std::io::{Read, Write};
use std::process::Command;

/// A server with an mx listener and an https listener, and HTTP limits small enough to test.
fn start() -> Server {
    Server::start_with(Options {
        // After the mx listener's keys: a second [[listener]].
        listener: "\n[[listener]]\nrole = \"https\"\naddress = \"127.0.0.1:0\"\n".into(),
        top: "[http]\nmax_request_body_bytes = 1000\n".into(),
        ..Options::default()
    })
}

/// What curl saw: its exit status, the response head and body, stderr.
struct Curl {
    ok: bool,
    head: String,
    body: String,
    stderr: String,
}

impl Curl {
    /// The value of a response header (name case-insensitive), from the last response head.
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn status(&self) -> u16 {
        self.head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {}\n{}", self.head, self.stderr))
    }
}

/// curl against the https listener of `s`, as https://mail.example.test:PORT/PATH, trusting
/// the test CA.
fn curl(s: &Server, path: &str, args: &[&str]) -> Curl {
    let addr = s.listener("https");
    let dir = &s.dir.0;
    // A name of its own for each call (tests on several threads share a server's directory).
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let head_file = dir.join(format!("head-{n}"));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(s.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{}:127.0.0.1", addr.port()))
        .arg("-D")
        .arg(&head_file)
        .args(args)
        .arg(format!("https://mail.example.test:{}{path}", addr.port()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}); these tests need curl on PATH"));
    let head = std::fs::read_to_string(&head_file).unwrap_or_default();
    let _ = std::fs::remove_file(&head_file);
    // With a 100 Continue first, the last response head is the one that counts.
    let head = head
        .split("\r\n\r\n")
        .filter(|h| !h.trim().is_empty())
        .last()
        .unwrap_or("")
        .to_string();
    Curl {
        ok: out.status.success(),
        head,
        body: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// NC-2.1.3: every security header with its value, no Server header, no software named.
fn assert_secure(c: &Curl) {
    for (name, value) in [
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            c.header(name).as_deref(),
            Some(value),
            "{name} on a {}:\n{}",
            c.status(),
            c.head
        );
    }
    assert_eq!(c.header("server"), None, "{}", c.head);
    let all = format!("{}{}", c.head, c.body).to_ascii_lowercase();
    for word in ["rampart", "axum", "hyper", "rust"] {
        assert!(!all.contains(word), "names {word}:\n{all}");
    }
}

#[test]
fn https_listener_is_printed_and_serves_http1_and_http2() {
    let s = start();
    // Printed as `listening on 127.0.0.1:PORT (https)`, beside the SMTP one.
    let roles: Vec<&str> = s.listeners.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(roles, vec!["mx", "https"]);
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let c = curl(&s, "/healthz", &[flag, "-w", "\n%{http_version}"]);
        assert!(c.ok, "{}", c.stderr);
        assert_eq!(c.status(), 200);
        assert_eq!(c.body, format!("ok\n\n{version}"), "{flag}");
        assert_secure(&c);
    }
    // SIGTERM with an idle HTTPS connection open: it is closed, and the server stops cleanly.
    let tcp = std::net::TcpStream::connect(s.listener("https")).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let conn = rustls::ClientConnection::new(
        s.tls_config(&[&rustls::version::TLS13]),
        "mail.example.test".try_into().unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.conn.complete_io(&mut tls.sock).expect("handshake");
    let mut s = s;
    assert!(s.terminate().success());
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn al_1_1_tls_1_2_and_1_3_accepted_tls_1_1_refused() {
    let s = start();
    for flags in [
        ["--tlsv1.2", "--tls-max", "1.2"],
        ["--tlsv1.3", "--tls-max", "1.3"],
    ] {
        let c = curl(&s, "/healthz", &flags);
        assert!(c.ok && c.status() == 200, "{flags:?}: {}", c.stderr);
    }
    // SECLEVEL=0 lets OpenSSL really send a TLS 1.1 ClientHello (it refuses to by default),
    // so the refusal heard is the server's alert, not curl's own.
    let c = curl(
        &s,
        "/healthz",
        &[
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT@SECLEVEL=0",
        ],
    );
    assert!(!c.ok, "TLS 1.1 accepted: {}", c.head);
    assert!(c.stderr.contains("alert"), "{}", c.stderr);
    assert!(c.head.is_empty());
}

#[test]
fn nc_2_1_3_security_headers_on_200_404_413_and_no_server_header() {
    let s = start();
    let ok = curl(&s, "/healthz", &[]);
    assert_eq!(ok.status(), 200);
    assert_secure(&ok);
    for path in ["/index.html", "/nothing", "/.well-known/nothing"] {
        let c = curl(&s, path, &["--http2"]);
        assert_eq!(c.status(), 404, "{path}");
        assert_eq!(c.body, "There is nothing here.\n");
        assert_secure(&c);
    }
    // `/` is the webmail's sign-in page: the same headers, its own (page) policy.
    let c = curl(&s, "/", &["--http2"]);
    assert_eq!(c.status(), 200);
    let head = c.head.to_ascii_lowercase();
    for h in [
        "strict-transport-security: max-age=31536000; includesubdomains",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
        "frame-ancestors 'none'",
    ] {
        assert!(head.contains(h), "{h} missing:\n{}", c.head);
    }
    assert!(!head.contains("\nserver:"), "{}", c.head);
    // NC-2.1.8: [http] max_request_body_bytes = 1000. Expect: 100-continue makes curl wait for
    // the server's word before sending the body, so the 413 is read, not lost to a reset.
    let body = s.dir.0.join("body");
    std::fs::write(&body, "z".repeat(1001)).unwrap();
    let c = curl(
        &s,
        "/healthz",
        &[
            "--http1.1",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", body.display()),
        ],
    );
    assert_eq!(c.status(), 413, "{}\n{}", c.head, c.stderr);
    assert_eq!(c.body, "The request body is too large.\n");
    assert_secure(&c);
}

/// A rustls client: the https listener offers h2 in ALPN; the SMTP listeners offer nothing (h2
/// is no SMTP protocol) although they share the certificate.
#[test]
fn alpn_h2_on_https_only() {
    let s = start();
    let alpn_of = |addr, smtp: bool| {
        let mut config = (*s.tls_config(&[&rustls::version::TLS13])).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut tcp = tcp;
        if smtp {
            // The MX listener: STARTTLS first.
            smtp_reply(&mut tcp, 220);
            tcp.write_all(b"EHLO client.test\r\n").unwrap();
            smtp_reply(&mut tcp, 250);
            tcp.write_all(b"STARTTLS\r\n").unwrap();
            smtp_reply(&mut tcp, 220);
        }
        let conn = rustls::ClientConnection::new(
            std::sync::Arc::new(config),
            "mail.example.test".try_into().unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.conn.complete_io(&mut tls.sock).expect("handshake");
        tls.conn.alpn_protocol().map(|p| p.to_vec())
    };
    assert_eq!(alpn_of(s.listener("https"), false), Some(b"h2".to_vec()));
    assert_eq!(alpn_of(s.listener("mx"), true), None);
}

/// Reads one whole SMTP reply (up to its last line) and checks its code.
fn smtp_reply(tcp: &mut std::net::TcpStream, code: u16) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "closed in a reply");
        buf.push(byte[0]);
        if buf.ends_with(b"\r\n") {
            let text = String::from_utf8_lossy(&buf).to_string();
            let last = text.trim_end().lines().last().unwrap_or("").to_string();
            if last.as_bytes().get(3) == Some(&b' ') {
                assert!(text.starts_with(&code.to_string()), "{text}");
                return;
            }
        }
    }
}

/// The embedded default (`rampart serve` with no configuration) has the https listener on
/// 127.0.0.1:2443; shown here through `config show`, which binds nothing.
#[test]
fn embedded_default_has_the_https_listener() {
    let out = Command::new(BIN)
        .args(["config", "show"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("role = \"https\"\naddress = \"127.0.0.1:2443\""),
        "{shown}"
    );
}
