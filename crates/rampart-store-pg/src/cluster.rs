//! A PostgreSQL cluster of its own for tests (feature `test-cluster`): Debian's PostgreSQL 15
//! (`initdb`, `pg_ctl`) in a temporary directory, on a free loopback port, with its unix socket
//! in that directory, password authentication over TCP, stopped and removed on drop.
//!
//! PostgreSQL must be told its port: one found free is released just before the server binds
//! it, so another process may take it first. The server then does not start and its log says
//! "Address already in use": [`Cluster::start`] starts it again on a new port, at most
//! [`START_ATTEMPTS`] times.
//!
//! Running as root (the test containers do), the cluster runs as `nobody`: `initdb` refuses root.
//! The conformance tests of this crate use it; later tests (two nodes on one database) reuse it.
//!
//! [`Cluster::start_with_small_disk`] gives the server a small disk for a tablespace: a tmpfs
//! mounted in a mount namespace of the server's own, so that a test can fill it for real and
//! nothing of it outlives the server.

use crate::{PgOptions, PoolSizes, Timeouts};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian installs PostgreSQL 15's server programs.
pub const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// The cluster's superuser, which the tests connect as.
pub const USER: &str = "rampart";
/// How many times the server is started, each time on a new port, when it finds its port taken.
pub const START_ATTEMPTS: usize = 5;

/// Stores `raw` as a received message (its first `return_path_len` bytes the Return-Path line)
/// and delivers it to the local `accounts` in one transaction through
/// [`crate::mail::deliver_email`], as the queue's local delivery does: for the mail model's tests,
/// which need mail in mailboxes but not the queue. Returns the message's id and the emails' ids
/// in the order of `accounts`.
pub async fn deliver(
    store: &crate::PgStore,
    raw: &[u8],
    return_path_len: usize,
    accounts: &[&str],
    junk: bool,
) -> rampart_store::Result<(String, Vec<i64>)> {
    use crate::db;
    let id = rampart_store::QueueId::generate().0;
    let now = rampart_store::now_micros();
    let mut conn = store.conn(&store.queue).await?;
    let tx = conn.transaction().await.map_err(db)?;
    tx.execute(
        "INSERT INTO messages(id, received, sender, size, message_id, return_path_len, client, junk)
         VALUES ($1, $2, 'sender@remote.example', $3, NULL, $4, '192.0.2.1', $5)",
        &[
            &id,
            &now,
            &(raw.len() as i64),
            &(return_path_len as i64),
            &junk,
        ],
    )
    .await
    .map_err(db)?;
    tx.execute(
        "INSERT INTO message_bodies(id, data) VALUES ($1, $2)",
        &[&id, &raw],
    )
    .await
    .map_err(db)?;
    // The account locks in sorted order, as deliver_email asks.
    let mut sorted: Vec<(usize, String)> = accounts
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .enumerate()
        .collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    let mut emails = vec![0; accounts.len()];
    for (i, account) in sorted {
        emails[i] = crate::mail::deliver_email(&tx, &account, &id, now).await?.0;
    }
    tx.commit().await.map_err(db)?;
    Ok((id, emails))
}

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    /// The unprivileged user the server runs as, when the test runs as root.
    run_as: Option<String>,
    pub port: u16,
    pub password: String,
    next_db: AtomicU32,
    next_spool: AtomicU32,
    /// Server options besides port, socket and address (TLS).
    extra: String,
    /// The size of the tmpfs for the `small` tablespace, when there is one.
    small_disk: Option<u64>,
}

impl Cluster {
    /// initdb, then start on a free loopback port; panics with the reason when it cannot (a
    /// test without its database has nothing to test).
    pub fn start() -> Cluster {
        Cluster::start_with(None, None)
    }

    /// A cluster whose server has a disk of `bytes` of its own (a tmpfs in its own mount
    /// namespace) for the tablespace `small`: [`Cluster::create_database_on_small_disk`] puts a
    /// database there, and [`Cluster::small_disk`] is where the test fills it. The write-ahead
    /// log stays on the cluster's own disk, as a production server's would on a separate
    /// volume. Needs root (mount).
    pub fn start_with_small_disk(bytes: u64) -> Cluster {
        Cluster::start_with(None, Some(bytes))
    }

