//! One connection: the TLS handshake, HTTP/1.1 or HTTP/2 as ALPN chose, the idle watchdog and
//! the graceful end.

use crate::limits::HttpLimits;
use axum::body::{Body, Bytes};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use tower::ServiceExt;

/// What every connection of a listener shares.
pub(crate) struct Server {
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    pub(crate) limits: HttpLimits,
    /// Intrusion prevention, told of failed handshakes and scanners' requests.
    ids: Arc<dyn crate::Watch>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Server {
    pub(crate) fn new(
        acceptor: tokio_rustls::TlsAcceptor,
        app: Router,
        limits: HttpLimits,
        ids: Arc<dyn crate::Watch>,
    ) -> Self {
        let mut h1 = http1::Builder::new();
        // NC-2.1.8: the whole header section within the timeout however it trickles (hyper's
        // clock runs from when it starts waiting for a request), and no larger than the limit
        // (431, then close).
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes.max(1))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        // NC-2.1.8: streams at once on one connection are bounded by the listener's request
        // limit too (the default 200 would let one client take them all), and so is the size of
        // a header list.
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(
                u32::try_from(limits.max_concurrent_requests.clamp(1, 100)).unwrap_or(100),
            );
        Server {
            acceptor,
            app,
            limits,
            ids,
            h1,
            h2,
        }
    }

    /// Serves one accepted connection; `_slot` is its place among the listener's connections.
    pub(crate) async fn connection(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        _slot: OwnedSemaphorePermit,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let _ = tcp.set_nodelay(true);
        // NC-2.1.8: a client that starts a handshake and stalls holds nothing past this.
        let handshake =
            tokio::time::timeout(self.limits.tls_handshake_timeout, self.acceptor.accept(tcp));
        let tls = tokio::select! {
            r = handshake => match r {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "https TLS handshake failed");
                    // NC-2.4.1: garbage or a failed handshake counts toward a ban.
                    self.ids.tls_failed(peer.ip(), &e.to_string());
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "https TLS handshake timed out");
                    return;
                }
            },
            _ = shutdown_signalled(&mut shutdown) => return,
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        let activity = Activity::new();
        let app = self.app.clone();
        let tracker = activity.clone();
        let ids = self.ids.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // Handlers read the client's address from here, a plain SocketAddr (the audit, the guard).
            req.extensions_mut().insert(peer);
            let guard = tracker.begin();
            let app = app.clone();
            let ids = ids.clone();
            let path = req.uri().path().to_string();
            async move {
                let resp = match app.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                // NC-2.4.1: a page no route has, on a path scanners look for.
                if resp.status() == hyper::StatusCode::NOT_FOUND && crate::guard::is_probe(&path) {
                    ids.probe(peer.ip(), &path);
                }
                // The request is in progress until its response body has been sent.
                Ok::<_, Infallible>(resp.map(|inner| {
                    Body::new(Tracked {
                        inner,
                        _guard: guard,
                    })
                }))
            }
        });
        let io = TokioIo::new(tls);
        if h2 {
            let conn = self.h2.serve_connection(io, service);
            self.drive(conn, &activity, &mut shutdown).await;
        } else {
            let conn = self.h1.serve_connection(io, service);
            self.drive(conn, &activity, &mut shutdown).await;
        }
    }

    /// Runs a connection until it ends, stays idle past the idle timeout, or the server shuts
    /// down; in the last two cases it is asked to end gracefully, then dropped (closed) if it
    /// has not after the grace.
    async fn drive<C>(&self, conn: C, activity: &Activity, shutdown: &mut watch::Receiver<bool>)
    where
        C: Future<Output = Result<(), hyper::Error>> + Graceful,
    {
        let mut conn = std::pin::pin!(conn);
        let grace = tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "https connection ended with an error");
                }
                return;
            }
            // NC-2.1.8: an idle connection is not kept for ever.
            _ = activity.idle_for(self.limits.idle_timeout) => self.limits.header_read_timeout,
            _ = shutdown_signalled(shutdown) => self.limits.shutdown_grace,
        };
        conn.as_mut().graceful();
        let _ = tokio::time::timeout(grace, conn).await;
    }
}

/// A hyper connection that can be asked to finish what it is doing and end.
pub(crate) trait Graceful {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S> Graceful for http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: http_body::Body + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown()
    }
}

impl<I, S, E> Graceful for http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: http_body::Body + Send + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown()
    }
}

/// Returns once `shutdown` is true or its sender is gone.
pub(crate) async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Requests in progress on one connection, and since when there have been none.
#[derive(Clone)]
struct Activity(Arc<watch::Sender<Load>>);

#[derive(Clone, Copy)]
struct Load {
    in_progress: usize,
    idle_since: Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(watch::Sender::new(Load {
            in_progress: 0,
            idle_since: Instant::now(),
        })))
    }

    fn begin(&self) -> RequestGuard {
        self.0.send_modify(|l| l.in_progress += 1);
        RequestGuard(self.clone())
    }

    /// Returns once the connection has had no request in progress for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let mut rx = self.0.subscribe();
        loop {
            let load = *rx.borrow_and_update();
            if load.in_progress == 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(load.idle_since + idle) => return,
                    _ = rx.changed() => {}
                }
            } else {
                // The sender lives as long as `self`: changed() cannot fail here.
                let _ = rx.changed().await;
            }
        }
    }
}

/// A request in progress; dropped when its response body is done (or abandoned).
struct RequestGuard(Activity);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0 .0.send_modify(|l| {
            l.in_progress = l.in_progress.saturating_sub(1);
            if l.in_progress == 0 {
                l.idle_since = Instant::now();
            }
        });
    }
}

/// A response body that holds its request's place in [`Activity`] until it is dropped.
struct Tracked {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
