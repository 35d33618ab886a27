//! `rampart sendmail` (NC-2.1.9) against a real `rampart serve`, called the way real programs
//! call it: cron's flags, PHP's `sendmail -t -i` from a shell, Python's subprocess with `-bs`,
//! Debian's bsd-mailx through a `sendmail` symlink. A message handed over is never lost: with
//! the server stopped it waits in the drop directory, and a kill -9 in the middle of a pickup
//! neither loses nor doubles it.

use crate::common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// A server whose local programs send as alice.
fn start() -> Server {
    start_with("")
}

fn start_with(limits: &str) -> Server {
    Server::start_with(Options {
        top: format!("[sendmail]\nsender = \"{ALICE}\"\n"),
        limits: limits.to_string(),
        ..Options::default()
    })
}

fn add_user(s: &Server, user: &str) {
    cli(
        &s.config,
        &["user", "add", user, "--password-stdin"],
        Some(PASSWORD),
    );
}

/// `rampart --config CONFIG sendmail ARGS` with `input` on standard input.
fn sendmail(s: &Server, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&s.config)
        .arg("sendmail")
        .args(args);
    run(cmd, input)
}

fn run(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "sendmail failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn drop_dir(s: &Server) -> PathBuf {
    s.data_dir().join("drop")
}

/// The messages waiting in the drop directory.
fn waiting(s: &Server) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(drop_dir(s))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".msg") || n.ends_with(".inflight"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits (polling, bounded, as `wait_mailbox` does) until the drop directory is empty and the
/// queue holds nothing: every message picked up has been delivered.
fn wait_settled(s: &Server) {
    for _ in 0..400 {
        let queue = cli(&s.config, &["queue", "list"], None);
        if waiting(s).is_empty() && queue.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "never settled: drop {:?}, queue {}",
        waiting(s),
        cli(&s.config, &["queue", "list"], None)
    );
}

/// The `n` messages of `user`, as stored.
fn messages(s: &Server, user: &str, n: usize) -> Vec<String> {
    s.wait_mailbox(user, n)
        .iter()
        .map(|l| s.show(user, l.split('\t').next().unwrap()))
        .collect()
}

fn header_section(m: &str) -> &str {
    m.split("\r\n\r\n").next().unwrap()
}

#[test]
fn nc_2_1_9_t_i_delivers_to_to_cc_bcc_and_removes_bcc() {
    let s = start();
    add_user(&s, "carol@example.test");
    add_user(&s, "dave@example.test");
    let out = sendmail(
        &s,
        &["-t", "-i"],
        b"To: Bob <bob@example.test>\nCc: carol@example.test\nBcc: dave@example.test\n\
          Subject: three ways\n\nbody line\n.\nafter the lone dot\n",
    );
    ok(&out);
    for user in [BOB, "carol@example.test", "dave@example.test"] {
        let m = messages(&s, user, 1).remove(0);
        let head = header_section(&m);
        assert!(head.contains("Subject: three ways"), "{user}: {m}");
        // Bcc removed before the message is stored: no copy shows it.
        assert!(!head.to_ascii_lowercase().contains("bcc"), "{user}: {head}");
        assert!(!head.contains("dave@"), "{user}: {head}");
        // -i: the lone "." did not end the message.
        assert!(m.contains("\r\n.\r\nafter the lone dot\r\n"), "{user}: {m}");
        // No From was given: the configured sender's.
        assert!(head.contains("From: <alice@example.test>"), "{head}");
    }
    assert!(waiting(&s).is_empty());
}

#[test]
fn nc_2_1_9_lone_dot_ends_the_message_without_i() {
    let s = start();
    ok(&sendmail(
        &s,
        &[BOB],
        b"Subject: dot\n\nkept\n.\nnot part of the message\n",
    ));
    let m = messages(&s, BOB, 1).remove(0);
    assert!(m.contains("kept\r\n"), "{m}");
    assert!(!m.contains("not part of the message"), "{m}");
}

#[test]
fn nc_2_1_9_text_without_headers_arrives_as_the_body() {
    // `echo "disk full: /var" | sendmail bob`: no header at all, a colon in the text.
    let s = start();
    ok(&sendmail(
        &s,
        &[BOB],
        b"disk full: /var at 98%\nsecond line\n",
    ));
    let m = messages(&s, BOB, 1).remove(0);
    let (head, body) = m.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("From: <alice@example.test>"), "{m}");
    assert_eq!(body, "disk full: /var at 98%\r\nsecond line\r\n", "{m}");
}

