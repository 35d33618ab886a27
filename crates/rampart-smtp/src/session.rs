//! One SMTP session (RFC 5321) over any `AsyncRead + AsyncWrite`: TCP, TLS, or an in-memory
//! stream in tests. Framing lives in [`crate::codec`]; this module holds the state and decisions.
//!
//! Replies are written to a buffer and flushed only when the session must wait for input, which is
//! what PIPELINING (RFC 2920) asks of a server.

use crate::limits::{AuthGuard, RateLimiter, ReadBudget};
use crate::reply::{self, Reply};
use rampart_config::{Config, Listener};
use rampart_store::{AnyStore, MemoryBudget, QueueId, QueuedRecipient, SpoolFile, TraceEvent};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, Notify};

// One module per seam: I/O plumbing, command dispatch, a module per verb, envelope policy,
// the content checks and the commit that makes a message durable.
mod auth;
mod bdat;
mod command;
mod commit;
mod content;
mod data;
mod ehlo;
mod envelope;
mod gateway;
mod io;
mod mail;
mod null_client;
mod rcpt;
mod starttls;
mod submission;
mod vacation;

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
    /// Everything stored: directory, queue, trace ([`rampart_store::api`]).
    pub store: AnyStore,
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
    /// NC-2.1.8: rate limits for relayed mail (shared by the contexts a reload makes).
    pub limiter: Arc<RateLimiter>,
    /// NC-2.1.4: delays and blocks after failed authentication.
    pub auth_guard: Arc<AuthGuard>,
    /// NC-2.4.1, NC-2.4.2: intrusion detection and the bans checked at accept.
    pub ids: Arc<rampart_ids::Ids>,
    /// AL-3.1: the location of a login's client address, for the mailbox audit.
    pub locator: Arc<crate::geoip::Locator>,
    /// Memory for holding messages whole while they are checked (`limits.max_message_memory`),
    /// shared by every session.
    pub message_memory: MemoryBudget,
    /// TLS for listeners with a `client_ca_file`, by that file: the same certificate as `tls`,
    /// asking for a client certificate and verifying it against the file's CAs (NC-2.3.4).
    pub client_auth_tls: std::collections::HashMap<std::path::PathBuf, tokio_rustls::TlsAcceptor>,
    /// Recipient verification of every relay domain (AL-1, NC-2.1.6), built at start.
    pub verifiers: crate::verify::Verifiers,
    /// Several nodes share the store (issue 20): the rate limits of messages and recipients
    /// (NC-2.1.8) are also counted there, so the nodes enforce them together.
    pub shared_counts: bool,
    /// Room on the data directory's filesystem (`limits.min_free_space`), asked at MAIL.
    pub room: Arc<crate::room::Room>,
}

