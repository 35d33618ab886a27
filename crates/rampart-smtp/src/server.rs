//! Listeners: accept, connection limits, early-talker check, TLS, graceful shutdown.
//!
//! Shutdown: when the watch channel turns true the accept loops stop; idle sessions are told
//! `421 4.3.2` at once; sessions inside a transaction may finish it, up to the configured grace
//! period, after which [`Server::drain`] returns and the caller exits. Nothing acknowledged is
//! lost: a message is acknowledged only once durable.

use crate::reply::{self, EnhancedStatus};
use crate::session::{Flow, ServerContext, Session};
use rampart_config::{Listener, RateScope, RateWhat, Role};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Counts live connections, in total and per client address (NC-2.1.8).
#[derive(Default)]
pub struct Connections {
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    total: Mutex<u32>,
    idle: Notify,
}

/// Releases a connection's place when the session ends.
pub struct ConnectionGuard {
    conns: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        {
            let mut m = rampart_sync::lock(&self.conns.per_ip);
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
        let mut t = rampart_sync::lock(&self.conns.total);
        *t -= 1;
        if *t == 0 {
            self.conns.idle.notify_waiters();
        }
    }
}

enum Admission {
    Admitted(ConnectionGuard),
    TooMany,
    TooManyFromYou,
}

impl Connections {
    fn admit(self: &Arc<Self>, ip: IpAddr, max_total: u32, max_per_ip: u32) -> Admission {
        let mut total = rampart_sync::lock(&self.total);
        if *total >= max_total {
            return Admission::TooMany;
        }
        let mut per_ip = rampart_sync::lock(&self.per_ip);
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= max_per_ip {
            return Admission::TooManyFromYou;
        }
        *n += 1;
        *total += 1;
        Admission::Admitted(ConnectionGuard {
            conns: self.clone(),
            ip,
        })
    }

    pub fn count(&self) -> u32 {
        *rampart_sync::lock(&self.total)
    }
}

pub struct Server {
    /// The context new connections start with; a reload puts another in its place, and the
    /// sessions running keep the one they started with.
    ctx: RwLock<Arc<ServerContext>>,
    conns: Arc<Connections>,
}

impl Server {
    pub fn new(ctx: Arc<ServerContext>) -> Server {
        Server {
            ctx: RwLock::new(ctx),
            conns: Arc::new(Connections::default()),
        }
    }

    /// The context of the sessions that start now.
    pub fn context(&self) -> Arc<ServerContext> {
        rampart_sync::read(&self.ctx).clone()
    }

    /// Puts `ctx` in force for new connections (a reload); nothing running is touched.
    pub fn replace_context(&self, ctx: Arc<ServerContext>) {
        *rampart_sync::write(&self.ctx) = ctx;
    }

    pub fn connections(&self) -> Arc<Connections> {
        self.conns.clone()
    }

    /// Accepts connections on `listener` until shutdown.
    pub async fn serve(&self, listener: TcpListener, cfg: Listener) {
        let mut shutdown = self.context().shutdown.clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let ctx = self.context();
            // NC-2.4.2: a banned address is refused at accept, before the greeting or TLS, on
            // every listener: `554 5.7.1` (RFC 5321 section 3.1 lets a server answer 554 in place
            // of the greeting), written without waiting on the client, then a close. The check is
            // in memory (rampart_ids::snapshot).
            if ctx.ids.is_banned(peer.ip()) {
                let ctx = ctx.clone();
                tokio::spawn(refuse(ctx, tcp, peer, reply::banned));
                continue;
            }
            // NC-2.4.1: connection floods.
            {
                let ids = ctx.ids.clone();
                let o = rampart_ids::detectors::flood::connection(peer.ip(), &cfg.role.to_string());
                tokio::spawn(async move { ids.observe(o).await });
            }
            let limits = &ctx.config.limits;
            let admission = self.conns.admit(
                peer.ip(),
                limits.max_connections.get(),
                limits.max_connections_per_ip.get(),
            );
            let cfg = cfg.clone();
            tokio::spawn(async move {
                match admission {
                    Admission::Admitted(guard) => {
                        handle(ctx, cfg, tcp, peer).await;
                        drop(guard);
                    }
                    Admission::TooMany => refuse(ctx, tcp, peer, reply::too_many_connections).await,
                    Admission::TooManyFromYou => {
                        refuse(ctx, tcp, peer, reply::too_many_connections_from_you).await
                    }
                }
            });
        }
    }

    /// Waits until every session has ended, or the grace period has passed.
    pub async fn drain(&self, grace: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.conns.idle.notified();
                if self.conns.count() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }
}

/// Input that has already arrived on `tcp`, without waiting: `None` when there is none yet.
fn peek_now(tcp: &TcpStream) -> Option<std::io::Result<usize>> {
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    // The socket is non-blocking (tokio's): an empty receive queue answers WouldBlock.
    match socket2::SockRef::from(tcp).peek(&mut probe) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        r => Some(r),
    }
}

