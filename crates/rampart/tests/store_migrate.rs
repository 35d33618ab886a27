//! `rampart store migrate-from-sqlite` (issue 20): an embedded installation populated through
//! the real CLI and over SMTP (users, aliases, a message delivered into a mailbox, a large
//! outbound message deferred in the queue with its body in a message file, a ban, the trace, a
//! DKIM key file) is moved into a PostgreSQL cluster the test starts, then read back through the
//! PostgreSQL store's traits and its tables.

use crate::common;

use common::{cli, cli_raw, message, wait_trace, ClosedPort, Options, Server, PASSWORD};
use rampart_store::api::{Directory, MailStore, Trace};
use rampart_store::mail::{EmailFilter, EmailQuery, FilterCondition};
use rampart_store::{Bans, TraceFilter};
use rampart_store_pg::cluster::Cluster;
use rampart_testdns::TestDns;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_embedded_installation_moves_into_postgresql_whole() {
    // remote.test's MX is 127.0.0.1 on a port nothing listens on: the outbound message stays
    // deferred, retried only in an hour.
    let dns = TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .start();
    let closed = ClosedPort::new();
    let top = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
         [delivery]\nport = {}\nretry_secs = [3600]\ntimeout_secs = 5\n\
         [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
        dns.addr(),
        closed.port()
    );
    let mut s = Server::start_with(Options {
        top,
        ..Default::default()
    });

    // A message into alice's mailbox over the MX listener.
    let mut c = s.ehlo();
    let (code, text) = c.send_mail(
        "sender@remote.test",
        &["alice@example.test"],
        &message("moved1", "Delivered before the move."),
    );
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    s.wait_mailbox("alice@example.test", 1);

    // A large outbound message (past the size kept inline in SQLite: its body is a file).
    let filler = "x".repeat(76);
    let mut body = String::from(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: outbound big\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <big1@example.test>\r\n\r\n",
    );
    for _ in 0..2_500 {
        body.push_str(&filler);
        body.push_str("\r\n");
    }
    let mut c = s.login_alice();
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], &body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    let qid = text.rsplit(' ').next().unwrap().to_string();
    wait_trace(&s, &["trace", "--queue-id", &qid], "deferred");
    let file = s.data_dir().join("messages").join(&qid);
    let file_bytes = std::fs::read(&file).expect("the large message has a file");

    cli(
        &s.config,
        &[
            "ban",
            "add",
            "192.0.2.7",
            "--reason",
            "moved with the rest",
            "--permanent",
        ],
        None,
    );

    // AL-2.2: a DKIM key file, which every node must sign with once the store is shared.
    cli(
        &s.config,
        &[
            "dkim",
            "generate",
            "--domain",
            "example.test",
            "--selector",
            "m1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    let key_der = std::fs::read(s.data_dir().join("dkim/example.test.m1.ed25519.der")).unwrap();
    // A console administrator (NC-2.1.2), who must sign in on every node after the move.
    let added = cli(
        &s.config,
        &[
            "admin",
            "add",
            "ops",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("a console passphrase"),
    );
    let totp_secret = added
        .lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .unwrap()
        .trim()
        .to_string();

    // The PostgreSQL side: the same configuration with [store] pointing at an empty database.
    let cluster = Cluster::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(cluster.create_database());
    let pw = s.dir.0.join("db-password");
    std::fs::write(&pw, format!("{}\n", cluster.password)).unwrap();
    let pg_config = s.dir.0.join("rampart-pg.toml");
    std::fs::write(
        &pg_config,
        format!(
            "{}\n[store]\nbackend = \"postgresql\"\nurl = \"{}\"\npassword_file = \"{}\"\n",
            std::fs::read_to_string(&s.config).unwrap(),
            cluster.url(&db),
            pw.display()
        ),
    )
    .unwrap();

    // Refused while the server runs on the data directory: one line saying what to do.
    let out = cli_raw(&pg_config, &["store", "migrate-from-sqlite"], None);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("error: a server is running on") && e.contains("stop it first"),
        "{e}"
    );

    assert!(s.terminate().success());
    let out = cli(&pg_config, &["store", "migrate-from-sqlite"], None);
    for line in [
        "domains: 1",
        "users: 2",
        "aliases: 2",
        "ids_bans: 1",
        "queue: 1",
        "dkim_keys: 1",
        "admins: 1",
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` in:\n{out}");
    }
    assert!(out.contains("in one transaction"), "{out}");

    // A second run finds the data there and changes nothing.
    let out = cli_raw(&pg_config, &["store", "migrate-from-sqlite"], None);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("already holds data"), "{e}");

    // Read back through the PostgreSQL store's traits.
    runtime.block_on(async {
        let pg = rampart_store_pg::PgStore::open(&cluster.options(&db))
            .await
            .unwrap();
        assert_eq!(
            pg.users().await.unwrap(),
            vec!["alice@example.test", "bob@example.test"]
        );
        assert!(pg
            .verify_password("alice@example.test", PASSWORD)
            .await
            .unwrap());
        assert!(!pg
            .verify_password("alice@example.test", "wrong")
            .await
            .unwrap());
        let aliases = pg.aliases().await.unwrap();
        assert!(
            aliases.contains(&("team@example.test".into(), "bob@example.test".into())),
            "{aliases:?}"
        );
        let bans = pg.list_active(rampart_store::now_micros()).await.unwrap();
        assert!(
            bans.iter()
                .any(|b| b.network.starts_with("192.0.2.7") && b.reason == "moved with the rest"),
            "{bans:?}"
        );
        let events = pg
            .trace(&TraceFilter {
                queue_id: Some(qid.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.event.contains("deferred") || e.detail.contains("deferred")),
            "{events:?}"
        );

        // The key file, as the PEM every node's signer reads (and `dkim list` shows it).
        use rampart_store::dkim_keys::DkimKeys;
        let keys = pg.dkim_keys().await.unwrap().unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(
            (keys[0].domain.as_str(), keys[0].selector.as_str()),
            ("example.test", "m1")
        );
        let der = rampart_queue::dkim::from_pem(
            rampart_queue::dkim::Algorithm::Ed25519,
            &keys[0].private_key_pem,
        )
        .unwrap();
        assert_eq!(der, key_der);

        // The administrator, with the password and TOTP secret it had (schema step 15).
        use rampart_store::admins::{totp, AdminRole, Admins};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = totp::code_at(&totp::base32_decode(&totp_secret).unwrap(), now);
        let who = pg
            .admin_login("ops", "a console passphrase", &code, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(who.role, AdminRole::Operator);

        // The queue, the bodies and the mailbox, in the shared tables.
        let client = cluster.client(&db).await;
        let row = client
            .query_one(
                "SELECT q.status, q.attempts, q.last_reply, b.data
                   FROM queue q JOIN message_bodies b ON b.id = q.message
                  WHERE q.message = $1 AND q.recipient = 'carol@remote.test'",
                &[&qid],
            )
            .await
            .unwrap();
        let (status, attempts, reply, data): (String, i32, Option<String>, Vec<u8>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(status, "queued");
        assert!(attempts >= 1 && reply.is_some(), "{attempts} {reply:?}");
        assert_eq!(data, file_bytes, "the message file became its body row");
        let row = client
            .query_one(
                "SELECT b.data FROM mail_emails e JOIN message_bodies b ON b.id = e.message
                  WHERE e.account = 'alice@example.test'",
                &[],
            )
            .await
            .unwrap();
        let data: Vec<u8> = row.get(0);
        assert!(
            String::from_utf8_lossy(&data).contains("Delivered before the move."),
            "the mailbox message's body moved"
        );
        // The mailbox message through the mail model (what JMAP reads), found by a word of its
        // body: the full-text index is rebuilt on PostgreSQL at the account's first read.
        let alice = "alice@example.test";
        pg.index_pending(alice).await.unwrap();
        let query = |text: &str| EmailQuery {
            filter: Some(EmailFilter::Condition(Box::new(FilterCondition {
                text: Some(text.into()),
                ..Default::default()
            }))),
            ..Default::default()
        };
        let found = pg
            .email_query(alice, &query("before the move"))
            .await
            .unwrap();
        assert_eq!(found.ids.len(), 1, "{found:?}");
        let raw = pg.email_raw(alice, found.ids[0]).await.unwrap().unwrap();
        assert!(
            String::from_utf8_lossy(&raw).contains("Message-ID: <moved1@remote.test>"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        assert!(pg
            .email_query(alice, &query("nowhere"))
            .await
            .unwrap()
            .ids
            .is_empty());
        let inbox = pg.mailbox_get(alice).await.unwrap();
        assert!(
            inbox.iter().any(|m| m.role.as_deref() == Some("inbox")),
            "{inbox:?}"
        );

        // The identity sequences start past the ids moved.
        let max: i64 = client
            .query_one("SELECT max(id) FROM mail_mailboxes", &[])
            .await
            .unwrap()
            .get(0);
        let next: i64 = client
            .query_one(
                "INSERT INTO mail_mailboxes(account, name) VALUES ('new@example.test', 'Inbox')
                 RETURNING id",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(next > max, "new id {next} after {max}");
    });
}

#[test]
fn migrate_from_sqlite_mistakes_are_one_error_line() {
    let dir = common::TempDir::new("migrate-err");
    // On the SQLite backend there is nowhere to move to.
    let cfg = dir.0.join("rampart.toml");
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"mx.agency.example\"\ndata_dir = \"{}\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n",
            dir.0.join("data").display()
        ),
    )
    .unwrap();
    let out = cli_raw(&cfg, &["store", "migrate-from-sqlite"], None);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("migrate-from-sqlite moves the embedded store into PostgreSQL"),
        "{e}"
    );
    // No embedded store in the data directory.
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"mx.agency.example\"\ndata_dir = \"{}\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [store]\nbackend = \"postgresql\"\nurl = \"postgresql://rampart@127.0.0.1:1/x\"\n",
            dir.0.join("empty").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.0.join("empty")).unwrap();
    let out = cli_raw(&cfg, &["store", "migrate-from-sqlite"], None);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("rampart.db is missing"), "{e}");
}