impl ServerContext {
    pub fn new(
        config: Arc<Config>,
        store: AnyStore,
        tls: Option<tokio_rustls::TlsAcceptor>,
        queue_notify: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> ServerContext {
        ServerContext {
            pipeline: None,
            deliver_local_now: false,
            limiter: Arc::new(RateLimiter::new(config.rate_limits.clone())),
            auth_guard: Arc::new(AuthGuard::new(config.auth.clone())),
            ids: Arc::new(rampart_ids::Ids::new(config.ids.clone(), store.clone())),
            locator: Arc::new(locator(&config)),
            message_memory: MemoryBudget::new(config.limits.max_message_memory),
            client_auth_tls: std::collections::HashMap::new(),
            verifiers: crate::verify::Verifiers::default(),
            shared_counts: false,
            room: Arc::new(room(&config)),
            config,
            store,
            tls,
            queue_notify,
            shutdown,
        }
    }
}

impl ServerContext {
    /// The context of a reload (SIGHUP): the new configuration and pipeline for the sessions
    /// that start from now on, with the same counters (rate limits, AUTH guard, bans, memory
    /// budget), store, certificates and verifiers. The rate limits take the new rules in place,
    /// so sessions already running see them too.
    pub fn reconfigured(
        &self,
        config: Arc<Config>,
        pipeline: Option<Arc<rampart_checks::pipeline::Pipeline>>,
        deliver_local_now: bool,
    ) -> ServerContext {
        self.limiter.set_rules(config.rate_limits.clone());
        ServerContext {
            store: self.store.clone(),
            tls: self.tls.clone(),
            queue_notify: self.queue_notify.clone(),
            pipeline,
            deliver_local_now,
            shutdown: self.shutdown.clone(),
            limiter: self.limiter.clone(),
            auth_guard: self.auth_guard.clone(),
            ids: self.ids.clone(),
            locator: self.locator.clone(),
            message_memory: self.message_memory.clone(),
            client_auth_tls: self.client_auth_tls.clone(),
            verifiers: self.verifiers.clone(),
            shared_counts: self.shared_counts,
            room: Arc::new(room(&config)),
            config,
        }
    }
}

fn room(config: &Config) -> crate::room::Room {
    crate::room::Room::new(config.data_dir.clone(), config.limits.min_free_space)
}

/// The configured location database; one that cannot be read is logged and left out (the
/// configuration check has already refused a path that does not exist).
fn locator(config: &Config) -> crate::geoip::Locator {
    match &config.audit.geoip_database {
        None => crate::geoip::Locator::none(),
        Some(path) => crate::geoip::Locator::open(path).unwrap_or_else(|e| {
            tracing::error!(error = %e, "audit.geoip_database: logins are recorded without location");
            crate::geoip::Locator::none()
        }),
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
    /// Writing the message out as it arrived failed (a full disk): the rest of the data is read
    /// and dropped, and the message is answered with a temporary failure at its end.
    failed: Option<rampart_store::StoreError>,
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
    /// The name in the client certificate verified against the listener's `client_ca_file`.
    client_cert: Option<String>,
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
        let id = rampart_store::trace::new_session_id();
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
            client_cert: None,
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

    /// A session for mail a user submits over another authenticated, encrypted channel (JMAP
    /// over HTTPS, see [`crate::submit`]): already authenticated as `user` and counted as
    /// protected by `channel` (shown where a TLS description would be), so it meets every later
    /// step of submission as an SMTP client would.
    pub fn authenticated(
        ctx: Arc<ServerContext>,
        listener: Listener,
        peer: SocketAddr,
        user: &str,
        channel: String,
    ) -> Session {
        let mut s = Session::new(ctx, listener, peer);
        s.auth = Some(user.to_owned());
        s.tls = Some(channel);
        s
    }

    pub fn peer(&self) -> std::net::SocketAddr {
        self.peer
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
        self.ctx.store.record(e).await;
    }

    /// A trace event about the message of `tx`, once the transaction has left `self.tx` for its
    /// commit: the checks' verdicts carry the queue id like every other line of the message.
    async fn trace_message(&self, tx: &Transaction, event: &str, detail: impl Into<String>) {
        let mut e = TraceEvent::new(event, detail);
        e.session = Some(self.id.clone());
        e.client = Some(self.peer.ip().to_string());
        e.queue_id = Some(tx.id.0.clone());
        e.sender = Some(tx.sender.clone());
        self.ctx.store.record(e).await;
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
        let detail = match &self.client_cert {
            Some(name) => format!("{description}; client certificate {name} verified"),
            None => description.clone(),
        };
        self.trace("tls", detail, None).await;
        self.tls = Some(description);
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
            // NC-2.4.1: a session ended for its errors is protocol abuse.
            self.report(rampart_ids::detectors::protocol::abuse(
                self.peer.ip(),
                "session ended for too many errors",
            ));
            let h = self.hostname().to_string();
            self.respond(reply::too_many_errors(&h));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// NC-2.4.1: hands an observation to intrusion detection, on a task of its own so the
    /// session never waits on it.
    fn report(&self, o: rampart_ids::detectors::Observation) {
        let ids = self.ctx.ids.clone();
        tokio::spawn(async move { ids.observe(o).await });
    }

    fn discard_transaction(&mut self) {
        if let Some(tx) = self.tx.take() {
            if let Some(body) = tx.bdat {
                body.spool.discard();
            }
        }
    }

    /// May this session relay to other domains? Authenticated users and listed networks
    /// (NC-2.1.5), a null client's local applications (NC-2.1.9: it only sends), and the hosts
    /// of the listener's `relay_from` (AL-1: the internal server behind the gateway).
    fn may_relay(&self) -> bool {
        self.auth.is_some()
            || self.relay_network
            || self.null_client().is_some()
            || self.relay_from()
    }
}
