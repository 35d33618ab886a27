//! The server's log as an operator's collector receives it: written to a pipe (or a file), it
//! carries no terminal colour codes.

use crate::common;
use crate::session_support;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `rampart serve` with its log on a pipe writes plain text: no ANSI escape sequence (`ESC [`)
/// in any line, while the lines themselves (level, message, fields) are all there.
#[test]
fn log_on_a_pipe_has_no_colour_codes() {
    let dir = TempDir::new("log-pipe");
    make_pki(&dir.0);
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n\
         [log]\nformat = \"text\"\nlevel = \"info\"\n\
         [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
         [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart serve");
    // The log is read to its end on its own thread, so a full pipe can never stall the server.
    let mut err = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).map(|_| s)
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "server exited before listening");
    }
    // SIGTERM: the shutdown adds its own lines to the log, and the process ends, closing the pipe.
    signal(child.id(), 15);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let log = log.join().unwrap().expect("read the log");
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.lines()
            .any(|l| l.contains("INFO") && l.contains("listening")),
        "the log has its lines: {text}"
    );
    assert!(
        !log.windows(2).any(|w| w == b"\x1b["),
        "colour codes in a log written to a pipe: {text:?}"
    );
}

/// A server whose log goes to a file: MX, submissions and HTTPS on 127.0.0.1:0, alice@example.test,
/// antivirus off (no clamd here), an executable attachment held in quarantine.
fn start_logged(format: &str) -> (Server, std::path::PathBuf) {
    const LOG: &str = "rampart.log";
    let server = start_with_log(format, |dir| {
        Stdio::from(std::fs::File::create(dir.join(LOG)).unwrap())
    });
    let path = server.dir.0.join(LOG);
    (server, path)
}

/// The server of [`start_logged`], its standard error being what `stderr` makes in its directory.
fn start_with_log(format: &str, stderr: impl FnOnce(&std::path::Path) -> Stdio) -> Server {
    let dir = TempDir::new(&format!("log-{format}"));
    let pki = make_pki(&dir.0);
    let dns = rampart_testdns::TestDns::builder().start();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 5\n\
             [log]\nformat = \"{format}\"\nlevel = \"info\"\n\
             [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"https\"\naddress = \"127.0.0.1:0\"\n\
             [dns]\nservers = [\"{}\"]\n\
             [checks]\ndisabled = [\"antivirus\"]\n\
             [checks.attachments]\non_executable = \"quarantine\"\n",
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
    let log = stderr(&dir.0);
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn rampart serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let listeners = read_listeners(&mut out, String::new);
    let addr = listeners.iter().find(|(_, r)| r == "mx").unwrap().0;
    Server {
        dir,
        config,
        pki,
        addr,
        listeners,
        child: Some(child),
        dns: Some(dns),
        stdout: Some(out),
    }
}

/// A log reader that stops reading (a stalled journald, a pipe nobody drains) does not stop the
/// mail: every trace event is logged from the store's writer thread, and with the log written
/// straight to standard error that thread waited on the full pipe, so no commit and no 250 came
/// (this test failed so, each message after the pipe filled timing out). The log now goes
/// through a thread of its own with a bounded buffer (docs/LOGGING.md). When the reader comes
/// back, every line is there.
#[test]
fn a_log_reader_that_stops_reading_does_not_stop_the_mail() {
    let mut s = start_with_log("text", |_| Stdio::piped());
    let mut err = s.child.as_mut().unwrap().stderr.take().unwrap();
    // What the pipe holds before a writer must wait (Linux: 64 KiB unless changed).
    #[allow(unsafe_code)]
    let capacity = {
        use std::os::fd::AsRawFd;
        // SAFETY: F_GETPIPE_SZ only reads the size of the pipe behind a descriptor we own.
        let n = unsafe { libc::fcntl(err.as_raw_fd(), libc::F_GETPIPE_SZ) };
        assert!(n > 0, "F_GETPIPE_SZ: {}", std::io::Error::last_os_error());
        n as usize
    };
    // Nobody reads the log while the mail is sent.
    const MESSAGES: usize = 100;
    let mut c = s.ehlo();
    let mut ids = Vec::new();
    for i in 0..MESSAGES {
        let (code, reply) = c.send_mail(
            "sender@remote.test",
            &["alice@example.test"],
            &message(&format!("unread-log-{i}"), "the log's reader is away"),
        );
        assert_eq!(code, 250, "message {i}: {reply}");
        ids.push(queue_id(&reply));
    }
    c.send("QUIT");
    c.expect(221);
    // The reader comes back; a clean stop writes out what the log thread still holds.
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).map(|_| v)
    });
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    let log = reader.join().unwrap().expect("read the log");
    assert!(
        log.len() > 2 * capacity,
        "the log ({} bytes) never outgrew the pipe ({capacity} bytes): the test proves nothing; \
         send more",
        log.len()
    );
    let text = String::from_utf8_lossy(&log);
    for id in &ids {
        assert!(
            text.contains(&format!("queued as {id}")),
            "the log lost the line of {id}"
        );
    }
    assert!(
        !text.contains("log lines were dropped"),
        "{MESSAGES} messages fit in the buffer; nothing may be dropped"
    );
}

