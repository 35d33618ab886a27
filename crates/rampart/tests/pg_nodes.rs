//! Several `rampart serve` processes on one PostgreSQL database (issue 20): each node a real
//! server with its own data directory and certificate, the database a cluster the test starts
//! (rampart_store_pg::cluster), the Internet a DNS server the test starts and a second Rampart
//! (on SQLite) receiving for remote.test.
//!
//! - mail submitted to both nodes is delivered exactly once (the queue's leases);
//! - `kill -9` of a node holding leases: the other node takes them over once they run out;
//! - a brute force over SMTP AUTH split across the nodes is banned on both (NC-2.4.1, NC-2.4.2);
//! - a user added with the command line on node A logs in on node B (NC-2.1.2);
//! - a JMAP client on node B sees, and is pushed, mail delivered by node A.
//!
//! The store's faults under a running node (PostgreSQL stopped, a table gone) are in
//! pg_faults.rs.

use crate::common;

use common::pg::{dns, node, outbound, receiver, submit, wait_until, Db};
use common::{cli, Client, Options, Server, PASSWORD};
use rampart_testdns::TestDns;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The Message-ID of every message in carol's mailbox at the receiver, duplicates kept.
fn received_ids(r: &Server) -> Vec<String> {
    r.mailbox("carol@remote.test")
        .iter()
        .map(|line| {
            let id = line.split('\t').next().unwrap();
            let m = r.show("carol@remote.test", id);
            m.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap_or_else(|| panic!("no Message-ID in {m}"))
                .trim()
                .to_string()
        })
        .collect()
}

/// Every message delivered once: the ids received are exactly `sent`, none twice.
fn assert_exactly_once(r: &Server, sent: &BTreeSet<String>) {
    let ids = received_ids(r);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "a message delivered twice: {ids:?}"
    );
    assert_eq!(&unique, sent);
}

#[test]
fn mail_submitted_to_two_nodes_is_delivered_exactly_once() {
    let db = Db::start();
    let dns = dns();
    let r = receiver(0, &dns);
    let a = node(&db, &dns, r.addr.port(), "");
    let b = node(&db, &dns, r.addr.port(), "");
    let mut sent = BTreeSet::new();
    for i in 0..10 {
        for (name, n) in [("a", &a), ("b", &b)] {
            let id = format!("once-{name}{i}");
            submit(n, &outbound(&id));
            sent.insert(format!("<{id}@example.test>"));
        }
    }
    r.wait_mailbox("carol@remote.test", sent.len());
    wait_until("the shared queue is empty", || {
        db.count("SELECT count(*) FROM queue") == 0
    });
    assert_exactly_once(&r, &sent);
    // AL-3.1 from any node: the trace of a message node A took, asked with node B's
    // configuration, has its whole timeline; the queue list, from either, is empty.
    let t = cli(
        &b.config,
        &["trace", "--message-id", "<once-a0@example.test>"],
        None,
    );
    for event in ["queued", "relayed"] {
        assert!(t.contains(event), "{event} missing from:\n{t}");
    }
    assert_eq!(cli(&a.config, &["queue", "list"], None), "");
}

/// Stands in for a receiving server that accepts connections and never answers, so a node's
/// delivery attempt stays in flight, holding its leases (a fake for that one fault: a real
/// server that hangs on demand does not exist).
struct Silent {
    addr: SocketAddr,
    accepted: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (acc, st) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => acc.lock().unwrap().push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Closes the listener and every connection: the port is free again.
    fn close(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.accepted.lock().unwrap().clear();
    }
}

#[test]
fn a_node_killed_while_delivering_leaves_its_leases_to_the_other() {
    let db = Db::start();
    let dns = dns();
    let silent = Silent::start();
    let port = silent.addr.port();
    let mut a = node(&db, &dns, port, "");
    let mut sent = BTreeSet::new();
    for i in 0..3 {
        let id = format!("lease-{i}");
        submit(&a, &outbound(&id));
        sent.insert(format!("<{id}@example.test>"));
    }
    // Node A has claimed every recipient and is attempting delivery (the receiver is silent).
    wait_until("node A holds the leases and is connected", || {
        db.count("SELECT count(*) FROM queue WHERE lease_owner IS NOT NULL") == 3
            && silent.connections() > 0
    });
    let owner_a = db.count("SELECT count(DISTINCT lease_owner) FROM queue");
    assert_eq!(owner_a, 1);
    a.kill9();
    // The leases outlive node A; node B takes them once they have run out (lease_secs = 2).
    silent.close();
    let r = receiver(port, &dns);
    let b = node(&db, &dns, port, "");
    r.wait_mailbox("carol@remote.test", sent.len());
    wait_until("the shared queue is empty", || {
        db.count("SELECT count(*) FROM queue") == 0
    });
    assert_exactly_once(&r, &sent);
    drop(b);
}

