//! Starts a private `clamd` for a test: its own temporary directory, a unix socket inside it,
//! and a database directory holding only signatures the test writes (the official database
//! cannot be downloaded here, and is not needed).
//!
//! ```text
//! <tmp>/clamd.conf   Foreground yes, LocalSocket <tmp>/clamd.sock, DatabaseDirectory <tmp>/db,
//!                    LogFile <tmp>/clamd.log, PidFile, TemporaryDirectory; no TCPSocket, no User
//!                    (clamd then keeps the uid it was started with, root included)
//! <tmp>/db/*.hdb|ndb signatures given by the test
//! ```
//!
//! Readiness is awaited by polling `zPING` until `PONG`, with a bound (no fixed sleeps); if
//! clamd exits or never answers, the test fails with clamd's log. The process is killed when
//! the [`Clamd`] guard drops (also on panic) and, through `PR_SET_PDEATHSIG`, if the test
//! process dies. If `clamd` is not installed the test FAILS, telling what to install.
//! Copy this file to use the approach in other crates' integration tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long clamd may take to load its database and answer PING.
const READY_WITHIN: Duration = Duration::from_secs(90);

pub struct Clamd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

/// The clamd binary: `$RAMPART_CLAMD`, else `/usr/sbin/clamd`, else `clamd` on PATH.
fn clamd_binary() -> PathBuf {
    let install =
        "Install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y clamav-daemon` \
                   (or set RAMPART_CLAMD to the clamd binary); the official signature database \
                   is not needed.";
    if let Some(p) = std::env::var_os("RAMPART_CLAMD") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "RAMPART_CLAMD={} does not exist: these tests need a real ClamAV daemon. {install}",
            p.display()
        );
        return p;
    }
    let debian = Path::new("/usr/sbin/clamd");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("clamd");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("clamd is not installed: these tests need a real ClamAV daemon. {install}");
}

/// The 68-byte EICAR test string, assembled at run time so this source file is not itself
/// detected by a scanner.
pub fn eicar() -> Vec<u8> {
    let a = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
    let b = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    format!("{a}{b}").into_bytes()
}

/// A `.hdb` line (`md5:size:Name`) for `data`, hashed with coreutils' `md5sum`.
pub fn hdb_line(data: &[u8], name: &str) -> String {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("md5sum (coreutils) must be installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let md5 = text.split_whitespace().next().expect("md5sum output");
    format!("{md5}:{}:{name}\n", data.len())
}

/// An `.ndb` line (`Name:0:*:hex`) matching `pattern` anywhere in any file.
pub fn ndb_line(pattern: &[u8], name: &str) -> String {
    let hex: String = pattern.iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}:0:*:{hex}\n")
}

impl Clamd {
    /// Starts clamd with `signatures` as `(file name, contents)` in its database directory and
    /// returns once it answers PING.
    pub fn start(signatures: &[(&str, String)]) -> Clamd {
        Clamd::start_with(signatures, "")
    }

    /// [`Clamd::start`] with `extra` appended to clamd.conf (e.g. `MaxFiles 20\n`).
    pub fn start_with(signatures: &[(&str, String)], extra: &str) -> Clamd {
        static N: AtomicUsize = AtomicUsize::new(0);
        let bin = clamd_binary();
        let dir = std::env::temp_dir().join(format!(
            "rampart-clamd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        for (name, contents) in signatures {
            std::fs::write(dir.join("db").join(name), contents).unwrap();
        }
        let socket = dir.join("clamd.sock");
        let conf = format!(
            "Foreground yes\nLocalSocket {sock}\nDatabaseDirectory {db}\nLogFile {log}\n\
             PidFile {pid}\nTemporaryDirectory {dir}\nLogTime no\nScanMail yes\nScanArchive yes\n{extra}",
            sock = socket.display(),
            db = dir.join("db").display(),
            log = dir.join("clamd.log").display(),
            pid = dir.join("clamd.pid").display(),
            dir = dir.display(),
        );
        std::fs::write(dir.join("clamd.conf"), conf).unwrap();
        // setpriv (util-linux) sets PR_SET_PDEATHSIG and execs clamd, so the kernel kills clamd
        // when the thread that started it goes away and a crashed test leaves no daemon behind.
        // (A pre_exec prctl would need unsafe code, which this crate forbids, tests included.)
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"])
            .arg(&bin)
            .arg("-c")
            .arg(dir.join("clamd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("clamd.stderr")).unwrap(),
            ));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut clamd = Clamd {
            dir,
            socket,
            child: Some(child),
        };
        clamd.wait_ready();
        clamd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if ping(&self.socket) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "clamd exited ({status}) before answering PING:\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "clamd did not answer PING within {READY_WITHIN:?}:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// clamd's log and stderr, for failure messages.
    pub fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!("{}{}", read("clamd.stderr"), read("clamd.log"))
    }

    /// Kills clamd and waits for it; the socket file may remain but nobody answers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One synchronous `zPING` on `socket`.
pub fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.contains(&0) {
            break;
        }
    }
    got.starts_with(b"PONG")
}