/// Polls the log file until `done` holds for its text, within a bound: trace events (and so
/// their log lines) are written with the store's next group commit, after the reply.
fn wait_log(path: &std::path::Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never logged: {what}\n{text}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The queue id in `250 2.0.0 Ok: queued as ID`.
fn queue_id(reply: &str) -> String {
    reply.rsplit(' ').next().unwrap().trim().to_string()
}

/// What the test did, to find in the log.
struct Story {
    accepted: String,
    quarantined: String,
    failed_logins: usize,
}

/// Failed SMTP AUTH logins, then one failed JMAP Basic login and one failed webmail sign-in.
const FAILED_LOGINS: usize = 3;
const FAILED_WEB_LOGINS: usize = 2;

/// One message delivered to a mailbox, one refused at RCPT and one refused at DATA, one held in
/// quarantine, and failed logins.
fn act(s: &Server) -> Story {
    let mut c = s.ehlo();
    let (code, reply) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("ok", "hello"),
    );
    assert_eq!(code, 250, "{reply}");
    let accepted = queue_id(&reply);

    // RCPT refused: no such user.
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<nobody@example.test>");
    let (code, _) = c.reply().unwrap();
    assert_eq!(code, 550);
    // DATA refused: a mail loop (too many Received lines).
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    let mut looped = String::new();
    for i in 0..60 {
        looped.push_str(&format!(
            "Received: from hop{i}.test by hop{i}.test; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
        ));
    }
    looped.push_str(&message("loop", "around"));
    c.send_raw(looped.as_bytes());
    c.send_raw(b".\r\n");
    let (code, reply) = c.reply().unwrap();
    assert_eq!(code, 554, "{reply}");

    // Quarantined: an executable attachment (on_executable = "quarantine").
    let held = "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: tool\r\n\
        Message-ID: <held@remote.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n--b--\r\n";
    let (code, reply) = c.send_mail("sender@remote.test", &["alice@example.test"], held);
    assert_eq!(code, 250, "{reply}");
    let quarantined = queue_id(&reply);
    c.send("QUIT");

    // Failed logins on submissions (implicit TLS), each a 535.
    for _ in 0..FAILED_LOGINS {
        let mut c = Client::connect(s.listener("submissions"));
        c.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
        c.expect(220);
        c.send("EHLO client.test");
        c.expect(250);
        // "\0alice@example.test\0wrong"
        c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==");
        let (code, _) = c.reply().unwrap();
        assert_eq!(code, 535);
    }
    // NC-2.4.1: failed logins over HTTPS are the same `auth` lines, found by the same filter.
    let jmap = s.jmap_with(common::jmap::Auth::Basic(
        "alice@example.test".into(),
        "wrong".into(),
    ));
    assert_eq!(jmap.http("GET", "/jmap/session", &[], None).status, 401);
    let r = session_support::post_login(s, "alice@example.test", "wrong again", &[]);
    assert_eq!(r.status, 401);
    Story {
        accepted,
        quarantined,
        failed_logins: FAILED_LOGINS + FAILED_WEB_LOGINS,
    }
}

/// The mail log lines (target rampart::mail) of a text log.
fn text_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(" rampart::mail: "))
        .collect()
}

