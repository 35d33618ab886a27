//! The administration console and /metrics on PostgreSQL (issue 20): two `rampart serve` nodes
//! on one database (a cluster the test starts), each with an admin listener, spoken to over
//! HTTPS with curl as a browser would (tests/common/console.rs), TOTP codes from oathtool.
//!
//! - an administrator added with node A's command line signs in (password + TOTP) on node B's
//!   console, and the code B accepted is refused on A (RFC 6238 section 5.2, NC-2.1.4);
//! - a console session made on node A is valid on node B, and a logout on B ends it on A; an
//!   administrator disabled with node A's command line is signed out on node B;
//! - a message node A quarantined (AL-1.4) is released from node B's console and delivered once;
//! - /metrics on node B shows the shared queue: a message queued through node A; held from
//!   node B's console, node A's /metrics counts none; released from B's console, it is delivered
//!   once.

use crate::common;

use common::console::{add_admin, by_id, field, oathtool, Browser, ADMIN_PASSWORD};
use common::pg::{dns, node, submit, wait_until, Db};
use common::{cli, ClosedPort, Options, Server, PASSWORD};

/// Alice's message to carol@remote.test; with an executable attachment when `exe`.
fn message(id: &str, exe: bool) -> String {
    let head = format!(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n"
    );
    if !exe {
        return format!("{head}\r\nThrough node A.\r\n");
    }
    format!(
        "{head}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n\
         --b--\r\n"
    )
}

