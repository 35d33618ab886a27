//! The local admin socket: `<data_dir>/admin.sock`, a unix socket of mode 0600 (only the
//! service's own user, and root, can connect). `rampart audit` asks the running server what it
//! really does — which sockets it bound, since when — rather than assuming the configuration
//! was applied. One request per connection, one line answered with one JSON object:
//!
//! - `status`: pid, start time, the listeners bound, the bans in force, the queue, signature
//!   and feed ages, the last integrity check and the limits in force (admin_status.rs);
//! - `unblock NETWORK` (`rampart ban remove`): the SMTP AUTH guard forgets the failures and the
//!   temporary block of the addresses inside NETWORK, which live only in the server;
//! - `self-test-begin` / `self-test-end`: the audit's self-test (its probes come from this host,
//!   over loopback) opens and closes a window in which intrusion prevention does not count
//!   127.0.0.1 and ::1, so that auditing the server does not ban the host itself (NC-2.4.1).
//!   The window closes by itself after [`SELF_TEST_WINDOW`].

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The longest request line read; anything longer is refused.
const MAX_REQUEST: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(5);

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// What the server reports about itself.
pub type Status = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Value> + Send>> + Send + Sync,
>;

/// Longest the self-test window stays open when the audit does not close it.
pub const SELF_TEST_WINDOW: Duration = Duration::from_secs(300);

/// The addresses the audit's self-test probes come from.
const SELF_TEST_SOURCES: [std::net::IpAddr; 2] = [
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
];

/// Clears the in-memory blocks of a network (given as the client wrote it); answers with what
/// it did.
pub type Unblock = Arc<dyn Fn(&str) -> Value + Send + Sync>;

/// Binds the socket (replacing a stale one from a previous run) with mode 0600 before anyone
/// can connect, and answers until shutdown.
pub fn bind(data_dir: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let p = path(data_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // The umask decides the mode at bind; the chmod right after closes any window a permissive
    // umask opened, and the data directory (0700) keeps everyone else out meanwhile.
    let listener = tokio::net::UnixListener::bind(&p)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub async fn serve(
    listener: tokio::net::UnixListener,
    status: Status,
    ids: Arc<rampart_ids::Ids>,
    unblock: Unblock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = conn else { continue };
        let (status, unblock, ids) = (status.clone(), unblock.clone(), ids.clone());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, answer(stream, status, ids, unblock)).await;
        });
    }
}

async fn answer(
    stream: tokio::net::UnixStream,
    status: Status,
    ids: Arc<rampart_ids::Ids>,
    unblock: Unblock,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // At most MAX_REQUEST bytes are read: a client cannot make the server buffer without end.
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST as u64));
    reader.read_line(&mut line).await?;
    let line = line.trim();
    let reply = match line.split_once(' ') {
        None if line == "status" => status().await,
        None if line == "self-test-begin" || line == "self-test-end" => {
            let open = line == "self-test-begin";
            for ip in SELF_TEST_SOURCES {
                ids.exempt(ip, open.then_some(SELF_TEST_WINDOW));
            }
            tracing::info!(
                open,
                "audit self-test window: 127.0.0.1 and ::1 {} by intrusion prevention",
                if open { "not counted" } else { "counted again" }
            );
            json!({ "self_test_window": open })
        }
        Some(("unblock", network)) => unblock(network.trim()),
        _ => {
            json!({ "error": "unknown request; use `status`, `unblock NETWORK`, `self-test-begin` or `self-test-end`" })
        }
    };
    write.write_all(format!("{reply}\n").as_bytes()).await?;
    write.shutdown().await
}

/// Asks a running server for its status; `Ok(None)` when no server has the socket open.
pub fn query(data_dir: &Path) -> Result<Option<Value>, String> {
    request(data_dir, "status")
}

/// Sends one request line to a running server; `Ok(None)` when no server has the socket open.
pub fn request(data_dir: &Path, request: &str) -> Result<Option<Value>, String> {
    let p = path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&p) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(format!("cannot connect to {}: {e}", p.display())),
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    stream
        .write_all(format!("{request}\n").as_bytes())
        .map_err(|e| format!("cannot ask {}: {e}", p.display()))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| format!("no answer from {}: {e}", p.display()))?;
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| format!("{} answered something else than JSON: {e}", p.display()))
}
