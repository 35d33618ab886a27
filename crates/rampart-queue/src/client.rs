//! A small SMTP client for outbound delivery: greeting, EHLO, STARTTLS (TLS 1.2+ only, AL-1.1),
//! AUTH PLAIN for a smarthost, MAIL/RCPT/DATA. One connection carries several messages.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A reply from the remote server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    pub code: u16,
    pub text: String,
}

impl RemoteReply {
    pub fn is_ok(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text.replace('\n', " / "))
    }
}

/// Why a connection or command failed before a reply could say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Network, TLS or timeout: temporary.
    Transport(String),
    /// The server answered with an error at a connection-level step (greeting, EHLO, STARTTLS).
    Refused(RemoteReply),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Transport(s) => f.write_str(s),
            ClientError::Refused(r) => write!(f, "{}", r.line()),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How TLS is to be used on a connection.
#[derive(Clone)]
pub struct TlsMode {
    /// Refuse to continue without TLS.
    pub required: bool,
    /// Client configuration (verifying or opportunistic).
    pub config: Arc<ClientConfig>,
    /// Start TLS at once (implicit TLS, port 465) instead of STARTTLS.
    pub implicit: bool,
}

/// An open SMTP connection after EHLO (and STARTTLS when offered or required).
pub struct Connection {
    /// None only while the stream is being moved into TLS.
    stream: Option<Stream>,
    buf: Vec<u8>,
    timeout: Duration,
    pub extensions: Vec<String>,
    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", or None for plain text.
    pub tls: Option<String>,
    pub host: String,
}

