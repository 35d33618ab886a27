//! A full disk, for real: the server's data directory is a small tmpfs mounted in a mount
//! namespace of its own (`unshare -rm`), and the test fills it and frees it with files of its
//! own, reached through `/proc/<pid>/root`. What must hold (the mission's "bad input gets a
//! clear answer and loses nothing", docs/DURABILITY.md):
//! - MAIL is refused with `452 4.3.1` while the free space is under `limits.min_free_space`
//!   (or under it plus the declared SIZE), so the client keeps the message;
//! - a message whose writes find the disk full is answered `452 4.3.1` at its end, whether it
//!   was being written as it arrived, as a file at the end, or into the database; nothing of it
//!   is left on disk, and the log says nowhere that it was queued or delivered;
//! - once there is room again, mail flows without a restart.

use crate::common;

use common::*;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
/// The tmpfs the data directory lives on.
const DISK: u64 = 24 * MIB;
/// `limits.min_free_space` of the test's server.
const RESERVE: u64 = MIB;
/// Inodes of the tmpfs: a few thousand, so that a test can use them up with empty files.
const INODES: u64 = 4096;

/// The server, its data directory as the test reaches it, and its log file.
struct Full {
    server: Server,
    data: PathBuf,
    log: PathBuf,
}

/// The server's directory, configuration and DNS, and the command that starts it on its tmpfs;
/// with `full`, the tmpfs is filled before the server starts.
struct Prepared {
    dir: TempDir,
    pki: TestPki,
    dns: rampart_testdns::TestDns,
    config: PathBuf,
    data: PathBuf,
    serve: Command,
}

fn prepare(full: bool) -> Prepared {
    let dir = TempDir::new("disk-full");
    let pki = make_pki(&dir.0);
    let dns = rampart_testdns::TestDns::builder().start();
    let config = dir.0.join("rampart.toml");
    // max_message_memory = 0: a message over 256 KiB is written out as it arrives, so a full
    // disk can meet it in the middle of its data.
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 5\n\
             [log]\nlevel = \"info\"\n\
             [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [limits]\nmin_free_space = {RESERVE}\nmax_message_memory = 0\n\
             [dns]\nservers = [\"{}\"]\n\
             [checks]\ndisabled = [\"antivirus\"]\n",
            dns.addr()
        ),
    )
    .unwrap();
    cli(&config, &["domain", "add", "example.test"], None);
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    // The data directory made by the CLI is copied onto a tmpfs mounted over it, in a mount
    // namespace that ends with the server: nothing of it outlives the test.
    let data = dir.0.join("data");
    let seed = dir.0.join("data.seed");
    std::fs::rename(&data, &seed).unwrap();
    std::fs::create_dir(&data).unwrap();
    let fill = if full {
        format!(
            "dd if=/dev/zero of='{}/ballast' bs=64k 2>/dev/null || true\n",
            data.display()
        )
    } else {
        String::new()
    };
    let script = format!(
        "set -e\nmount -t tmpfs -o size={DISK},nr_inodes={INODES},mode=0700 tmpfs '{d}'\n\
         cp -a '{s}/.' '{d}/'\n\
         {fill}exec \"$0\" \"$@\"",
        d = data.display(),
        s = seed.display()
    );
    let mut serve = Command::new("unshare");
    serve
        .args(["-rm", "sh", "-c", &script, BIN, "--config"])
        .arg(&config)
        .arg("serve");
    Prepared {
        dir,
        pki,
        dns,
        config,
        data,
        serve,
    }
}

