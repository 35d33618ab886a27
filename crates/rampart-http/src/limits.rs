//! The limits of an HTTPS listener (NC-2.1.8), and the middleware that enforces those the
//! protocol layer does not: the request body's size and read time, and requests at once.
//!
//! Header size, header read time, idle connections, connections at once and the TLS handshake
//! are bounded in `conn` and the accept loop.

use crate::respond;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// The limits of one HTTPS listener. Counts below 1 are taken as 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body in bytes; larger is answered 413.
    pub max_body_bytes: u64,
    /// Largest request line and headers in bytes: 431 and close on HTTP/1.1, refused by the
    /// HTTP/2 layer.
    pub max_header_bytes: usize,
    /// For a whole header section to arrive, counted from when the server waits for it (on
    /// HTTP/1.1 also the longest wait for the next request on a kept-alive connection). On
    /// HTTP/2 a header section still arriving is no request yet: `idle_timeout` ends it.
    pub header_read_timeout: Duration,
    /// For a whole request body to arrive, counted from its headers; then 408 and close.
    pub body_read_timeout: Duration,
    /// A connection with no request in progress (none dispatched, or every response sent) is
    /// closed after this long, whatever bytes it trickles meanwhile.
    pub idle_timeout: Duration,
    /// Requests handled at once; one more is answered 503 with Retry-After.
    pub max_concurrent_requests: usize,
    /// Connections open at once; one more waits in the listen queue.
    pub max_connections: usize,
    /// For a whole TLS handshake, from the connection's accept.
    pub tls_handshake_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish before their connections
    /// are closed.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    /// The defaults of rampart-config's `[http]`, with a 10 s handshake and 30 s grace.
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 25 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            max_concurrent_requests: 512,
            max_connections: 4096,
            tls_handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 2;

/// `app` inside the server's middleware, outermost first: security headers and error pages
/// ([`respond::finish`]), requests at once, the body's size and read time. Every route of
/// `app`, its 404 and its 405 pass through all of it; routes merged into the result afterwards
/// would not, so call this last (as [`crate::serve`] does).
pub fn with_middleware(app: Router, limits: &HttpLimits) -> Router {
    let body = BodyLimits {
        max: limits.max_body_bytes,
        read_timeout: limits.body_read_timeout,
    };
    let requests = Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1)));
    // `layer` wraps each route on its own: the semaphore is shared through the Arc.
    app.layer(DefaultBodyLimit::max(
        usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
    ))
    .layer(middleware::from_fn_with_state(body, body_limits))
    .layer(middleware::from_fn_with_state(requests, concurrency))
    .layer(middleware::from_fn(respond::finish))
}

/// NC-2.1.8: requests at once. Over the limit the request is answered 503 at once, never queued:
/// a queue would hold the connection (and its memory) for as long as the overload lasts.
async fn concurrency(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    let Ok(permit) = slots.try_acquire_owned() else {
        let mut resp = respond::status_page(StatusCode::SERVICE_UNAVAILABLE);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        return resp;
    };
    let resp = next.run(req).await;
    drop(permit);
    resp
}

#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    max: u64,
    read_timeout: Duration,
}

/// What became of a request body, seen by the middleware after the handler has run.
#[derive(Debug, Default)]
struct Outcome(AtomicU8);

const TOO_LARGE: u8 = 1;
const TIMED_OUT: u8 = 2;

/// NC-2.1.8: the request body's size and read time. A Content-Length over the limit is refused
/// before the handler runs; otherwise the body is counted and timed as the handler reads it, and
/// whatever the handler made of the error, the answer is 413 or 408 and the connection closes
/// (the rest of the body is not read).
async fn body_limits(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max) {
        return closing(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let outcome = Arc::new(Outcome::default());
    let deadline = Instant::now() + limits.read_timeout;
    let watched = outcome.clone();
    let req = req.map(move |inner| {
        Body::new(Bounded {
            inner,
            left: limits.max,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            outcome: watched,
        })
    });
    let resp = next.run(req).await;
    match outcome.0.load(Ordering::Acquire) {
        TOO_LARGE => closing(StatusCode::PAYLOAD_TOO_LARGE),
        TIMED_OUT => closing(StatusCode::REQUEST_TIMEOUT),
        _ => resp,
    }
}

/// Our page for `status`, with the connection closed after it (HTTP/1.1; HTTP/2 drops the
/// header and ends only the stream).
fn closing(status: StatusCode) -> Response {
    let mut resp = respond::status_page(status);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A request body that fails once it has given more than `left` bytes or is still arriving at
/// `deadline`, and says which in `outcome`.
struct Bounded {
    inner: Body,
    left: u64,
    deadline: Pin<Box<Sleep>>,
    outcome: Arc<Outcome>,
}

#[derive(Debug)]
struct BodyLimitError(&'static str);

impl std::fmt::Display for BodyLimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BodyLimitError {}

impl Bounded {
    fn fail(
        &self,
        what: u8,
        why: &'static str,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.outcome.0.store(what, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyLimitError(why)))))
    }
}

impl http_body::Body for Bounded {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // The deadline is for the whole body: data still coming after it is too late
                // however fast it comes now.
                if this.deadline.is_elapsed() {
                    return this.fail(TIMED_OUT, "request body read timeout");
                }
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.left {
                        return this.fail(TOO_LARGE, "request body too large");
                    }
                    this.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    return this.fail(TIMED_OUT, "request body read timeout");
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
