//! Issue 22: the server under systemd's `Type=notify` unit (contrib/rampart.service): READY=1
//! once it listens, STOPPING=1 at SIGTERM, and SIGHUP (`systemctl reload`) never ends it.

use crate::common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &TempDir) -> std::path::PathBuf {
    make_pki(&dir.0);
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 5\n\
         [log]\nformat = \"text\"\nlevel = \"info\"\n\
         [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
         [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    config
}

/// Waits for the exit within a bound; the status.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The watchdog (WatchdogSec= in the unit): with $WATCHDOG_USEC set, WATCHDOG=1 keeps arriving
/// after READY=1, each one sent only after the store has completed a commit.
#[test]
fn watchdog_is_fed_while_the_store_commits() {
    let dir = TempDir::new("watchdog");
    let config = config(&dir);
    let sock_path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let mut ready = false;
    let mut fed = 0;
    while fed < 3 {
        let n = sock.recv(&mut buf).expect("a notification within 20 s");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        ready |= msg.lines().any(|l| l == "READY=1");
        if msg.lines().any(|l| l == "WATCHDOG=1") {
            fed += 1;
        }
    }
    assert!(ready, "READY=1 came first");
    signal(child.id(), 15);
    assert!(wait_exit(&mut child).success());
}

/// sd_notify: READY=1 arrives on $NOTIFY_SOCKET after the listener is bound (a connection is
/// answered by then), STOPPING=1 after SIGTERM, and the server exits cleanly.
#[test]
fn notify_ready_then_stopping() {
    let dir = TempDir::new("notify");
    let config = config(&dir);
    let sock_path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // Ready means listening: the address is printed, and a client gets the greeting.
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "exited");
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let mut c = Client::connect(addr);
    c.expect(220);
    signal(child.id(), 15);
    let n = sock.recv(&mut buf).expect("STOPPING=1 within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "STOPPING=1"), "{msg}");
    assert!(wait_exit(&mut child).success());
}

/// ExecReload sends SIGHUP: the server reloads its configuration, says so in its log, and goes
/// on serving (tests/reload.rs shows what a reload applies); SIGTERM still stops it cleanly.
#[test]
fn sighup_does_not_stop_the_server() {
    let dir = TempDir::new("sighup");
    let config = config(&dir);
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = err.read(&mut chunk) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&chunk[..n]));
            let _ = tx.send(all.clone());
        }
        all
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "exited");
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    signal(child.id(), 1);
    // The log says so (the signal was handled, not ignored by chance)...
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let log = rx
            .recv_timeout(left)
            .expect("a log line about SIGHUP within 20 s");
        if log.contains("SIGHUP: configuration reloaded") {
            break;
        }
    }
    // ...and the server still answers.
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the server"
    );
    let mut c = Client::connect(addr);
    c.expect(220);
    signal(child.id(), 15);
    assert!(wait_exit(&mut child).success());
    drop(reader.join());
}
