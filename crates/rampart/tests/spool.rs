//! Spooling a message the checks change (issue 11): the message stays in memory while it arrives
//! and is checked, and its file is created once, with the changes, when it is made durable. With
//! the memory budget spent, the message goes to disk as it arrives and is still stored whole.
//!
//! File creations are watched with inotify on the message directory: what the kernel saw, not
//! what the server says it did.

use crate::common;

use common::*;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An inotify watch for files created in one directory.
struct Created {
    file: File,
}

impl Created {
    fn watch(dir: &Path) -> Created {
        #[allow(unsafe_code)]
        // SAFETY: inotify_init1 takes no pointers; a negative result is checked below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        #[allow(unsafe_code)]
        // SAFETY: `fd` was just returned by inotify_init1 and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: `path` is a NUL-terminated string that outlives the call; `fd` is open.
        // Deletions are watched too, though not reported: the kernel merges an event with an
        // identical one queued just before it, so two creations of one name with nothing
        // between them would count as one.
        let wd = unsafe {
            libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_CREATE | libc::IN_DELETE)
        };
        assert!(
            wd >= 0,
            "inotify_add_watch: {}",
            std::io::Error::last_os_error()
        );
        Created {
            file: File::from(owned),
        }
    }

    /// Waits (bounded) until an event is queued.
    fn wait(&self) {
        let mut p = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: one valid pollfd, and its count is 1.
        let n = unsafe { libc::poll(&mut p, 1, READ_TIMEOUT.as_millis() as i32) };
        assert!(n == 1, "no file was created within {READ_TIMEOUT:?}");
    }

    /// The names created since the last call, in order (without waiting).
    fn names(&mut self) -> Vec<String> {
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading inotify events: {e}"),
            }
        }
        // struct inotify_event: wd, mask, cookie, len (4 bytes each), then `len` bytes of name.
        let mut out = Vec::new();
        let mut i = 0;
        while i + 16 <= raw.len() {
            let mask = u32::from_ne_bytes(raw[i + 4..i + 8].try_into().unwrap());
            let len = u32::from_ne_bytes(raw[i + 12..i + 16].try_into().unwrap()) as usize;
            let name = &raw[i + 16..i + 16 + len];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            if mask & libc::IN_CREATE != 0 {
                out.push(String::from_utf8_lossy(&name[..end]).to_string());
            }
            i += 16 + len;
        }
        out
    }
}

/// A 300 KB message: well past the 256 KiB a session buffers and the 128 KiB kept in the
/// database, so it is a file of its own.
fn big_message() -> (String, String) {
    let head = "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: big\r\n\
                Message-ID: <big@remote.test>\r\n\r\n";
    let mut body = String::new();
    let mut n = 0;
    while body.len() < 300_000 {
        body.push_str(&format!(
            "line {n:06} of a long message, the same words again and again to fill it\r\n"
        ));
        n += 1;
    }
    body.push_str("the last line\r\n");
    (head.to_string(), body)
}

/// The stored file of `id`, checked to carry the checks' changes and the whole body.
fn assert_stored(s: &Server, id: &str, body: &str) {
    let stored = std::fs::read(s.data_dir().join("messages").join(id)).unwrap();
    let text = String::from_utf8_lossy(&stored);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    // AL-1.6 and the authentication results: the changes the checks made.
    assert!(head.contains("\r\nSubject: [External] big"), "{head}");
    assert!(
        head.contains("Authentication-Results: mail.example.test"),
        "{head}"
    );
    assert!(
        head.starts_with("Return-Path: <sender@remote.test>\r\n"),
        "{head}"
    );
    assert_eq!(rest.len(), body.len(), "the whole body, and nothing more");
    assert!(rest == body, "the body as sent");
}

/// Sends the message up to, not including, the end of data.
fn send_unfinished(c: &mut Client, head: &str, body: &str) {
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(head.as_bytes());
    c.send_raw(body.as_bytes());
}

#[test]
fn a_changed_300k_message_is_stored_with_one_file_creation_over_data_and_bdat() {
    let s = Server::start();
    let mut created = Created::watch(&s.data_dir().join("messages"));
    let (head, body) = big_message();
    let mut c = s.ehlo();
    send_unfinished(&mut c, &head, &body);
    c.send_raw(b".\r\n");
    let text = c.expect(250);
    let id = text.rsplit(' ').next().unwrap().to_string();
    // The file exists by the 250, so its creation is queued by now.
    let names = created.names();
    assert_eq!(
        names.iter().filter(|n| **n == id).count(),
        1,
        "created once, not written, read back and written again: {names:?}"
    );
    assert_stored(&s, &id, &body);
    // The same over BDAT (RFC 3030), in two chunks that each stay in memory.
    let whole = format!("{head}{body}");
    let (first, last) = whole.split_at(200_000);
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send_raw(format!("BDAT {}\r\n{first}", first.len()).as_bytes());
    c.expect(250);
    c.send_raw(format!("BDAT {} LAST\r\n{last}", last.len()).as_bytes());
    let id = c.expect(250).rsplit(' ').next().unwrap().to_string();
    let names = created.names();
    assert_eq!(
        names.iter().filter(|n| **n == id).count(),
        1,
        "BDAT: created once: {names:?}"
    );
    assert_stored(&s, &id, &body);
    c.send("QUIT");
    c.expect(221);
}

#[test]
fn with_the_memory_budget_spent_a_message_goes_to_disk_as_it_arrives() {
    let s = Server::start_with(Options {
        limits: "max_message_memory = 1".into(),
        ..Options::default()
    });
    let mut created = Created::watch(&s.data_dir().join("messages"));
    let (head, body) = big_message();
    let mut c = s.ehlo();
    send_unfinished(&mut c, &head, &body);
    // No end of data yet: the file appears all the same, since the message may not stay in memory.
    created.wait();
    let early = created.names();
    assert_eq!(early.len(), 1, "{early:?}");
    c.send_raw(b".\r\n");
    let text = c.expect(250);
    let id = text.rsplit(' ').next().unwrap().to_string();
    assert_eq!(early[0], id);
    // Read back for the checks and changed, it is cut back and rewritten in that same file.
    let later = created.names();
    assert!(later.is_empty(), "{later:?}");
    assert_stored(&s, &id, &body);
    // A second message in the same session: nothing of the first one's spool is left over.
    send_unfinished(&mut c, &head, &body);
    created.wait();
    c.send_raw(b".\r\n");
    let id2 = c.expect(250).rsplit(' ').next().unwrap().to_string();
    assert_ne!(id, id2);
    assert_stored(&s, &id2, &body);
}
