//! JMAP load: `clients` connections over TLS (HTTP/1.1, kept alive), each sending the same API
//! request in a loop and timing each from the first byte written to the last byte of the
//! response. For the mailbox benchmark (bench/jmap_query.py): the first page of 50 emails by
//! receivedAt, newest first, and their header properties, in one request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::percentile;
use crate::Error;

/// What to run.
#[derive(Debug, Clone)]
pub struct JmapLoad {
    pub server: SocketAddr,
    pub tls_ca: std::path::PathBuf,
    pub tls_name: String,
    /// Authorization header values (`Bearer …` or `Basic …`); client i uses the i-th, in turn.
    /// One user may run only maxConcurrentRequests at once (RFC 8620), so many clients need
    /// many users.
    pub authorizations: Vec<String>,
    pub clients: usize,
    /// Requests in the timed part, over all clients.
    pub requests: u64,
    /// Requests per client before the timed part, not counted.
    pub warmup: u64,
    /// The request body (JSON).
    pub body: String,
    pub timeout: Duration,
}

/// What a run measured, latencies in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JmapReport {
    pub clients: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// The request for the first page: Email/query (50, receivedAt descending) and Email/get of the
/// header properties of the ids it returns (a result reference).
pub fn first_page_request(account_id: &str) -> String {
    serde_json::json!({
        "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
        "methodCalls": [
            ["Email/query", {
                "accountId": account_id,
                "sort": [{"property": "receivedAt", "isAscending": false}],
                "limit": 50
            }, "q"],
            ["Email/get", {
                "accountId": account_id,
                "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                "properties": ["id", "threadId", "mailboxIds", "keywords", "receivedAt",
                               "size", "from", "to", "subject", "preview", "hasAttachment"]
            }, "g"]
        ]
    })
    .to_string()
}

/// One kept-alive HTTPS/1.1 connection.
pub struct Conn {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    host: String,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(load: &JmapLoad) -> Result<Conn, String> {
        let (connector, name) =
            crate::tls_client(&load.tls_ca, &load.tls_name, true, &[b"http/1.1"])
                .map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(load.server)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Ok(Conn {
            stream,
            host: format!("{}:{}", load.tls_name, load.server.port()),
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends a request and reads the whole response: (status, body).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        authorization: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> Result<(u16, Vec<u8>), String> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or("no status line")?;
        let mut length = None;
        let mut chunked = false;
        for line in head.lines().skip(1) {
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if n.eq_ignore_ascii_case("transfer-encoding")
                    && v.trim().eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        let body = if chunked {
            self.read_chunked().await?
        } else {
            let n = length.ok_or("a response without Content-Length")?;
            while self.buf.len() < n {
                self.fill().await?;
            }
            self.buf.drain(..n).collect()
        };
        Ok((status, body))
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "a bad chunk size")?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// Checks a response: 200 and no method-level error.
fn check(status: u16, body: &[u8]) -> Result<(), String> {
    if status != 200 {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if memchr_error(body) {
        return Err(format!(
            "a method error: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}

/// Whether a response holds an `["error", …]` method response.
fn memchr_error(body: &[u8]) -> bool {
    body.windows(9).any(|w| w == b"[\"error\",")
}

/// Runs the load and reports on the timed part.
pub async fn run(load: JmapLoad) -> Result<JmapReport, Error> {
    let load = Arc::new(load);
    let tickets = Arc::new(AtomicU64::new(load.requests));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    // Every client connects and warms up before the clock starts.
    let barrier = Arc::new(tokio::sync::Barrier::new(load.clients + 1));
    let mut tasks = Vec::new();
    for i in 0..load.clients {
        let authorization = load.authorizations[i % load.authorizations.len().max(1)].clone();
        let (load, tickets, errors, first_error, barrier) = (
            load.clone(),
            tickets.clone(),
            errors.clone(),
            first_error.clone(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let note = |e: String| {
                errors.fetch_add(1, Ordering::Relaxed);
                let mut f = first_error.lock().unwrap_or_else(|p| p.into_inner());
                f.get_or_insert(e);
            };
            let mut conn = match Conn::open(&load).await {
                Ok(c) => Some(c),
                Err(e) => {
                    note(e);
                    None
                }
            };
            for _ in 0..load.warmup {
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = c
                        .request("POST", "/jmap/api", &authorization, load.body.as_bytes())
                        .await
                    {
                        note(e);
                    }
                }
            }
            barrier.wait().await;
            let Some(mut c) = conn else { return samples };
            while tickets
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let r = tokio::time::timeout(
                    load.timeout,
                    c.request("POST", "/jmap/api", &authorization, load.body.as_bytes()),
                )
                .await;
                match r {
                    Ok(Ok((status, body))) => match check(status, &body) {
                        Ok(()) => samples.push(t.elapsed().as_micros() as u64),
                        Err(e) => note(e),
                    },
                    Ok(Err(e)) => {
                        note(e);
                        return samples;
                    }
                    Err(_) => {
                        note("timed out".into());
                        return samples;
                    }
                }
            }
            samples
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            all.extend(s);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let p = |q| percentile(&all, q).unwrap_or(0);
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(JmapReport {
        clients: load.clients,
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        requests_per_second: all.len() as f64 / seconds.max(1e-9),
        p50_us: p(50),
        p90_us: p(90),
        p99_us: p(99),
        max_us: all.last().copied().unwrap_or(0),
        first_error,
    })
}
