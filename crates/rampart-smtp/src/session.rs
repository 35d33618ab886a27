//! One SMTP session (RFC 5321) over any `AsyncRead + AsyncWrite`: TCP, TLS, or an in-memory
//! stream in tests. Framing lives in [`crate::codec`]; this module holds the state and decisions.
//!
//! Replies are written to a buffer and flushed only when the session must wait for input, which is
//! what PIPELINING (RFC 2920) asks of a server.

use crate::address::{check_forward_path, check_helo, raw_path};
use crate::codec::{take_line, DataDecoder, Line};
use crate::limits::{AuthGuard, RateLimiter, ReadBudget};
use crate::received::{self, ReceivedInfo};
use crate::reply::{self, EnhancedStatus, Reply};
use rampart_config::{Config, Listener};
use rampart_config::{RateScope, RateWhat};
use rampart_store::{Enqueue, QueueId, QueuedRecipient, SpoolFile, Store, TraceEvent, Writer};
use smtp_proto::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

mod content;
mod submission;

/// Received headers past which a message is taken to be looping (RFC 5321 section 6.3).
const MAX_RECEIVED: usize = 50;
/// Read buffer to start with; it grows only as far as the line limit or one read.
const READ_CHUNK: usize = 8 * 1024;
/// Time for the last reply and the close once a session has ended: a client that reads nothing
/// cannot keep it open.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// What every session shares.
pub struct ServerContext {
    pub config: Arc<Config>,
    pub store: Store,
    pub writer: Writer,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Woken after each message is queued, so delivery starts at once.
    pub queue_notify: Arc<Notify>,
    /// The content checks (None: none configured, as in unit tests; the message is still read
    /// once and refused when it reads two ways).
    pub pipeline: Option<Arc<rampart_checks::pipeline::Pipeline>>,
    /// Deliver to local mailboxes in the commit that queues the message (see
    /// [`rampart_store::Enqueue::deliver_local_now`]): true when nothing is checked again at
    /// delivery.
    pub deliver_local_now: bool,
    /// Becomes true when the server is draining (SIGTERM).
    pub shutdown: watch::Receiver<bool>,
    /// NC-2.1.8: rate limits for relayed mail.
    pub limiter: RateLimiter,
    /// NC-2.1.4: delays and blocks after failed authentication.
    pub auth_guard: AuthGuard,
}

impl ServerContext {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        writer: Writer,
        tls: Option<tokio_rustls::TlsAcceptor>,
        queue_notify: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> ServerContext {
        ServerContext {
            pipeline: None,
            deliver_local_now: false,
            limiter: RateLimiter::new(config.rate_limits.clone()),
            auth_guard: AuthGuard::new(config.auth.clone()),
            config,
            store,
            writer,
            tls,
            queue_notify,
            shutdown,
        }
    }
}

/// What follows a command: the session goes on, ends, or turns to TLS. [`Session::run`] returns
/// only `Close` or `StartTls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
    /// The client asked for STARTTLS and got 220: wrap the stream and run again.
    StartTls,
}

struct Transaction {
    id: QueueId,
    sender: String,
    smtputf8: bool,
    /// Accepted RCPT addresses, in order.
    rcpts: Vec<String>,
    /// Final recipients: local mailboxes and remote addresses, each once.
    recipients: Vec<QueuedRecipient>,
    /// Set while BDAT chunks are arriving.
    bdat: Option<Body>,
}

/// A message body being received.
struct Body {
    spool: SpoolFile,
    prefix_len: usize,
    return_path_len: usize,
    size: u64,
    too_big: bool,
}

pub struct Session {
    ctx: Arc<ServerContext>,
    listener: Listener,
    peer: SocketAddr,
    id: String,
    helo: Option<String>,
    esmtp: bool,
    tls: Option<String>,
    /// The authenticated identity (NC-2.1.4).
    auth: Option<String>,
    /// The client's address is in `relay.networks` (NC-2.1.5).
    relay_network: bool,
    tx: Option<Transaction>,
    errors: u32,
    messages: u32,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// NC-2.1.8: the time left for the command line being read. A new budget starts whenever the
    /// server has answered, since it then waits for a new line; see [`Session::fill`].
    line_budget: Option<ReadBudget>,
    shutdown: watch::Receiver<bool>,
}

