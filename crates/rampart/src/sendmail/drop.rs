//! The drop directory (NC-2.1.9: a message handed to sendmail is never lost): one file per
//! message, written by the command and removed by the server only once its queue holds the
//! message.
//!
//! A file is a few header lines, a blank line, then the message as it will be submitted:
//!
//! ```text
//! Rampart-Drop: 1
//! Uid: 1000                 the caller's uid (the file's owner is what the server trusts)
//! User: alice               the caller's login, for the log
//! Time: 1764760000          seconds since the epoch
//! Sender: <>                -f: <> null, <addr>; absent without -f
//! Name: Cron Daemon         -F, absent without it
//! Rcpt: bob@example.test    one line per recipient
//!
//! message bytes (CRLF lines)
//! ```
//!
//! Durability is Postfix maildrop's: a temporary file (created exclusively, mode 0600) is
//! written and fsynced, renamed to its final name ending in `.msg`, and the directory fsynced
//! (or, for a caller who may not open the directory, the file again); only then does the
//! command exit 0. A crash before the rename leaves a temporary file the
//! server never reads (and removes once it is a day old); after it, the message is there whole.

use super::args::Sender;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The first line of every drop file.
const MAGIC: &str = "Rampart-Drop: 1";
/// The socket in the drop directory the command pokes after a rename; the server listens on it.
pub const WAKE_SOCKET: &str = "pickup.sock";
/// Where files the checks refused go (not retried).
pub const REFUSED_DIR: &str = "refused";
/// The most recipients one drop file may name (a header larger than this is not ours).
pub const MAX_RECIPIENTS: usize = 10_000;

/// A message's envelope as the command writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub uid: u32,
    pub user: String,
    pub time: i64,
    pub sender: Sender,
    pub full_name: Option<String>,
    pub recipients: Vec<String>,
}

/// A value that can stand on one header line: no line break or other control character.
fn one_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// The file's bytes, or the reason the envelope cannot be written.
pub fn encode(env: &Envelope, message: &[u8]) -> Result<Vec<u8>, String> {
    let mut h = format!(
        "{MAGIC}\nUid: {}\nUser: {}\nTime: {}\n",
        env.uid, env.user, env.time
    );
    match &env.sender {
        Sender::Default => {}
        Sender::Null => h.push_str("Sender: <>\n"),
        Sender::Address(a) => h.push_str(&format!("Sender: <{a}>\n")),
    }
    if let Some(n) = &env.full_name {
        h.push_str(&format!("Name: {n}\n"));
    }
    for r in &env.recipients {
        if r.is_empty() || r.contains(char::is_whitespace) {
            return Err(format!("recipient {r:?} is not an address"));
        }
        h.push_str(&format!("Rcpt: {r}\n"));
    }
    let sender = match &env.sender {
        Sender::Address(a) => a.as_str(),
        _ => "",
    };
    let values = [
        env.user.as_str(),
        sender,
        env.full_name.as_deref().unwrap_or(""),
    ];
    if !values
        .into_iter()
        .chain(env.recipients.iter().map(String::as_str))
        .all(one_line)
    {
        return Err("a sender, name or recipient holds a control character".into());
    }
    h.push('\n');
    let mut out = h.into_bytes();
    out.extend_from_slice(message);
    Ok(out)
}

/// Reads a drop file back: the envelope and where the message starts.
pub fn decode(bytes: &[u8]) -> Result<(Envelope, &[u8]), String> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no end of the drop header")?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "drop header is not UTF-8")?;
    let mut lines = head.lines();
    if lines.next() != Some(MAGIC) {
        return Err("not a drop file (first line)".into());
    }
    let mut env = Envelope {
        uid: u32::MAX,
        user: String::new(),
        time: 0,
        sender: Sender::Default,
        full_name: None,
        recipients: Vec::new(),
    };
    for line in lines {
        let (k, v) = line
            .split_once(": ")
            .ok_or_else(|| format!("drop header line {line:?}"))?;
        match k {
            "Uid" => env.uid = v.parse().map_err(|_| "bad Uid")?,
            "User" => env.user = v.to_string(),
            "Time" => env.time = v.parse().map_err(|_| "bad Time")?,
            "Sender" => {
                let a = v
                    .strip_prefix('<')
                    .and_then(|s| s.strip_suffix('>'))
                    .ok_or("bad Sender")?;
                env.sender = if a.is_empty() {
                    Sender::Null
                } else {
                    Sender::Address(a.to_string())
                };
            }
            "Name" => env.full_name = Some(v.to_string()),
            "Rcpt" if env.recipients.len() < MAX_RECIPIENTS => env.recipients.push(v.to_string()),
            "Rcpt" => return Err(format!("more than {MAX_RECIPIENTS} recipients")),
            _ => return Err(format!("unknown drop header {k:?}")),
        }
    }
    Ok((env, &bytes[end + 2..]))
}