#[test]
fn nc_2_1_9_null_sender_forms_and_f_name() {
    let s = start();
    let forms: [&[&str]; 4] = [&["-f", "<>"], &["-f", "''"], &["-f", ""], &["-f<>"]];
    for (i, f) in forms.iter().enumerate() {
        let mut args = f.to_vec();
        args.push(BOB);
        let body = format!("Subject: null sender {i}\n\nhello\n");
        ok(&sendmail(&s, &args, body.as_bytes()));
    }
    // -F: the name of the From header the command writes.
    ok(&sendmail(
        &s,
        &["-F", "Backup Job", BOB],
        b"Subject: named\n\nbody\n",
    ));
    let all = messages(&s, BOB, 5);
    for i in 0..4 {
        assert!(
            all.iter()
                .any(|m| m.contains(&format!("Subject: null sender {i}"))),
            "form {i} not delivered"
        );
    }
    // The null sender is sent from the configured account, so a bounce reaches a mailbox.
    for m in &all {
        assert!(m.contains("Return-Path: <alice@example.test>"), "{m}");
    }
    let named = all.iter().find(|m| m.contains("Subject: named")).unwrap();
    assert!(
        named.contains("From: Backup Job <alice@example.test>"),
        "{named}"
    );
}

#[test]
fn nc_2_1_9_cron_calls() {
    // The issue's form of Debian cron's call, Vixie cron's MAILARGS ("-FCronDaemon -odi -oem
    // -oi -t", usr.sbin/cron/config.h) and busybox crond's ("-t -oem -i", miscutils/crond.c).
    // Cron writes an unqualified From ("root (Cron Daemon)") and To (the crontab's owner).
    let s = start();
    let calls: [&[&str]; 3] = [
        &["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-f", "<>", "-t"],
        &["-FCronDaemon", "-odi", "-oem", "-oi", "-t"],
        &["-t", "-oem", "-i"],
    ];
    for (i, args) in calls.iter().enumerate() {
        let body = format!(
            "From: root (Cron Daemon)\nTo: bob\nSubject: Cron <root@host> job {i}\n\
             Content-Type: text/plain; charset=UTF-8\n\nline\n.\nend\n"
        );
        ok(&sendmail(&s, args, body.as_bytes()));
    }
    let all = messages(&s, BOB, 3);
    for i in 0..3 {
        let m = all
            .iter()
            .find(|m| m.contains(&format!("job {i}")))
            .unwrap_or_else(|| panic!("cron call {i} not delivered"));
        assert!(m.contains(".\r\nend\r\n"), "{m}");
        let from = if i < 2 {
            "From: CronDaemon <alice@example.test>"
        } else {
            "From: <alice@example.test>"
        };
        assert!(m.contains(from), "{m}");
    }
}

#[test]
fn nc_2_1_9_php_style_through_a_sendmail_symlink() {
    // PHP's mail() runs sendmail_path ("sendmail -t -i") through /bin/sh with the message on
    // standard input; argv[0] is "sendmail", so the configuration comes from $RAMPART_CONFIG.
    let s = start();
    let bin = s.dir.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("sendmail")).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("mailq")).unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("sendmail -t -i")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("RAMPART_CONFIG", &s.config);
    let out = run(
        cmd,
        b"To: bob@example.test\r\nSubject: from PHP\r\nX-PHP-Originating-Script: 0:x.php\r\n\r\nHi.\r\n",
    );
    ok(&out);
    let m = messages(&s, BOB, 1).remove(0);
    assert!(
        m.contains("Subject: from PHP") && m.contains("Hi.\r\n"),
        "{m}"
    );
    // mailq lists the drop directory and the queue.
    let mut cmd = Command::new(bin.join("mailq"));
    cmd.env("RAMPART_CONFIG", &s.config);
    let out = run(cmd, b"");
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("drop directory"), "{text}");
}

#[test]
fn nc_2_1_9_python_subprocess_bs() {
    let s = start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/sendmail_bs.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(BIN)
        .arg(&s.config)
        .arg(BOB)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let all = messages(&s, BOB, 2);
    let first = all
        .iter()
        .find(|m| m.contains("Subject: over -bs"))
        .unwrap();
    // Dot-unstuffed: the client doubled the leading dot.
    assert!(
        first.contains("\r\n.a line that starts with a dot\r\n"),
        "{first}"
    );
    assert!(all.iter().any(|m| m.contains("Subject: second over -bs")));
}

