//! A small SMTP client for the probes: multi-line replies (RFC 5321 section 4.2.1), raw writes
//! for the malformed input the probes send on purpose, STARTTLS with any rustls configuration,
//! and the bare TCP stream for a hand-written ClientHello. Every read is bounded in time and size.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A reply line longer than this, or a reply of more lines, is garbage, not SMTP.
const MAX_LINE: usize = 8192;
const MAX_LINES: usize = 200;

/// Why a probe could not go on. A probe turns these into `warn` findings ("could not test"),
/// never into a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The server closed the connection.
    Closed,
    /// No (complete) reply within the timeout.
    Timeout,
    /// Connecting, reading or writing failed.
    Io(String),
    /// Bytes that are not an SMTP reply.
    Garbled(String),
    /// The server refused a step the probe needs (the reply is shown).
    Refused(String),
    /// The probe's connection budget is spent (`--rate` and the cap in mod.rs).
    Budget,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Closed => f.write_str("the server closed the connection"),
            ProbeError::Timeout => f.write_str("no reply within the timeout"),
            ProbeError::Io(e) => write!(f, "{e}"),
            ProbeError::Garbled(e) => write!(f, "not an SMTP reply: {e}"),
            ProbeError::Refused(e) => write!(f, "the server refused {e}"),
            ProbeError::Budget => f.write_str("the cap on connections was reached"),
        }
    }
}

/// One SMTP reply: its code and the text of each line (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply as a person reads it: `250 first / second`, cut at a sensible length.
    pub fn show(&self) -> String {
        let mut s = format!("{} {}", self.code, self.lines.join(" / "));
        if s.len() > 300 {
            let mut cut = 300;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
}

/// Parses one reply line: `(code, last line?, text)`.
pub fn parse_line(line: &str) -> Result<(u16, bool, &str), ProbeError> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return Err(ProbeError::Garbled(line.chars().take(80).collect()));
    }
    let code: u16 = line[..3].parse().unwrap_or(0);
    match b.get(3) {
        None => Ok((code, true, "")),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(ProbeError::Garbled(line.chars().take(80).collect())),
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

/// An SMTP connection.
pub struct Session {
    stream: Stream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Session {
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Session, ProbeError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ProbeError::Timeout)?
            .map_err(|e| ProbeError::Io(format!("connecting to {addr}: {e}")))?;
        Ok(Session {
            stream: Stream::Tcp(tcp),
            buf: Vec::new(),
            timeout,
        })
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        let w = async {
            match &mut self.stream {
                Stream::Tcp(s) => s.write_all(bytes).await,
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Gone => Err(std::io::ErrorKind::NotConnected.into()),
            }
        };
        match tokio::time::timeout(self.timeout, w).await {
            Err(_) => Err(ProbeError::Timeout),
            Ok(Err(e)) if is_closed(&e) => Err(ProbeError::Closed),
            Ok(Err(e)) => Err(ProbeError::Io(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends one command line (CRLF added).
    pub async fn send(&mut self, line: &str) -> Result<(), ProbeError> {
        self.write_raw(format!("{line}\r\n").as_bytes()).await
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, ProbeError> {
        self.send(line).await?;
        self.reply().await
    }

    async fn fill(&mut self) -> Result<(), ProbeError> {
        let mut chunk = [0u8; 4096];
        let r = async {
            match &mut self.stream {
                Stream::Tcp(s) => s.read(&mut chunk).await,
                Stream::Tls(s) => s.read(&mut chunk).await,
                Stream::Gone => Ok(0),
            }
        };
        match tokio::time::timeout(self.timeout, r).await {
            Err(_) => Err(ProbeError::Timeout),
            Ok(Ok(0)) => Err(ProbeError::Closed),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) if is_closed(&e) => Err(ProbeError::Closed),
            Ok(Err(e)) => Err(ProbeError::Io(e.to_string())),
        }
    }

    async fn line(&mut self) -> Result<String, ProbeError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&raw);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(ProbeError::Garbled("a reply line without end".into()));
            }
            self.fill().await?;
        }
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> Result<Reply, ProbeError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let (code, last, text) = parse_line(&line)?;
            lines.push(text.to_string());
            if last {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_LINES {
                return Err(ProbeError::Garbled("a reply of too many lines".into()));
            }
        }
    }

    /// Upgrades the connection after a `220` to STARTTLS (RFC 3207).
    pub async fn tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: rustls_pki_types::ServerName<'static>,
    ) -> Result<(), ProbeError> {
        let Stream::Tcp(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(ProbeError::Io("TLS is already on".into()));
        };
        // Anything the server sent before the handshake would be an injection (CVE-2011-0411
        // and kin); it is dropped here, as a careful client drops it.
        self.buf.clear();
        let connector = tokio_rustls::TlsConnector::from(config);
        match tokio::time::timeout(self.timeout, connector.connect(name, tcp)).await {
            Err(_) => Err(ProbeError::Timeout),
            Ok(Err(e)) => Err(ProbeError::Io(format!("TLS handshake: {e}"))),
            Ok(Ok(s)) => {
                self.stream = Stream::Tls(Box::new(s));
                Ok(())
            }
        }
    }

    /// The TLS session, once [`Session::tls`] succeeded.
    pub fn tls_connection(&self) -> Option<&rustls::ClientConnection> {
        match &self.stream {
            Stream::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    /// Reads exactly `n` bytes (for the TLS records of a hand-written handshake).
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, ProbeError> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(
            parse_line("250-PIPELINING").unwrap(),
            (250, false, "PIPELINING")
        );
        assert_eq!(parse_line("250 OK").unwrap(), (250, true, "OK"));
        assert_eq!(parse_line("220").unwrap(), (220, true, ""));
        assert!(parse_line("HTTP/1.1 400").is_err());
        assert!(parse_line("25").is_err());
        assert!(parse_line("250_x").is_err());
    }

    #[tokio::test]
    async fn a_multi_line_reply_is_read_whole_in_odd_chunks() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for chunk in [
                "2",
                "50-mx.example ",
                "Hi\r\n250-SIZE 1000\r",
                "\n250 8BITMIME\r\n",
            ] {
                s.write_all(chunk.as_bytes()).await.unwrap();
                s.flush().await.unwrap();
            }
        });
        let mut c = Session::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap();
        let r = c.reply().await.unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, ["mx.example Hi", "SIZE 1000", "8BITMIME"]);
        server.await.unwrap();
        assert_eq!(c.reply().await, Err(ProbeError::Closed));
    }
}
