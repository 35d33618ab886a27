//! One session: a task that takes message tickets from a shared pool and spends them over
//! connections it opens one after another, `per_connection` messages each.
//!
//! A ticket is one attempt. A message refused, a connection that fails or a reply that does
//! not come in time spends its ticket, is counted, and closes the connection; the session goes
//! on with a new connection. So a run always ends, after at most `messages` attempts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::message::Message;
use crate::smtp::{Connection, Extensions};
use crate::stats::{Failure, Tally};

/// Everything the sessions share, built once before the run: the address, the TLS client,
/// the command lines and the message.
pub(crate) struct Plan {
    pub addr: SocketAddr,
    pub timeout: Duration,
    pub per_connection: u32,
    pub pipelining: bool,
    pub tls: Option<Tls>,
    /// `EHLO name<CRLF>`.
    pub ehlo: Vec<u8>,
    /// `MAIL FROM:<...><CRLF>`.
    pub mail: Vec<u8>,
    /// One `RCPT TO:<...><CRLF>` per recipient.
    pub rcpts: Vec<Vec<u8>>,
    /// MAIL, every RCPT and DATA in one buffer, for PIPELINING (RFC 2920 3.1: DATA ends a group).
    pub envelope: Vec<u8>,
    pub message: Message,
    /// Makes Message-IDs unique across runs.
    pub run_id: u64,
}

/// The STARTTLS client: the server's certificate is verified against the given CA for `name`.
pub(crate) struct Tls {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

/// The pool of message attempts a phase may still make.
pub(crate) struct Tickets(AtomicU64);

impl Tickets {
    pub fn new(n: u64) -> Self {
        Tickets(AtomicU64::new(n))
    }

    /// Takes one ticket; false when none is left.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A session's identity in Message-IDs: the phase (`w` warm-up, `t` timed) and its number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionId {
    pub phase: char,
    pub number: usize,
}

/// Runs one session until the pool is empty; returns what it counted.
pub(crate) async fn run(
    plan: Arc<Plan>,
    tickets: Arc<Tickets>,
    id: SessionId,
    expect_messages: usize,
) -> Tally {
    let mut s = Session {
        plan: &plan,
        tickets: &tickets,
        id,
        seq: 0,
        head: Vec::with_capacity(512),
        tally: Tally::with_capacity(expect_messages),
    };
    while s.tickets.take() {
        match s.open().await {
            Err(f) => s.tally.failed(f),
            Ok(Opened::Plain(mut c, ext)) => s.use_connection(&mut c, ext).await,
            Ok(Opened::Tls(mut c, ext)) => s.use_connection(&mut *c, ext).await,
        }
    }
    s.tally
}

/// A connection through set-up (greeting, EHLO, and STARTTLS with the second EHLO), with what
/// its last EHLO reply offered.
enum Opened {
    Plain(Connection<TcpStream>, Extensions),
    Tls(
        Box<Connection<tokio_rustls::client::TlsStream<TcpStream>>>,
        Extensions,
    ),
}

struct Session<'a> {
    plan: &'a Plan,
    tickets: &'a Tickets,
    id: SessionId,
    /// Messages this session has started, for the Message-ID.
    seq: u64,
    /// The header block of the current message, rewritten for each.
    head: Vec<u8>,
    tally: Tally,
}

impl Session<'_> {
    /// Connects and sets the connection up. Set-up time runs from the connect to the greeting,
    /// or with STARTTLS to the end of the EHLO reply inside TLS.
    async fn open(&mut self) -> Result<Opened, Failure> {
        let plan = self.plan;
        let start = Instant::now();
        self.tally.connecting(start);
        let tcp = match tokio::time::timeout(plan.timeout, TcpStream::connect(plan.addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(_)) | Err(_) => return Err(Failure::Connect),
        };
        // Commands are written whole; Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        let mut c = Connection::new(tcp, plan.timeout);
        c.expect(220).await?;
        let greeted = start.elapsed();
        c.send(&plan.ehlo).await?;
        let ext = c.ehlo_reply().await?;
        let Some(tls) = &plan.tls else {
            self.tally.connected(greeted);
            return Ok(Opened::Plain(c, ext));
        };
        if !ext.starttls {
            return Err(Failure::NoStartTls);
        }
        c.send(b"STARTTLS\r\n").await?;
        c.expect(220).await?;
        let tcp = c.into_inner()?;
        let handshake = tls.connector.connect(tls.name.clone(), tcp);
        let stream = match tokio::time::timeout(plan.timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(Failure::Tls),
            Err(_) => return Err(Failure::Timeout),
        };
        if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
            self.tally.tls_resumed += 1;
        }
        let mut c = Connection::new(stream, plan.timeout);
        // RFC 3207 4.2: what was learnt before TLS is forgotten; ask again.
        c.send(&plan.ehlo).await?;
        let ext = c.ehlo_reply().await?;
        self.tally.connected(start.elapsed());
        Ok(Opened::Tls(Box::new(c), ext))
    }

    /// Sends up to `per_connection` messages over `c` (the first ticket is already taken), then
    /// QUIT. On any failure it returns at once; the caller drops the connection, which closes it.
    async fn use_connection<S>(&mut self, c: &mut Connection<S>, ext: Extensions)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let pipelining = self.plan.pipelining && ext.pipelining;
        let mut sent = 0;
        loop {
            self.plan.message.head_into(
                &mut self.head,
                self.plan.run_id,
                self.id.phase,
                self.id.number,
                self.seq,
            );
            self.seq += 1;
            match transaction(self.plan, c, &self.head, pipelining).await {
                Ok((took, at)) => self.tally.delivered(took, at),
                Err(f) => {
                    self.tally.failed(f);
                    return;
                }
            }
            sent += 1;
            // Without RSET (RFC 5321 4.1.4: a completed transaction clears the state).
            if sent == self.plan.per_connection || !self.tickets.take() {
                break;
            }
        }
        let quit = async {
            c.send(b"QUIT\r\n").await?;
            c.expect(221).await
        };
        if let Err(f) = quit.await {
            self.tally.failed(f);
        }
    }
}

/// One mail transaction; returns the time from the end of the data to the `250`, and when the
/// `250` came.
async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    plan: &Plan,
    c: &mut Connection<S>,
    head: &[u8],
    pipelining: bool,
) -> Result<(Duration, Instant), Failure> {
    if pipelining {
        c.send(&plan.envelope).await?;
        c.expect(250).await?;
        for _ in &plan.rcpts {
            c.expect_rcpt().await?;
        }
    } else {
        c.send(&plan.mail).await?;
        c.expect(250).await?;
        for rcpt in &plan.rcpts {
            c.send(rcpt).await?;
            c.expect_rcpt().await?;
        }
        c.send(b"DATA\r\n").await?;
    }
    c.expect(354).await?;
    c.send_two(head, plan.message.tail()).await?;
    let ended = Instant::now();
    c.expect(250).await?;
    let at = Instant::now();
    Ok((at - ended, at))
}