/// What an SMTP listener says first: the greeting's code, or 554 for a banned address.
fn first_code(addr: SocketAddr) -> u16 {
    let mut c = Client::connect(addr);
    c.reply().map_or(0, |(code, _)| code)
}

/// One SMTP AUTH PLAIN on `s`'s submissions listener; its reply code.
fn auth(s: &Server, user: &str, password: &str) -> u16 {
    use base64::Engine;
    let mut c = Client::connect(s.listener("submissions"));
    c.start_tls_now(s.tls_config(&[&rustls::version::TLS13]));
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    c.send(&format!("AUTH PLAIN {token}"));
    c.reply().map_or(0, |(code, _)| code)
}

/// NC-2.1.2 on several nodes: the directory commands run on PostgreSQL. A domain, a user and an
/// alias added with node A's configuration are in force on node B at once; the password policy
/// holds there as on SQLite; a command that does not run on PostgreSQL yet says so in one line.
#[test]
fn nc_2_1_2_a_user_added_on_node_a_logs_in_on_node_b() {
    let db = Db::start();
    let dns = dns();
    let a = node(&db, &dns, 1, "");
    let b = node(&db, &dns, 1, "");
    cli(&a.config, &["domain", "add", "second.test"], None);
    cli(
        &a.config,
        &["user", "add", "dana@second.test", "--password-stdin"],
        Some(PASSWORD),
    );
    cli(
        &a.config,
        &["alias", "add", "info@second.test", "dana@second.test"],
        None,
    );
    assert_eq!(auth(&b, "dana@second.test", PASSWORD), 235);
    assert_eq!(auth(&b, "dana@second.test", "not her password"), 535);
    // A new password set on node B is the one node A takes; a disabled account logs in nowhere,
    // and enabled again it does.
    const NEW: &str = "a longer new passphrase 42";
    cli(
        &b.config,
        &["user", "password", "dana@second.test", "--password-stdin"],
        Some(NEW),
    );
    assert_eq!(auth(&a, "dana@second.test", NEW), 235);
    assert_eq!(auth(&a, "dana@second.test", PASSWORD), 535);
    cli(&b.config, &["user", "disable", "dana@second.test"], None);
    assert_eq!(auth(&a, "dana@second.test", NEW), 535);
    cli(&a.config, &["user", "enable", "dana@second.test"], None);
    assert_eq!(auth(&b, "dana@second.test", NEW), 235);
    let users = cli(&b.config, &["user", "list"], None);
    assert!(users.lines().any(|l| l == "dana@second.test"), "{users}");
    let aliases = cli(&b.config, &["alias", "list", "--json"], None);
    assert!(
        aliases.contains("\"alias\":\"info@second.test\""),
        "{aliases}"
    );
    // The password policy (short, common) refuses as on SQLite, and nothing is added.
    let out = common::cli_raw(
        &a.config,
        &["user", "add", "eve@second.test", "--password-stdin"],
        Some("password\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!cli(&b.config, &["user", "list"], None).contains("eve@"));
    // Every command runs on PostgreSQL now, the console's administrators included.
    let out = common::cli_raw(&a.config, &["admin", "list"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One failed SMTP AUTH PLAIN on `s`'s submissions listener.
fn failed_auth(s: &Server, user: &str, password: &str) {
    assert_eq!(auth(s, user, password), 535);
}

#[test]
fn nc_2_4_1_a_brute_force_split_across_two_nodes_is_banned_on_both() {
    let db = Db::start();
    let dns = dns();
    // Four distinct failures from one address within ten minutes are a brute force; the AUTH
    // guard's own per-process block is out of the way, and so are the detectors the test's own
    // probes could trip (connections counted by flood; sessions cut short), so that only the
    // auth detector can ban.
    let ids =
        "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2\nblock_after_failures = 1000\n\
               [ids.auth]\ncount = 4\nwindow_secs = 600\n\
               [ids.auth_account]\ncount = 0\nwindow_secs = 600\n\
               [ids.flood]\ncount = 0\nwindow_secs = 60\n\
               [ids.protocol]\ncount = 0\nwindow_secs = 60\n\
               [ids.tls]\ncount = 0\nwindow_secs = 60\n";
    let a = node(&db, &dns, 1, ids);
    let b = node(&db, &dns, 1, ids);
    failed_auth(&a, "alice@example.test", "guess-1");
    failed_auth(&b, "bob@example.test", "guess-2");
    failed_auth(&a, "alice@example.test", "guess-3");
    // Three so far, two on one node and one on the other: nobody is banned yet.
    assert_eq!(first_code(a.addr), 220);
    assert_eq!(first_code(b.addr), 220);
    // The fourth, on node B, which has seen only two itself.
    failed_auth(&b, "bob@example.test", "guess-4");
    // Node B bans at once; node A reads the shared ban list every second (rampart_ids::REFRESH).
    let start = Instant::now();
    while !(first_code(a.addr) == 554 && first_code(b.addr) == 554) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the brute force split across the nodes was not banned on both"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ids_bans WHERE network = '127.0.0.1/32' AND detector = 'auth'"
        ),
        1,
        "one ban, by the auth detector, in the shared store"
    );
}

#[test]
fn a_jmap_client_on_node_b_sees_and_is_pushed_mail_node_a_delivered() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let db = Db::start();
    let dns = dns();
    let a = node(&db, &dns, 1, "");
    let b = node(&db, &dns, 1, "");
    let alice = b.jmap("alice@example.test");
    let account = alice.account_id();
    // A push stream on node B (RFC 8620 section 7.3), open before the delivery on node A.
    let port = b.listener("https").port();
    let mut curl = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--http1.1",
            "--max-time",
            "60",
            "-D",
            "-",
            "--cacert",
        ])
        .arg(b.ca_file())
        .arg("--resolve")
        .arg(format!("mail.example.test:{port}:127.0.0.1"))
        .arg("-u")
        .arg(format!("alice@example.test:{PASSWORD}"))
        .arg(format!(
            "https://mail.example.test:{port}/jmap/eventsource?types=*&closeafter=state&ping=0"
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(curl.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains(" 200"), "{line}");

    let mut c = a.ehlo();
    let (code, text) = c.send_mail(
        "carol@remote.test",
        &["alice@example.test"],
        &common::message("cross1", "Delivered by node A."),
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");

    let mut event = String::new();
    let data = loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "node B's stream ended without a state event");
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        }
        if let Some(d) = line.strip_prefix("data:") {
            if event == "state" {
                break d.trim().to_string();
            }
        }
    };
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["@type"], "StateChange");
    assert!(v["changed"][&account].get("Email").is_some(), "{v}");
    let _ = curl.wait();

    // Email/query and Email/get on node B find it.
    let r = alice.call1(
        "Email/query",
        serde_json::json!({"accountId": account, "filter": {"text": "node A"}}),
    );
    let ids = r["ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1, "{r}");
    let got = alice.call1(
        "Email/get",
        serde_json::json!({"accountId": account, "ids": ids, "properties": ["messageId"]}),
    );
    assert_eq!(
        got["list"][0]["messageId"][0], "cross1@remote.test",
        "{got}"
    );
}