/// Writes one message durably into `dir`; returns the file's path once file and directory
/// are on disk.
pub fn write(dir: &Path, env: &Envelope, message: &[u8]) -> Result<PathBuf, String> {
    let bytes = encode(env, message)?;
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| format!("no random bytes: {e}"))?;
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{}-{}-{tag}", env.time, std::process::id());
    let tmp = dir.join(format!(".tmp-{name}"));
    let fin = dir.join(format!("{name}.msg"));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            // Group-readable: the drop directory is setgid (3733), so the file's group is the
            // service's own and the server, which has no capability to read others' files
            // under systemd, reads it through the group; other users are not in that group.
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &fin)?;
        match sync_dir(dir) {
            // Mode 3733 lets a caller write names but not open the directory to fsync it.
            // The rename changed the file's inode (its ctime), so an fsync of the file commits
            // the journal that holds the rename (ext4, XFS and btrfs log it with the inode).
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => f.sync_all(),
            other => other,
        }
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write to {}: {e}", dir.display()));
    }
    Ok(fin)
}

/// fsync of a directory: its new or removed names are on disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Tells the server a file is waiting. Nothing is lost if nobody listens: the server scans the
/// directory when it starts and every few seconds.
pub fn wake(dir: &Path) {
    if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = s.set_nonblocking(true);
        let _ = s.send_to(b"1", dir.join(WAKE_SOCKET));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            uid: 1000,
            user: "alice".into(),
            time: 1_764_760_000,
            sender: Sender::Null,
            full_name: Some("Cron Daemon".into()),
            recipients: vec!["bob@example.test".into(), "carol@example.test".into()],
        }
    }

    #[test]
    fn nc_2_1_9_drop_file_round_trip() {
        let msg = b"Subject: x\r\n\r\nbody\n\n";
        let bytes = encode(&env(), msg).unwrap();
        let (e, m) = decode(&bytes).unwrap();
        assert_eq!(e, env());
        assert_eq!(m, msg);
        for s in [Sender::Default, Sender::Address("a@b.test".into())] {
            let mut x = env();
            x.sender = s;
            x.full_name = None;
            let b = encode(&x, b"").unwrap();
            assert_eq!(decode(&b).unwrap().0, x);
        }
    }

    #[test]
    fn nc_2_1_9_drop_header_cannot_be_smuggled() {
        let mut e = env();
        e.full_name = Some("x\nRcpt: evil@x.test".into());
        assert!(encode(&e, b"").is_err());
        let mut e = env();
        e.recipients = vec!["a@b\r\nRcpt: c@d".into()];
        assert!(encode(&e, b"").is_err());
        assert!(decode(b"Rampart-Drop: 2\n\nx").is_err());
        assert!(decode(b"Rampart-Drop: 1\nEvil: 1\n\nx").is_err());
        assert!(decode(b"Rampart-Drop: 1\nUid: 1").is_err());
    }

    #[test]
    fn nc_2_1_9_durable_write_leaves_one_file() {
        let dir = std::env::temp_dir().join(format!("rampart-drop-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write(&dir, &env(), b"Subject: x\r\n\r\nhi\r\n").unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(".msg"));
        let bytes = std::fs::read(&path).unwrap();
        let (e, m) = decode(&bytes).unwrap();
        assert_eq!(e, env());
        assert_eq!(m, b"Subject: x\r\n\r\nhi\r\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
