//! `rampart audit` on a PostgreSQL installation (issue 20): the same report as on the embedded
//! store, read through the store's traits, plus the rows only a shared database has, each from
//! the database itself (a cluster the test starts, rampart_store_pg::cluster):
//!
//! - NC-2.3.4 `store`: the backend, host and database (never the password);
//! - NC-2.3.4 `synchronous_commit`: SHOW synchronous_commit, on which the 250 after DATA depends;
//! - NC-2.3.4 `schema`: the migration version;
//! - AL-1.1 `database link`: TLS to the database (required or not; TLS 1.2 or higher).
//!
//! The audit of a running node on a database reached over TLS is whole: the node's own report
//! over its admin socket, the self-tests against its listeners, and the link's TLS version.

use crate::common;

use common::{cli, cli_raw, make_pki, Server, TempDir, PASSWORD};
use rampart_store_pg::cluster::Cluster;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The rows a PostgreSQL installation adds: (control, check).
const PG_ROWS: [(&str, &str); 4] = [
    ("NC-2.3.4", "store"),
    ("NC-2.3.4", "synchronous_commit"),
    ("NC-2.3.4", "schema"),
    ("AL-1.1", "database link"),
];

/// An installation as audit_local.rs's tests make it (key and data directory owner-only), with
/// `store` (a `[store]` table, or nothing for the embedded store), example.test and alice added
/// with the command line.
fn install(dir: &Path, store: &str) -> PathBuf {
    let pki = make_pki(dir);
    std::fs::set_permissions(&pki.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    let config = dir.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\n\
             key = \"{}\"\n[[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:25\"\n{store}",
            data.display(),
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .unwrap();
    if !store.is_empty() {
        let out = cli(&config, &["store", "migrate"], None);
        assert!(out.contains("schema at version"), "{out}");
    }
    cli(&config, &["domain", "add", "example.test"], None);
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    config
}

/// `[store]` on database `db` of `cluster`, its password in an owner-only file.
fn pg_store(dir: &Path, cluster: &Cluster, db: &str) -> String {
    let pw = dir.join("db-password");
    std::fs::write(&pw, format!("{}\n", cluster.password)).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "[store]\nbackend = \"postgresql\"\nurl = \"{}\"\npassword_file = \"{}\"\n\
         acquire_timeout_secs = 5\n",
        cluster.url(db),
        pw.display()
    )
}

/// `rampart audit --json`: exit status, the report, and the raw output.
fn audit(config: &Path) -> (i32, serde_json::Value, String) {
    let out = cli_raw(config, &["audit", "--json"], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap(), json, text)
}

/// Each control's status.
fn statuses(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every finding's (control, check), the installation's directory written `DIR` (a file's
/// check names its path).
fn rows(report: &serde_json::Value, dir: &Path) -> BTreeSet<(String, String)> {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap().iter())
        .map(|f| {
            (
                f["control"].as_str().unwrap().to_string(),
                f["check"]
                    .as_str()
                    .unwrap()
                    .replace(&dir.display().to_string(), "DIR"),
            )
        })
        .collect()
}

fn finding<'a>(report: &'a serde_json::Value, id: &str, check: &str) -> &'a serde_json::Value {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap().iter())
        .find(|f| f["control"] == id && f["check"] == check)
        .unwrap_or_else(|| panic!("no finding {id} {check} in {report:#}"))
}