    /// A cluster that also accepts TLS over TCP with this certificate chain and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Cluster {
        Cluster::start_with(Some((cert_pem, key_pem)), None)
    }

    fn start_with(tls: Option<(&str, &str)>, small_disk: Option<u64>) -> Cluster {
        let bin = Path::new(BIN_DIR);
        assert!(
            bin.join("initdb").exists(),
            "PostgreSQL 15 is not installed ({BIN_DIR}/initdb missing): apt-get install postgresql"
        );
        let n: [u8; 8] = rampart_store::random_bytes();
        let dir = std::env::temp_dir().join(format!(
            "rampart-pg-{}",
            n.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::create_dir_all(&dir).expect("the cluster's temp dir");
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let run_as = root.then(|| "nobody".to_string());
        assert!(
            small_disk.is_none() || root,
            "a cluster with a small disk mounts a tmpfs: run the test as root"
        );
        if small_disk.is_some() {
            std::fs::create_dir(dir.join("small")).expect("the small disk's mount point");
        }
        if let Some(user) = &run_as {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of {} to {user} failed", dir.display());
        }
        let password = n.iter().map(|b| format!("{b:02x}")).collect::<String>() + "-pw";
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).expect("password file");
        if let Some(user) = &run_as {
            let _ = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&pwfile)
                .status();
        }
        let mut extra = String::new();
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_path, cert).expect("certificate file");
            std::fs::write(&key_path, key).expect("key file");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
                .expect("key file mode");
            if let Some(user) = &run_as {
                for p in [&cert_path, &key_path] {
                    let _ = Command::new("chown")
                        .arg(format!("{user}:"))
                        .arg(p)
                        .status();
                }
            }
            extra = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                path_str(&cert_path),
                path_str(&key_path)
            );
        }
        let data = dir.join("data");
        let mut cluster = Cluster {
            dir: dir.clone(),
            data: data.clone(),
            run_as,
            port: 0,
            password,
            next_db: AtomicU32::new(0),
            next_spool: AtomicU32::new(0),
            extra,
            small_disk,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                path_str(&pwfile),
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        let mut said = Vec::new();
        for _ in 0..START_ATTEMPTS {
            cluster.port = port_for_outside_daemon();
            // This start's words only.
            let _ = std::fs::remove_file(cluster.dir.join("log"));
            match cluster.try_resume() {
                Ok(()) => return cluster,
                Err(why) if why.contains("Address already in use") => said.push(why),
                Err(why) => panic!("pg_ctl start failed: {why}"),
            }
        }
        panic!(
            "PostgreSQL found its port taken in each of {START_ATTEMPTS} starts on new ports:\n{}",
            said.join("\n")
        );
    }

    /// Starts the server again after [`Cluster::pause`], on the same port (pg_ctl waits until it
    /// accepts connections).
    pub fn resume(&self) {
        if let Err(why) = self.try_resume() {
            panic!("pg_ctl start failed: {why}");
        }
    }

    /// pg_ctl start; what it and the server's log said when it failed.
    fn try_resume(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{}",
            self.port,
            path_str(&self.dir),
            self.extra
        );
        let log = self.dir.join("log");
        let args = [
            "-D",
            path_str(&self.data),
            "-l",
            path_str(&log),
            "-o",
            &opts,
            "-w",
            "-t",
            "60",
            "start",
        ];
        let out = match self.small_disk {
            None => self.output("pg_ctl", &args),
            Some(bytes) => {
                // The server, and every process it starts, in a mount namespace where the tmpfs
                // is mounted; the namespace, and the tmpfs, end with the server.
                let mut cmd = Command::new("unshare");
                cmd.args(["-m", "--propagation", "private", "sh", "-c"])
                    .arg(
                        "mount -t tmpfs -o size=\"$1\",mode=0755 rampart-small \"$2\" \
                         && mkdir \"$2/ts\" && chown \"$3:\" \"$2/ts\" && shift 3 && exec \"$@\"",
                    )
                    .arg("sh")
                    .arg(bytes.to_string())
                    .arg(self.dir.join("small"))
                    .arg(self.run_as.as_deref().expect("a small disk runs as root"));
                cmd.args(self.program("pg_ctl"));
                cmd.args(args)
                    .current_dir(&self.dir)
                    .output()
                    .unwrap_or_else(|e| panic!("unshare did not run: {e}"))
            }
        };
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        ))
    }

    /// Stops the server (fast shutdown: sessions are cut), keeping its data: the database
    /// "goes away" for a test of what a node does meanwhile.
    pub fn pause(&self) {
        assert!(
            self.small_disk.is_none(),
            "a small disk is the server's: it would start again empty"
        );
        self.run(
            "pg_ctl",
            &["-D", path_str(&self.data), "-m", "fast", "-w", "stop"],
        );
    }

    /// Stops the server as a crash would (immediate shutdown: no checkpoint, recovery from the
    /// write-ahead log at the next start), keeping its data: what a commit that returned must
    /// survive.
    pub fn crash(&self) {
        assert!(
            self.small_disk.is_none(),
            "a small disk is the server's: it would start again empty"
        );
        self.run(
            "pg_ctl",
            &["-D", path_str(&self.data), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Runs one of PostgreSQL's programs (as the unprivileged user under root); panics with its
    /// output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self.output(program, args);
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The command line that starts one of PostgreSQL's programs: under root, through
    /// `runuser` as the unprivileged user.
    fn program(&self, program: &str) -> Vec<std::ffi::OsString> {
        let path = Path::new(BIN_DIR).join(program).into_os_string();
        match &self.run_as {
            Some(user) => vec![
                "runuser".into(),
                "-u".into(),
                user.into(),
                "--".into(),
                path,
            ],
            None => vec![path],
        }
    }

    /// Runs one of PostgreSQL's programs (as the unprivileged user under root).
    fn output(&self, program: &str, args: &[&str]) -> std::process::Output {
        let line = self.program(program);
        let mut cmd = Command::new(&line[0]);
        cmd.args(&line[1..])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program} did not run: {e}"))
    }

    /// The URL of database `db` over TCP (the password goes separately, as from a file).
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Options for [`crate::PgStore::open`] on database `db`, with small pools.
    pub fn options(&self, db: &str) -> PgOptions {
        PgOptions {
            url: self.url(db),
            password: Some(self.password.clone()),
            pools: PoolSizes {
                sessions: 8,
                queue: 4,
                leases: 2,
            },
            timeouts: Timeouts::default(),
            lease: crate::DEFAULT_LEASE,
            // Each call is a node of its own, with its own spool; a handle reopened with the
            // same options (a restart) finds what the previous one left there.
            spool_dir: self.dir.join(format!(
                "spool-{db}-{}",
                self.next_spool.fetch_add(1, Ordering::SeqCst)
            )),
        }
    }

    /// Creates a new, empty database and returns its name.
    pub async fn create_database(&self) -> String {
        let name = format!("t{}", self.next_db.fetch_add(1, Ordering::SeqCst));
        let mut config: tokio_postgres::Config = self.url("postgres").parse().expect("url");
        config.password(&self.password);
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        drop(client);
        let _ = task.await;
        name
    }

    /// Creates a new, empty database in the tablespace `small` on the server's small disk
    /// ([`Cluster::start_with_small_disk`]), and returns its name. Every table of the database
    /// is then on that disk.
    pub async fn create_database_on_small_disk(&self) -> String {
        assert!(self.small_disk.is_some(), "this cluster has no small disk");
        let name = format!("t{}", self.next_db.fetch_add(1, Ordering::SeqCst));
        let location = self.dir.join("small").join("ts");
        let client = self.client("postgres").await;
        // Two statements, each its own transaction (neither may run inside one).
        for sql in [
            format!("CREATE TABLESPACE small LOCATION '{}'", path_str(&location)),
            format!("CREATE DATABASE {name} TABLESPACE small"),
        ] {
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        name
    }

    /// The small disk as this process reaches it: the server's mount namespace, through
    /// `/proc/<pid>/root` of its postmaster. A test fills it with files of its own.
    pub fn small_disk(&self) -> PathBuf {
        assert!(self.small_disk.is_some(), "this cluster has no small disk");
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .expect("the server's postmaster.pid");
        let pid = pid.lines().next().unwrap_or_default().trim().to_string();
        let inside = self.dir.join("small");
        PathBuf::from(format!("/proc/{pid}/root{}", path_str(&inside)))
    }

    /// A plain client on database `db`, for a test that writes rows as the administrator's
    /// commands would (outside the store's traits). The connection runs until the client drops.
    pub async fn client(&self, db: &str) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config = self.url(db).parse().expect("url");
        config.password(&self.password);
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        tokio::spawn(conn);
        client
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let line = self.program("pg_ctl");
        let _ = Command::new(&line[0])
            .args(&line[1..])
            .args(["-D", path_str(&self.data), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A loopback port free a moment ago: bound on :0, then released for the server, which must be
/// told its port. It may be taken before the server binds it: the caller starts the server again
/// on a new one when its log says so, at most [`START_ATTEMPTS`] times ([`Cluster::start`]).
fn port_for_outside_daemon() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