/// fail2ban-regex with the filter in contrib/ on `log`: how many lines matched.
fn fail2ban_matches(log: &std::path::Path) -> usize {
    let filter = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib/fail2ban/filter.d/rampart.conf");
    let out = Command::new("fail2ban-regex")
        .arg(log)
        .arg(&filter)
        .output()
        .expect("fail2ban-regex (Debian's fail2ban) is installed by scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "Lines: 40 lines, 0 ignored, 3 matched, 37 missed"
    let line = text
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no summary from fail2ban-regex: {text}"));
    line.split(", ")
        .find_map(|p| p.strip_suffix(" matched"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Issue 22: in the text format, each decision about a message is one `rampart::mail` line with
/// its queue id: the accepted message's checks, queue and delivery; the refused RCPT and DATA;
/// the quarantined message; each failed login, all found by the fail2ban filter.
#[test]
fn text_log_has_one_line_per_decision() {
    let (mut s, path) = start_logged("text");
    let story = act(&s);
    let q = |id: &str, event: &str| format!("event=\"{event}\" queue_id=\"{id}\"");
    let log = wait_log(&path, "every decision", |t| {
        t.contains(&q(&story.accepted, "delivered"))
            && t.contains(&q(&story.quarantined, "quarantined"))
            && t.matches("detail=\"failed for ").count() == story.failed_logins
    });
    let lines = text_lines(&log);
    let of = |id: &str, event: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.contains(&q(id, event)))
            .collect()
    };
    // Accepted: the checks' verdicts, then queued with size, sender and recipient count, then
    // delivered, every line with the queue id.
    let checks = of(&story.accepted, "checks");
    assert_eq!(checks.len(), 1, "{log}");
    assert!(
        checks[0].contains("detail=\"accepted; verdicts: "),
        "{}",
        checks[0]
    );
    let queued = of(&story.accepted, "queued");
    assert_eq!(queued.len(), 1, "{log}");
    assert!(
        queued[0].contains("sender=\"sender@remote.test\""),
        "{}",
        queued[0]
    );
    assert!(
        queued[0].contains(" bytes for 1 recipient(s)"),
        "{}",
        queued[0]
    );
    assert!(queued[0].contains("client=\"127.0.0.1\""), "{}", queued[0]);
    let delivered = of(&story.accepted, "delivered");
    assert_eq!(delivered.len(), 1, "{log}");
    assert!(
        delivered[0].contains("recipient=\"alice@example.test\""),
        "{}",
        delivered[0]
    );
    // Refused: the RCPT (with the address) and the message at DATA, each with its reply.
    assert!(
        lines.iter().any(|l| l.contains("event=\"rcpt\"")
            && l.contains("recipient=\"nobody@example.test\"")
            && l.contains("refused: 550")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("event=\"data\" queue_id=\"")
            && l.contains("message refused: 554")),
        "{log}"
    );
    // Quarantined: the checks' decision and the hold, both with the queue id, at WARN.
    let checks = of(&story.quarantined, "checks");
    assert_eq!(checks.len(), 1, "{log}");
    assert!(
        checks[0].contains("quarantined by attachments"),
        "{}",
        checks[0]
    );
    let held = of(&story.quarantined, "quarantined");
    assert_eq!(held.len(), 1, "{log}");
    assert!(held[0].contains(" WARN "), "{}", held[0]);
    // Connections and TLS are there too.
    assert!(
        lines.iter().any(|l| l.contains("event=\"connect\"")),
        "{log}"
    );
    assert!(lines.iter().any(|l| l.contains("event=\"tls\"")), "{log}");
    assert!(s.terminate().success());
    assert_eq!(fail2ban_matches(&path), story.failed_logins, "{log}");
}

/// Issue 22: the same decisions in the JSON format, one object per line with the same fields,
/// and the fail2ban filter finds every failed login there too.
#[test]
fn json_log_has_one_object_per_decision() {
    let (mut s, path) = start_logged("json");
    let story = act(&s);
    let parse = |t: &str| -> Vec<serde_json::Value> {
        t.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "rampart::mail")
            .collect()
    };
    let has = |v: &[serde_json::Value], id: &str, event: &str| {
        v.iter()
            .any(|o| o["fields"]["queue_id"] == id && o["fields"]["event"] == event)
    };
    let log = wait_log(&path, "every decision", |t| {
        let v = parse(t);
        has(&v, &story.accepted, "delivered")
            && has(&v, &story.quarantined, "quarantined")
            && v.iter().filter(|o| o["fields"]["event"] == "auth").count() == story.failed_logins
    });
    let events = parse(&log);
    let one = |id: &str, event: &str| -> &serde_json::Value {
        let found: Vec<_> = events
            .iter()
            .filter(|o| o["fields"]["queue_id"] == id && o["fields"]["event"] == event)
            .collect();
        assert_eq!(found.len(), 1, "{event} of {id}: {log}");
        &found[0]["fields"]
    };
    let checks = one(&story.accepted, "checks");
    assert!(checks["detail"]
        .as_str()
        .unwrap()
        .starts_with("accepted; verdicts: "));
    let queued = one(&story.accepted, "queued");
    assert_eq!(queued["sender"], "sender@remote.test");
    assert!(queued["detail"]
        .as_str()
        .unwrap()
        .contains(" bytes for 1 recipient(s)"));
    assert_eq!(
        one(&story.accepted, "delivered")["recipient"],
        "alice@example.test"
    );
    assert!(one(&story.quarantined, "checks")["detail"]
        .as_str()
        .unwrap()
        .contains("quarantined by attachments"));
    one(&story.quarantined, "quarantined");
    assert!(events.iter().any(|o| o["fields"]["event"] == "rcpt"
        && o["fields"]["recipient"] == "nobody@example.test"
        && o["fields"]["detail"]
            .as_str()
            .unwrap()
            .contains("refused: 550")));
    assert!(events.iter().any(|o| o["fields"]["event"] == "data"
        && o["fields"]["queue_id"].is_string()
        && o["fields"]["detail"]
            .as_str()
            .unwrap()
            .contains("message refused: 554")));
    let failed: Vec<_> = events
        .iter()
        .filter(|o| o["fields"]["event"] == "auth")
        .collect();
    assert!(failed.iter().all(|o| o["fields"]["client"] == "127.0.0.1"
        && o["fields"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("failed for alice@example.test")));
    assert!(s.terminate().success());
    assert_eq!(fail2ban_matches(&path), story.failed_logins, "{log}");
}
