//! Process lifecycle: graceful shutdown on SIGTERM, dropping root after binding, and refusing a bad
//! configuration before anything starts.

use crate::common;

use common::*;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Waits (bounded) for a process to exit; kills it and fails if it does not.
fn wait_exit(child: &mut Child, within: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `rampart --config CONFIG serve` expecting it to refuse to start; returns its output.
/// A server that starts anyway is killed and the test fails.
fn serve_expecting_failure(config: &Path, uid_gid: Option<(u32, u32)>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = uid_gid {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn().expect("spawn rampart serve");
    let status = wait_exit(
        &mut child,
        Duration::from_secs(20),
        "rampart serve that should have refused to start",
    );
    let mut out = child.wait_with_output().expect("output");
    out.status = status;
    out
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    assert!(out.status.success(), "id {args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .expect("a number from id")
}

fn is_root() -> bool {
    id(&["-u"]) == 0
}

/// The four uids (real, effective, saved, filesystem) from /proc/PID/status, and the gids.
fn proc_ids(pid: u32) -> (Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| -> Vec<u32> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        line[name.len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    (field("Uid:"), field("Gid:"))
}

/// A configuration like the harness's (own PKI, listener on 127.0.0.1:0) plus `extra` at the top.
fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    make_pki(dir);
    let config = dir.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n{extra}\n\
             [log]\nlevel = \"warn\"\n\
             [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn sigterm_finishes_transactions_and_tells_idle_sessions_421() {
    let mut s = Server::start();
    // Mid-transaction: MAIL and RCPT accepted, DATA not yet sent.
    let mut busy = s.ehlo();
    busy.send("MAIL FROM:<sender@remote.test>");
    busy.expect(250);
    busy.send("RCPT TO:<alice@example.test>");
    busy.expect(250);
    let mut idle = s.ehlo();

    let mut child = s.child.take().expect("running");
    signal(child.id(), libc::SIGTERM);
    // The idle session is told, unprompted, that the server is going away: that reply is also
    // the sign that the shutdown has begun.
    let (code, text) = idle
        .reply()
        .expect("421 to the idle session, not a silent close");
    assert_eq!(code, 421, "{text}");
    assert!(text.starts_with("4.3.2 "), "{text}");
    assert!(idle.closed(), "the idle session is closed after 421");

    // No new sessions while draining (bounded wait for the listener to close).
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(s.addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited while a transaction was open"
    );

    // The open transaction may finish, and its 250 means durable.
    busy.send("DATA");
    busy.expect(354);
    busy.send_raw(message("sigterm1", "sent after SIGTERM").as_bytes());
    busy.send_raw(b".\r\n");
    let text = busy.expect(250);
    assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");
    // Then, with no transaction left, this session too is told 421 and closed.
    let (code, text) = busy.reply().expect("421 after the transaction");
    assert_eq!(code, 421, "{text}");
    assert!(busy.closed());

    let status = wait_exit(&mut child, Duration::from_secs(15), "server after SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );

    s.spawn();
    let m = s.wait_mailbox("alice@example.test", 1);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].ends_with("\t<sigterm1@remote.test>"), "{m:?}");
}

/// Once the server has said it is listening, SIGTERM is a graceful shutdown (exit status 0), not
/// the default action of the signal, however soon it comes.
#[test]
fn sigterm_right_after_listening_exits_cleanly() {
    let dir = TempDir::new("early-term");
    let config = write_config(&dir.0, "");
    for attempt in 0..5 {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rampart serve");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("listening on ") {
            line.clear();
            let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            assert!(n > 0, "server exited before listening");
        }
        // At once, without the delay of running kill(1).
        // SAFETY: kill has no memory-safety preconditions; the pid is our live child's.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let status = wait_exit(&mut child, Duration::from_secs(15), "server after SIGTERM");
        assert_eq!(
            status.code(),
            Some(0),
            "attempt {attempt}: SIGTERM right after \"{}\" ended the server with {status:?}",
            line.trim()
        );
    }
}

#[test]
fn run_as_switches_user_after_binding_or_refuses_without_root() {
    let nobody = (id(&["-u", "nobody"]), id(&["-g", "nobody"]));
    if is_root() {
        let s = Server::start_with(Options {
            top: "run_as = \"nobody\"".into(),
            ..Options::default()
        });
        let (uids, gids) = proc_ids(s.pid());
        assert_eq!(uids, vec![nobody.0; 4], "Uid line of the server");
        assert_eq!(gids, vec![nobody.1; 4], "Gid line of the server");
        // The data directory was handed over before the switch.
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(s.data_dir()).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            nobody,
            "owner of the data directory"
        );
        // And the unprivileged server still does its work.
        let mut c = s.ehlo();
        let (code, text) = c.send_mail(
            "sender@remote.test",
            &["alice@example.test"],
            &message("runas1", "delivered by nobody"),
        );
        assert_eq!(code, 250, "{text}");
        let m = s.wait_mailbox("alice@example.test", 1);
        assert!(m[0].ends_with("\t<runas1@remote.test>"), "{m:?}");

        // Started by another unprivileged user, the same setting is refused.
        let daemon = (id(&["-u", "daemon"]), id(&["-g", "daemon"]));
        assert_ne!(daemon.0, nobody.0);
        refused_without_root(Some(daemon));
    } else {
        refused_without_root(None);
    }
}

/// A server not started as root (and not already running as nobody) refuses run_as = "nobody"
/// with one line that names the setting.
fn refused_without_root(as_user: Option<(u32, u32)>) {
    let dir = TempDir::new("runas");
    if as_user.is_some() {
        use std::os::unix::fs::PermissionsExt;
        // The unprivileged user creates its own data directory here.
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let config = write_config(&dir.0, "run_as = \"nobody\"");
    let out = serve_expecting_failure(&config, as_user);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "started with run_as while not root: {stdout}{stderr}"
    );
    assert!(!stdout.contains("listening on"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].contains("run_as"), "{stderr}");
    assert!(lines[0].contains("root"), "says why: {stderr}");
}

#[test]
fn run_as_unknown_user_is_refused() {
    let dir = TempDir::new("runas-unknown");
    let config = write_config(&dir.0, "run_as = \"no-such-user-rampart\"");
    let out = serve_expecting_failure(&config, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(
        lines[0].contains("run_as") && lines[0].contains("no-such-user-rampart"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_is_one_line_with_file_line_and_key() {
    let dir = TempDir::new("badconf");
    let config = write_config(&dir.0, "");
    // Line numbers below count from 1 in the file as written.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[limits]\nmax_recipients = 50\nmax_recipents = 5\n");
    std::fs::write(&config, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("max_recipents"))
        .unwrap()
        + 1;

    let out = serve_expecting_failure(&config, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with an unknown key");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {stderr}");
    let where_ = format!("{}:{line}:", config.display());
    assert!(lines[0].contains(&where_), "names {where_}: {stderr}");
    assert!(
        lines[0].contains("max_recipents"),
        "names the key: {stderr}"
    );
    // Nothing was created: a bad configuration starts nothing.
    assert!(
        !dir.0.join("data").exists(),
        "data directory created despite the error"
    );
}