#[test]
fn nc_2_1_8_a_rate_limit_counts_the_messages_sent_through_every_node() {
    let db = Db::start();
    let dns = dns();
    let r = receiver(0, &dns);
    // Three messages per user in ten minutes, whichever node they are sent through.
    let limit =
        "[[rate_limit]]\nscope = \"user\"\nwhat = \"messages\"\nlimit = 3\nwindow_secs = 600\n";
    let a = node(&db, &dns, r.addr.port(), limit);
    let b = node(&db, &dns, r.addr.port(), limit);
    submit(&a, &outbound("rate-1"));
    submit(&b, &outbound("rate-2"));
    submit(&a, &outbound("rate-3"));
    // The fourth, through node B, which has seen only one of them itself.
    let mut c = b.login_alice();
    c.send("MAIL FROM:<alice@example.test>");
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 451, "{text}");
    assert!(
        text.starts_with("4.7.") && text.contains("3 messages per user in 600 s exceeded"),
        "{text}"
    );
}

/// The Internet's side for mail that carries an executable: a [`receiver`] that takes it (its
/// attachment policy is the nodes' business here, not the receiver's).
fn receiver_taking_attachments(dns: &TestDns) -> Server {
    let r = Server::start_with(Options {
        top: format!("[dns]\nservers = [\"{}\"]\n", dns.addr()),
        checks: Some("disabled = [\"antivirus\", \"external\", \"attachments\"]".into()),
        ..Default::default()
    });
    cli(&r.config, &["domain", "add", "remote.test"], None);
    cli(
        &r.config,
        &["user", "add", "carol@remote.test", "--password-stdin"],
        Some(PASSWORD),
    );
    r
}

