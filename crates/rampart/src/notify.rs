//! The systemd notification protocol (sd_notify(3)) for `Type=notify`: one datagram to the unix
//! socket named by `$NOTIFY_SOCKET`. `READY=1` once every listener is bound and the privileges
//! are dropped, so that `systemctl start` returns only when the server answers; `STOPPING=1` when
//! a shutdown begins. Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.
//!
//! The watchdog (`WatchdogSec=` in the unit, `$WATCHDOG_USEC` here): `WATCHDOG=1` is sent every
//! half interval, but only after the store has completed a commit in that time ([`watchdog`]),
//! so a server whose commit path is stuck (a hung disk, a wedged writer) stops feeding it and
//! systemd restarts it, rather than a server that accepts connections and can acknowledge
//! nothing.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where the notifications go, read once at start-up.
#[derive(Clone)]
pub struct Notifier {
    socket: Option<Target>,
    watchdog: Option<Duration>,
}

#[derive(Clone)]
enum Target {
    /// A path in the file system.
    Path(PathBuf),
    /// An abstract socket (`@name`): the name without its `@`.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let value = std::env::var_os("NOTIFY_SOCKET");
        let socket = value.and_then(|v| parse(v.as_encoded_bytes()));
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let watchdog = socket
            .as_ref()
            .and_then(|_| watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id()));
        Notifier { socket, watchdog }
    }

    /// The interval systemd expects `WATCHDOG=1` within, when it asked this process for one.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `WATCHDOG=1`: the server is alive and its store commits.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// `READY=1`: the listeners are bound and the server accepts connections.
    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=accepting connections\n");
    }

    /// `STOPPING=1`: shutdown has begun; systemd waits for the exit.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down\n");
    }

    /// A failure to notify is logged, never fatal: the server itself works, and systemd reports
    /// a unit that never became ready on its own.
    fn send(&self, state: &str) {
        let Some(target) = &self.socket else {
            return;
        };
        if let Err(e) = send_to(target, state.as_bytes()) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }
}

/// `$NOTIFY_SOCKET`: an absolute path, or `@` for an abstract socket. Anything else is ignored.
fn parse(value: &[u8]) -> Option<Target> {
    match value.first()? {
        b'/' => Some(Target::Path(PathBuf::from(
            String::from_utf8_lossy(value).into_owned(),
        ))),
        b'@' => Some(Target::Abstract(value[1..].to_vec())),
        _ => None,
    }
}

/// `$WATCHDOG_USEC` as an interval, unless `$WATCHDOG_PID` names another process (the variable
/// was inherited, not meant for us) or the value is not a positive number.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// What the watchdog waits on: a commit through the store's writer (SQLite), a round trip to
/// the database (PostgreSQL); see serve_store.rs.
pub type Probe = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Feeds the watchdog every half `every` while `probe` (a commit through the store) completes
/// within that half; a probe that does not is logged and the watchdog goes hungry, so systemd
/// restarts a server that can no longer make anything durable. Ends when `shutdown` turns true.
pub async fn watchdog(
    notifier: Notifier,
    every: Duration,
    probe: Probe,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let half = every / 2;
    loop {
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(half, probe()).await {
            Ok(Ok(())) => notifier.watchdog(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "watchdog: the store cannot commit; not feeding the watchdog")
            }
            Err(_) => tracing::error!(
                waited_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX),
                "watchdog: no commit completed in time; not feeding the watchdog"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep_until(started + half) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

fn send_to(target: &Target, msg: &[u8]) -> std::io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match target {
        Target::Path(p) => socket.send_to(msg, p),
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(msg, &addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_sockets_are_recognised() {
        assert!(
            matches!(parse(b"/run/systemd/notify"), Some(Target::Path(p)) if p == std::path::Path::new("/run/systemd/notify"))
        );
        assert!(matches!(parse(b"@abc"), Some(Target::Abstract(n)) if n == b"abc"));
        assert!(parse(b"relative").is_none());
        assert!(parse(b"").is_none());
    }

    /// `$WATCHDOG_USEC` is taken only for this process and only as a positive number.
    #[test]
    fn watchdog_interval_is_ours_only() {
        let d = Some(Duration::from_millis(30_000));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), d);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), d);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    }

    /// READY=1 and STOPPING=1 arrive as datagrams on the socket systemd would listen on.
    #[test]
    fn ready_and_stopping_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("rampart-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: Some(Target::Path(path.clone())),
            watchdog: None,
        };
        n.ready();
        n.stopping();
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..len])
            .unwrap()
            .starts_with("READY=1\n"));
        let len = listener.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..len])
            .unwrap()
            .starts_with("STOPPING=1\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
