//! Test harness: the HTTPS server in-process on 127.0.0.1:0 with a test CA, and a client that
//! speaks raw HTTP/1.1 bytes over TLS (or HTTP/2 through hyper's client).
#![allow(dead_code)]

use rampart_http::HttpLimits;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

pub const HOST: &str = "mail.example.test";
/// Every read of a test client is bounded, so a server that never answers fails the test.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: watch::Sender<bool>,
    pub task: JoinHandle<()>,
    roots: Arc<rustls::RootCertStore>,
}

/// A CA, and a leaf for [`HOST`] signed by it: (CA certificate, leaf chain, leaf key).
fn pki() -> (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![HOST.to_string()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, HOST);
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    (
        ca.der().clone(),
        vec![leaf.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// The listeners' TLS as rampart-smtp builds it: TLS 1.3 and 1.2 only, no ALPN of its own.
fn server_tls(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> rustls::ServerConfig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::ServerConfig::builder_with_protocol_versions(&[
        &rustls::version::TLS13,
        &rustls::version::TLS12,
    ])
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap()
}

/// Starts `rampart_http::serve` with `app` and `limits` on 127.0.0.1:0.
pub async fn start(app: axum::Router, limits: HttpLimits) -> TestServer {
    let (ca, chain, key) = pki();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, rx) = watch::channel(false);
    let tls = Arc::new(server_tls(chain, key));
    let task = tokio::spawn(rampart_http::serve(listener, tls, app, limits, rx));
    TestServer {
        addr,
        shutdown,
        task,
        roots: Arc::new(roots),
    }
}

impl TestServer {
    pub fn client_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut c = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }

    /// A TLS connection with the given versions and ALPN protocols.
    pub async fn connect_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let connector = tokio_rustls::TlsConnector::from(self.client_config(versions, alpn));
        let name = ServerName::try_from(HOST).unwrap();
        tokio::time::timeout(READ_TIMEOUT, connector.connect(name, tcp))
            .await
            .expect("TLS handshake within the read timeout")
    }

    /// A TLS 1.3 connection offering http/1.1 only.
    pub async fn connect(&self) -> TlsStream<TcpStream> {
        self.connect_with(&[&rustls::version::TLS13], &[b"http/1.1"])
            .await
            .expect("TLS handshake")
    }

    /// One HTTP/1.1 request on a new connection; `Connection: close` is added.
    pub async fn get(&self, path: &str) -> Reply {
        let mut s = self.connect().await;
        send(
            &mut s,
            format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        read_reply(&mut s).await
    }
}

pub async fn send(s: &mut TlsStream<TcpStream>, bytes: &[u8]) {
    s.write_all(bytes).await.unwrap();
    s.flush().await.unwrap();
}

/// Reads until the server closes (a reset or a missing close_notify counts as the close).
pub async fn read_to_close(s: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(READ_TIMEOUT, s.read(&mut chunk)).await {
            Err(_) => panic!(
                "no close within {READ_TIMEOUT:?}; have {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(raw).to_string();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response to the end of the connection.
pub async fn read_reply(s: &mut TlsStream<TcpStream>) -> Reply {
    Reply::parse(&read_to_close(s).await)
}

/// The security headers every response must carry, with their values (NC-2.1.3).
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
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
];

/// NC-2.1.3: every security header with its value, no Server header, no framework name.
pub fn assert_secure(r: &Reply) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            r.header(name),
            Some(value),
            "{name} on a {}: {r:?}",
            r.status
        );
    }
    assert_eq!(r.header("server"), None, "{r:?}");
    let lower = r.body.to_ascii_lowercase();
    for word in ["axum", "hyper", "rust", "tokio", "rampart"] {
        assert!(!lower.contains(word), "body names {word}: {r:?}");
    }
}