/// Alice's message to carol with an executable attachment (AL-1.4), as `id`.
fn with_executable(id: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: tool {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n\
         --b--\r\n"
    )
}

/// The queue ids `rampart quarantine list --json` shows with `config`.
fn held_ids(config: &std::path::Path) -> Vec<String> {
    cli(config, &["quarantine", "list", "--json"], None)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["queue_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// AL-1.4 on several nodes: a message node A quarantined is listed, shown and released with
/// node B's configuration; the release puts it on the shared queue and it is delivered exactly
/// once, and the trace (read with node A's) names who released it. Another is deleted with node
/// A's configuration and is gone for every node.
#[test]
fn al_1_4_a_message_held_by_node_a_is_released_with_node_b_and_delivered_once() {
    let db = Db::start();
    let dns = dns();
    let r = receiver_taking_attachments(&dns);
    let hold = "[checks.attachments]\non_executable = \"quarantine\"\n";
    let a = node(&db, &dns, r.addr.port(), hold);
    let b = node(&db, &dns, r.addr.port(), hold);
    let held = submit(&a, &with_executable("held-1"));
    let doomed = submit(&a, &with_executable("held-2"));
    let mut ids = held_ids(&b.config);
    ids.sort();
    let mut want = vec![held.clone(), doomed.clone()];
    want.sort();
    assert_eq!(ids, want, "node B's CLI lists what node A held");
    assert_eq!(
        db.count("SELECT count(*) FROM queue WHERE status = 'held'"),
        2
    );
    let list = cli(&b.config, &["quarantine", "list"], None);
    assert!(
        list.contains(&held) && list.contains("<alice@example.test>"),
        "{list}"
    );
    let shown = cli(&b.config, &["quarantine", "show", &held], None);
    assert!(
        shown.contains(&format!("Queue-ID: {held}"))
            && shown.contains("Recipients: carol@remote.test")
            && shown.contains("setup.exe")
            && shown.contains("Subject: tool held-1"),
        "{shown}"
    );

    let out = cli(&b.config, &["quarantine", "release", &held], None);
    assert!(out.contains(&format!("{held} released")), "{out}");
    r.wait_mailbox("carol@remote.test", 1);
    wait_until("the released message has left the shared queue", || {
        db.count(&format!(
            "SELECT count(*) FROM queue WHERE message = '{held}'"
        )) == 0
    });
    assert_exactly_once(&r, &BTreeSet::from(["<held-1@example.test>".to_string()]));
    // AL-3.1: the trace, read with node A's configuration, names the release and who did it.
    let t = cli(&a.config, &["trace", "--queue-id", &held], None);
    assert!(
        t.contains("released from quarantine by administrator (uid"),
        "{t}"
    );
    // Released twice: the second finds nothing held, in one line.
    let out = common::cli_raw(&a.config, &["quarantine", "release", &held], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("no message") && err.lines().count() == 1,
        "{err}"
    );

    // Deleted with node A's configuration: off the list of both, never delivered.
    cli(&a.config, &["quarantine", "delete", &doomed], None);
    assert!(held_ids(&b.config).is_empty());
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM queue WHERE message = '{doomed}'"
        )),
        0
    );
    let out = common::cli_raw(&b.config, &["quarantine", "show", &doomed], None);
    assert!(!out.status.success());
    let t = cli(&b.config, &["trace", "--queue-id", &doomed], None);
    assert!(
        t.contains("deleted from quarantine by administrator"),
        "{t}"
    );
    assert_exactly_once(&r, &BTreeSet::from(["<held-1@example.test>".to_string()]));
}

