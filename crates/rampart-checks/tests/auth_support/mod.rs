//! What the authentication tests share: keys, signing, messages, a real DNS server, a context.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_parser::MessageParser;
use rampart_checks::auth::{AuthConfig, AuthOutcome, Authenticator};
use rampart_checks::{Context, Direction};
use rampart_testdns::TestDns;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// Our host name, hence our authserv-id.
pub const HOSTNAME: &str = "mx.rampart.test";
/// The address the test mail comes from.
pub const CLIENT: &str = "192.0.2.10";
pub const SIGNED_HEADERS: [&str; 5] = ["From", "To", "Subject", "Date", "Message-ID"];

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rampart-auth-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A 2048-bit RSA key generated for this test run with `openssl genrsa` (PKCS#1 PEM, which
/// dkimpy reads too), and its public key as DKIM publishes it (SubjectPublicKeyInfo, base64).
pub struct RsaTestKey {
    pub pem: Vec<u8>,
    pub public_b64: String,
    _dir: TempDir,
    pub pem_path: PathBuf,
}

pub fn rsa_key() -> &'static RsaTestKey {
    static KEY: OnceLock<RsaTestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = TempDir::new("rsa");
        let pem_path = dir.path("key.pem");
        run(Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&pem_path)
            .arg("2048"));
        let der = run(Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&pem_path));
        RsaTestKey {
            pem: std::fs::read(&pem_path).unwrap(),
            public_b64: base64(&der),
            _dir: dir,
            pem_path,
        }
    })
}

impl RsaTestKey {
    pub fn signing_key(&self) -> RsaKey<Sha256> {
        RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(&self.pem).unwrap()).unwrap()
    }

    pub fn dns_record(&self) -> String {
        format!("v=DKIM1; k=rsa; p={}", self.public_b64)
    }

    pub fn path(&self) -> &Path {
        &self.pem_path
    }
}

/// An Ed25519 key generated with ring (through mail-auth) and its DKIM record.
pub fn ed25519_key() -> (Vec<u8>, String) {
    let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap().public_key();
    (pkcs8, format!("v=DKIM1; k=ed25519; p={}", base64(&public)))
}

pub fn sign_rsa(raw: &str, domain: &str, selector: &str) -> String {
    let sig = DkimSigner::from_key(rsa_key().signing_key())
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS)
        .sign(raw.as_bytes())
        .unwrap();
    sig.to_header() + raw
}

pub fn sign_ed25519(raw: &str, pkcs8: &[u8], domain: &str, selector: &str) -> String {
    let sig = DkimSigner::from_key(Ed25519Key::from_pkcs8_der(pkcs8).unwrap())
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS)
        .sign(raw.as_bytes())
        .unwrap();
    sig.to_header() + raw
}

pub fn message(from: &str, subject: &str) -> String {
    format!(
        "From: Sender <{from}>\r\nTo: user@rampart.gov\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Hello,\r\nthis is the body of the message.\r\n"
    )
}

/// A configuration asking only `dns`, with short timeouts.
pub fn config(dns: &TestDns) -> AuthConfig {
    AuthConfig {
        dns_servers: vec![dns.addr().into()],
        dns_timeout_ms: 1_000,
        ..AuthConfig::default()
    }
}

pub fn authenticator(config: &AuthConfig) -> Authenticator {
    Authenticator::new(config, HOSTNAME).unwrap()
}

/// The SMTP facts of one inbound delivery.
pub struct Envelope<'a> {
    pub ip: &'a str,
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub local_domains: &'a [&'a str],
    pub direction: Direction,
}

impl<'a> Envelope<'a> {
    pub fn from(mail_from: &'a str) -> Envelope<'a> {
        Envelope {
            ip: CLIENT,
            helo: "mail.sender.test",
            mail_from,
            local_domains: &["rampart.gov"],
            direction: Direction::Inbound,
        }
    }
}

pub async fn check(auth: &Authenticator, raw: &str, env: &Envelope<'_>) -> AuthOutcome {
    let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let headers = rampart_checks::message::read_headers(raw.as_bytes()).unwrap_or_default();
    let rcpts = vec!["user@rampart.gov".to_string()];
    let local: Vec<String> = env.local_domains.iter().map(|d| d.to_string()).collect();
    let ip: IpAddr = env.ip.parse().unwrap();
    let ctx = Context {
        envelope: rampart_checks::Envelope {
            direction: env.direction,
            client_ip: ip,
            helo: env.helo,
            mail_from: env.mail_from,
            rcpts: &rcpts,
            authenticated: None,
        },
        local_domains: &local,
        raw: raw.as_bytes(),
        headers: &headers,
        parsed: &parsed,
    };
    auth.check(&ctx).await
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