impl Session {
    pub fn new(ctx: Arc<ServerContext>, listener: Listener, peer: SocketAddr) -> Session {
        let id = hex(&rampart_store::random_bytes::<6>());
        let shutdown = ctx.shutdown.clone();
        let relay_network = ctx.config.relay.allows(peer.ip());
        Session {
            ctx,
            listener,
            peer,
            id,
            helo: None,
            esmtp: false,
            tls: None,
            auth: None,
            relay_network,
            tx: None,
            errors: 0,
            messages: 0,
            buf: Vec::new(),
            pos: 0,
            out: Vec::new(),
            line_budget: None,
            shutdown,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn hostname(&self) -> &str {
        self.ctx.config.hostname.get_ref()
    }

    /// A trace event for this session, with client and, inside a transaction, queue id and sender.
    pub async fn trace(&self, event: &str, detail: impl Into<String>, recipient: Option<&str>) {
        let mut e = TraceEvent::new(event, detail);
        e.session = Some(self.id.clone());
        e.client = Some(self.peer.ip().to_string());
        if let Some(tx) = &self.tx {
            e.queue_id = Some(tx.id.0.clone());
            e.sender = Some(tx.sender.clone());
        }
        e.recipient = recipient.map(str::to_string);
        self.ctx.writer.trace(e).await;
    }

    /// Records the connection and writes the greeting: `220 <hostname> ESMTP` (NC-2.1.3).
    pub async fn greet<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> std::io::Result<()> {
        self.trace(
            "connect",
            format!(
                "connection from {} to {} listener {}",
                self.peer, self.listener.role, self.listener.address
            ),
            None,
        )
        .await;
        let greeting = format!("220 {} ESMTP\r\n", self.hostname());
        io.write_all(greeting.as_bytes()).await?;
        io.flush().await
    }

    /// Called after a TLS handshake completes: RFC 3207 section 4.2 discards what was known.
    pub async fn tls_established(&mut self, description: String) {
        self.helo = None;
        self.esmtp = false;
        self.discard_transaction();
        self.buf.clear();
        self.pos = 0;
        self.line_budget = None;
        self.trace("tls", description.clone(), None).await;
        self.tls = Some(description);
    }

    /// Reads and answers commands until the client quits, the session is closed, or STARTTLS.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
    ) -> std::io::Result<Flow> {
        let max_line = self.ctx.config.limits.max_line_length.get() as usize;
        loop {
            match take_line(&self.buf[self.pos..], max_line) {
                Line::Complete(n) => {
                    let line = self.buf[self.pos..self.pos + n - 2].to_vec();
                    self.pos += n;
                    match self.command(&line, io).await? {
                        Flow::Continue => {}
                        Flow::Close => return self.close(io).await.map(|_| Flow::Close),
                        Flow::StartTls => {
                            // RFC 3207 section 5: anything pipelined after STARTTLS is discarded.
                            self.buf.clear();
                            self.pos = 0;
                            self.flush(io).await?;
                            return Ok(Flow::StartTls);
                        }
                    }
                }
                Line::Incomplete => {
                    let timeout = self.ctx.config.timeouts.command_secs.get();
                    if !self.fill(io, timeout, true).await? {
                        return self.close(io).await.map(|_| Flow::Close);
                    }
                }
                Line::TooLong => {
                    self.respond(reply::line_too_long());
                    self.trace("protocol", "command line too long; connection closed", None)
                        .await;
                    return self.close(io).await.map(|_| Flow::Close);
                }
                Line::BareLineEnding => {
                    self.respond(reply::bare_line_ending_command());
                    self.trace(
                        "protocol",
                        "bare CR or LF in a command; connection closed",
                        None,
                    )
                    .await;
                    return self.close(io).await.map(|_| Flow::Close);
                }
            }
        }
    }

    async fn close<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> std::io::Result<()> {
        self.discard_transaction();
        let farewell = async {
            let r = self.flush(io).await;
            let _ = io.shutdown().await;
            r
        };
        let r = tokio::time::timeout(CLOSE_WITHIN, farewell)
            .await
            .unwrap_or(Ok(()));
        self.trace(
            "disconnect",
            format!("{} messages, {} errors", self.messages, self.errors),
            None,
        )
        .await;
        r
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> std::io::Result<()> {
        if !self.out.is_empty() {
            io.write_all(&self.out).await?;
            io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    fn respond(&mut self, r: Reply) {
        r.write_to(&mut self.out);
    }

    /// Flushes replies, then reads more of a command line (or an AUTH response) within the
    /// command timeout. Returns false when the session must end (EOF, timeout, or shutdown while
    /// idle); the reply saying why has been queued.
    ///
    /// NC-2.1.8: `timeout_secs` bounds the whole line, counted from when the server starts waiting
    /// for it (after its last reply), not each read: a client that trickles a byte at a time is cut
    /// off like a silent one.
    async fn fill<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        timeout_secs: u32,
        idle: bool,
    ) -> std::io::Result<bool> {
        // Replies waiting to go out answer the last line: what comes next is a new one.
        if !self.out.is_empty() || self.line_budget.is_none() {
            let limit = Duration::from_secs(u64::from(timeout_secs));
            self.line_budget = Some(ReadBudget::fixed(limit));
        }
        let mut budget = self.line_budget.expect("set above");
        let more = self.read_within(io, &mut budget, idle).await;
        self.line_budget = Some(budget);
        more
    }

    /// A budget for message data (DATA, or one BDAT chunk): `data_secs`, earning more at
    /// `data_min_bytes_per_sec` (NC-2.1.8).
    fn data_budget(&self) -> ReadBudget {
        let t = &self.ctx.config.timeouts;
        ReadBudget::earning(
            Duration::from_secs(u64::from(t.data_secs.get())),
            t.data_min_bytes_per_sec.get(),
        )
    }

    /// Flushes replies, then reads more input, both within `budget`: a client that takes its
    /// replies too slowly runs out like one that sends too slowly. Returns false when the session
    /// must end (EOF, the budget spent, or shutdown while idle); the reply saying why has been
    /// queued.
    async fn read_within<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        budget: &mut ReadBudget,
        idle: bool,
    ) -> std::io::Result<bool> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        let draining = idle && self.tx.is_none();
        if draining && *self.shutdown.borrow() {
            let h = self.hostname().to_string();
            self.respond(reply::shutting_down(&h));
            return Ok(false);
        }
        let started = Instant::now();
        match tokio::time::timeout(budget.left(), self.flush(io)).await {
            Ok(r) => r?,
            Err(_) => {
                // Part of it may have gone out: what follows must not repeat it.
                self.out.clear();
                budget.spent(started.elapsed(), 0);
                self.timed_out(budget, true).await;
                return Ok(false);
            }
        }
        let left = budget.left().saturating_sub(started.elapsed());
        let read = tokio::select! {
            r = tokio::time::timeout(left, io.read_buf(&mut self.buf)) => r,
            _ = self.shutdown.changed(), if draining => {
                let h = self.hostname().to_string();
                self.respond(reply::shutting_down(&h));
                return Ok(false);
            }
        };
        match read {
            Err(_) => {
                budget.spent(started.elapsed(), 0);
                self.timed_out(budget, false).await;
                Ok(false)
            }
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                budget.spent(started.elapsed(), n);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// A budget ran out (`unread`: while our replies were not being read): `421 4.4.2` is queued
    /// and the trace says what was too slow.
    async fn timed_out(&mut self, budget: &ReadBudget, unread: bool) {
        let h = self.hostname().to_string();
        self.respond(reply::timeout(&h));
        let limit = budget.limit().as_secs();
        let detail = if unread {
            format!("replies not read within {limit} s")
        } else if budget.min_rate() > 0 {
            format!(
                "message data too slow: {} bytes in {:.1} s (at least {} bytes/s, no pause over {limit} s)",
                budget.received(),
                budget.waited().as_secs_f64(),
                budget.min_rate()
            )
        } else if self.buf.is_empty() {
            format!("no input for {limit} s")
        } else {
            format!(
                "command line not complete within {limit} s ({} bytes of it received)",
                self.buf.len()
            )
        };
        self.trace("timeout", detail, None).await;
    }

    /// Answers with an error reply. Permanent (5xx) ones are counted; past the limit the session
    /// ends. Temporary ones (too many recipients, a lookup failure) are not the client's fault.
    fn error(&mut self, r: Reply) -> Flow {
        let counted = r.code >= 500;
        self.respond(r);
        if !counted {
            return Flow::Continue;
        }
        self.errors += 1;
        if self.errors >= self.ctx.config.limits.max_errors.get() {
            let h = self.hostname().to_string();
            self.respond(reply::too_many_errors(&h));
            return Flow::Close;
        }
        Flow::Continue
    }

    fn discard_transaction(&mut self) {
        if let Some(tx) = self.tx.take() {
            if let Some(body) = tx.bdat {
                body.spool.discard();
            }
        }
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        line: &[u8],
        io: &mut S,
    ) -> std::io::Result<Flow> {
        let verb: String = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        // NC-2.2: TURN (not known to the parser) gives no information, like VRFY, EXPN and ETRN.
        if verb == "TURN" {
            self.trace("refused", "TURN", None).await;
            return Ok(self.error(reply::not_implemented()));
        }
        if verb == "EHLO" || verb == "HELO" {
            if let Err(r) = check_helo(line) {
                return Ok(self.helo_refused(&verb, line, r).await);
            }
        }
        let mut with_lf = line.to_vec();
        with_lf.push(b'\n');
        let parsed = Request::parse(&mut with_lf.iter());
        let req = match parsed {
            Ok(r) => r,
            Err(e) => return Ok(self.parse_error(&verb, e, line).await),
        };
        match req {
            Request::Ehlo { host } => Ok(self.ehlo(host.to_string(), true).await),
            Request::Helo { host } => Ok(self.ehlo(host.to_string(), false).await),
            Request::Lhlo { .. } => Ok(self.error(reply::unknown_command())),
            Request::Mail { from } => Ok(self.mail(from, line).await),
            Request::Rcpt { to } => Ok(self.rcpt(to, line).await),
            Request::Data => self.data(io).await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(io, chunk_size, is_last).await,
            Request::Rset => {
                self.discard_transaction();
                self.respond(reply::ok());
                Ok(Flow::Continue)
            }
            Request::Noop { .. } => {
                self.respond(reply::ok());
                Ok(Flow::Continue)
            }
            Request::Quit => {
                self.respond(reply::bye());
                Ok(Flow::Close)
            }
            Request::Help { .. } => {
                self.respond(Reply::new(214, EnhancedStatus::OTHER, "See RFC 5321"));
                Ok(Flow::Continue)
            }
            // NC-2.2: no information about accounts, no queue runs, no role reversal.
            Request::Vrfy { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. } => {
                self.trace("refused", verb, None).await;
                Ok(self.error(reply::not_implemented()))
            }
            Request::Burl { .. } => Ok(self.error(reply::not_implemented())),
            Request::Auth {
                mechanism,
                initial_response,
            } => {
                self.authenticate(io, mechanism, initial_response.to_string())
                    .await
            }
            Request::StartTls => Ok(self.starttls()),
        }
    }

    async fn parse_error(&mut self, verb: &str, e: smtp_proto::Error, line: &[u8]) -> Flow {
        use smtp_proto::Error as E;
        let mail_or_rcpt = verb == "RCPT" || verb == "MAIL";
        let r = match e {
            // RFC 6531 section 3.3: bytes that are not UTF-8 get the same answer however the
            // parser failed on them (it read them as U+FFFD).
            _ if mail_or_rcpt && std::str::from_utf8(line).is_err() => {
                let smtputf8 = if verb == "RCPT" {
                    self.tx.as_ref().is_some_and(|t| t.smtputf8)
                } else {
                    line.windows(9)
                        .any(|w| w.eq_ignore_ascii_case(b" SMTPUTF8"))
                };
                if smtputf8 {
                    reply::not_utf8()
                } else {
                    reply::needs_smtputf8()
                }
            }
            E::UnknownCommand => reply::unknown_command(),
            E::InvalidSenderAddress => Reply::new(
                501,
                EnhancedStatus::BAD_SENDER_SYNTAX,
                "Bad sender address syntax",
            ),
            E::InvalidRecipientAddress => {
                // A forward path the parser refuses may still be a relay trick: say so.
                let raw = String::from_utf8_lossy(line);
                match raw_path(&raw).map(check_forward_path) {
                    Some(Err(r)) => r,
                    _ => Reply::new(
                        501,
                        EnhancedStatus::BAD_RECIPIENT_SYNTAX,
                        "Bad recipient address syntax",
                    ),
                }
            }
            E::SyntaxError { syntax } => reply::syntax(syntax),
            E::InvalidParameter { param } => Reply::new(
                501,
                EnhancedStatus::INVALID_ARGUMENTS,
                format!("Invalid value for {param}"),
            ),
            E::UnsupportedParameter { param } => Reply::new(
                555,
                EnhancedStatus::INVALID_ARGUMENTS,
                format!(
                    "Unsupported parameter {}",
                    param.chars().take(40).collect::<String>()
                ),
            ),
            _ => reply::unknown_command(),
        };
        if mail_or_rcpt {
            self.trace(&verb.to_ascii_lowercase(), r.line(), None).await;
        }
        self.error(r)
    }

    /// An EHLO or HELO whose argument is not a host name: refused, what was known kept.
    async fn helo_refused(&mut self, verb: &str, line: &[u8], r: Reply) -> Flow {
        // Escaped and cut short: the trace holds text, not the client's bytes.
        let arg: String = line
            .get(verb.len()..)
            .unwrap_or_default()
            .trim_ascii()
            .escape_ascii()
            .take(200)
            .map(char::from)
            .collect();
        self.trace("ehlo", format!("{verb} {arg} refused: {}", r.line()), None)
            .await;
        self.error(r)
    }

    async fn ehlo(&mut self, host: String, esmtp: bool) -> Flow {
        self.discard_transaction();
        self.trace(
            "ehlo",
            format!("{} {host}", if esmtp { "EHLO" } else { "HELO" }),
            None,
        )
        .await;
        self.helo = Some(host);
        self.esmtp = esmtp;
        let h = self.hostname().to_string();
        if !esmtp {
            self.respond(Reply::bare(250, h));
            return Flow::Continue;
        }
        // NC-2.2: VRFY, EXPN, ETRN are not advertised. NC-2.1.3: nothing names the software.
        let mut lines = vec![
            h,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.ctx.config.limits.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.tls.is_none() && self.ctx.tls.is_some() {
            lines.push("STARTTLS".to_string());
        }
        // NC-2.1.4: AUTH only inside TLS, and only where users submit.
        if self.tls.is_some() && self.listener.role.is_submission() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        crate::reply::write_multiline(&mut self.out, 250, &lines);
        Flow::Continue
    }

    fn starttls(&mut self) -> Flow {
        if self.tls.is_some() {
            return self.error(reply::bad_sequence("TLS is already active"));
        }
        if self.ctx.tls.is_none() {
            return self.error(reply::not_implemented());
        }
        self.respond(reply::start_tls());
        Flow::StartTls
    }

    async fn mail(
        &mut self,
        from: smtp_proto::MailFrom<std::borrow::Cow<'_, str>>,
        line: &[u8],
    ) -> Flow {
        if self.helo.is_none() {
            return self.error(reply::bad_sequence("Send EHLO or HELO first"));
        }
        let submission = self.listener.role.is_submission();
        if (self.listener.require_tls || submission) && self.tls.is_none() {
            return self.error(reply::must_starttls());
        }
        // NC-2.1.5: submission relays only for an authenticated user or a listed network.
        if submission && self.auth.is_none() && !self.relay_network {
            return self.error(Reply::new(
                530,
                EnhancedStatus::SECURITY_OTHER,
                "Authentication required",
            ));
        }
        if self.tx.is_some() {
            return self.error(reply::bad_sequence(
                "Sender already given; send RSET to start over",
            ));
        }
        if self.messages >= self.ctx.config.limits.max_messages_per_session.get() {
            let h = self.hostname().to_string();
            self.respond(reply::too_many_messages(&h));
            return Flow::Close;
        }
        let sender = from.address.to_string();
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        // RFC 6531 section 3.3: the parser replaced bytes that are not UTF-8 with U+FFFD; the raw
        // line tells whether the client sent any.
        let r = if std::str::from_utf8(line).is_err() {
            Some(if smtputf8 {
                reply::not_utf8()
            } else {
                reply::needs_smtputf8()
            })
        } else if !smtputf8 && !sender.is_ascii() {
            Some(reply::needs_smtputf8())
        } else if sender.chars().any(char::is_control) {
            // Quoted local parts may hold anything but CR and LF to the parser; RFC 5321's
            // qtextSMTP allows no control characters, and they must not reach the Return-Path.
            Some(Reply::new(
                501,
                EnhancedStatus::BAD_SENDER_SYNTAX,
                "Bad sender address syntax",
            ))
        } else if let Some(r) = self.sender_refusal(&sender) {
            Some(r)
        } else if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
            Some(Reply::new(
                555,
                EnhancedStatus::INVALID_ARGUMENTS,
                "BODY=BINARYMIME is not supported",
            ))
        } else if from.size > self.ctx.config.limits.max_message_size.get() as usize {
            Some(reply::too_big())
        } else {
            None
        };
        let r = r.or_else(|| self.rate_limit(RateWhat::Messages, &sender, 1));
        if let Some(r) = r {
            self.trace(
                "mail",
                format!("MAIL FROM:<{sender}> refused: {}", r.line()),
                None,
            )
            .await;
            return self.error(r);
        }
        self.tx = Some(Transaction {
            id: QueueId::generate(),
            sender: sender.clone(),
            smtputf8,
            rcpts: Vec::new(),
            recipients: Vec::new(),
            bdat: None,
        });
        let r = reply::sender_ok();
        self.trace("mail", format!("MAIL FROM:<{sender}> {}", r.line()), None)
            .await;
        self.respond(r);
        Flow::Continue
    }

    async fn rcpt(
        &mut self,
        to: smtp_proto::RcptTo<std::borrow::Cow<'_, str>>,
        line: &[u8],
    ) -> Flow {
        let Some(tx) = &self.tx else {
            return self.error(reply::bad_sequence("Send MAIL FROM first"));
        };
        let raw_line = String::from_utf8_lossy(line);
        let raw = raw_path(&raw_line).unwrap_or_default().to_string();
        let address = to.address.to_string();
        let decision: Result<Vec<QueuedRecipient>, Reply> = if std::str::from_utf8(line).is_err() {
            // RFC 6531 section 3.3: the parser read bytes that are not UTF-8 as U+FFFD.
            Err(if tx.smtputf8 {
                reply::not_utf8()
            } else {
                reply::needs_smtputf8()
            })
        } else if let Err(r) = check_forward_path(&raw) {
            Err(r)
        } else if tx.rcpts.len() >= self.ctx.config.limits.max_recipients.get() as usize {
            Err(reply::too_many_recipients())
        } else if !tx.smtputf8 && !address.is_ascii() {
            Err(reply::needs_smtputf8())
        } else {
            self.lookup(&address)
        };
        let sender = tx.sender.clone();
        let decision =
            decision.and_then(
                |r| match self.rate_limit(RateWhat::Recipients, &sender, 1) {
                    Some(refusal) => Err(refusal),
                    None => Ok(r),
                },
            );
        match decision {
            Ok(targets) => {
                let r = reply::recipient_ok();
                let remote = targets.iter().any(|t| !t.local);
                let note = if remote { " (relayed)" } else { "" };
                self.trace(
                    "rcpt",
                    format!("RCPT TO:<{raw}> {}{note}", r.line()),
                    Some(&address),
                )
                .await;
                let tx = self.tx.as_mut().expect("checked above");
                tx.rcpts.push(address.clone());
                for t in targets {
                    if !tx.recipients.contains(&t) {
                        tx.recipients.push(t);
                    }
                }
                self.respond(r);
                Flow::Continue
            }
            Err(r) => {
                self.trace(
                    "rcpt",
                    format!("RCPT TO:<{raw}> refused: {}", r.line()),
                    Some(&raw),
                )
                .await;
                // A temporary refusal (a lookup failure, too many recipients) is not counted.
                self.error(r)
            }
        }
    }

    /// May this session relay to other domains? Authenticated users and listed networks (NC-2.1.5).
    fn may_relay(&self) -> bool {
        self.auth.is_some() || self.relay_network
    }

    /// NC-2.1.7: the envelope sender of relayed mail must be one the identity may use.
    fn sender_refusal(&self, sender: &str) -> Option<Reply> {
        if !self.may_relay() {
            return None;
        }
        match self.may_use_address(sender) {
            Ok(true) => None,
            Ok(false) => Some(Reply::new(
                553,
                EnhancedStatus::NOT_AUTHORIZED,
                format!("Sender address <{sender}> is not one you may send as"),
            )),
            Err(r) => Some(r),
        }
    }

    /// An authenticated user may use its own address, its aliases and granted addresses; a relay
    /// network may use addresses of the represented domains.
    fn may_use_address(&self, address: &str) -> Result<bool, Reply> {
        let temp = |e: rampart_store::StoreError| {
            tracing::error!(error = %e, "sender lookup failed");
            Reply::new(
                451,
                EnhancedStatus::SYSTEM_OTHER,
                "Temporary failure checking the sender; try again later",
            )
        };
        if address.is_empty() {
            return Ok(false);
        }
        match &self.auth {
            Some(user) => self.ctx.store.may_send_as(user, address).map_err(temp),
            None => {
                let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
                self.ctx.store.is_local_domain(domain).map_err(temp)
            }
        }
    }

    /// NC-2.1.8: counts a message or recipient of relayed mail against the rate limits.
    fn rate_limit(&self, what: RateWhat, sender: &str, n: u32) -> Option<Reply> {
        if !self.may_relay() {
            return None;
        }
        let ip = self.peer.ip().to_string();
        let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let mut keys = vec![(RateScope::Ip, ip.as_str()), (RateScope::Domain, domain)];
        if let Some(u) = &self.auth {
            keys.push((RateScope::User, u.as_str()));
        }
        self.ctx.limiter.hit(what, &keys, n).err().map(|e| {
            Reply::new(
                451,
                EnhancedStatus::NOT_AUTHORIZED,
                format!("Rate limit reached ({}); try again later", e.0),
            )
        })
    }

    /// NC-2.1.6: only addresses in domains we represent, and only those that exist; sessions that
    /// may relay also reach other domains.
    fn lookup(&self, address: &str) -> Result<Vec<QueuedRecipient>, Reply> {
        match self.lookup_local(address)? {
            Ok(m) => Ok(m
                .into_iter()
                .map(|a| QueuedRecipient {
                    address: a,
                    local: true,
                })
                .collect()),
            Err(Foreign) if self.may_relay() && !address.is_empty() => Ok(vec![QueuedRecipient {
                address: address.to_string(),
                local: false,
            }]),
            Err(Foreign) => Err(reply::relay_denied(
                "this server does not accept mail for that domain",
            )),
        }
    }

    /// The local mailboxes for `address`, or `Foreign` when its domain is not ours.
    fn lookup_local(&self, address: &str) -> Result<Result<Vec<String>, Foreign>, Reply> {
        let address = if address.is_empty() {
            // RFC 5321 4.5.1: <postmaster> without a domain reaches this host's postmaster.
            match self.postmaster() {
                Some(a) => a,
                None => return Err(reply::no_such_user()),
            }
        } else {
            address.to_string()
        };
        match self.ctx.store.resolve_recipient(&address) {
            Ok(Ok(r)) => Ok(Ok(r.mailboxes)),
            Ok(Err(rampart_store::RecipientError::ForeignDomain)) => Ok(Err(Foreign)),
            Ok(Err(rampart_store::RecipientError::NoSuchUser)) => Err(reply::no_such_user()),
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup failed");
                Err(Reply::new(
                    451,
                    EnhancedStatus::SYSTEM_OTHER,
                    "Temporary failure looking up the recipient; try again later",
                ))
            }
        }
    }

    fn postmaster(&self) -> Option<String> {
        let host = self.hostname();
        let parent = host.split_once('.').map(|(_, p)| p).unwrap_or(host);
        [host, parent]
            .into_iter()
            .map(|d| format!("postmaster@{d}"))
            .find(|a| matches!(self.ctx.store.resolve_recipient(a), Ok(Ok(_))))
    }

    fn start_body(&self) -> Body {
        let tx = self.tx.as_ref().expect("a transaction is open");
        let rp = received::return_path(&tx.sender);
        // RFC 3848 / RFC 6531 protocol names.
        let protocol = match (
            self.esmtp,
            self.tls.is_some(),
            tx.smtputf8,
            self.auth.is_some(),
        ) {
            (_, true, true, true) => "UTF8SMTPSA",
            (_, true, true, false) => "UTF8SMTPS",
            (_, false, true, _) => "UTF8SMTP",
            (true, true, _, true) => "ESMTPSA",
            (true, true, _, false) => "ESMTPS",
            (true, false, _, _) => "ESMTP",
            (false, true, _, _) => "SMTPS",
            (false, false, _, _) => "SMTP",
        };
        let single = (tx.rcpts.len() == 1).then(|| tx.rcpts[0].as_str());
        let rcvd = received::received(&ReceivedInfo {
            helo: self.helo.as_deref().unwrap_or("unknown"),
            client_ip: self.peer.ip(),
            hostname: self.hostname(),
            protocol,
            tls: self.tls.as_deref(),
            queue_id: &tx.id.0,
            single_recipient: single,
            unix_time: rampart_store::now_micros() / 1_000_000,
        });
        let mut spool = SpoolFile::new(&self.ctx.store, &tx.id);
        spool.push(rp.as_bytes());
        spool.push(rcvd.as_bytes());
        Body {
            spool,
            prefix_len: rp.len() + rcvd.len(),
            return_path_len: rp.len(),
            size: 0,
            too_big: false,
        }
    }

    fn check_data_allowed(&mut self) -> Option<Reply> {
        match &self.tx {
            None => Some(reply::bad_sequence("Send MAIL FROM first")),
            Some(tx) if tx.bdat.is_some() => {
                Some(reply::bad_sequence("BDAT in progress; DATA is not allowed"))
            }
            Some(tx) if tx.recipients.is_empty() => Some(reply::no_valid_recipients()),
            _ => None,
        }
    }

    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
    ) -> std::io::Result<Flow> {
        if let Some(r) = self.check_data_allowed() {
            return Ok(self.error(r));
        }
        self.respond(reply::start_data());
        let limit = u64::from(self.ctx.config.limits.max_message_size.get());
        let mut decoder = DataDecoder::new(limit);
        let mut body = self.start_body();
        // NC-2.1.8: the message must keep up a minimum rate, not merely trickle in.
        let mut budget = self.data_budget();
        loop {
            let end = decoder.feed(&self.buf[self.pos..], body.spool.buffer_mut());
            match end {
                Some(n) => {
                    self.pos += n;
                    break;
                }
                None => self.pos = self.buf.len(),
            }
            if body.spool.should_flush() && !decoder.too_big() {
                body = flush_body(body).await?;
            }
            if !self.read_within(io, &mut budget, false).await? {
                body.spool.discard();
                return Ok(Flow::Close);
            }
        }
        body.size = decoder.size;
        body.too_big = decoder.too_big();
        if decoder.bare_line_ending {
            body.spool.discard();
            let r = reply::bare_line_ending_data();
            self.trace("data", format!("message refused: {}", r.line()), None)
                .await;
            self.discard_transaction();
            return Ok(self.error(r));
        }
        Ok(self.finish_message(body).await)
    }

    async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        chunk: usize,
        last: bool,
    ) -> std::io::Result<Flow> {
        let refusal = match &self.tx {
            None => Some(reply::bad_sequence("Send MAIL FROM first")),
            Some(tx) if tx.recipients.is_empty() => Some(reply::no_valid_recipients()),
            _ => None,
        };
        let limit = u64::from(self.ctx.config.limits.max_message_size.get());
        let mut body = match (&refusal, self.tx.as_mut().and_then(|t| t.bdat.take())) {
            (None, Some(b)) => Some(b),
            (None, None) => Some(self.start_body()),
            _ => None,
        };
        // The chunk is read in full whatever the answer, so the next command is found where it is.
        let mut left = chunk;
        let mut budget = self.data_budget();
        loop {
            let avail = (self.buf.len() - self.pos).min(left);
            if let Some(b) = body.as_mut() {
                let room = limit.saturating_sub(b.size) as usize;
                let keep = avail.min(room);
                b.spool.push(&self.buf[self.pos..self.pos + keep]);
                b.size += avail as u64;
                if b.size > limit {
                    b.too_big = true;
                }
            }
            self.pos += avail;
            left -= avail;
            if left == 0 {
                break;
            }
            if let Some(b) = body.take() {
                body = Some(if b.spool.should_flush() && !b.too_big {
                    flush_body(b).await?
                } else {
                    b
                });
            }
            if !self.read_within(io, &mut budget, false).await? {
                if let Some(b) = body {
                    b.spool.discard();
                }
                return Ok(Flow::Close);
            }
        }
        if let Some(r) = refusal {
            return Ok(self.error(r));
        }
        let body = body.expect("a body when not refused");
        if !last {
            if body.too_big {
                body.spool.discard();
                self.discard_transaction();
                return Ok(self.error(reply::too_big()));
            }
            let size = body.size;
            if let Some(tx) = self.tx.as_mut() {
                tx.bdat = Some(body);
            }
            self.respond(Reply::new(
                250,
                EnhancedStatus::OTHER,
                format!("Ok: {chunk} octets received, {size} in all"),
            ));
            return Ok(Flow::Continue);
        }
        Ok(self.finish_message(body).await)
    }