/// Both nodes' first reply to a new connection, once both equal `code` (within ten seconds:
/// each node reads the shared ban list every second).
fn wait_both_greet(a: &Server, b: &Server, code: u16, what: &str) {
    let start = Instant::now();
    while !(first_code(a.addr) == code && first_code(b.addr) == code) {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// NC-2.4.2 on several nodes: a brute force split across the nodes is banned on both; the ban is
/// listed with node A's configuration and lifted with node B's, and both nodes take the address
/// again. A ban added by hand with one node's configuration holds on both until it is lifted
/// with the other's. The mailbox audit (AL-3.1), read with either, has both nodes' logins.
#[test]
fn nc_2_4_2_a_ban_lifted_with_one_nodes_cli_is_lifted_on_both() {
    let db = Db::start();
    let dns = dns();
    let ids =
        "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2\nblock_after_failures = 1000\n\
               [ids.auth]\ncount = 4\nwindow_secs = 600\n\
               [ids.auth_account]\ncount = 0\nwindow_secs = 600\n\
               [ids.flood]\ncount = 0\nwindow_secs = 60\n\
               [ids.protocol]\ncount = 0\nwindow_secs = 60\n\
               [ids.tls]\ncount = 0\nwindow_secs = 60\n";
    let a = node(&db, &dns, 1, ids);
    let b = node(&db, &dns, 1, ids);
    failed_auth(&a, "alice@example.test", "guess-1");
    failed_auth(&b, "alice@example.test", "guess-2");
    failed_auth(&a, "bob@example.test", "guess-3");
    failed_auth(&b, "bob@example.test", "guess-4");
    wait_both_greet(&a, &b, 554, "the brute force was not banned on both nodes");

    let list = cli(&a.config, &["ban", "list"], None);
    assert!(
        list.contains("127.0.0.1/32") && list.contains("[auth]"),
        "{list}"
    );
    let out = cli(&b.config, &["ban", "remove", "127.0.0.1"], None);
    assert!(out.contains("unbanned 127.0.0.1/32"), "{out}");
    wait_both_greet(&a, &b, 220, "the lifted ban still holds on a node");
    assert_eq!(auth(&a, "alice@example.test", PASSWORD), 235);
    assert_eq!(auth(&b, "alice@example.test", PASSWORD), 235);
    let list = cli(&a.config, &["ban", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["bans"], serde_json::json!([]), "{v}");
    // Lifted again: no ban to lift, and it says so.
    let out = cli(&a.config, &["ban", "remove", "127.0.0.1"], None);
    assert!(out.contains("127.0.0.1/32 was not banned"), "{out}");

    // By hand: banned with node A's configuration, refused by both; lifted with node B's.
    let out = cli(
        &a.config,
        &[
            "ban",
            "add",
            "127.0.0.1",
            "--secs",
            "600",
            "--reason",
            "test",
        ],
        None,
    );
    assert!(out.starts_with("banned 127.0.0.1/32 until "), "{out}");
    wait_both_greet(
        &a,
        &b,
        554,
        "the ban added by hand does not hold on both nodes",
    );
    cli(&b.config, &["ban", "remove", "127.0.0.1/32"], None);
    wait_both_greet(&a, &b, 220, "the ban added by hand was not lifted on both");
    let t = cli(&a.config, &["trace", "--since", "1h"], None);
    assert_eq!(
        t.matches("127.0.0.1/32 unbanned by the administrator")
            .count(),
        2,
        "{t}"
    );

    // AL-3.1: alice's failed and successful logins on both nodes, read with either's CLI.
    wait_until("alice's logins are in the mailbox audit", || {
        let out = cli(
            &b.config,
            &[
                "mailbox",
                "audit",
                "--user",
                "alice@example.test",
                "--operation",
                "login,login-failed",
                "--json",
            ],
            None,
        );
        let ops: Vec<String> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["operation"].as_str().unwrap().to_string()
            })
            .collect();
        ops.iter().filter(|o| *o == "login-failed").count() == 2
            && ops.iter().filter(|o| *o == "login").count() == 2
    });
    let table = cli(
        &a.config,
        &["mailbox", "audit", "--user", "alice@example.test"],
        None,
    );
    assert!(
        table.contains("OPERATION") && table.contains("login-failed"),
        "{table}"
    );
}

/// Whether `s`'s submissions listener turns this address away (the AUTH guard's block: a 421
/// in plain text before any TLS) rather than waiting for the TLS handshake.
fn auth_blocked(s: &Server) -> bool {
    use std::io::Read;
    let mut c = TcpStream::connect(s.listener("submissions")).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut first = [0u8; 4];
    matches!(c.read(&mut first), Ok(n) if n > 0 && first.starts_with(b"421"))
}

/// NC-2.4.2 on several nodes: the SMTP AUTH guard's blocks after failed logins live in each
/// node's memory; `rampart ban remove` with node A's configuration lifts them on node B too.
#[test]
fn nc_2_4_2_ban_remove_lifts_the_auth_blocks_of_every_node() {
    let db = Db::start();
    let dns = dns();
    // Only the guard acts: two failures block the address on the node that saw them.
    let guard =
        "[auth]\nfailure_delay_ms = 1\nmax_failure_delay_ms = 2\nblock_after_failures = 2\n\
                 [ids.auth]\ncount = 0\nwindow_secs = 600\n\
                 [ids.auth_account]\ncount = 0\nwindow_secs = 600\n\
                 [ids.flood]\ncount = 0\nwindow_secs = 60\n\
                 [ids.protocol]\ncount = 0\nwindow_secs = 60\n\
                 [ids.tls]\ncount = 0\nwindow_secs = 60\n";
    let a = node(&db, &dns, 1, guard);
    let b = node(&db, &dns, 1, guard);
    for (n, s) in [(&a, "a"), (&b, "b")] {
        assert!(!auth_blocked(n));
        failed_auth(n, "alice@example.test", &format!("{s}-guess-1"));
        failed_auth(n, "alice@example.test", &format!("{s}-guess-2"));
        assert!(
            auth_blocked(n),
            "node {s} does not block after two failures"
        );
    }
    let out = cli(&a.config, &["ban", "remove", "127.0.0.1"], None);
    assert!(
        out.contains("127.0.0.1/32 was not banned")
            && out.contains("lifted the block of 1 address(es)")
            && out.contains("every node lifts its blocks"),
        "{out}"
    );
    assert!(!auth_blocked(&a), "node A still blocks");
    wait_until("node B lifts its block", || !auth_blocked(&b));
    assert_eq!(auth(&a, "alice@example.test", PASSWORD), 235);
    assert_eq!(auth(&b, "alice@example.test", PASSWORD), 235);
    // Applied once: two new failures on node B block it again, and the block stands over the
    // next reads of the IDS log (the lift gave no lasting pass).
    failed_auth(&b, "alice@example.test", "b-guess-3");
    failed_auth(&b, "alice@example.test", "b-guess-4");
    let start = Instant::now();
    while start.elapsed() < 3 * rampart_ids::REFRESH {
        assert!(auth_blocked(&b), "the old lift was applied again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// AL-3.2 on several nodes: `rampart report summary` with either node's configuration counts the
/// mail of both (one trace); both nodes run the `[reports]` schedule, and the day that ended
/// before they started is mailed once, by whichever node claimed it first.
#[test]
fn al_3_2_the_system_report_counts_every_node_and_each_period_is_mailed_once() {
    let db = Db::start();
    let dns = dns();
    let r = receiver(0, &dns);
    let reports = "[reports]\ndaily = [\"bob@example.test\"]\n";
    let a = node(&db, &dns, r.addr.port(), reports);
    let b = node(&db, &dns, r.addr.port(), reports);
    // Each node's schedule looks at start; yesterday's report is claimed once and queued once.
    wait_until("yesterday's report is claimed", || {
        db.count("SELECT count(*) FROM system_reports_sent WHERE period = 'day'") == 1
    });
    wait_until("the report is queued", || {
        db.count("SELECT count(*) FROM trace WHERE event = 'report'") == 1
    });
    let again = cli(
        &a.config,
        &["report", "summary", "--period", "day", "--send"],
        None,
    );
    assert!(again.contains("already sent"), "{again}");
    // Mail through both nodes; the summary asked with node B's configuration counts all of it.
    let mut sent = BTreeSet::new();
    for (name, n) in [("a", &a), ("b", &b), ("a", &a)] {
        let id = format!("report-{name}{}", sent.len());
        submit(n, &outbound(&id));
        sent.insert(format!("<{id}@example.test>"));
    }
    r.wait_mailbox("carol@remote.test", sent.len());
    let json = cli(
        &b.config,
        &["report", "summary", "--period", "day", "--json"],
        None,
    );
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(s["volume"]["submitted"], 3, "{json}");
    // Still one report: neither node's schedule sent the day twice.
    assert_eq!(
        db.count("SELECT count(*) FROM trace WHERE event = 'report'"),
        1
    );
}

/// The stored message of carol's whose Message-ID is `<id@example.test>`.
fn received(r: &Server, id: &str) -> String {
    let want = format!("<{id}@example.test>");
    r.mailbox("carol@remote.test")
        .iter()
        .map(|line| r.show("carol@remote.test", line.split('\t').next().unwrap()))
        .find(|m| {
            m.lines()
                .any(|l| l.strip_prefix("Message-ID: ").map(str::trim) == Some(&want))
        })
        .unwrap_or_else(|| panic!("{want} not received"))
}

/// The first `name` header field of `msg`, unfolded.
fn header(msg: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    let mut lines = msg
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !l.starts_with(&prefix));
    let mut value = lines
        .next()
        .and_then(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push_str(l);
    }
    value
}

/// AL-2.2 (and the NC guideline on signatures) on several nodes: a DKIM key generated with node
/// A's command line is kept in the shared database and signs the mail node B sends, without a
/// restart of node B. The receiver verifies the signature against the TXT record the command
/// printed, published in DNS, and so does an independent implementation (dkimpy).
#[test]
fn al_2_2_a_dkim_key_generated_on_node_a_signs_mail_sent_through_node_b() {
    let db = Db::start();
    let dns = dns();
    let r = receiver(0, &dns);
    let a = node(&db, &dns, r.addr.port(), "");
    let b = node(&db, &dns, r.addr.port(), "");
    // Before the key exists, node B's mail leaves unsigned (and node B has read the store's
    // keys: none).
    submit(&b, &outbound("dkim-before"));
    r.wait_mailbox("carol@remote.test", 1);
    let before = received(&r, "dkim-before");
    assert!(!before.contains("DKIM-Signature:"), "{before}");

    let out = common::cli_raw(
        &a.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "pg1",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("PostgreSQL database"), "{stderr}");
    // The private key stays in the database: never printed.
    assert!(!format!("{stdout}{stderr}").contains("PRIVATE KEY"));
    assert_eq!(db.count("SELECT count(*) FROM dkim_keys"), 1);
    let line = stdout.lines().find(|l| l.contains(" IN TXT ")).unwrap();
    let (name, value) = line.split_once(" IN TXT ").unwrap();
    let value: String = value.split('"').skip(1).step_by(2).collect();
    assert_eq!(name, "pg1._domainkey.example.test.");
    assert!(value.starts_with("v=DKIM1; k=rsa; p="), "{value}");
    dns.set_txt("pg1._domainkey.example.test", value.as_str());

    // Node B lists it, as the embedded store lists its files; a second key of the selector is
    // refused in one line, from any node.
    let list = cli(&b.config, &["dkim", "list"], None);
    assert_eq!(list, "example.test\tpg1\tRsa\tdatabase\n");
    let again = common::cli_raw(
        &b.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "pg1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("exists already") && err.lines().count() == 1,
        "{err}"
    );

    // Node B, not restarted, signs its next message with the key node A generated.
    submit(&b, &outbound("dkim-after"));
    r.wait_mailbox("carol@remote.test", 2);
    let after = received(&r, "dkim-after");
    assert_eq!(after.matches("DKIM-Signature:").count(), 1, "{after}");
    let sig = header(&after, "DKIM-Signature");
    assert!(
        sig.contains("d=example.test;") && sig.contains("s=pg1;"),
        "{sig}"
    );
    // The receiver checked it against the record in DNS.
    assert!(
        after.contains("dkim=pass") && after.contains("header.s=pg1"),
        "the receiver did not verify the signature: {after}"
    );
    // And so does dkimpy, with the record exactly as the command printed it.
    let script = r#"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
msg = msg.split(b'\r\n', 1)[1] if msg.startswith(b'Return-Path:') else msg
def dnsfunc(name, timeout=5):
    return sys.argv[3].encode() if name == sys.argv[2].encode() else b''
print(dkim.DKIM(msg).verify(idx=0, dnsfunc=dnsfunc))
"#;
    let file = r.dir.0.join("dkim-after.eml");
    std::fs::write(&file, &after).unwrap();
    let out = common::python(script, &[file.to_str().unwrap(), name, &value]);
    let out = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.trim(), "True", "dkimpy verified: {out}");
}
