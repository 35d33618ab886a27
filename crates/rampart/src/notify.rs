//! The systemd notification protocol (sd_notify(3)) for `Type=notify`: one datagram to the unix
//! socket named by `$NOTIFY_SOCKET`. `READY=1` once every listener is bound and the privileges
//! are dropped, so that `systemctl start` returns only when the server answers; `STOPPING=1` when
//! a shutdown begins. Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Where the notifications go, read once at start-up.
pub struct Notifier {
    socket: Option<Target>,
}

enum Target {
    /// A path in the file system.
    Path(PathBuf),
    /// An abstract socket (`@name`): the name without its `@`.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        let value = std::env::var_os("NOTIFY_SOCKET");
        Notifier {
            socket: value.and_then(|v| parse(v.as_encoded_bytes())),
        }
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
