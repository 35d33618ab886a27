//! The HTTP tests' backend and a raw HTTP/1.1 client over loopback.

#![allow(dead_code)]

pub mod notes;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Bytes;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Notify};

use rampart_jmap::http::{
    router, Backend, Blob, BlobError, BlobInfo, Credentials, JmapConfig, StateChange,
};
use rampart_jmap::session::Account;
use rampart_jmap::{CallContext, MethodError, Methods, Origin, User};

use notes::{Notes, NOTES};

/// A capability whose one method waits at a gate, to hold a request in flight.
pub const GATED: &str = "urn:example:gated";

/// Tells the test a request reached the backend, and lets it go on when the test says so.
#[derive(Default)]
pub struct Gate {
    pub entered: Notify,
    pub release: Notify,
}

impl Gate {
    async fn pass(&self) {
        self.entered.notify_one();
        self.release.notified().await;
    }
}

pub struct TestMethods {
    pub notes: Notes,
    pub gate: Arc<Gate>,
}

#[async_trait]
impl Methods for TestMethods {
    fn capabilities(&self) -> Map<String, Value> {
        let mut c = self.notes.capabilities();
        c.insert(GATED.into(), json!({}));
        c
    }

    fn method_capability(&self, method: &str) -> Option<&'static str> {
        if method == "Gate/wait" {
            return Some(GATED);
        }
        self.notes.method_capability(method)
    }

    async fn call(
        &self,
        cx: &mut CallContext,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Vec<(String, Map<String, Value>)>, MethodError> {
        if name == "Gate/wait" {
            self.gate.pass().await;
            return Ok(vec![(name.into(), Map::new())]);
        }
        self.notes.call(cx, name, args).await
    }
}

pub struct TestBackend {
    pub methods: TestMethods,
    pub gate: Arc<Gate>,
    pub blobs: Mutex<HashMap<(String, String), (String, Bytes)>>,
    pub push: broadcast::Sender<StateChange>,
}

fn account(id: &str, read_only: bool) -> Account {
    Account {
        id: id.into(),
        name: id.into(),
        is_personal: !read_only,
        is_read_only: read_only,
        account_capabilities: Map::from_iter([(NOTES.to_string(), json!({}))]),
        ..Default::default()
    }
}

pub fn alice() -> User {
    User {
        username: "alice".into(),
        accounts: vec![account("A1", false), account("R1", true)],
        primary_accounts: BTreeMap::from([(NOTES.into(), "A1".into())]),
        origin: Default::default(),
    }
}

fn bob() -> User {
    User {
        username: "bob".into(),
        accounts: vec![account("B1", false)],
        primary_accounts: BTreeMap::from([(NOTES.into(), "B1".into())]),
        origin: Default::default(),
    }
}

#[async_trait]
impl Backend for TestBackend {
    async fn authenticate(&self, c: &Credentials, _origin: &Origin) -> Option<User> {
        match c {
            Credentials::Basic { username, password } => {
                match (username.as_str(), password.as_str()) {
                    ("alice", "secret") => Some(alice()),
                    ("bob", "hunter2") => Some(bob()),
                    _ => None,
                }
            }
            Credentials::Bearer(t) if t == "tok-alice" => Some(alice()),
            Credentials::Bearer(_) => None,
            // A session cookie with its CSRF token when the request changes something.
            Credentials::Session {
                token,
                csrf,
                changes,
            } if token == "sess-alice" && (!changes || csrf.as_deref() == Some("csrf-alice")) => {
                Some(alice())
            }
            Credentials::Session { .. } => None,
        }
    }

    fn methods(&self) -> &dyn Methods {
        &self.methods
    }

    async fn upload(
        &self,
        _user: &User,
        account_id: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<BlobInfo, BlobError> {
        if content_type == "application/x-gate" {
            self.gate.pass().await;
        }
        let mut blobs = self.blobs.lock().unwrap();
        let blob_id = format!("B{}", blobs.len() + 1);
        let size = data.len() as u64;
        blobs.insert(
            (account_id.into(), blob_id.clone()),
            (content_type.into(), data),
        );
        Ok(BlobInfo {
            blob_id,
            content_type: content_type.into(),
            size,
        })
    }

    async fn download(
        &self,
        _user: &User,
        account_id: &str,
        blob_id: &str,
    ) -> Result<Option<Blob>, BlobError> {
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .get(&(account_id.to_string(), blob_id.to_string()))
            .map(|(_, data)| {
                // Two chunks, so the body really is streamed.
                let mid = data.len() / 2;
                let parts = vec![Ok(data.slice(..mid)), Ok(data.slice(mid..))];
                Blob {
                    size: Some(data.len() as u64),
                    body: Box::pin(futures_util::stream::iter(parts)),
                }
            }))
    }

    fn subscribe(&self, _user: &User) -> broadcast::Receiver<StateChange> {
        self.push.subscribe()
    }
}

/// A server on 127.0.0.1:0 with `config`; the task ends with the test's runtime.
pub async fn start(config: JmapConfig) -> (SocketAddr, Arc<TestBackend>) {
    let gate = Arc::new(Gate::default());
    let backend = Arc::new(TestBackend {
        methods: TestMethods {
            notes: Notes::default(),
            gate: gate.clone(),
        },
        gate,
        blobs: Mutex::new(HashMap::new()),
        push: broadcast::channel(16).0,
    });
    let app = router(backend.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, backend)
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

pub const ALICE: &str = "Basic YWxpY2U6c2VjcmV0"; // alice:secret

/// Sends one request with `Connection: close` and reads the whole response.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413, 429) before reading the body, and close: a failed write of the
    // body is then expected.
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    parse_response(&raw)
}

pub async fn api(addr: SocketAddr, body: &Value) -> HttpResponse {
    send(
        addr,
        "POST",
        "/jmap/api",
        &[
            ("Authorization", ALICE),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

/// Splits status, headers and body; decodes a chunked body.
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header section");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&b[..eol]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
    out
}

/// Opens a GET and returns the stream once the response's header section has arrived, with the
/// bytes read so far.
pub async fn open_stream(addr: SocketAddr, path: &str, auth: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed before the header section");
        raw.extend_from_slice(&buf[..n]);
    }
    (s, raw)
}
