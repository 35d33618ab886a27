//! `[store]` and `rampart store migrate` (issue 20): the PostgreSQL schema applied alone against
//! a cluster the test starts, and each mistake answered with one `error:` line, not a start.

use rampart_store_pg::cluster::Cluster;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> Dir {
    let n: [u8; 8] = rampart_store::random_bytes();
    let d = std::env::temp_dir().join(format!(
        "rampart-store-cli-{}",
        n.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

fn config(dir: &Path, store: &str) -> PathBuf {
    let path = dir.join("rampart.toml");
    std::fs::write(
        &path,
        format!(
            "hostname = \"mx.agency.example\"\ndata_dir = \"{}\"\n\
             [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n{store}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn rampart(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("rampart runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn store_migrate_on_postgresql_then_the_commands_run_on_the_database() {
    let cluster = Cluster::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(cluster.create_database());
    let dir = temp_dir();
    let pw = dir.0.join("db-password");
    std::fs::write(&pw, format!("{}\n", cluster.password)).unwrap();
    let cfg = config(
        &dir.0,
        &format!(
            "[store]\nbackend = \"postgresql\"\nurl = \"{}\"\npassword_file = \"{}\"\n",
            cluster.url(&db),
            pw.display()
        ),
    );
    let out = rampart(&cfg, &["store", "migrate"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let latest = rampart_store_pg::migrate::MIGRATIONS.last().unwrap().0;
    assert!(
        stdout.contains(&format!("schema at version {latest} (was 0)")),
        "{stdout}"
    );
    let again = rampart(&cfg, &["store", "migrate"]);
    let (stdout, _) = text(&again);
    assert!(
        stdout.contains(&format!("schema at version {latest} (was {latest})"))
            && !stdout.contains("applied"),
        "a second run applies nothing: {stdout}"
    );

    // The administrative commands run on the migrated database (issue 20: none is refused any
    // more): a domain added is listed, and dns-records answers for it.
    let out = rampart(&cfg, &["domain", "add", "example.test"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let out = rampart(&cfg, &["domain", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.lines().any(|l| l == "example.test"), "{stdout}");
    let out = rampart(&cfg, &["dns-records", "--domain", "example.test"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("example.test"), "{stdout}");
    // (An admin listener runs on PostgreSQL since its administrators moved behind the Admins
    // trait: tests/pg_console.rs.)

    // A wrong password: one line naming the database's refusal.
    std::fs::write(&pw, "not the password\n").unwrap();
    let out = rampart(&cfg, &["store", "migrate"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("password authentication failed"),
        "{stderr}"
    );
}

#[test]
fn store_mistakes_are_one_error_line() {
    let dir = temp_dir();
    // An unreadable password file.
    let cfg = config(
        &dir.0,
        "[store]\nbackend = \"postgresql\"\nurl = \"postgresql://rampart@127.0.0.1:1/x\"\n\
         password_file = \"/nonexistent/db-password\"\n",
    );
    let out = rampart(&cfg, &["store", "migrate"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: [store] password_file /nonexistent/db-password cannot be read"),
        "{stderr}"
    );
    // An unknown backend: the configuration's error, naming the key and the choices.
    let cfg = config(&dir.0, "[store]\nbackend = \"mysql\"\n");
    let out = rampart(&cfg, &["store", "migrate"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("store.backend") && stderr.contains("postgresql"),
        "{stderr}"
    );
    // SQLite, the default: migrate opens (and so migrates) the embedded store.
    let cfg = config(&dir.0, "");
    let out = rampart(&cfg, &["store", "migrate"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("schema up to date"), "{stdout}");
    assert!(dir.0.join("data/rampart.db").exists());
}
