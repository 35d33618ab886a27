//! The administration the CLI lacked (issue 19, item 6), each command run as the real binary:
//! user delete, password and the password policy (NIST SP 800-63B), domain and alias removal,
//! mailbox message delete, the queue's retry, hold, release and delete, `--version`, `--json` on
//! every listing, and one clear line with a non-zero exit for what does not exist.

use crate::common;

use common::*;
use rampart_testdns::TestDns;
use std::path::{Path, PathBuf};

/// A configuration for the CLI alone (no server), with its data directory beside it.
fn cli_only(dir: &TempDir) -> PathBuf {
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n",
    )
    .unwrap();
    config
}

/// Runs a command that must fail: its exit status is not 0 and its standard error is the one
/// line returned.
fn fails(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = cli_raw(config, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "rampart {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line for {args:?}: {stderr}"
    );
    stderr.trim_end().to_string()
}

/// Every line of a --json listing parses as a JSON object.
fn json_lines(config: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    cli(config, args, None)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("rampart {args:?}: `{l}` is not JSON: {e}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

#[test]
fn version_is_local_and_plain() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("rampart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn password_policy_refuses_short_and_common_passwords() {
    let dir = TempDir::new("admin-cli-pw");
    let config = cli_only(&dir);
    cli(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "alice@example.test", "--password-stdin"];
    // NIST SP 800-63B: one of the most common passwords.
    let e = fails(&config, &add, Some("password\n"));
    assert!(
        e.starts_with("error: ") && e.contains("most commonly used"),
        "{e}"
    );
    // 11 characters: under the default min_length of 12.
    let e = fails(&config, &add, Some("abcdefghijk\n"));
    assert!(
        e.contains("shorter than 12") && e.contains("it has 11") && e.contains("min_length"),
        "{e}"
    );
    // Long enough, and on the list all the same.
    let e = fails(&config, &add, Some("qwerty123456\n"));
    assert!(e.contains("most commonly used"), "{e}");
    assert!(cli(&config, &["user", "list"], None).is_empty());
    cli(&config, &add, Some(&format!("{PASSWORD}\n")));

    // The same policy when the password changes; never taken from the command line.
    let change = ["user", "password", "alice@example.test", "--password-stdin"];
    let e = fails(&config, &change, Some("password\n"));
    assert!(e.contains("most commonly used"), "{e}");
    let e = fails(&config, &change, Some("abcdefghijk\n"));
    assert!(e.contains("it has 11"), "{e}");
    let out = cli(&config, &change, Some("rivet tundra mellow kiosk\n"));
    assert!(
        out.contains("password of alice@example.test changed"),
        "{out}"
    );
    let e = fails(
        &config,
        &[
            "user",
            "password",
            "nobody@example.test",
            "--password-stdin",
        ],
        Some("rivet tundra mellow kiosk\n"),
    );
    assert_eq!(
        e,
        "error: no user nobody@example.test; see rampart user list"
    );
    let t = cli(&config, &["trace", "--since", "1h"], None);
    assert!(t.contains("password of alice@example.test changed"), "{t}");

    // A stricter policy from the configuration.
    std::fs::write(
        &config,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n[passwords]\nmin_length = 30\n",
    )
    .unwrap();
    let e = fails(&config, &change, Some("rivet tundra mellow kiosk\n"));
    assert!(e.contains("shorter than 30"), "{e}");
}

#[test]
fn unknown_things_exit_non_zero_with_one_clear_line() {
    let dir = TempDir::new("admin-cli-unknown");
    let config = cli_only(&dir);
    cli(&config, &["domain", "add", "example.test"], None);
    let no_user = "error: no user nobody@example.test; see rampart user list";
    for args in [
        &["user", "disable", "nobody@example.test"][..],
        &["user", "enable", "nobody@example.test"],
        &["user", "delete", "nobody@example.test"],
        &["mailbox", "list", "nobody@example.test"],
        &["mailbox", "delete", "nobody@example.test", "1"],
    ] {
        assert_eq!(fails(&config, args, None), no_user, "{args:?}");
    }
    for verb in ["retry", "hold", "release", "delete"] {
        for id in ["0000000000000FFFF", "not-an-id"] {
            assert_eq!(
                fails(&config, &["queue", verb, id], None),
                format!("error: no message {id} in the queue; see rampart queue list")
            );
        }
    }
    for verb in ["show", "release", "delete"] {
        let e = fails(&config, &["quarantine", verb, "0000000000000FFFF"], None);
        assert!(
            e.starts_with("error: no message 0000000000000FFFF in quarantine"),
            "{e}"
        );
    }
    let e = fails(&config, &["domain", "remove", "other.test"], None);
    assert!(e.starts_with("error: no domain other.test"), "{e}");
    let e = fails(&config, &["alias", "remove", "team@example.test"], None);
    assert!(e.starts_with("error: no alias team@example.test"), "{e}");
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    let e = fails(
        &config,
        &["mailbox", "delete", "alice@example.test", "99"],
        None,
    );
    assert!(
        e.starts_with("error: no message 99 in the mailbox of alice@example.test"),
        "{e}"
    );
    let e = fails(
        &config,
        &[
            "mailbox",
            "show",
            "alice@example.test",
            "99",
            "--reason",
            "x",
        ],
        None,
    );
    assert!(e.starts_with("error: no message 99"), "{e}");
}

/// AL-3.1: a search that finds nothing says so, and one cut at `--limit` says it was cut, on
/// stderr, so that stdout stays the events alone.
#[test]
fn al_3_1_an_empty_or_cut_trace_search_says_so() {
    let dir = TempDir::new("admin-cli-trace-notes");
    let config = cli_only(&dir);
    cli(&config, &["domain", "add", "example.test"], None);
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    // Two password changes: two trace events.
    for pw in [
        "rivet tundra mellow kiosk\n",
        "amber quill harbor lantern\n",
    ] {
        cli(
            &config,
            &["user", "password", "alice@example.test", "--password-stdin"],
            Some(pw),
        );
    }

    let out = cli_raw(&config, &["trace", "--client", "192.0.2.99"], None);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("no trace events match;"), "{err}");

    let all = cli(&config, &["trace", "--since", "1h"], None);
    assert!(all.lines().count() >= 2, "{all}");
    let out = cli_raw(&config, &["trace", "--since", "1h", "--limit", "1"], None);
    assert!(out.status.success());
    let cut = String::from_utf8_lossy(&out.stdout);
    assert_eq!(cut.lines().count(), 1, "{cut}");
    assert_eq!(cut.lines().next(), all.lines().next());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("the first 1 events, oldest first;"),
        "{err}"
    );

    // The whole answer: no note.
    let out = cli_raw(&config, &["trace", "--since", "1h"], None);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_listing_speaks_json() {
    let dir = TempDir::new("admin-cli-json");
    let config = cli_only(&dir);
    common::populate(&config);
    cli(
        &config,
        &[
            "mailbox",
            "grant",
            "alice@example.test",
            "bob@example.test",
            "--rights",
            "read",
        ],
        None,
    );
    cli(
        &config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    cli(&config, &["ban", "add", "192.0.2.7", "--secs", "600"], None);
    cli(
        &config,
        &["user", "token", "add", "alice@example.test"],
        None,
    );

    let d = json_lines(&config, &["domain", "list", "--json"]);
    assert_eq!(d, vec![serde_json::json!({ "domain": "example.test" })]);
    let u = json_lines(&config, &["user", "list", "--json"]);
    assert_eq!(u.len(), 2);
    assert_eq!(u[0]["address"], "alice@example.test");
    let a = json_lines(&config, &["alias", "list", "--json"]);
    assert_eq!(a[0]["alias"], "team@example.test");
    assert_eq!(a[0]["target"], "alice@example.test");
    let k = json_lines(&config, &["dkim", "list", "--json"]);
    assert_eq!(k[0]["selector"], "s1");
    assert_eq!(k[0]["algorithm"], "ed25519");
    let g = json_lines(&config, &["mailbox", "grants", "--json"]);
    assert_eq!(g[0]["delegate"], "bob@example.test");
    let t = json_lines(
        &config,
        &["user", "token", "list", "alice@example.test", "--json"],
    );
    assert_eq!(t.len(), 1);
    let b = json_lines(&config, &["ban", "list", "--json"]);
    let banned = b[0]["bans"][0]["network"].as_str().unwrap_or_default();
    assert!(banned.starts_with("192.0.2.7"), "{b:?}");
    // Empty listings print nothing, which is valid JSON lines too.
    assert!(json_lines(&config, &["queue", "list", "--json"]).is_empty());
    assert!(json_lines(&config, &["quarantine", "list", "--json"]).is_empty());
    assert!(json_lines(
        &config,
        &["mailbox", "list", "alice@example.test", "--json"]
    )
    .is_empty());
}

#[test]
fn domains_aliases_and_users_are_removed_as_asked() {
    let dir = TempDir::new("admin-cli-remove");
    let config = cli_only(&dir);
    cli(&config, &["domain", "add", "example.test"], None);
    cli(&config, &["domain", "add", "other.test"], None);
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    cli(
        &config,
        &["alias", "add", "team@example.test", "alice@example.test"],
        None,
    );
    cli(
        &config,
        &["alias", "add", "sales@example.test", "alice@example.test"],
        None,
    );
    // Refused while users and aliases remain, and it says which.
    let e = fails(&config, &["domain", "remove", "example.test"], None);
    assert!(
        e.contains("alice@example.test")
            && e.contains("team@example.test")
            && e.contains("--force"),
        "{e}"
    );
    let out = cli(&config, &["alias", "remove", "sales@example.test"], None);
    assert!(
        out.contains("alias sales@example.test -> alice@example.test removed"),
        "{out}"
    );
    assert!(!cli(&config, &["alias", "list"], None).contains("sales@"));
    cli(&config, &["domain", "remove", "other.test"], None);
    assert_eq!(cli(&config, &["domain", "list"], None), "example.test\n");
    let out = cli(
        &config,
        &["domain", "remove", "example.test", "--force"],
        None,
    );
    assert!(
        out.contains("users deleted with it: alice@example.test"),
        "{out}"
    );
    assert!(cli(&config, &["user", "list"], None).is_empty());
    assert!(cli(&config, &["alias", "list"], None).is_empty());
    let t = cli(&config, &["trace", "--since", "1h"], None);
    assert!(
        t.contains("domain-removed") && t.contains("user-deleted"),
        "{t}"
    );
}

#[test]
fn user_delete_keeps_mail_unless_purged_and_mailbox_delete_removes_one() {
    let s = Server::start();
    for i in 1..=2 {
        let mut c = s.ehlo();
        let (code, text) = c.send_mail(
            "sender@remote.test",
            &["alice@example.test"],
            &message(&format!("del{i}"), "hello"),
        );
        assert_eq!(code, 250, "{text}");
    }
    s.wait_mailbox("alice@example.test", 2);
    // The mailbox holds mail: refused, and it says how to go on.
    let e = fails(&s.config, &["user", "delete", "alice@example.test"], None);
    assert!(
        e.contains("2 message(s)") && e.contains("--purge-mail"),
        "{e}"
    );
    // One message deleted by the administrator, recorded in the mailbox audit.
    let list = json_lines(
        &s.config,
        &["mailbox", "list", "alice@example.test", "--json"],
    );
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let out = cli(
        &s.config,
        &[
            "mailbox",
            "delete",
            "alice@example.test",
            &id,
            "--reason",
            "phishing",
        ],
        None,
    );
    assert!(out.contains(&format!("message {id} deleted")), "{out}");
    assert_eq!(s.mailbox("alice@example.test").len(), 1);
    let audit = cli(
        &s.config,
        &[
            "mailbox",
            "audit",
            "--user",
            "alice@example.test",
            "--operation",
            "delete",
        ],
        None,
    );
    assert!(audit.contains("reason: phishing"), "{audit}");
    let out = cli(
        &s.config,
        &["user", "delete", "alice@example.test", "--purge-mail"],
        None,
    );
    assert!(
        out.contains("1 message(s)") && out.contains("team@example.test"),
        "{out}"
    );
    // The account is gone: its address is refused at RCPT, its mailbox listing says so.
    let mut c = s.ehlo();
    c.send("MAIL FROM:<sender@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(550);
    let e = fails(&s.config, &["mailbox", "list", "alice@example.test"], None);
    assert_eq!(
        e,
        "error: no user alice@example.test; see rampart user list"
    );
    wait_trace(&s, &["trace", "--since", "1h"], "user-deleted");
}

/// DNS for remote.test: MX -> mx.remote.test -> 127.0.0.1.
fn dns() -> TestDns {
    TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

fn submit(s: &Server, id: &str) -> String {
    let mut c = s.login_alice();
    let body = format!(
        "From: <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: queue {id}\r\n\
         Message-ID: <{id}@example.test>\r\n\r\nHello.\r\n"
    );
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], &body);
    assert_eq!(code, 250, "{text}");
    text.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn queue_retry_hold_release_delete_and_bounce() {
    // Deliveries go to `port`, where nothing listens yet: each attempt is deferred an hour.
    // Held until the receiver below listens on it.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    let dns = dns();
    let s = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [delivery]\nport = {port}\nretry_secs = [3600]\ntimeout_secs = 10\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
            dns.addr()
        ),
        ..Default::default()
    });
    let held = submit(&s, "held");
    let other = submit(&s, "other");
    let doomed = submit(&s, "doomed");
    let bounced = submit(&s, "bounced");
    let lost = submit(&s, "lost");
    for q in [&held, &other, &doomed, &bounced, &lost] {
        wait_trace(&s, &["trace", "--queue-id", q], "deferred");
    }
    let q = json_lines(&s.config, &["queue", "list", "--json"]);
    assert_eq!(q.len(), 5, "{q:?}");
    assert!(q
        .iter()
        .all(|e| e["status"] == "queued" && e["next_attempt"].is_string()));

    cli(&s.config, &["queue", "hold", &held], None);
    let e = fails(&s.config, &["queue", "retry", &held], None);
    assert!(e.contains("is held"), "{e}");
    cli(&s.config, &["queue", "delete", &doomed], None);
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(
        q.contains(&format!("{held}\tcarol@remote.test\theld")),
        "{q}"
    );
    assert!(!q.contains(&doomed), "{q}");
    // A bounce: the message leaves the queue and alice is told, in plain words, why.
    cli(&s.config, &["queue", "bounce", &bounced], None);
    assert!(!cli(&s.config, &["queue", "list"], None).contains(&bounced));
    let dsn = s.wait_mailbox("alice@example.test", 1);
    let dsn = s.show("alice@example.test", dsn[0].split('\t').next().unwrap());
    assert!(
        dsn.contains("delivery cancelled by the administrator"),
        "{dsn}"
    );
    assert!(dsn.contains("carol@remote.test"), "{dsn}");
    let e = fails(&s.config, &["queue", "bounce", &bounced], None);
    assert!(
        e.contains("no message") && e.contains("rampart queue list"),
        "{e}"
    );
    // A message whose bytes cannot be read is not bounced without its headers: the command
    // says so and what to do, and the message stays queued. The fault is made by hand (a
    // fake: its body row removed), since nothing else loses a stored body.
    cli(&s.config, &["queue", "hold", &lost], None);
    s.sqlite(&format!("DELETE FROM message_bodies WHERE id = '{lost}'"));
    let e = fails(&s.config, &["queue", "bounce", &lost], None);
    assert!(
        e.contains(&format!("message {lost} could not be read"))
            && e.contains("nothing was bounced")
            && e.contains(&format!("rampart queue delete {lost}")),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(cli(&s.config, &["queue", "list"], None).contains(&lost));
    assert_eq!(
        s.mailbox("alice@example.test").len(),
        1,
        "no second notification"
    );
    cli(&s.config, &["queue", "delete", &lost], None);

    // The receiver comes up; `retry` makes the other message due at once and it is delivered,
    // a round of the queue manager that passes the held one by.
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
    cli(&s.config, &["queue", "retry", &other], None);
    r.wait_mailbox("carol@remote.test", 1);
    wait_trace(&s, &["trace", "--queue-id", &other], "relayed");
    let q = cli(&s.config, &["queue", "list"], None);
    assert!(
        q.contains(&format!("{held}\tcarol@remote.test\theld")),
        "{q}"
    );
    // Released, it is due at once and delivered.
    cli(&s.config, &["queue", "release", &held], None);
    r.wait_mailbox("carol@remote.test", 2);
    let t = wait_trace(&s, &["trace", "--queue-id", &held], "relayed");
    for event in ["hold", "release"] {
        assert!(t.contains(event), "{t}");
    }
    let t = cli(&s.config, &["trace", "--queue-id", &doomed], None);
    assert!(
        t.contains("deleted from the queue by the administrator"),
        "{t}"
    );
    // The deleted message was never delivered.
    let m = r.mailbox("carol@remote.test");
    assert_eq!(m.len(), 2, "{m:?}");
}

/// NC-2.4.2: `rampart ban remove` is the one command that unblocks an address, including the
/// temporary block the SMTP AUTH guard holds, in the running server, after failed logins.
#[test]
fn ban_remove_lifts_the_auth_block_of_an_address() {
    use base64::Engine;
    let s = Server::start_with(Options {
        top: "[auth]\nblock_after_failures = 2\nfailure_delay_ms = 1\nmax_failure_delay_ms = 1\n\
              [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n"
            .into(),
        ..Default::default()
    });
    // Two different wrong passwords: one repeated counts once (a stale password, NC-2.4.1).
    let wrong = |n: usize| {
        base64::engine::general_purpose::STANDARD
            .encode(format!("\0alice@example.test\0not the password {n}"))
    };
    let mut c = Client::connect(s.listener("submissions"));
    c.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    for n in 0..2 {
        c.send(&format!("AUTH PLAIN {}", wrong(n)));
        c.expect(535);
    }
    // Blocked: a new connection is turned away with 421, in plain text before any TLS.
    let mut blocked = std::net::TcpStream::connect(s.listener("submissions")).unwrap();
    blocked.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut refusal = String::new();
    std::io::Read::read_to_string(&mut blocked, &mut refusal).unwrap();
    assert!(refusal.starts_with("421 "), "{refusal}");
    let out = cli(&s.config, &["ban", "remove", "127.0.0.1"], None);
    assert!(out.contains("lifted the block of 1 address(es)"), "{out}");
    // Unblocked: alice logs in again from the same address.
    let mut ok = s.login_alice();
    ok.send("QUIT");
    ok.expect(221);
    // Nothing blocked or banned any more: the same command says so, as an error.
    let e = fails(&s.config, &["ban", "remove", "127.0.0.1"], None);
    assert!(e.contains("neither banned nor blocked"), "{e}");
}