fn start() -> Full {
    let Prepared {
        dir,
        pki,
        dns,
        config,
        data,
        mut serve,
    } = prepare(false);
    let log = dir.0.join("rampart.log");
    let mut child = serve
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("unshare (util-linux) runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let listeners = read_listeners(&mut out, || {
        format!(
            " in a mount namespace of its own (unshare -rm, then mount -t tmpfs); this test \
             needs user and mount namespaces: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    // `sh` exec'd the server: the child's pid is the server's, and its root shows its mounts.
    let inside =
        PathBuf::from(format!("/proc/{}/root", child.id())).join(data.strip_prefix("/").unwrap());
    let addr = listeners.iter().find(|(_, r)| r == "mx").unwrap().0;
    let server = Server {
        dir,
        config,
        pki,
        addr,
        listeners,
        child: Some(child),
        dns: Some(dns),
        stdout: Some(out),
    };
    assert_eq!(
        fs_size(&inside),
        DISK,
        "the data directory is the test's tmpfs"
    );
    Full {
        server,
        data: inside,
        log,
    }
}

/// The size of the filesystem holding `dir` (coreutils' `stat -f`).
fn fs_size(dir: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%b %S"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().unwrap());
    parts.next().unwrap() * parts.next().unwrap()
}

impl Full {
    fn free(&self) -> u64 {
        rampart_store::free_space(&self.data).unwrap()
    }

    /// Writes `name` so that about `leave` bytes stay free (0: until the disk is full).
    fn fill(&self, name: &str, leave: u64) {
        let mut f = std::fs::File::create(self.data.join(name)).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            let free = self.free();
            if free <= leave {
                break;
            }
            let n = (free - leave).min(chunk.len() as u64) as usize;
            match f.write_all(&chunk[..n]) {
                Ok(()) => {}
                Err(e) if rampart_store::io_is_full(&e) => break,
                Err(e) => panic!("{e}"),
            }
        }
        f.sync_all().unwrap();
    }

    fn unfill(&self, name: &str) {
        std::fs::remove_file(self.data.join(name)).unwrap();
    }

    /// Files in the message directory (none of a message that was not stored).
    fn message_files(&self) -> Vec<String> {
        std::fs::read_dir(self.data.join("messages"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    }
}

/// Sends `mail` (MAIL with its parameters) until the reply has `code`: the server reads the
/// free space at most every 250 ms, so a change on disk is seen within that (bounded: 10 s).
fn mail_until(c: &mut Client, mail: &str, code: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.send(mail);
        let (got, text) = c.reply().expect("a reply to MAIL");
        if got == code {
            return text;
        }
        if got == 250 {
            c.send("RSET");
            c.expect(250);
        }
        assert!(
            Instant::now() < deadline,
            "MAIL still answered {got} {text}, not {code}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A message of about `size` bytes, CRLF lines, dot-stuffing not needed.
fn body(id: &str, size: usize) -> String {
    let line = "All work and no play makes a full disk a dull disk, said the postmaster.\r\n";
    let mut text = String::with_capacity(size + 200);
    while text.len() < size {
        text.push_str(line);
    }
    message(id, &text)
}

/// Sends DATA and the message on a client whose MAIL and RCPT were accepted; the reply.
fn data(c: &mut Client, msg: &str) -> (u16, String) {
    c.send("DATA");
    c.expect(354);
    c.send_raw(msg.as_bytes());
    c.send_raw(b".\r\n");
    c.reply().expect("a reply to the data")
}

/// Once MAIL is accepted again, sends a 300 KiB message (large enough to be a file of its
/// own) to alice and quits; the queue id it was stored under.
fn store_once_there_is_room(c: &mut Client, id: &str) -> String {
    mail_until(c, "MAIL FROM:<sender@remote.test>", 250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    let (code, text) = data(c, &body(id, 300 * 1024));
    assert_eq!(code, 250, "{text}");
    let stored = text.rsplit(' ').next().unwrap().to_string();
    c.send("QUIT");
    c.expect(221);
    stored
}

/// The queue ids of the log's trace lines of `event`.
fn queue_ids(log: &str, event: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(&format!("event=\"{event}\"")))
        .filter_map(|l| l.split("queue_id=\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_full_disk_gets_452_and_loses_nothing_and_mail_flows_once_there_is_room() {
    let mut t = start();

    // 1. Under the reserve, MAIL is refused before any data is sent.
    t.fill("ballast-a", RESERVE / 2);
    let mut c = t.server.ehlo();
    let text = mail_until(&mut c, "MAIL FROM:<sender@remote.test>", 452);
    assert_eq!(text, "4.3.1 Insufficient system storage; try again later");

    // 2. Room again: MAIL is accepted, unless the declared SIZE would not fit beside the
    //    reserve.
    t.unfill("ballast-a");
    mail_until(&mut c, "MAIL FROM:<sender@remote.test>", 250);
    c.send("RSET");
    c.expect(250);
    let free = t.free();
    c.send(&format!(
        "MAIL FROM:<sender@remote.test> SIZE={}",
        free - RESERVE / 2
    ));
    let (code, text) = c.reply().unwrap();
    assert_eq!(
        (code, text.as_str()),
        (452, "4.3.1 Insufficient system storage; try again later")
    );
    c.send("QUIT");
    c.expect(221);

    // 3. Two transactions accepted while there is room, then the disk fills under them.
    let open = || {
        let mut c = t.server.ehlo();
        c.send("MAIL FROM:<sender@remote.test>");
        c.expect(250);
        c.send("RCPT TO:<alice@example.test>");
        c.expect(250);
        c
    };
    let mut spilled = open();
    let mut inline = open();
    t.fill("ballast-b", 96 * 1024);
    // A 2 MiB message, written out as it arrives: the disk is full in the middle of it. The
    // data is read to its end and answered; the session goes on.
    let (code, text) = data(&mut spilled, &body("spilled", 2 * MIB as usize));
    assert_eq!(
        (code, text.as_str()),
        (452, "4.3.1 Insufficient system storage; try again later")
    );
    spilled.send("NOOP");
    spilled.expect(250);
    // A message small enough to go into the database with its rows (120 KiB, under 128), on a
    // disk with no room left at all: the database's write fails, and that too is a 452. Its
    // pages are more than a WAL reset after a checkpoint could have left room for, since only
    // the sessions' small trace commits came before it.
    t.fill("ballast-c", 0);
    let (code, text) = data(&mut inline, &body("inline", 120 * 1024));
    assert_eq!(
        (code, text.as_str()),
        (452, "4.3.1 Insufficient system storage; try again later")
    );
    // Nothing of either is on disk.
    assert_eq!(t.message_files(), Vec::<String>::new());

    // 4. Room again: the same client's next message is accepted and delivered, no restart.
    t.unfill("ballast-c");
    t.unfill("ballast-b");
    let mut c = t.server.ehlo();
    let stored = store_once_there_is_room(&mut c, "after");
    for s in [&mut spilled, &mut inline] {
        s.send("QUIT");
        s.expect(221);
    }
    assert_eq!(
        t.message_files(),
        vec![stored.clone()],
        "the stored message's file"
    );

    // The log, complete once the server has stopped: the one message stored is the only one
    // said to be queued and delivered; the two refused are said to be not stored, with 452.
    let status = t.server.terminate();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&t.log).unwrap();
    assert_eq!(queue_ids(&log, "queued"), [stored.as_str()], "{log}");
    assert_eq!(queue_ids(&log, "delivered"), [stored.as_str()], "{log}");
    let not_stored: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"data\"") && l.contains("not stored"))
        .collect();
    assert_eq!(not_stored.len(), 2, "{log}");
    for l in not_stored {
        assert!(l.contains("452 4.3.1"), "{l}");
        assert!(!l.contains(&stored), "{l}");
    }
}

/// A filesystem out of inodes refuses new files however many bytes it has: MAIL is refused
/// with `452 4.3.1` while fewer than `Limits::MIN_FREE_INODES` (1024) are free, and accepted
/// once files are removed.
#[test]
fn mail_is_refused_while_the_filesystem_is_short_of_inodes() {
    let mut t = start();
    let inodes = || {
        rampart_store::free_room(&t.data)
            .unwrap()
            .inodes
            .expect("tmpfs counts inodes")
    };
    // Empty files until 500 inodes are left: bytes are plentiful.
    let ballast = t.data.join("ballast-inodes");
    std::fs::create_dir(&ballast).unwrap();
    let mut n = 0;
    while inodes() > 500 {
        std::fs::File::create(ballast.join(n.to_string())).unwrap();
        n += 1;
    }
    assert!(t.free() > 16 * MIB, "bytes to spare: {}", t.free());
    let mut c = t.server.ehlo();
    let text = mail_until(&mut c, "MAIL FROM:<sender@remote.test>", 452);
    assert_eq!(text, "4.3.1 Insufficient system storage; try again later");

    // Files removed: MAIL is accepted, and a message large enough to be a file of its own is
    // stored and delivered.
    std::fs::remove_dir_all(&ballast).unwrap();
    assert!(inodes() > 2048, "{}", inodes());
    let stored = store_once_there_is_room(&mut c, "inodes");
    assert_eq!(t.message_files(), vec![stored.clone()]);

    let status = t.server.terminate();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&t.log).unwrap();
    assert!(log.contains("short of free inodes"), "{log}");
    assert_eq!(queue_ids(&log, "delivered"), [stored.as_str()], "{log}");
}

/// A server started on a full disk says so in one line and stops, rather than naming SQLite's
/// "disk I/O error" as the cause.
#[test]
fn a_server_started_on_a_full_disk_says_the_disk_is_full() {
    let mut p = prepare(true);
    let out = p.serve.stdin(Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot open the data directory ")
            && last.contains("has 0 bytes free; free space on it"),
        "{err}"
    );
}