impl Connection {
    /// Connects to `addr`, reads the greeting, says EHLO as `helo`, and starts TLS when offered
    /// (AL-1.1: never below TLS 1.2; a failed handshake fails the attempt rather than falling back).
    pub async fn open(
        addr: std::net::SocketAddr,
        host: &str,
        helo: &str,
        tls: &TlsMode,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                ClientError::Transport(format!("connecting to {host} [{addr}] timed out"))
            })?
            .map_err(|e| ClientError::Transport(format!("connecting to {host} [{addr}]: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Connection {
            stream: Some(Stream::Plain(tcp)),
            buf: Vec::new(),
            timeout,
            extensions: Vec::new(),
            tls: None,
            host: host.to_string(),
        };
        if tls.implicit {
            c.start_tls(tls).await?;
        }
        let greeting = c.reply().await?;
        if greeting.code != 220 {
            return Err(ClientError::Refused(greeting));
        }
        c.ehlo(helo).await?;
        if c.tls.is_none() {
            if c.has("STARTTLS") {
                let r = c.command("STARTTLS").await?;
                if r.code != 220 {
                    return Err(ClientError::Refused(r));
                }
                c.start_tls(tls).await?;
                c.ehlo(helo).await?;
            } else if tls.required {
                return Err(ClientError::Transport(format!(
                    "{host} does not offer STARTTLS and TLS is required for it"
                )));
            }
        }
        Ok(c)
    }

    async fn start_tls(&mut self, tls: &TlsMode) -> Result<(), ClientError> {
        let name = ServerName::try_from(self.host.clone()).map_err(|_| {
            ClientError::Transport(format!("{} is not a valid TLS server name", self.host))
        })?;
        let tcp = match self.stream.take() {
            Some(Stream::Plain(t)) => t,
            _ => return Err(ClientError::Transport("TLS is already active".into())),
        };
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let s = tokio::time::timeout(self.timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| {
                ClientError::Transport(format!("TLS handshake with {} timed out", self.host))
            })?
            .map_err(|e| {
                ClientError::Transport(format!("TLS handshake with {} failed: {e}", self.host))
            })?;
        let (_, conn) = s.get_ref();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            v => format!("{v:?}"),
        };
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        self.tls = Some(format!("{version} {suite}"));
        self.stream = Some(Stream::Tls(Box::new(s)));
        self.buf.clear();
        Ok(())
    }

    async fn ehlo(&mut self, helo: &str) -> Result<(), ClientError> {
        let r = self.command(&format!("EHLO {helo}")).await?;
        if r.code != 250 {
            return Err(ClientError::Refused(r));
        }
        self.extensions = r
            .text
            .lines()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect();
        Ok(())
    }

    pub fn has(&self, ext: &str) -> bool {
        self.extensions
            .iter()
            .any(|e| e == ext || e.starts_with(&format!("{ext} ")))
    }

    /// AUTH PLAIN (for a smarthost; only inside TLS).
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        use base64::Engine;
        if self.tls.is_none() {
            return Err(ClientError::Transport(
                "refusing to send a password without TLS".into(),
            ));
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let r = self.command(&format!("AUTH PLAIN {token}")).await?;
        if r.code != 235 {
            return Err(ClientError::Refused(r));
        }
        Ok(())
    }

    /// Sends one command line and reads its reply.
    pub async fn command(&mut self, line: &str) -> Result<RemoteReply, ClientError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let host = self.host.clone();
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| ClientError::Transport("connection closed".into()))?;
        tokio::time::timeout(self.timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| ClientError::Transport(format!("writing to {host} timed out")))?
        .map_err(|e| ClientError::Transport(format!("writing to {host}: {e}")))
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> Result<RemoteReply, ClientError> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            while let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                let code: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
                let Some(code) = code else {
                    return Err(ClientError::Transport(format!(
                        "{} sent a malformed reply",
                        self.host
                    )));
                };
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line.get(4..).unwrap_or("").to_string());
                if last {
                    return Ok(RemoteReply {
                        code,
                        text: lines.join("\n"),
                    });
                }
                if lines.len() > 100 {
                    return Err(ClientError::Transport(format!(
                        "{} sent an overlong reply",
                        self.host
                    )));
                }
            }
            if self.buf.len() > 64 * 1024 {
                return Err(ClientError::Transport(format!(
                    "{} sent an overlong line",
                    self.host
                )));
            }
            let mut chunk = [0u8; 4096];
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| ClientError::Transport("connection closed".into()))?;
            let n = tokio::time::timeout(self.timeout, stream.read(&mut chunk))
                .await
                .map_err(|_| {
                    ClientError::Transport(format!("{} did not answer in time", self.host))
                })?
                .map_err(|e| ClientError::Transport(format!("reading from {}: {e}", self.host)))?;
            if n == 0 {
                return Err(ClientError::Transport(format!(
                    "{} closed the connection",
                    self.host
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One transaction. Returns the reply for each recipient: its RCPT reply if refused there,
    /// else the reply to the message data. Err: the transaction failed as a whole (that reply).
    pub async fn send(
        &mut self,
        from: &str,
        rcpts: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, RemoteReply)>, ClientError> {
        let size = if self.has("SIZE") {
            format!(" SIZE={}", message.len())
        } else {
            String::new()
        };
        let r = self.command(&format!("MAIL FROM:<{from}>{size}")).await?;
        if !r.is_ok() {
            let _ = self.command("RSET").await;
            return Err(ClientError::Refused(r));
        }
        let mut results = Vec::new();
        let mut accepted = Vec::new();
        for rcpt in rcpts {
            let r = self.command(&format!("RCPT TO:<{rcpt}>")).await?;
            if r.is_ok() {
                accepted.push(rcpt.clone());
            } else {
                results.push((rcpt.clone(), r));
            }
        }
        if accepted.is_empty() {
            let _ = self.command("RSET").await;
            return Ok(results);
        }
        let r = self.command("DATA").await?;
        if r.code != 354 {
            let _ = self.command("RSET").await;
            results.extend(accepted.into_iter().map(|a| (a, r.clone())));
            return Ok(results);
        }
        self.write(&dot_stuff(message)).await?;
        let r = self.reply().await?;
        results.extend(accepted.into_iter().map(|a| (a, r.clone())));
        Ok(results)
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
    }
}

/// The message as DATA wants it: CRLF line endings, leading dots doubled, `.` CRLF at the end.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    let mut at_line_start = true;
    let mut i = 0;
    while i < message.len() {
        let b = message[i];
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        match b {
            b'\r' if message.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                at_line_start = true;
                continue;
            }
            b'\n' | b'\r' => {
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            _ => {
                out.push(b);
                at_line_start = false;
            }
        }
        i += 1;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// TLS 1.2 and 1.3 only (AL-1.1).
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Opportunistic TLS: encrypt, without authenticating the server (as RFC 3207 servers on the
/// Internet mostly cannot be). The handshake signature is still checked.
pub fn opportunistic_config() -> Arc<ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    let verifier = Arc::new(AnyCertificate(provider.signature_verification_algorithms));
    Arc::new(
        ClientConfig::builder_with_protocol_versions(VERSIONS)
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

/// Verifying TLS against the CA certificates in `ca_file` (PEM), presenting `client` (a
/// certificate chain and its private key, PEM) for mutual TLS when given (NC-2.3.4).
pub fn verifying_config(
    ca_file: &std::path::Path,
    client: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Arc<ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", ca_file.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate in it", ca_file.display()));
    }
    let builder =
        ClientConfig::builder_with_protocol_versions(VERSIONS).with_root_certificates(roots);
    let Some((cert, key)) = client else {
        return Ok(Arc::new(builder.with_no_client_auth()));
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let config = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\nb"), b"a\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }
}
