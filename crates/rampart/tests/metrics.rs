//! Prometheus metrics (issue 19 item 5) from a running `rampart serve`: mail goes through (MX in
//! plain text and over STARTTLS, a quarantined executable, a refused recipient, a failed and a
//! good login, a submission whose delivery is deferred, a directory harvest that is banned),
//! then `/metrics` is scraped over HTTPS on the admin listener with curl, linted by
//! `promtool check metrics` (Debian's prometheus package), and each counter the issue names is
//! seen to have moved; a reload on SIGHUP is counted and resets none of them.

use crate::common;

use common::*;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET /metrics` over HTTPS with curl, verifying the server's certificate.
fn scrape(s: &Server) -> String {
    let port = s.listener("admin").port();
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "20", "--cacert"])
        .arg(s.ca_file())
        .args([
            "--resolve",
            &format!("mail.example.test:{port}:127.0.0.1"),
            &format!("https://mail.example.test:{port}/metrics"),
        ])
        .output()
        .expect("curl is installed");
    assert!(out.status.success(), "curl: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Every sample: `name{labels}` to its value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Scrapes until `ready` holds for the samples (the trace is counted as it is written, the
/// delivery attempt and the ban happen on their own tasks), within a bound.
fn scrape_until(s: &Server, ready: impl Fn(&HashMap<String, f64>) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(s);
        if ready(&samples(&text)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics never moved:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn promtool(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const EXECUTABLE: &str = "From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: tool\r\n\
    Message-ID: <held@remote.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
    MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
    --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
    --b\r\nContent-Type: application/octet-stream\r\n\
    Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
    Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n--b--\r\n";

/// A directory harvest from 127.0.0.2 (a loopback address of its own, so the ban it earns
/// does not shut the test out): unknown recipients until the IDS bans the address.
const HARVEST: &str = r#"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.settimeout(20)
s.connect(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line
reply()
for cmd in [b"EHLO harvest.test", b"MAIL FROM:<h@harvest.test>"] + [b"RCPT TO:<nobody%d@example.test>" % i for i in range(4)]:
    s.sendall(cmd + b"\r\n")
    if not reply():
        break
"#;

#[test]
fn issue_19_metrics_scraped_over_https_pass_promtool_and_move() {
    let dns = rampart_testdns::TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        // The receiver represents example.test too (the harness's domain): mail claiming it
        // from outside must pass SPF there (NC-2.1.7).
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start();
    // Delivery to remote.test goes to a port nothing listens on yet: deferred, and kept queued.
    // Held until the receiver below listens on it.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let top = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [delivery]\nport = {}\nretry_secs = [3600]\ntimeout_secs = 5\n\
         [ids.harvest]\ncount = 3\nwindow_secs = 600\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
        dns.addr(),
        port
    );
    let s = Server::start_with(Options {
        top,
        listener: common::console::ADMIN_LISTENER.into(),
        checks: Some(
            "disabled = [\"antivirus\"]\n[checks.attachments]\non_executable = \"quarantine\"\n"
                .into(),
        ),
        limits: "max_errors = 100".into(),
        ..Default::default()
    });
    // Before any mail: the metrics are there, linted, at zero.
    let first = scrape(&s);
    promtool(&first);
    assert!(first.contains("rampart_queue_messages 0"), "{first}");
    // The log's reader keeps up here: no line dropped (docs/LOGGING.md).
    assert!(
        first.contains("rampart_log_lines_dropped_total 0"),
        "{first}"
    );

    // MX in plain text: accepted and delivered; an unknown recipient refused.
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("plain", "hello"),
    );
    assert_eq!(code, 250, "{text}");
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<nobody@example.test>");
    c.expect(550);
    c.send("RSET");
    c.expect(250);
    // An executable: quarantined.
    let (code, text) = c.send_mail("sender@remote.test", &["alice@example.test"], EXECUTABLE);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    c.expect(221);
    // MX over STARTTLS (TLS 1.3).
    let mut c = s.ehlo();
    c.starttls(s.tls_config(&[&rustls::version::TLS13]))
        .unwrap();
    c.send("EHLO client.test");
    c.expect(250);
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["bob@example.test"],
        &message("tls", "over TLS"),
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    c.expect(221);
    // A wrong password, then alice submits to remote.test: the delivery is deferred.
    let mut c = Client::connect(s.listener("submissions"));
    c.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==");
    c.expect(535);
    drop(c);
    let mut c = s.login_alice();
    let (code, submitted) = c.send_mail(
        "alice@example.test",
        &["carol@remote.test"],
        "From: <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: out\r\n\r\nhi\r\n",
    );
    assert_eq!(code, 250, "{submitted}");
    c.send("QUIT");
    c.expect(221);
    // NC-2.4.2: a harvest from 127.0.0.2, banned.
    python(HARVEST, &[&s.addr.port().to_string()]);

    let text = scrape_until(&s, |m| {
        m.get("rampart_delivery_attempts_total{outcome=\"deferred\"}")
            .is_some_and(|v| *v >= 1.0)
            && m.get("rampart_bans_total").is_some_and(|v| *v >= 1.0)
    });
    promtool(&text);
    let m = samples(&text);
    let at_least = |name: &str, min: f64| {
        let v = m.get(name).copied().unwrap_or(0.0);
        assert!(v >= min, "{name} is {v}, expected at least {min}:\n{text}");
    };
    // Connections and sessions, by role; none open now but the scrape's.
    at_least("rampart_smtp_sessions_total{role=\"mx\"}", 3.0);
    at_least("rampart_smtp_sessions_total{role=\"submissions\"}", 2.0);
    at_least("rampart_smtp_refusals_total{stage=\"rcpt\"}", 1.0);
    // Messages by verdict.
    at_least("rampart_messages_total{decision=\"accepted\"}", 3.0);
    at_least("rampart_messages_total{decision=\"quarantined\"}", 1.0);
    at_least(
        "rampart_check_verdicts_total{check=\"attachments\",action=\"quarantine\"}",
        1.0,
    );
    at_least("rampart_messages_queued_total{source=\"inbound\"}", 2.0);
    at_least("rampart_messages_queued_total{source=\"submitted\"}", 1.0);
    at_least("rampart_quarantine_events_total{event=\"held\"}", 1.0);
    // The queue: the deferred message, its age read at the scrape.
    at_least("rampart_queue_messages", 1.0);
    assert!(m.contains_key("rampart_queue_oldest_age_seconds"), "{text}");
    // Delivery attempts by outcome, and TLS versions in and out.
    at_least("rampart_delivery_attempts_total{outcome=\"deferred\"}", 1.0);
    at_least(
        "rampart_tls_sessions_total{direction=\"in\",version=\"TLSv1.3\"}",
        3.0,
    );
    at_least("rampart_auth_failures_total", 1.0);
    // Bans made and in force.
    at_least("rampart_bans_total", 1.0);
    at_least("rampart_bans_active", 1.0);
    // The data directory's free space, read at the scrape: what the test's filesystem has.
    let free = rampart_store::free_space(&s.data_dir()).unwrap() as f64;
    let seen = m["rampart_data_free_bytes"];
    assert!(
        seen > 0.0 && (seen - free).abs() < free / 10.0 + 64.0 * 1024.0 * 1024.0,
        "rampart_data_free_bytes {seen}, the filesystem has {free} free"
    );
    // Its free inodes, where the filesystem counts them; no sample where it does not.
    match rampart_store::free_room(&s.data_dir()).unwrap().inodes {
        Some(n) => {
            // A family with no labels: the sample is written `rampart_data_free_inodes{}`.
            let seen = *m
                .get("rampart_data_free_inodes{}")
                .unwrap_or_else(|| panic!("no rampart_data_free_inodes sample:\n{text}"));
            let n = n as f64;
            assert!(
                seen > 0.0 && (seen - n).abs() < n / 10.0 + 10_000.0,
                "rampart_data_free_inodes {seen}, the filesystem has {n} free"
            );
        }
        None => assert!(!m.contains_key("rampart_data_free_inodes{}"), "{text}"),
    }
    // Latencies: each check's histogram, and the store's commits.
    let checks: Vec<&String> = m
        .keys()
        .filter(|k| k.starts_with("rampart_check_duration_seconds_count{"))
        .collect();
    assert!(checks.len() >= 3, "{checks:?}\n{text}");
    for k in checks {
        at_least(k, 1.0);
    }
    at_least("rampart_store_commit_duration_seconds_count", 1.0);
    assert!(
        text.contains("# TYPE rampart_check_duration_seconds histogram"),
        "{text}"
    );

    // The receiver comes up, the message is retried: relayed over TLS, the queue empty.
    let r = Server::start_with(Options {
        mx_address: Some(format!("127.0.0.1:{port}")),
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    let qid = submitted.rsplit(' ').next().unwrap();
    cli(&s.config, &["queue", "retry", qid], None);
    r.wait_mailbox("carol@remote.test", 1);
    let text = scrape_until(&s, |m| {
        m.get("rampart_delivery_attempts_total{outcome=\"relayed\"}")
            .is_some_and(|v| *v >= 1.0)
            && m.get("rampart_queue_messages") == Some(&0.0)
    });
    promtool(&text);
    let m = samples(&text);
    let out_tls: f64 = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("rampart_tls_sessions_total{direction=\"out\",version=\"TLSv1.")
        })
        .map(|(_, v)| v)
        .sum();
    assert!(out_tls >= 1.0, "no TLS out counted:\n{text}");

    // A reload on SIGHUP is counted, and the counters above are not reset by it.
    let sessions = m["rampart_smtp_sessions_total{role=\"mx\"}"];
    signal(s.pid(), 1);
    let text = scrape_until(&s, |m| {
        m.get("rampart_config_reloads_total{outcome=\"applied\"}") == Some(&1.0)
    });
    assert_eq!(
        samples(&text)["rampart_smtp_sessions_total{role=\"mx\"}"],
        sessions,
        "{text}"
    );
}