/// The value of an unlabelled metric in a scrape of `s`'s /metrics.
fn metric(s: &Server, name: &str) -> Option<f64> {
    let r = Browser::new(s, "metrics").get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

#[test]
fn the_console_and_metrics_of_either_node_serve_the_one_database() {
    let db = Db::start();
    let dns = dns();
    // The Internet's side is not up yet: what node A queues stays queued. Its port is held
    // until the receiver below listens on it.
    let reserved = ClosedPort::for_rampart();
    let port = reserved.port();
    // The harness's node (tests/common/pg.rs) with an admin listener, holding executables.
    let console = "[[listener]]\nrole = \"admin\"\naddress = \"127.0.0.1:0\"\n\
                   [checks.attachments]\non_executable = \"quarantine\"\n";
    let a = node(&db, &dns, port, console);
    let b = node(&db, &dns, port, console);

    // An administrator added with node A's command line is listed by node B's.
    let secret = add_admin(&a, "ops", "operator");
    let listed = cli(&b.config, &["admin", "list"], None);
    assert!(listed.contains("ops\toperator\tenabled"), "{listed}");
    assert_eq!(
        cli(&b.config, &["admin", "list", "--json"], None)
            .lines()
            .count(),
        1
    );

    // NC-2.1.4: signs in on node B's console with the password and a code oathtool computed.
    let code = oathtool(&secret);
    let on_b = Browser::new(&b, "ops");
    assert_eq!(on_b.login("ops", "not the password", &code), 401);
    assert_eq!(on_b.login("ops", ADMIN_PASSWORD, &code), 303);
    let home = on_b.get("/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("ops"), "{}", home.body);
    // The directory node B's console shows is the database's (its changes from either node:
    // pg_console_directory.rs).
    let domains = on_b.get("/domains");
    assert_eq!(domains.status, 200, "{}", domains.body);
    assert!(domains.body.contains("example.test"), "{}", domains.body);
    let users = on_b.get("/users");
    assert_eq!(users.status, 200, "{}", users.body);
    assert!(
        users.body.contains(">alice@example.test</a>"),
        "{}",
        users.body
    );
    // RFC 6238 section 5.2: the code node B accepted is refused on node A.
    let replay = Browser::new(&a, "replay");
    assert_eq!(replay.login("ops", ADMIN_PASSWORD, &code), 401);

    // A session made on node A is valid on node B (the same cookie), and ends on both with a
    // logout on B.
    let watch = add_admin(&b, "watch", "auditor");
    let on_a = Browser::signed_in(&a, "watch", &watch);
    assert_eq!(on_a.get("/").status, 200);
    std::fs::copy(a.dir.0.join("jar-watch"), b.dir.0.join("jar-watch")).unwrap();
    let same_on_b = Browser::new(&b, "watch");
    let page = same_on_b.get("/queue");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = field(&page.body, "csrf");
    assert_eq!(same_on_b.post("/logout", &[("csrf", &csrf)]).status, 303);
    let after = on_a.get("/queue");
    assert_eq!(after.status, 303, "the session ended on node A too");
    assert_eq!(after.header("location"), Some("/login"));

    // /metrics on node B shows the queue node A filled: one message waiting for remote.test.
    assert_eq!(metric(&b, "rampart_queue_messages"), Some(0.0));
    let queued = submit(&a, &message("queued-1", false));
    wait_until("node B's /metrics counts the message node A queued", || {
        metric(&b, "rampart_queue_messages") == Some(1.0)
    });
    assert!(on_b.get("/queue").body.contains(&queued));

    // AL-1.4: node A holds a message with an executable; node B's console lists and releases it.
    let held = submit(&a, &message("held-1", true));
    let list = on_b.get("/quarantine");
    assert!(list.body.contains(&held), "{}", list.body);
    // Held is not queued: the gauge still counts one.
    assert_eq!(metric(&b, "rampart_queue_messages"), Some(1.0));

    // Node B's console holds the queued message (the queue actions run on the shared queue):
    // the gauge of either node drops to none.
    let hold = on_b.post(&format!("/queue/{queued}/hold"), &[("csrf", &on_b.csrf())]);
    assert_eq!(hold.status, 303, "{}", hold.body);
    wait_until(
        "node A's /metrics no longer counts the held message",
        || metric(&a, "rampart_queue_messages") == Some(0.0),
    );

    // The Internet's side comes up on the port the nodes deliver to.
    let r = Server::start_with(Options {
        mx_address: Some(format!("127.0.0.1:{port}")),
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
    let released = on_b.post(
        &format!("/quarantine/{held}/release"),
        &[("csrf", &on_b.csrf())],
    );
    assert_eq!(released.status, 303, "{}", released.body);
    let release = on_b.post(
        &format!("/queue/{queued}/release"),
        &[("csrf", &on_b.csrf())],
    );
    assert_eq!(release.status, 303, "{}", release.body);
    r.wait_mailbox("carol@remote.test", 2);
    wait_until("the shared queue is empty on node B's /metrics", || {
        metric(&b, "rampart_queue_messages") == Some(0.0)
    });
    // Each delivered exactly once (the queue's leases), whichever node delivered it.
    let mut ids: Vec<String> = r
        .mailbox("carol@remote.test")
        .iter()
        .map(|line| {
            let m = r.show("carol@remote.test", line.split('\t').next().unwrap());
            m.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["<held-1@example.test>", "<queued-1@example.test>"]);
    // AL-3.1: the trace, read with node A's command line, names who released it on node B.
    let t = common::wait_trace(
        &a,
        &["trace", "--queue-id", &held],
        "released from quarantine by ops",
    );
    assert!(t.contains("ops (operator): released held message"), "{t}");
    // The dashboard reads the shared figures too: nothing queued, nothing held.
    let dash = on_b.get("/");
    assert_eq!(by_id(&dash.body, "queue-size"), "0", "{}", dash.body);
    assert_eq!(by_id(&dash.body, "held"), "0", "{}", dash.body);

    // Disabled with node A's command line: the session on node B ends at its next request.
    let out = cli(&a.config, &["admin", "disable", "ops"], None);
    assert!(out.contains("administrator ops disabled"), "{out}");
    let after = on_b.get("/queue");
    assert_eq!(after.status, 303, "{}", after.body);
    assert_eq!(after.header("location"), Some("/login"));
    // A mistake on PostgreSQL is one line, as on SQLite.
    let out = common::cli_raw(&b.config, &["admin", "remove", "nobody"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: no administrator nobody; see `rampart admin list`"
    );
}

/// A console page whose store read fails says so (`503` and a sentence), never as an empty
/// list that reads as "nothing held, nobody banned, nothing queued": the fault is real, the
/// tables renamed away under the running node, then back.
#[test]
fn a_page_whose_store_read_fails_says_so_and_recovers() {
    let db = Db::start();
    let dns = dns();
    let a = node(&db, &dns, 1, common::console::ADMIN_LISTENER);
    let secret = add_admin(&a, "watch", "auditor");
    let b = Browser::signed_in(&a, "watch", &secret);
    let pages = ["/quarantine", "/bans", "/queue", "/trace?client=192.0.2.99"];
    let all_served = |when: &str| {
        for p in pages {
            let r = b.get(p);
            assert_eq!(r.status, 200, "{p} {when}: {}", r.body);
        }
    };
    all_served("at first");
    db.execute(
        "ALTER TABLE quarantine RENAME TO quarantine_away; \
         ALTER TABLE ids_bans RENAME TO ids_bans_away; ALTER TABLE queue RENAME TO queue_away; \
         ALTER TABLE trace RENAME TO trace_away",
    );
    for p in pages {
        let r = b.get(p);
        assert_eq!(r.status, 503, "{p}: {}", r.body);
        let said = if p.starts_with("/trace") {
            "The trace could not be read just now; search again."
        } else {
            "The store could not be read just now; reload the page."
        };
        assert!(r.body.contains(said), "{p}: {}", r.body);
    }
    // A held message's page and its release: unreadable, not "no such message".
    let one = "/quarantine/6620AA0000000000";
    assert_eq!(b.get(one).status, 503);
    let release = format!("{one}/release");
    assert_eq!(b.post(&release, &[("csrf", "any")]).status, 503);
    db.execute(
        "ALTER TABLE quarantine_away RENAME TO quarantine; \
         ALTER TABLE ids_bans_away RENAME TO ids_bans; ALTER TABLE queue_away RENAME TO queue; \
         ALTER TABLE trace_away RENAME TO trace",
    );
    all_served("once the tables are back");
    assert_eq!(b.get(one).status, 404);
    assert_eq!(b.post(&release, &[("csrf", "any")]).status, 403);

    // A sign-out the store cannot carry out (a trigger refuses the delete) says so: the session
    // stands, as said, and the trace records no sign-out that did not happen (AL-3.1).
    db.execute(
        "CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'kept by the test'; END $$; \
         CREATE TRIGGER keep BEFORE DELETE ON admin_sessions \
         FOR EACH ROW EXECUTE FUNCTION keep_row()",
    );
    let csrf = b.csrf();
    let r = b.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("Signing out failed: the store could not end this session just now"),
        "{}",
        r.body
    );
    assert_eq!(
        b.get("/queue").status,
        200,
        "still signed in, as the page says"
    );
    let signed_out = "SELECT count(*) FROM trace WHERE event = 'console' \
                      AND detail LIKE 'watch (auditor): signed out%'";
    assert_eq!(db.count(signed_out), 0);
    db.execute("DROP TRIGGER keep ON admin_sessions");
    assert_eq!(b.post("/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(b.get("/queue").status, 303, "signed out");
    wait_until("the sign-out is in the trace", || db.count(signed_out) == 1);
}

/// AL-2.2 on the shared store: a DKIM key generated in one node's console goes into the shared
/// database (no key file on the node), and the other node's DKIM page lists it with the record
/// to publish; before this, the page listed only the node's own key files.
#[test]
fn al_2_2_a_key_generated_in_the_console_is_in_the_shared_database() {
    let db = Db::start();
    let dns = dns();
    let console = common::console::ADMIN_LISTENER;
    let a = node(&db, &dns, 1, console);
    let b = node(&db, &dns, 1, console);
    let secret = add_admin(&a, "root", "administrator");
    let on_a = Browser::signed_in(&a, "root", &secret);
    let r = on_a.post(
        "/dkim/generate",
        &[
            ("csrf", &on_a.csrf()),
            ("domain", "example.test"),
            ("selector", "shared1"),
            ("algorithm", "rsa"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("shared1._domainkey.example.test. IN TXT &quot;v=DKIM1; k=rsa; p="),
        "{}",
        r.body
    );
    assert_eq!(
        db.count("SELECT count(*) FROM dkim_keys WHERE selector = 'shared1'"),
        1
    );
    assert!(!a.data_dir().join("dkim").exists(), "no key file on node A");
    let on_b = Browser::new(&b, "root");
    std::fs::copy(a.dir.0.join("jar-root"), b.dir.0.join("jar-root")).unwrap();
    let page = on_b.get("/dkim");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("<td>shared1</td><td>example.test</td><td>rsa-sha256</td><td>2048</td>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("data-name=\"shared1._domainkey.example.test\" data-type=\"TXT\""),
        "the record to publish: {}",
        page.body
    );
}
