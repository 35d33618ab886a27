//! NC-2.1.8: request size, header size, header and body read time, requests and connections at
//! once, idle connections; over a real TLS socket on 127.0.0.1:0. Timeouts are short (1 s) and
//! the tests wait for the server's close or answer, never for a fixed time.

mod support;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use rampart_http::{routes, HttpLimits};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, Notify};

const SECOND: Duration = Duration::from_secs(1);

fn echo_app() -> Router {
    routes::base().route("/echo", post(|body: Bytes| async move { body }))
}

/// Asserts that the server closed the connection between `timeout` and `timeout` + 4 s after
/// `since`, and returns what it sent first.
async fn closed_at_timeout(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    since: Instant,
    timeout: Duration,
) -> Vec<u8> {
    let raw = read_to_close(tls).await;
    let waited = since.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(100) && waited < timeout + 4 * SECOND,
        "closed after {waited:?}, timeout {timeout:?}"
    );
    raw
}

#[tokio::test]
async fn nc_2_1_8_oversized_body_gets_413_with_the_security_headers() {
    let limits = HttpLimits {
        max_body_bytes: 1000,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    // Within the limit: echoed.
    let mut tls = s.connect().await;
    let body = "x".repeat(1000);
    send(
        &mut tls,
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{body}").as_bytes(),
    )
    .await;
    let r = read_reply(&mut tls).await;
    assert_eq!((r.status, r.body.len()), (200, 1000));

    // Declared too large: refused before a byte of the body is read.
    let mut tls = s.connect().await;
    send(
        &mut tls,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let r = read_reply(&mut tls).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body, "The request body is too large.\n");
    assert_secure(&r);

    // Chunked, no length given: refused when it grows past the limit, even on a path with no
    // route (the body is counted wherever it goes).
    for path in ["/echo", "/nowhere"] {
        let mut tls = s.connect().await;
        let chunk = "y".repeat(600);
        send(
            &mut tls,
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                 258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        let r = read_reply(&mut tls).await;
        if path == "/echo" {
            assert_eq!(r.status, 413, "{r:?}");
            assert_eq!(r.body, "The request body is too large.\n");
        } else {
            // Nobody reads the body of a 404: answered at once, the body left unread.
            assert_eq!(r.status, 404, "{r:?}");
        }
        assert_secure(&r);
    }
}

#[tokio::test]
async fn nc_2_1_8_oversized_headers_get_431_and_close() {
    let limits = HttpLimits {
        max_header_bytes: 2048,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let small = s.get("/healthz").await;
    assert_eq!(small.status, 200);
    let mut tls = s.connect().await;
    let cookie = "c".repeat(4000);
    send(
        &mut tls,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").as_bytes(),
    )
    .await;
    // hyper answers 431 itself (before any middleware) and closes: no body, nothing named.
    let raw = read_to_close(&mut tls).await;
    let r = Reply::parse(&raw);
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(r.header("server"), None);
    assert!(r.body.is_empty(), "{r:?}");
}

/// A slowloris: the header section one byte at a time, never finished. The server closes the
/// connection at the header read timeout, while the client is still sending.
#[tokio::test]
async fn nc_2_1_8_slowloris_header_trickle_is_cut_off_at_the_timeout() {
    let limits = HttpLimits {
        header_read_timeout: SECOND,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let tls = s.connect().await;
    let started = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(tls);
    // 40 s worth of header at one byte per 100 ms: the timeout must come first.
    let trickle = tokio::spawn(async move {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
            "z".repeat(400)
        );
        let mut pace = tokio::time::interval(Duration::from_millis(100));
        for b in head.bytes() {
            pace.tick().await;
            use tokio::io::AsyncWriteExt;
            if wr.write_all(&[b]).await.is_err() || wr.flush().await.is_err() {
                return false;
            }
        }
        true
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, rd.read_to_end(&mut buf))
        .await
        .expect("the server closes the trickling connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < 5 * SECOND,
        "closed after {waited:?}"
    );
    assert!(
        !trickle.is_finished() || !trickle.await.unwrap(),
        "the trickle finished first"
    );
}

/// The same over HTTP/2: a HEADERS frame trickled byte by byte opens no stream, so the
/// connection counts as idle and is closed at the idle timeout.
#[tokio::test]
async fn nc_2_1_8_slowloris_over_http2_is_cut_off_at_the_idle_timeout() {
    let limits = HttpLimits {
        idle_timeout: SECOND,
        header_read_timeout: SECOND,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let tls = s
        .connect_with(&[&rustls::version::TLS13], &[b"h2"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let started = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        // The preface, an empty SETTINGS frame, then a 256-byte HEADERS frame for stream 1.
        let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        start.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        start.extend_from_slice(&[0, 1, 0, 1, 4, 0, 0, 0, 1]);
        if wr.write_all(&start).await.is_err() || wr.flush().await.is_err() {
            return false;
        }
        let mut pace = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..256 {
            pace.tick().await;
            if wr.write_all(&[0x82]).await.is_err() || wr.flush().await.is_err() {
                return false;
            }
        }
        true
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, rd.read_to_end(&mut buf))
        .await
        .expect("the server closes the trickling connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < 5 * SECOND,
        "closed after {waited:?}"
    );
    assert!(
        !trickle.is_finished() || !trickle.await.unwrap(),
        "the trickle finished first"
    );
}

/// A body trickled after its headers: 408 at the body read timeout, then the connection closes.
#[tokio::test]
async fn nc_2_1_8_slow_body_gets_408_and_close() {
    let limits = HttpLimits {
        body_read_timeout: SECOND,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let tls = s.connect().await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let started = Instant::now();
    {
        use tokio::io::AsyncWriteExt;
        wr.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n")
            .await
            .unwrap();
        wr.flush().await.unwrap();
    }
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut pace = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..400 {
            pace.tick().await;
            if wr.write_all(b"b").await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
    });
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, rd.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes");
    let waited = started.elapsed();
    let r = Reply::parse(&raw);
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.body, "The request took too long to arrive.\n");
    assert_secure(&r);
    assert!(
        waited >= Duration::from_millis(900) && waited < 5 * SECOND,
        "answered after {waited:?}"
    );
    trickle.abort();
}

/// A route that holds its request until released, and says when it has it.
fn blocking_app() -> (Router, oneshot::Receiver<()>, Arc<Notify>) {
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(Mutex::new(Some(entered_tx)));
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let app = routes::base().route(
        "/block",
        get(move || {
            let (entered, release) = (entered.clone(), r.clone());
            async move {
                if let Some(tx) = entered.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                release.notified().await;
                "released"
            }
        }),
    );
    (app, entered_rx, release)
}

#[tokio::test]
async fn nc_2_1_8_too_many_concurrent_requests_get_503_with_retry_after() {
    let (app, entered, release) = blocking_app();
    let limits = HttpLimits {
        max_concurrent_requests: 1,
        ..HttpLimits::default()
    };
    let s = start(app, limits).await;
    let mut first = s.connect().await;
    send(
        &mut first,
        b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    tokio::time::timeout(READ_TIMEOUT, entered)
        .await
        .expect("the request reaches its route")
        .unwrap();
    // One request holds the only slot: the next is refused at once, not queued.
    let busy = s.get("/healthz").await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("2"));
    assert_eq!(busy.body, "The server is busy; try again shortly.\n");
    assert_secure(&busy);
    release.notify_one();
    let r = read_reply(&mut first).await;
    assert_eq!((r.status, r.body.as_str()), (200, "released"));
    // The slot is free again.
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn nc_2_1_8_connections_beyond_the_limit_wait_until_one_closes() {
    let limits = HttpLimits {
        max_connections: 1,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let first = s.connect().await;
    // The second connection is in the listen queue: its handshake gets no answer meanwhile.
    let config = s.client_config(&[&rustls::version::TLS13], &[b"http/1.1"]);
    let addr = s.addr;
    let mut second = tokio::spawn(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut second)
            .await
            .is_err(),
        "a second connection was served beyond max_connections = 1"
    );
    drop(first);
    let mut tls = tokio::time::timeout(READ_TIMEOUT, second)
        .await
        .expect("served once the first closed")
        .unwrap()
        .expect("handshake");
    send(
        &mut tls,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(read_reply(&mut tls).await.status, 200);
}

/// HTTP/1.1: after a response, a kept-alive connection that sends nothing is closed once the
/// header read timeout (here shorter than the idle timeout) has passed.
#[tokio::test]
async fn nc_2_1_8_idle_http1_connection_is_closed() {
    let limits = HttpLimits {
        header_read_timeout: SECOND,
        ..HttpLimits::default()
    };
    let s = start(echo_app(), limits).await;
    let mut tls = s.connect().await;
    send(&mut tls, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut head = [0u8; 12];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let since = Instant::now();
    closed_at_timeout(&mut tls, since, SECOND).await;
}

/// HTTP/2: a connection with no stream open is closed at the idle timeout; one with a stream
/// in progress is not.
#[tokio::test]
async fn nc_2_1_8_idle_http2_connection_is_closed() {
    let (app, entered, release) = blocking_app();
    let limits = HttpLimits {
        idle_timeout: SECOND,
        ..HttpLimits::default()
    };
    let s = start(app, limits).await;
    let tls = s
        .connect_with(&[&rustls::version::TLS13], &[b"h2"])
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = |path: &str| {
        hyper::Request::get(format!("https://{HOST}{path}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap()
    };
    // A request held past the idle timeout keeps the connection.
    let held = sender.send_request(req("/block"));
    let held = tokio::spawn(held);
    tokio::time::timeout(READ_TIMEOUT, entered)
        .await
        .expect("the request reaches its route")
        .unwrap();
    let busy_since = Instant::now();
    // Released after twice the idle timeout, timed by the server's own idle clock: had it
    // counted the busy time, the connection would be gone before this answer.
    tokio::time::sleep(2 * SECOND).await;
    release.notify_one();
    let resp = held.await.unwrap().expect("the held request is answered");
    assert_eq!(resp.status(), 200);
    assert!(busy_since.elapsed() >= 2 * SECOND);
    // Now idle: closed about a second later.
    let since = Instant::now();
    let _ = tokio::time::timeout(READ_TIMEOUT, conn)
        .await
        .expect("the server closes the idle connection");
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < 5 * SECOND,
        "closed after {waited:?}"
    );
}
