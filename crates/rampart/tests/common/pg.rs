//! The harness of the tests on PostgreSQL with several nodes (issue 20; pg_nodes.rs,
//! pg_admin.rs): a private cluster with one database holding the harness's directory, the test's
//! DNS server, a receiver on SQLite for remote.test, and `rampart serve` nodes on the database.

use super::{cli, make_pki, Client, Options, Server, TempDir, PASSWORD};
use rampart_store::api::Directory;
use rampart_store_pg::cluster::Cluster;
use rampart_testdns::TestDns;
use std::time::{Duration, Instant};

/// Longest any condition of these tests is waited for.
pub const WITHIN: Duration = Duration::from_secs(60);

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One database of the test cluster, with the harness's directory (example.test, alice and bob,
/// team -> alice, bob) added through the PostgreSQL store.
pub struct Db {
    pub cluster: Cluster,
    pub name: String,
    pub runtime: tokio::runtime::Runtime,
}

impl Db {
    pub fn start() -> Db {
        Db::start_on(Cluster::start(), false)
    }

    /// The same, with the database on a small disk of the server's own (`bytes`), which the
    /// test can fill: [`Cluster::small_disk`].
    pub fn start_on_small_disk(bytes: u64) -> Db {
        Db::start_on(Cluster::start_with_small_disk(bytes), true)
    }

    fn start_on(cluster: Cluster, small_disk: bool) -> Db {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let name = runtime.block_on(async {
            let name = if small_disk {
                cluster.create_database_on_small_disk().await
            } else {
                cluster.create_database().await
            };
            let pg = rampart_store_pg::PgStore::open(&cluster.options(&name))
                .await
                .unwrap();
            pg.add_domain("example.test").await.unwrap();
            for u in ["alice@example.test", "bob@example.test"] {
                pg.add_user(u, PASSWORD).await.unwrap();
                pg.add_alias("team@example.test", u).await.unwrap();
            }
            name
        });
        Db {
            cluster,
            name,
            runtime,
        }
    }

    /// Runs SQL on the database, as an administrator (or a fault) would.
    pub fn execute(&self, sql: &str) {
        self.runtime.block_on(async {
            let c = self.cluster.client(&self.name).await;
            c.batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    /// One number from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.runtime.block_on(async {
            let c = self.cluster.client(&self.name).await;
            c.query_one(sql, &[]).await.unwrap().get(0)
        })
    }

    /// The one text value `sql` selects.
    pub fn text(&self, sql: &str) -> String {
        self.runtime.block_on(async {
            let c = self.cluster.client(&self.name).await;
            c.query_one(sql, &[]).await.unwrap().get(0)
        })
    }
}

/// DNS: remote.test's MX is 127.0.0.1, and example.test's SPF allows 127.0.0.1 (the receiver
/// checks the nodes' mail as mail from the Internet).
pub fn dns() -> TestDns {
    TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        .start()
}

/// The Internet's side: a Rampart on SQLite receiving for remote.test (user carol) on `port`.
pub fn receiver(port: u16, dns: &TestDns) -> Server {
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
    r
}

/// A node: `rampart serve` on the database, delivering to `delivery_port`, with MX,
/// submissions and HTTPS listeners. `extra` is TOML put before the harness's tables.
pub fn node(db: &Db, dns: &TestDns, delivery_port: u16, extra: &str) -> Server {
    let dir = TempDir::new("pgnode");
    let pki = make_pki(&dir.0);
    let pw = dir.0.join("db-password");
    std::fs::write(&pw, format!("{}\n", db.cluster.password)).unwrap();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\nshutdown_grace_secs = 5\n\
             {extra}\n\
             [log]\nlevel = \"warn\"\n\
             [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [delivery]\nport = {delivery_port}\nretry_secs = [1]\ntimeout_secs = 30\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"https\"\naddress = \"127.0.0.1:0\"\n\
             [checks]\ndisabled = [\"antivirus\"]\n\
             [store]\nbackend = \"postgresql\"\nurl = \"{}\"\npassword_file = \"{}\"\n\
             lease_secs = 2\nacquire_timeout_secs = 2\nstatement_timeout_secs = 5\n",
            dns.addr(),
            db.cluster.url(&db.name),
            pw.display()
        ),
    )
    .unwrap();
    let mut s = Server {
        dir,
        config,
        pki,
        addr: "127.0.0.1:1".parse().unwrap(),
        listeners: Vec::new(),
        child: None,
        dns: None,
        stdout: None,
    };
    s.spawn();
    s
}

/// One inbound message from carol@remote.test to alice over SMTP on a connection of its own;
/// the reply to its data.
pub fn send_to_alice(s: &Server, id: &str, body: &str) -> (u16, String) {
    send_to_alice_with(s, id, body, || {})
}

/// The same, with `before_data` run once RCPT is accepted and before DATA (a fault injected
/// in the middle of the transaction).
pub fn send_to_alice_with(
    s: &Server,
    id: &str,
    body: &str,
    before_data: impl FnOnce(),
) -> (u16, String) {
    let mut c = Client::connect(s.addr);
    c.expect(220);
    c.send("EHLO client.test");
    c.expect(250);
    c.send("MAIL FROM:<carol@remote.test>");
    c.expect(250);
    c.send("RCPT TO:<alice@example.test>");
    c.expect(250);
    before_data();
    c.send("DATA");
    c.expect(354);
    c.send_raw(super::message(id, body).as_bytes());
    c.send_raw(b".\r\n");
    let reply = c.reply().expect("a reply to the data");
    c.send("QUIT");
    reply
}

pub fn outbound(id: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\nTo: <carol@remote.test>\r\nSubject: {id}\r\n\
         Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{id}@example.test>\r\n\r\n\
         Sent through one of two nodes.\r\n"
    )
}

/// Submits as alice; the queue id.
pub fn submit(s: &Server, body: &str) -> String {
    let mut c = s.login_alice();
    let (code, text) = c.send_mail("alice@example.test", &["carol@remote.test"], body);
    assert_eq!(code, 250, "{text}");
    c.send("QUIT");
    text.rsplit(' ').next().unwrap().to_string()
}
