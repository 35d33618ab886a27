//! The HTTPS server that Rampart's web routes plug into: JMAP, webmail, the admin console and
//! the MTA-STS policy are `axum` routes merged into one [`axum::Router`]; this crate serves it.
//!
//! ```text
//!  accept ── at most max_connections open; one more waits in the listen queue
//!    │
//!  TLS handshake ── TLS 1.2/1.3 only (the caller's rustls config), ALPN h2 or http/1.1,
//!    │              bounded by tls_handshake_timeout
//!  hyper ── HTTP/1.1: header size (431) and header read time (close);
//!    │      HTTP/2: header list size; both: a connection idle past idle_timeout is closed
//!  middleware ── security headers and our own error pages on every response   (respond)
//!    │           requests at once (503 + Retry-After)                          (limits)
//!    │           body size (413) and body read time (408)                      (limits)
//!  the Router ── routes::base() merged with everyone else's routes
//! ```
//!
//! Adding routes: build a `Router<()>` (call `.with_state(..)` first if it has state) and merge
//! it into [`routes::base`] before it is given to [`serve`]:
//! `routes::base().merge(jmap_routes).nest("/admin", admin_routes)`. Paths may not overlap
//! (axum panics at start-up on a duplicate), and nobody sets a fallback: unknown paths get the
//! server's 404. A route that serves pages widens the Content-Security-Policy by setting that
//! header on its own responses (see [`respond`]); every other security header is the server's.
//!
//! What does not live here: the routes themselves, and the TLS certificate (the caller passes
//! its `rustls::ServerConfig`, the same one the SMTP listeners use, rampart-smtp's `tls`).

mod conn;
pub mod guard;
pub mod limits;
pub mod respond;
pub mod routes;

pub use guard::{NoWatch, Watch};
pub use limits::HttpLimits;

use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The protocols offered in ALPN, preferred first. A client that offers neither gets HTTP/1.1.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How long to pause after a failed accept (out of file descriptors, say) before the next one,
/// so that the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A copy of the listeners' TLS configuration that offers h2 and http/1.1 in ALPN. The SMTP
/// listeners keep the original, which offers nothing: h2 is no SMTP protocol.
pub fn https_tls_config(tls: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut c = tls.clone();
    c.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// Serves `app` over TLS on `listener` until `shutdown` turns true (or its sender is dropped).
///
/// `tls` is the listeners' rustls configuration (TLS 1.2 and 1.3 only, AL-1.1: rustls has no
/// older version to offer); a copy of it offers h2 and http/1.1 ([`https_tls_config`]).
/// The middleware of [`respond`] and [`limits`] is put around the whole of `app` here, so pass
/// the Router with every route already merged in.
///
/// On shutdown the listener is closed at once, idle connections are closed, requests in flight
/// get `limits.shutdown_grace` to finish, and then the rest are closed; this returns when all
/// are.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: HttpLimits,
    shutdown: watch::Receiver<bool>,
) {
    serve_watched(listener, tls, app, limits, Arc::new(NoWatch), shutdown).await
}

/// [`serve`], with intrusion prevention watching (NC-2.4.1, NC-2.4.2): an address it refuses
/// is closed at accept, before TLS; failed handshakes and 404s on scanners' paths are reported
/// to it.
pub async fn serve_watched(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: HttpLimits,
    ids: Arc<dyn Watch>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(https_tls_config(&tls));
    let app = limits::with_middleware(app, &limits);
    let server = Arc::new(conn::Server::new(acceptor, app, limits, ids.clone()));
    // NC-2.1.8: a slot per open connection; without one, the next accept waits.
    let slots = Arc::new(Semaphore::new(server.limits.max_connections.max(1)));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            _ = conn::shutdown_signalled(&mut shutdown) => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = conn::shutdown_signalled(&mut shutdown) => break,
        };
        match accepted {
            Ok((tcp, peer)) if ids.refuse(peer.ip()) => {
                // NC-2.4.2: a banned address is closed at once, before TLS: a plain close.
                drop(tcp);
                drop(permit);
            }
            Ok((tcp, peer)) => {
                // Finished connections are collected as we go, so the set holds only live ones.
                while conns.try_join_next().is_some() {}
                conns.spawn(
                    server
                        .clone()
                        .connection(tcp, peer, permit, shutdown.clone()),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "https accept failed");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = conn::shutdown_signalled(&mut shutdown) => break,
                }
            }
        }
    }
    // New connections are refused from here on; those open drain as described above.
    drop(listener);
    while conns.join_next().await.is_some() {}
}