    /// Checks, makes durable and acknowledges a complete message.
    async fn finish_message(&mut self, mut body: Body) -> Flow {
        if body.too_big {
            body.spool.discard();
            let r = reply::too_big();
            self.trace(
                "data",
                format!("message refused: {} ({} bytes)", r.line(), body.size),
                None,
            )
            .await;
            self.discard_transaction();
            return self.error(r);
        }
        // The message is read back once, and read once: the loop count, the submission policy,
        // every check and the trace all read this one reading (see rampart_checks::message).
        let all = match body.spool.contents() {
            Ok(b) => b,
            Err(e) => {
                body.spool.discard();
                let tx = self.tx.take().expect("a transaction is open");
                return self
                    .storage_failed(&tx, format!("reading the message back: {e}"))
                    .await;
            }
        };
        let raw = &all[body.prefix_len.min(all.len())..];
        let refusal = match rampart_checks::message::read(raw) {
            Err(r) => Err(Reply::from(&r)),
            Ok(message) => {
                let policy = if message.headers.count("Received") >= MAX_RECEIVED {
                    Some(reply::mail_loop())
                } else if self.may_relay() {
                    self.header_policy(&message)
                } else {
                    None
                };
                match policy {
                    Some(r) => Err(r),
                    None => Ok(message),
                }
            }
        };
        let message = match refusal {
            Ok(m) => m,
            Err(r) => {
                body.spool.discard();
                self.trace("data", format!("message refused: {}", r.line()), None)
                    .await;
                self.discard_transaction();
                return self.error(r);
            }
        };
        let message_id = message.headers.message_id();
        let tx = self.tx.take().expect("a transaction is open");
        let passed = match self.content(body, &tx, &all, &message).await {
            Ok(p) => p,
            // A refusal by a check is an answer about the message, not a protocol error.
            Err(r) => {
                self.respond(r);
                return Flow::Continue;
            }
        };
        let (body, quarantine, notices) = (passed.body, passed.quarantine, passed.notices);
        let held = quarantine.is_some();
        // Delivered in the same commit, a message for local mailboxes only leaves the queue
        // manager nothing to do.
        let all_delivered = self.ctx.deliver_local_now && tx.recipients.iter().all(|r| r.local);
        let finished = if body.spool.stays_inline() {
            // No I/O: the message goes into the database with its rows.
            Ok(body.spool.finish())
        } else {
            tokio::task::spawn_blocking(move || body.spool.finish()).await
        };
        let spooled = match finished {
            Ok(Ok(spooled)) => spooled,
            Ok(Err(e)) => return self.storage_failed(&tx, e.to_string()).await,
            Err(e) => return self.storage_failed(&tx, e.to_string()).await,
        };
        let size = spooled.size;
        let mut queued = TraceEvent::new(
            "queued",
            format!(
                "{} bytes for {} recipient(s) ({} to deliver){}; 250 2.0.0 Ok: queued as {}",
                size,
                tx.rcpts.len(),
                tx.recipients.len(),
                self.auth
                    .as_ref()
                    .map(|u| format!(", authenticated as {u}"))
                    .unwrap_or_default(),
                tx.id
            ),
        );
        queued.session = Some(self.id.clone());
        queued.queue_id = Some(tx.id.0.clone());
        queued.message_id = message_id.clone();
        queued.client = Some(self.peer.ip().to_string());
        queued.sender = Some(tx.sender.clone());
        let msg = Enqueue {
            id: tx.id.clone(),
            sender: tx.sender.clone(),
            size,
            message_id,
            return_path_len: body.return_path_len,
            client: Some(self.peer.ip().to_string()),
            recipients: tx.recipients.clone(),
            events: vec![queued],
            quarantine,
            inline: spooled.inline,
            deliver_local_now: self.ctx.deliver_local_now,
        };
        // The 250 waits for the commit: file, directory and rows are durable when it is sent.
        match self.ctx.store.enqueue(&self.ctx.writer, msg).await {
            Ok(()) => {
                self.messages += 1;
                if !held && !all_delivered {
                    self.ctx.queue_notify.notify_one();
                }
                if !notices.is_empty() {
                    self.notify(&tx, &notices).await;
                }
                self.respond(reply::queued(&tx.id.0));
                tracing::info!(session = %self.id, queue_id = %tx.id, size, rcpts = tx.rcpts.len(), "queued");
                Flow::Continue
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.ctx.store.message_path(&tx.id));
                self.storage_failed(&tx, e.to_string()).await
            }
        }
    }

    async fn storage_failed(&mut self, tx: &Transaction, why: String) -> Flow {
        tracing::error!(queue_id = %tx.id, error = %why, "message not stored");
        let r = reply::storage_failure();
        let mut e = TraceEvent::new("data", format!("not stored ({why}): {}", r.line()));
        e.session = Some(self.id.clone());
        e.queue_id = Some(tx.id.0.clone());
        e.client = Some(self.peer.ip().to_string());
        self.ctx.writer.trace(e).await;
        self.respond(r);
        Flow::Continue
    }
}

/// Writes a body's buffer out on the blocking pool.
async fn flush_body(mut body: Body) -> std::io::Result<Body> {
    tokio::task::spawn_blocking(move || body.spool.flush().map(|_| body))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)
}

/// A recipient in a domain this server does not represent.
struct Foreign;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