#[test]
fn nc_2_1_9_bsd_mailx() {
    // Debian's bsd-mailx runs the program named by its `sendmail` variable (set in the file
    // $MAILRC names) as `sendmail -i -t`, with To, Cc and Subject it wrote and no From.
    let s = start();
    add_user(&s, "carol@example.test");
    let link = s.dir.0.join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let rc = s.dir.0.join("mailrc");
    std::fs::write(&rc, format!("set sendmail={}\n", link.display())).unwrap();
    let mut cmd = Command::new("mail");
    cmd.args(["-s", "from mailx", "-c", "carol@example.test", BOB])
        .env("MAILRC", &rc)
        .env("RAMPART_CONFIG", &s.config)
        .env("HOME", &s.dir.0);
    let out = run(cmd, b"sent with mail(1)\n");
    ok(&out);
    for user in [BOB, "carol@example.test"] {
        let m = messages(&s, user, 1).remove(0);
        assert!(m.contains("Subject: from mailx"), "{m}");
        assert!(m.contains("sent with mail(1)"), "{m}");
        assert!(m.contains("From: <alice@example.test>"), "{m}");
    }
}

#[test]
fn nc_2_1_9_ignored_flags_are_accepted() {
    let s = start();
    let out = sendmail(
        &s,
        &[
            "-B8BITMIME",
            "-eq",
            "-odb",
            "-odi",
            "-oem",
            "-N",
            "never",
            "-R",
            "hdrs",
            "-V",
            "envid",
            "-X",
            "/dev/null",
            "-U",
            "-Lcron",
            "-v",
            BOB,
        ],
        b"Subject: ignored flags\n\nx\n",
    );
    ok(&out);
    // -v says where the message went.
    assert!(String::from_utf8_lossy(&out.stderr).contains("queued in"));
    let m = messages(&s, BOB, 1).remove(0);
    assert!(m.contains("Subject: ignored flags"));
}

#[test]
fn nc_2_1_9_no_recipient_or_unreadable_input_fails_with_a_line() {
    let s = start();
    for args in [&[][..], &["-t"][..], &["-i"][..]] {
        let out = sendmail(&s, args, b"Subject: nobody\n\nx\n");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("no recipients"), "{err}");
    }
    let out = sendmail(&s, &["-k", BOB], b"x\n");
    assert_eq!(out.status.code(), Some(64));
    // Unreadable input (a directory as standard input): EX_IOERR and one line.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["sendmail", BOB])
        .stdin(std::fs::File::open("/").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read the message"), "{err}");
    assert!(waiting(&s).is_empty());
}

#[test]
fn nc_2_1_9_oversized_message_refused_and_nothing_left() {
    let s = start_with("max_message_size = 4000\n");
    let mut big = b"Subject: big\n\n".to_vec();
    big.extend(std::iter::repeat_n(b"0123456789abcdef\n".as_slice(), 400).flatten());
    let out = sendmail(&s, &[BOB], &big);
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than 4000 bytes"), "{err}");
    assert!(waiting(&s).is_empty());
    let names: Vec<_> = std::fs::read_dir(drop_dir(&s))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.iter().all(|n| n == "pickup.sock" || n == "refused"),
        "{names:?}"
    );
}

#[test]
fn nc_2_1_9_never_lost_while_the_server_is_stopped() {
    let mut s = start();
    assert!(s.terminate().success());
    ok(&sendmail(&s, &[BOB], b"Subject: while stopped\n\nx\n"));
    // Durable before the exit: the file is there, whole, with nobody to pick it up.
    let w = waiting(&s);
    assert_eq!(w.len(), 1, "{w:?}");
    let listed = sendmail(&s, &["-bp"], b"");
    ok(&listed);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&w[0]));
    s.spawn();
    let m = messages(&s, BOB, 1).remove(0);
    assert!(m.contains("Subject: while stopped"));
    wait_settled(&s);
}

#[test]
fn nc_2_1_9_kill_9_during_pickup_delivers_each_once() {
    const N: usize = 40;
    let mut s = start();
    assert!(s.terminate().success());
    for i in 0..N {
        let body = format!("Subject: crash {i}\n\nx\n");
        ok(&sendmail(&s, &[BOB], body.as_bytes()));
    }
    assert_eq!(waiting(&s).len(), N);
    // Killed as soon as the first message is delivered: the pickup is in the middle of the
    // waiting files.
    s.spawn();
    s.wait_mailbox(BOB, 1);
    s.kill9();
    s.spawn();
    wait_settled(&s);
    let all = messages(&s, BOB, N);
    assert_eq!(all.len(), N, "each message once");
    for i in 0..N {
        let n = all
            .iter()
            .filter(|m| m.contains(&format!("Subject: crash {i}\r\n")))
            .count();
        assert_eq!(n, 1, "message {i} delivered {n} times");
    }
}