/// The same installation on SQLite and on PostgreSQL gives the same controls with the same
/// statuses and the same findings, plus the PostgreSQL rows, each passing; the database's
/// password appears nowhere. With synchronous_commit turned off for the database, that row
/// fails, saying how to turn it back on.
#[test]
fn nc_2_3_4_al_1_1_the_audit_of_a_postgresql_node_matches_sqlite_and_checks_the_database() {
    let cluster = Cluster::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(cluster.create_database());

    let sqlite_dir = TempDir::new("audit-pg-sqlite");
    let sqlite = install(&sqlite_dir.0, "");
    let pg_dir = TempDir::new("audit-pg");
    let store = pg_store(&pg_dir.0, &cluster, &db);
    let pg = install(&pg_dir.0, &store);

    let (sqlite_code, sqlite_report, _) = audit(&sqlite);
    let (pg_code, pg_report, pg_text) = audit(&pg);
    assert_eq!(
        statuses(&pg_report),
        statuses(&sqlite_report),
        "the same controls with the same statuses; PostgreSQL: {pg_report:#}"
    );
    assert_eq!(pg_code, sqlite_code);
    // NC-2.1.4 also looks at the mode of the database's password file.
    let expected: BTreeSet<(String, String)> = rows(&sqlite_report, &sqlite_dir.0)
        .into_iter()
        .chain(PG_ROWS.iter().map(|(c, k)| (c.to_string(), k.to_string())))
        .chain([(
            "NC-2.1.4".to_string(),
            "password file DIR/db-password".to_string(),
        )])
        .collect();
    assert_eq!(
        rows(&pg_report, &pg_dir.0),
        expected,
        "SQLite's findings and the PostgreSQL rows"
    );
    assert_eq!(
        finding(
            &pg_report,
            "NC-2.1.4",
            &format!("password file {}", pg_dir.0.join("db-password").display())
        )["status"],
        "pass"
    );
    for (id, check) in PG_ROWS {
        let f = finding(&pg_report, id, check);
        assert_eq!(f["status"], "pass", "{f:#}");
    }
    let store_row = finding(&pg_report, "NC-2.3.4", "store")["evidence"]
        .as_str()
        .unwrap();
    assert!(
        store_row.contains(&format!("database \"{db}\" at 127.0.0.1:{}", cluster.port)),
        "{store_row}"
    );
    assert!(
        !pg_text.contains(&cluster.password),
        "the password: {pg_text}"
    );
    let link = finding(&pg_report, "AL-1.1", "database link")["evidence"]
        .as_str()
        .unwrap();
    assert!(link.contains("does not leave it"), "{link}");
    let sync = finding(&pg_report, "NC-2.3.4", "synchronous_commit")["evidence"]
        .as_str()
        .unwrap();
    assert!(
        sync.contains("`on` in Rampart's sessions, `on` as the database's default"),
        "{sync}"
    );
    // The directory was read from the database: the user added there is an account.
    assert_eq!(
        finding(&sqlite_report, "NC-2.1.2", "accounts")["evidence"],
        finding(&pg_report, "NC-2.1.2", "accounts")["evidence"]
    );

    // synchronous_commit off as the database's default: the row fails with the fix.
    runtime.block_on(async {
        let c = cluster.client(&db).await;
        c.batch_execute(&format!("ALTER DATABASE {db} SET synchronous_commit = off"))
            .await
            .unwrap();
    });
    let (code, off, _) = audit(&pg);
    assert_eq!(code, 1, "a failing control: exit status 1");
    assert_eq!(statuses(&off)["NC-2.3.4"], "fail");
    let row = finding(&off, "NC-2.3.4", "synchronous_commit");
    assert_eq!(row["status"], "fail", "{row:#}");
    let evidence = row["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("answers `off` as the database's default"),
        "{evidence}"
    );
    let remedy = row["remedy"].as_str().unwrap();
    assert!(
        remedy.contains(&format!("ALTER DATABASE \"{db}\" RESET synchronous_commit")),
        "{remedy}"
    );
    // Following the remedy passes it again.
    runtime.block_on(async {
        let c = cluster.client(&db).await;
        c.batch_execute(&format!("ALTER DATABASE {db} RESET synchronous_commit"))
            .await
            .unwrap();
    });
    let (_, again, _) = audit(&pg);
    assert_eq!(
        finding(&again, "NC-2.3.4", "synchronous_commit")["status"],
        "pass"
    );

    // AL-2.2: a DKIM key kept in the database (it signs on every node) counts as the domain's
    // key; before it, the row warns.
    assert_eq!(
        finding(&again, "NC-guideline", "dkim keys")["status"],
        "warn"
    );
    cli(
        &pg,
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
    assert!(!pg_dir.0.join("data/dkim").join("example.test").exists());
    let (_, signed, _) = audit(&pg);
    let row = finding(&signed, "NC-guideline", "dkim keys");
    assert_eq!(row["status"], "pass", "{row:#}");
}

/// A database that does not answer: the audit still reports, each database row a fail naming
/// what to check, within the configured timeouts (never a hang).
#[test]
fn nc_2_3_4_a_database_that_does_not_answer_fails_its_rows_in_time() {
    let dir = TempDir::new("audit-pg-down");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pw = dir.0.join("db-password");
    std::fs::write(&pw, "secret\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pki = make_pki(&dir.0);
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\n\
             key = \"{}\"\n[store]\nbackend = \"postgresql\"\n\
             url = \"postgresql://rampart@127.0.0.1:{port}/rampart\"\npassword_file = \"{}\"\n\
             acquire_timeout_secs = 2\n",
            data.display(),
            pki.cert.display(),
            pki.key.display(),
            pw.display()
        ),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (code, report, _) = audit(&config);
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(code, 1);
    for id in ["NC-2.3.4", "AL-1.1"] {
        let f = finding(&report, id, "database");
        assert_eq!(f["status"], "fail", "{f:#}");
        assert!(f["remedy"].as_str().unwrap().contains("[store] url"));
    }
}

/// A CA and a certificate for the database at 127.0.0.1 signed by it: (CA PEM, chain, key).
fn database_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Rampart Audit Database CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "db.agency.example");
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// AL-1.1, NC-2.1.1: `rampart audit` beside a running node whose [store] url requires TLS
/// (sslmode=verify-full): the link row names the TLS version the database sees, the running
/// node answers over its admin socket and the self-tests reach its listeners.
#[test]
fn al_1_1_a_running_node_on_a_database_over_tls_is_audited_whole() {
    let (ca, chain, key) = database_pki();
    let cluster = Cluster::start_tls(&chain, &key);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(cluster.create_database());
    let dir = TempDir::new("audit-pg-node");
    let pki = make_pki(&dir.0);
    std::fs::set_permissions(&pki.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ca_path = dir.0.join("db-ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    let pw = dir.0.join("db-password");
    std::fs::write(&pw, format!("{}\n", cluster.password)).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dns = rampart_testdns::TestDns::builder()
        .txt("example.test", "v=spf1 -all")
        .start();
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"{}\"\nshutdown_grace_secs = 5\n\
             [log]\nlevel = \"warn\"\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\n\
             [dns]\nservers = [\"{}\"]\ntimeout_secs = 2\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n\
             [checks]\ndisabled = [\"antivirus\"]\n\
             [store]\nbackend = \"postgresql\"\n\
             url = \"{}?sslmode=verify-full&sslrootcert={}\"\npassword_file = \"{}\"\n\
             acquire_timeout_secs = 5\n",
            dir.0.join("data").display(),
            pki.cert.display(),
            pki.key.display(),
            dns.addr(),
            cluster.url(&db),
            ca_path.display(),
            pw.display()
        ),
    )
    .unwrap();
    cli(&config, &["store", "migrate"], None);
    cli(&config, &["domain", "add", "example.test"], None);
    cli(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some(PASSWORD),
    );
    let mut node = Server {
        dir,
        config,
        pki,
        addr: "127.0.0.1:1".parse().unwrap(),
        listeners: Vec::new(),
        child: None,
        dns: None,
        stdout: None,
    };
    node.spawn();

    let (_, report, text) = audit(&node.config);
    let link = finding(&report, "AL-1.1", "database link");
    assert_eq!(link["status"], "pass", "{link:#}");
    let evidence = link["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("is encrypted with TLSv1.3")
            || evidence.contains("is encrypted with TLSv1.2"),
        "{evidence}"
    );
    assert!(
        evidence.contains("verifies the server's certificate"),
        "{evidence}"
    );
    for (id, check) in PG_ROWS {
        assert_eq!(
            finding(&report, id, check)["status"],
            "pass",
            "{id} {check}"
        );
    }
    let running = finding(&report, "NC-2.1.1", "running server");
    assert_eq!(running["status"], "pass", "{running:#}");
    let mx = node.listener("mx").to_string();
    assert!(
        running["evidence"].as_str().unwrap().contains(&mx),
        "{running:#}"
    );
    // The self-tests ran against the node's listeners (no `self-test` finding says otherwise),
    // with the domain read from the shared directory.
    assert!(
        !rows(&report, &node.dir.0)
            .iter()
            .any(|(_, check)| check == "self-test"),
        "{text}"
    );
    assert!(!text.contains(&cluster.password));
}
