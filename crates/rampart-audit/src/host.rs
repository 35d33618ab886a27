//! Facts about the host, read from /proc and the filesystem: listening sockets, the data
//! directory's filesystem, file modes.

use crate::facts::{FileFact, HostFacts, Socket};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// TCP state LISTEN in /proc/net/tcp.
const TCP_LISTEN: &str = "0A";

/// Every TCP socket listening on the host (this network namespace), IPv4 and IPv6.
pub fn listening_sockets() -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        match std::fs::read_to_string(file) {
            Ok(text) => out.extend(parse_proc_net_tcp(&text, v6)),
            // A kernel without IPv6 has no tcp6.
            Err(e) if v6 && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by_key(|s| (s.addr.port(), s.addr.ip()));
    out.dedup();
    Ok(out)
}

/// Parses /proc/net/tcp or tcp6: `sl local_address rem_address st ...`, addresses in hex with
/// the address in host byte order, 32 bits at a time.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != TCP_LISTEN {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let ip = if v6 {
                if addr.len() != 32 {
                    return None;
                }
                let mut bytes = [0u8; 16];
                for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                    let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                let v6 = Ipv6Addr::from(bytes);
                v6.to_ipv4_mapped()
                    .map(std::net::IpAddr::V4)
                    .unwrap_or(v6.into())
            } else {
                let word = u32::from_str_radix(addr, 16).ok()?;
                Ipv4Addr::from(word.to_le_bytes()).into()
            };
            Some(Socket {
                addr: SocketAddr::new(ip, port),
            })
        })
        .collect()
}

/// Whether `dir` is on another filesystem than `/`, and the mount point holding it.
pub fn separate_filesystem(dir: &Path) -> (Option<bool>, Option<PathBuf>) {
    let dir = match dir.canonicalize() {
        Ok(d) => d,
        Err(_) => return (None, None),
    };
    let separate = match (std::fs::metadata(&dir), std::fs::metadata("/")) {
        (Ok(d), Ok(r)) => Some(d.dev() != r.dev()),
        _ => None,
    };
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| mount_point_of(&m, &dir));
    (separate, mount)
}

/// The longest mount point in /proc/self/mountinfo (field 5) that holds `path`.
fn mount_point_of(mountinfo: &str, path: &Path) -> Option<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
}

/// Mode and owner of one file, if it exists.
pub fn file_fact(path: &Path, kind: &str) -> Option<FileFact> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileFact {
        path: path.to_path_buf(),
        kind: kind.to_string(),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

/// The host facts for a data directory.
pub fn gather(data_dir: &Path, files: Vec<FileFact>) -> std::io::Result<HostFacts> {
    let (separate, mount) = separate_filesystem(data_dir);
    let st = rustix::fs::statvfs(data_dir).ok();
    Ok(HostFacts {
        listening: listening_sockets()?,
        data_dir_separate: separate,
        data_dir: data_dir.to_path_buf(),
        data_dir_mount: mount,
        data_dir_free: st
            .as_ref()
            .map(|st| st.f_bavail.saturating_mul(st.f_frsize)),
        data_dir_free_inodes: st
            .as_ref()
            .filter(|st| st.f_files > 0)
            .map(|st| st.f_favail),
        files,
        certificates: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listening_sockets_from_proc_net_tcp() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:09C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:09C5 0100007F:D1A2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n";
        let s = parse_proc_net_tcp(v4, false);
        assert_eq!(
            s,
            vec![Socket {
                addr: "127.0.0.1:2501".parse().unwrap()
            }]
        );
        let v6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A 0\n   1: 00000000000000000000000001000000:008F 00000000000000000000000000000000:0000 0A 0\n";
        let s = parse_proc_net_tcp(v6, true);
        assert_eq!(s[0].addr, "[::]:25".parse().unwrap());
        assert_eq!(s[1].addr, "[::1]:143".parse().unwrap());
    }

    #[test]
    fn this_process_sees_its_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let all = listening_sockets().unwrap();
        assert!(all.iter().any(|s| s.addr == addr), "{addr} not in {all:?}");
    }

    #[test]
    fn the_mount_point_is_the_longest_prefix() {
        let info =
            "22 1 8:1 / / rw - ext4 /dev/vda rw\n30 22 8:2 / /var/lib rw - ext4 /dev/vdb rw\n";
        assert_eq!(
            mount_point_of(info, Path::new("/var/lib/rampart")),
            Some(PathBuf::from("/var/lib"))
        );
        assert_eq!(
            mount_point_of(info, Path::new("/etc")),
            Some(PathBuf::from("/"))
        );
    }
}
