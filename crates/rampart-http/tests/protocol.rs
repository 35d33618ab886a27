//! TLS versions, ALPN, HTTP/1.1 and HTTP/2, the security headers and the error pages, over a
//! real TLS socket on 127.0.0.1:0.

mod support;

use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use rampart_http::{routes, HttpLimits};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn app() -> Router {
    routes::base()
        .route("/echo", post(|body: axum::body::Bytes| async move { body }))
        .route("/text", post(|body: String| async move { body }))
        .route(
            "/page",
            get(|| async {
                (
                    [(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static("default-src 'none'; img-src 'self'"),
                    )],
                    axum::response::Html("<p>page</p>"),
                )
            }),
        )
        .route(
            "/leaky",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::SERVER, "hyper/1.0 (axum)")],
                    "thread 'main' panicked in axum::routing",
                )
            }),
        )
        .route(
            "/problem",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "application/problem+json")],
                    "{\"type\":\"urn:ietf:params:jmap:error:notFound\"}",
                )
            }),
        )
}

#[tokio::test]
async fn al_1_1_tls_1_2_and_1_3_are_accepted() {
    let s = start(app(), HttpLimits::default()).await;
    for (version, want) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let tls = s.connect_with(&[version], &[]).await.expect("handshake");
        assert_eq!(tls.get_ref().1.protocol_version(), Some(want));
    }
}

/// A TLS 1.1 ClientHello (legacy_version 3.2, no supported_versions extension), as an old client
/// sends it: the server answers with an alert, never a ServerHello.
#[tokio::test]
async fn al_1_1_tls_1_1_is_refused() {
    let s = start(app(), HttpLimits::default()).await;
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // no session id
                   // What TLS 1.1 offered (ECDHE and RSA with AES-CBC-SHA), and the ECDHE AES-GCM suites the
                   // server has: the hello is refused for its version, not for want of a common suite.
    let suites: [u8; 16] = [
        0xc0, 0x09, 0xc0, 0x0a, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f, 0x00, 0x35, 0xc0, 0x2b, 0xc0,
        0x2f,
    ];
    hello.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    hello.extend_from_slice(&suites);
    hello.extend_from_slice(&[1, 0]); // compression: null
    let extensions: [u8; 31] = [
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // groups: x25519, P-256
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // point formats: uncompressed
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04, // ECDSA-P256, RSA-PSS
        0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info, empty
    ];
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);

    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(&record).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes");
    // An alert record (21) with description protocol_version (70); no handshake record (22).
    assert_eq!(answer.first(), Some(&0x15), "{answer:02x?}");
    assert_eq!(answer.get(6), Some(&70), "{answer:02x?}");
}

#[tokio::test]
async fn http2_is_offered_by_alpn_and_served() {
    let s = start(app(), HttpLimits::default()).await;
    let tls = s
        .connect_with(&[&rustls::version::TLS13], &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for (path, status) in [("/healthz", 200), ("/nowhere", 404)] {
        let req = hyper::Request::get(format!("https://{HOST}{path}"))
            .body(http_body_util::Empty::<axum::body::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        assert_eq!(resp.status().as_u16(), status);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(resp.headers().get(name).unwrap(), value, "{name}");
        }
        assert!(resp.headers().get("server").is_none());
    }
    // A client that offers only http/1.1, or nothing, gets HTTP/1.1.
    let offers: [&[&[u8]]; 2] = [&[b"http/1.1"], &[]];
    for alpn in offers {
        let mut tls = s
            .connect_with(&[&rustls::version::TLS13], alpn)
            .await
            .unwrap();
        assert_ne!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        send(
            &mut tls,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let raw = read_to_close(&mut tls).await;
        assert!(
            raw.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[tokio::test]
async fn nc_2_1_3_security_headers_on_200_404_405_and_no_software_named() {
    let s = start(app(), HttpLimits::default()).await;
    let ok = s.get("/healthz").await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok\n"));
    assert_secure(&ok);

    // Unknown paths, and the root: nothing is served there.
    for path in ["/", "/nowhere", "/.env"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, "There is nothing here.\n");
        assert_secure(&r);
    }

    // A method the route does not have: our sentence, and Allow kept.
    let mut tls = s.connect().await;
    send(
        &mut tls,
        b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let r = read_reply(&mut tls).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body, "That method is not allowed here.\n");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{r:?}"
    );
    assert_secure(&r);

    // A route that leaks a Server header and a framework message in plain text: both go.
    let r = s.get("/leaky").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, "The server could not complete the request.\n");
    assert_secure(&r);

    // An axum rejection (a body that is not UTF-8 where text is wanted): our sentence.
    let mut tls = s.connect().await;
    send(
        &mut tls,
        b"POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n\xff\xfe",
    )
    .await;
    let r = read_reply(&mut tls).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "The request is malformed.\n");
    assert_secure(&r);
}

#[tokio::test]
async fn nc_2_1_3_a_route_may_widen_its_csp_and_keep_its_own_error_body() {
    let s = start(app(), HttpLimits::default()).await;
    let r = s.get("/page").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; img-src 'self'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some(support::SECURITY_HEADERS[0].1)
    );
    // An error body of another type than plain text is the route's own.
    let r = s.get("/problem").await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("urn:ietf:params:jmap:error:notFound"),
        "{r:?}"
    );
    assert_secure(&r);
}

/// NC-2.1.8: a client that connects and never finishes the handshake is closed at the timeout.
#[tokio::test]
async fn nc_2_1_8_stalled_tls_handshake_is_closed() {
    let limits = HttpLimits {
        tls_handshake_timeout: std::time::Duration::from_secs(1),
        ..HttpLimits::default()
    };
    let s = start(app(), limits).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01]).await.unwrap(); // the start of a record, then nothing
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, tcp.read_to_end(&mut buf))
        .await
        .expect("closed by the server");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900)
            && waited < std::time::Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered = std::sync::Mutex::new(Some(entered_tx));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let r2 = release.clone();
    let entered = std::sync::Arc::new(entered);
    let app = routes::base().route(
        "/slow",
        get(move || {
            let release = r2.clone();
            let entered = entered.clone();
            async move {
                if let Some(tx) = entered.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                release.notified().await;
                "done"
            }
        }),
    );
    let s = start(app, HttpLimits::default()).await;
    let mut tls = s.connect().await;
    send(
        &mut tls,
        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    tokio::time::timeout(READ_TIMEOUT, entered_rx)
        .await
        .expect("the request reaches its route")
        .unwrap();
    s.shutdown.send(true).unwrap();
    // The listener closes: a new connection is refused (or reset before any TLS).
    let mut refused = false;
    for _ in 0..200 {
        match tokio::net::TcpStream::connect(s.addr).await {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(c) => {
                drop(c);
                tokio::task::yield_now().await;
            }
        }
    }
    assert!(refused, "the listener still accepts after shutdown");
    release.notify_one();
    let r = read_reply(&mut tls).await;
    assert_eq!((r.status, r.body.as_str()), (200, "done"));
    tokio::time::timeout(READ_TIMEOUT, s.task)
        .await
        .unwrap()
        .unwrap();
}