#[test]
fn nc_2_1_9_inflight_file_after_a_crash_is_not_sent_twice() {
    // The crash between the queue's commit and the file's removal, made exactly: a copy of a
    // drop file is put back as `.inflight` after its message was delivered.
    let mut s = start();
    assert!(s.terminate().success());
    ok(&sendmail(&s, &[BOB], b"Subject: once\n\nx\n"));
    ok(&sendmail(&s, &[BOB], b"Subject: not yet queued\n\nx\n"));
    let names = waiting(&s);
    let copies: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (n.clone(), std::fs::read(drop_dir(&s).join(n)).unwrap()))
        .collect();
    let once = copies
        .iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains("Subject: once"))
        .unwrap()
        .clone();
    let fresh = copies.iter().find(|(n, _)| *n != once.0).unwrap().clone();
    // Only "once" is delivered now.
    std::fs::remove_file(drop_dir(&s).join(&fresh.0)).unwrap();
    s.spawn();
    messages(&s, BOB, 1);
    wait_settled(&s);
    assert!(s.terminate().success());
    let inflight = |n: &str| drop_dir(&s).join(n.replace(".msg", ".inflight"));
    std::fs::write(inflight(&once.0), &once.1).unwrap();
    std::fs::write(inflight(&fresh.0), &fresh.1).unwrap();
    s.spawn();
    wait_settled(&s);
    let all = messages(&s, BOB, 2);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all.iter().filter(|m| m.contains("Subject: once")).count(),
        1
    );
    assert!(all.iter().any(|m| m.contains("Subject: not yet queued")));
}

#[test]
fn nc_2_1_9_default_sender_is_login_at_hostname_domain() {
    // No sendmail.sender: the caller's login at the domain of hostname (mail.example.test).
    let s = Server::start();
    let login = login();
    add_user(&s, &format!("{login}@example.test"));
    ok(&sendmail(&s, &[BOB], b"Subject: as me\n\nx\n"));
    let m = messages(&s, BOB, 1).remove(0);
    assert!(m.contains(&format!("From: <{login}@example.test>")), "{m}");
}

#[test]
fn nc_2_1_9_refused_file_moves_aside_and_the_sender_is_told() {
    // NC-2.1.7 as for any submission: alice may not send as someone of another domain.
    let s = start();
    ok(&sendmail(
        &s,
        &[BOB],
        b"From: someone@elsewhere.test\nSubject: forged\n\nx\n",
    ));
    let notice = messages(&s, ALICE, 1).remove(0);
    assert!(notice.contains("sendmail message refused"), "{notice}");
    assert!(notice.contains("Header From"), "{notice}");
    wait_settled(&s);
    let refused: Vec<_> = std::fs::read_dir(drop_dir(&s).join("refused"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(s.mailbox(BOB).is_empty());
    let trace = cli(&s.config, &["trace", "--sender", ALICE], None);
    assert!(trace.contains("refused"), "{trace}");
}

#[test]
fn nc_2_1_9_drop_directory_permissions_decide_who_may_submit() {
    // The data directory is 0700: a drop directory for every local user lies outside it. The
    // server makes it mode 3733; a user without root (nobody) drops a message into it, and the
    // server knows the sender by the file's owner.
    if login() != "root" {
        panic!(
            "this test switches to the user nobody and must run as root (as scripts/test.sh does)"
        );
    }
    let s = Server::start_with(Options {
        top: format!("[sendmail]\nsender = \"{ALICE}\"\ndrop_dir = \"../spool\"\n"),
        ..Options::default()
    });
    let spool = s.dir.0.join("spool");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&spool).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o3733);
    let as_nobody = || {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
            .arg("--config")
            .arg(&s.config)
            .args(["sendmail", BOB]);
        cmd
    };
    ok(&run(as_nobody(), b"Subject: from nobody\n\nx\n"));
    let m = messages(&s, BOB, 1).remove(0);
    assert!(m.contains("Subject: from nobody"), "{m}");
    let trace = cli(&s.config, &["trace", "--sender", ALICE], None);
    assert!(trace.contains("(nobody)"), "{trace}");
    // Closed to others (1730, group root): nobody may not submit, and is told so.
    std::fs::set_permissions(&spool, std::os::unix::fs::PermissionsExt::from_mode(0o1730)).unwrap();
    let out = run(as_nobody(), b"Subject: refused\n\nx\n");
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write"), "{err}");
}

/// This process's login name, as the server reads it from the drop file's owner.
fn login() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