async fn refuse(
    ctx: Arc<ServerContext>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    r: fn(&str) -> reply::Reply,
) {
    let reply = r(ctx.config.hostname.get_ref());
    let mut e = rampart_store::TraceEvent::new(
        "refused",
        format!("connection from {peer}: {}", reply.line()),
    );
    e.client = Some(peer.ip().to_string());
    ctx.store.record(e).await;
    let mut out = Vec::new();
    reply.write_to(&mut out);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = tcp.write_all(&out).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

async fn handle(ctx: Arc<ServerContext>, cfg: Listener, mut tcp: TcpStream, peer: SocketAddr) {
    let mut session = Session::new(ctx.clone(), cfg.clone(), peer);
    // NC-2.3.4: the store's listener serves the gateway's networks only. Anyone else gets 554
    // 5.7.1 in place of the greeting (RFC 5321 section 3.1) and is disconnected.
    if !cfg.accepts(peer.ip()) {
        let r = reply::Reply::new(
            554,
            EnhancedStatus::NOT_AUTHORIZED,
            format!(
                "{} Connections from your address are not accepted here",
                ctx.config.hostname.get_ref()
            ),
        );
        session.trace("refused", r.line(), None).await;
        let mut out = Vec::new();
        r.write_to(&mut out);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = tcp.write_all(&out).await;
            let _ = tcp.shutdown().await;
        })
        .await;
        return;
    }
    if cfg.role.is_submission() {
        // NC-2.4.2: an address blocked for failed logins is turned away at once; NC-2.1.8: so is
        // one over its connection rate.
        let refusal = if ctx.auth_guard.is_blocked(peer.ip()) {
            Some(reply::Reply::new(
                421,
                EnhancedStatus::SECURITY_OTHER,
                format!(
                    "{} Too many failed authentications from your address; try again later",
                    ctx.config.hostname.get_ref()
                ),
            ))
        } else {
            let ip = peer.ip().to_string();
            ctx.limiter
                .hit(RateWhat::Connections, &[(RateScope::Ip, ip.as_str())], 1)
                .err()
                .map(|e| {
                    reply::Reply::new(
                        421,
                        EnhancedStatus::NOT_AUTHORIZED,
                        format!(
                            "{} Rate limit reached ({}); try again later",
                            ctx.config.hostname.get_ref(),
                            e.0
                        ),
                    )
                })
        };
        if let Some(r) = refusal {
            session.trace("refused", r.line(), None).await;
            let mut out = Vec::new();
            r.write_to(&mut out);
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(&out)).await;
            return;
        }
    }
    if cfg.role == Role::Submissions {
        // RFC 8314: TLS first, then the greeting inside it.
        let Some(mut tls) = handshake(&ctx, &mut session, tcp).await else {
            return;
        };
        if session.greet(&mut tls).await.is_ok() {
            if let Err(e) = session.run(&mut tls).await {
                tracing::debug!(session = session.id(), error = %e, "TLS session ended with an I/O error");
            }
        }
        return;
    }
    // Early talker: a client that sends before the greeting is not speaking SMTP (RFC 5321 4.3.1).
    let mut probe = [0u8; 1];
    let delay = Duration::from_millis(cfg.greeting_delay_ms);
    let heard = if delay.is_zero() {
        // No pause: only what has already arrived, looked at without a timer. A zero timeout
        // still waits for the timer wheel's next millisecond tick, which cost every connection
        // about 1 ms before its greeting (issue 23).
        peek_now(&tcp)
    } else {
        tokio::time::timeout(delay, tcp.peek(&mut probe)).await.ok()
    };
    match heard {
        Some(Ok(0)) | Some(Err(_)) => return,
        Some(Ok(_)) => {
            session
                .trace("early-talker", "input before the greeting; refused", None)
                .await;
            // NC-2.4.1: protocol abuse.
            ctx.ids
                .observe(rampart_ids::detectors::protocol::abuse(
                    peer.ip(),
                    "early talker: input before the greeting",
                ))
                .await;
            let r = reply::early_talker(ctx.config.hostname.get_ref());
            let mut out = Vec::new();
            r.write_to(&mut out);
            let _ = tcp.write_all(&out).await;
            let _ = tcp.shutdown().await;
            return;
        }
        None => {}
    }
    if let Err(e) = session.greet(&mut tcp).await {
        tracing::debug!(error = %e, "greeting failed");
        return;
    }
    let flow = match session.run(&mut tcp).await {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(session = session.id(), error = %e, "session ended with an I/O error");
            return;
        }
    };
    if flow != Flow::StartTls {
        return;
    }
    let Some(mut tls) = handshake(&ctx, &mut session, tcp).await else {
        return;
    };
    if let Err(e) = session.run(&mut tls).await {
        tracing::debug!(session = session.id(), error = %e, "TLS session ended with an I/O error");
    }
}

/// The TLS handshake (after STARTTLS, or at once for implicit TLS), bounded in time; its
/// outcome is a trace event. None: no TLS configured, or the handshake failed.
async fn handshake(
    ctx: &ServerContext,
    session: &mut Session,
    tcp: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    // NC-2.3.4: a listener with a client_ca_file asks for a client certificate.
    let acceptor = match &session.listener().client_ca_file {
        Some(ca) => ctx.client_auth_tls.get(ca).cloned()?,
        None => ctx.tls.clone()?,
    };
    let limit = Duration::from_secs(u64::from(ctx.config.timeouts.tls_handshake_secs.get()));
    let tls = match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            session
                .trace("tls", format!("handshake failed: {e}"), None)
                .await;
            // NC-2.4.1: TLS failures and garbage.
            ctx.ids
                .observe(rampart_ids::detectors::tls::handshake_failed(
                    session.peer().ip(),
                    &e.to_string(),
                ))
                .await;
            return None;
        }
        Err(_) => {
            session.trace("tls", "handshake timed out", None).await;
            return None;
        }
    };
    // Present only when verified: the listener's verifier refused any other in the handshake.
    if let Some(name) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(crate::tls::certificate_name)
    {
        session.client_certificate(name);
    }
    session
        .tls_established(crate::tls::describe(tls.get_ref().1))
        .await;
    Some(tls)
}
