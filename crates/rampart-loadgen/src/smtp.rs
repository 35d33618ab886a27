//! The client side of one SMTP connection, over any `AsyncRead + AsyncWrite` (TCP or TLS).
//!
//! Every read of a reply and every write is bounded by the run's timeout, so a server that
//! stops answering costs one timeout, never a hang.

use std::io::IoSlice;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::stats::Failure;

/// Longest reply line accepted, CRLF included (RFC 5321 4.5.3.1.5 says 512; some servers
/// send longer texts).
const MAX_REPLY_LINE: usize = 2048;

/// What an EHLO reply offered, of what the load generator uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    pub starttls: bool,
    pub pipelining: bool,
}

/// One connection: the stream behind a read buffer, and the buffer for the reply line.
pub struct Connection<S> {
    io: BufReader<S>,
    line: Vec<u8>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S, timeout: Duration) -> Self {
        Connection {
            io: BufReader::new(stream),
            line: Vec::with_capacity(256),
            timeout,
        }
    }

    /// The stream, for the TLS handshake after STARTTLS. Fails if the server sent anything
    /// after its `220`: those bytes would otherwise be taken as coming from inside TLS.
    pub fn into_inner(self) -> Result<S, Failure> {
        if !self.io.buffer().is_empty() {
            return Err(Failure::Protocol);
        }
        Ok(self.io.into_inner())
    }

    /// Writes `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        bounded(self.timeout, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await
    }

    /// Writes `a` then `b` (a message's head and its shared tail) in as few writes as the
    /// stream allows, and flushes.
    pub async fn send_two(&mut self, a: &[u8], b: &[u8]) -> Result<(), Failure> {
        bounded(self.timeout, async {
            let (mut a, mut b) = (a, b);
            while !a.is_empty() {
                let n = self
                    .io
                    .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                    .await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                if n >= a.len() {
                    b = &b[n - a.len()..];
                    a = &[];
                } else {
                    a = &a[n..];
                }
            }
            self.io.write_all(b).await?;
            self.io.flush().await
        })
        .await
    }

    /// Reads one reply and fails unless its code is `code`.
    pub async fn expect(&mut self, code: u16) -> Result<(), Failure> {
        match self.reply(None).await? {
            c if c == code => Ok(()),
            c => Err(Failure::Reply(c)),
        }
    }

    /// Reads a reply to RCPT: 250, or 251 (RFC 5321 4.2.2: "User not local; will forward").
    pub async fn expect_rcpt(&mut self) -> Result<(), Failure> {
        match self.reply(None).await? {
            250 | 251 => Ok(()),
            c => Err(Failure::Reply(c)),
        }
    }

    /// Reads the reply to EHLO; fails unless it is 250.
    pub async fn ehlo_reply(&mut self) -> Result<Extensions, Failure> {
        let mut ext = Extensions::default();
        match self.reply(Some(&mut ext)).await? {
            250 => Ok(ext),
            c => Err(Failure::Reply(c)),
        }
    }

    /// Reads one whole reply, every line of it (RFC 5321 4.2.1), and returns its code. With
    /// `ext`, the lines after the first are EHLO keywords and are noted there.
    async fn reply(&mut self, mut ext: Option<&mut Extensions>) -> Result<u16, Failure> {
        let timeout = self.timeout;
        let read = async {
            let mut first = true;
            loop {
                self.read_line().await?;
                let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let code = reply_code(line).ok_or(Failure::Protocol)?;
                let more = line.get(3) == Some(&b'-');
                if let (Some(ext), false) = (ext.as_deref_mut(), first) {
                    let keyword = line[4..].split(|&b| b == b' ').next().unwrap_or_default();
                    if keyword.eq_ignore_ascii_case(b"STARTTLS") {
                        ext.starttls = true;
                    } else if keyword.eq_ignore_ascii_case(b"PIPELINING") {
                        ext.pipelining = true;
                    }
                }
                first = false;
                if !more {
                    return Ok(code);
                }
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    /// Reads up to and including the next LF into `self.line`.
    async fn read_line(&mut self) -> Result<(), Failure> {
        self.line.clear();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                return Err(Failure::Closed);
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (buf.len(), false),
            };
            self.line.extend_from_slice(&buf[..take]);
            self.io.consume(take);
            if self.line.len() > MAX_REPLY_LINE {
                return Err(Failure::Protocol);
            }
            if done {
                return Ok(());
            }
        }
    }
}

/// Runs an I/O step within `timeout`.
async fn bounded<F>(timeout: Duration, f: F) -> Result<(), Failure>
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Failure::Timeout),
    }
}

/// The code of a reply line: three digits, then a space, a hyphen or the end of the line.
fn reply_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(line.get(3), None | Some(b' ' | b'-')) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn reply_codes() {
        assert_eq!(reply_code(b"250 ok"), Some(250));
        assert_eq!(reply_code(b"250-x"), Some(250));
        assert_eq!(reply_code(b"354"), Some(354));
        assert_eq!(reply_code(b"25 ok"), None);
        assert_eq!(reply_code(b"2500"), None);
        assert_eq!(reply_code(b"abc def"), None);
    }

    #[tokio::test]
    async fn multiline_replies_in_odd_chunks_and_ehlo_keywords() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut c = Connection::new(client, T);
        let script = b"220 mx ESMTP\r\n250-mx\r\n250-SIZE 1000\r\n250-pipelining\r\n250 STARTTLS\r\n550 5.1.1 no\r\n";
        let writer = tokio::spawn(async move {
            for chunk in script.chunks(5) {
                server.write_all(chunk).await.unwrap();
            }
            server
        });
        c.expect(220).await.unwrap();
        assert_eq!(
            c.ehlo_reply().await.unwrap(),
            Extensions {
                starttls: true,
                pipelining: true
            }
        );
        assert_eq!(c.expect(250).await, Err(Failure::Reply(550)));
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn closed_garbled_and_silent_servers_fail_without_hanging() {
        let (client, server) = tokio::io::duplex(64);
        drop(server);
        let mut c = Connection::new(client, T);
        assert_eq!(c.expect(220).await, Err(Failure::Closed));

        let (client, mut server) = tokio::io::duplex(64);
        server.write_all(b"hello\r\n").await.unwrap();
        let mut c = Connection::new(client, T);
        assert_eq!(c.expect(220).await, Err(Failure::Protocol));

        tokio::time::pause();
        let (client, _server) = tokio::io::duplex(64);
        let mut c = Connection::new(client, T);
        assert_eq!(c.expect(220).await, Err(Failure::Timeout));
    }

    #[tokio::test]
    async fn bytes_after_the_starttls_reply_are_refused() {
        let (client, mut server) = tokio::io::duplex(64);
        server.write_all(b"220 go ahead\r\n\x16\x03").await.unwrap();
        let mut c = Connection::new(client, T);
        c.expect(220).await.unwrap();
        // Let the buffer take the extra bytes in, as it would off a socket.
        c.io.fill_buf().await.unwrap();
        assert!(matches!(c.into_inner(), Err(Failure::Protocol)));
    }

    #[tokio::test]
    async fn two_part_writes_arrive_whole() {
        let (client, mut server) = tokio::io::duplex(16);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            server.read_to_end(&mut all).await.unwrap();
            all
        });
        let mut c = Connection::new(client, T);
        let b: Vec<u8> = (0..200u8).collect();
        c.send_two(b"head:", &b).await.unwrap();
        drop(c);
        let all = reader.await.unwrap();
        assert_eq!(&all[..5], b"head:");
        assert_eq!(&all[5..], &b[..]);
    }
}
