//! The shared store: PostgreSQL behind the traits of [`rampart_store::api`], so several Rampart
//! nodes (`rampart serve` on several hosts, or gateway and mailbox store in separate zones,
//! NC-2.3.4) keep one queue, one directory, one trace and one set of bans and counters.
//!
//! ```text
//! PgStore
//!   sessions pool   SMTP/JMAP sessions: directory look-ups, counters, bans, trace
//!   queue pool      enqueue (the 250 after DATA waits for its commit), record_attempts
//!   leases pool     the queue's leases: short transactions that claim and renew due messages
//!   mail listener   one connection of its own: LISTEN rampart_mail, the push feed of every node
//! ```
//!
//! Each pool has its own size and acquisition timeout ([`PoolSizes`], [`Timeouts`]); every
//! connection starts with a statement timeout and a lock timeout, and with synchronous commit on,
//! so a commit that returned is on the primary's disk. A database that does not answer is an
//! error within those timeouts, never a hang: the SMTP layer turns it into a 451.
//!
//! One module per trait group: [`directory`] (Directory), [`shared`] (SharedState), [`trace`]
//! (Trace), [`bans`] (Bans), [`web_sessions`] (WebSessions), [`tokens`] (Logins),
//! [`spam_tokens`] (SpamTokens), [`tls_reporting`] (TlsReporting), [`dmarc_reporting`]
//! (DmarcReporting), [`mail`] (MailStore and Mailboxes: the mail model, and push across nodes by
//! LISTEN/NOTIFY), [`queue`] (Queue, with the leases that let several nodes share it),
//! [`queue_admin`] (the administrator's queue actions), [`quarantine`] (Quarantine),
//! [`mailbox_audit`] (MailboxAudit), [`submission`] (SubmissionStore), [`dkim`] (DkimKeys),
//! [`admins`] (Admins: the console's administrators and sessions, and the queue gauge).
//! The schema is in
//! [`migrate`], applied in versioned steps at start. [`MISSING`] lists what is not
//! here yet; the application runs on PostgreSQL once it is empty.

pub mod admins;
pub mod audit;
pub mod bans;
#[cfg(feature = "test-cluster")]
pub mod cluster;
pub mod directory;
pub mod directory_pages;
pub mod dkim;
pub mod dmarc_reporting;
pub mod grants;
pub mod import;
pub mod lifecycle;
pub mod mail;
pub mod mailbox_audit;
pub mod migrate;
pub mod quarantine;
pub mod queue;
pub mod queue_admin;
pub mod removal;
pub mod shared;
pub mod spam_tokens;
pub mod submission;
pub mod system_reports;
pub mod tls;
pub mod tls_reporting;
pub mod tokens;
pub mod trace;
pub mod trusted_senders;
pub mod web_sessions;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rampart_store::{Result, StoreError};
use std::time::Duration;

/// The traits of [`rampart_store::Backend`] this crate does not implement yet: the application
/// refuses `[store] backend = "postgresql"` while any remains, naming them.
pub const MISSING: &[&str] = &[];

/// How many connections each purpose may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// Look-ups and small writes of SMTP and JMAP sessions.
    pub sessions: usize,
    /// Enqueues and delivery outcomes.
    pub queue: usize,
    /// Claiming and renewing queue leases.
    pub leases: usize,
}

impl Default for PoolSizes {
    fn default() -> PoolSizes {
        PoolSizes {
            sessions: 16,
            queue: 8,
            leases: 2,
        }
    }
}

/// How long anything may wait on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for a free connection of a pool, and for a new connection to open.
    pub acquire: Duration,
    /// `statement_timeout` of every connection: a statement running longer is cancelled.
    pub statement: Duration,
    /// `lock_timeout` of every connection: waiting longer for a row or table lock fails.
    pub lock: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            acquire: Duration::from_secs(5),
            statement: Duration::from_secs(30),
            lock: Duration::from_secs(10),
        }
    }
}

/// Where the database is and how to reach it.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgresql://user@host:port/dbname?sslmode=...` (libpq's URL form; see [`tls`] for the
    /// TLS parameters). A password in the URL is refused: it belongs in a file.
    pub url: String,
    /// Read from `[store] password_file` by the caller.
    pub password: Option<String>,
    pub pools: PoolSizes,
    pub timeouts: Timeouts,
    /// How long a node's claim on a queued recipient lasts without renewal ([`queue`]): another
    /// node takes the recipient over this long after the node that claimed it died.
    pub lease: Duration,
    /// This node's own directory for messages larger than memory while they arrive; enqueue
    /// moves them into the database ([`queue`]). Not shared between nodes.
    pub spool_dir: std::path::PathBuf,
}

/// [`PgOptions::lease`] unless configured: longer than a delivery attempt takes between two
/// renewals, short enough that a dead node's mail waits minutes, not hours.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

/// The PostgreSQL backend: three pools on one database.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) sessions: Pool,
    pub(crate) queue: Pool,
    pub(crate) leases: Pool,
    /// Who this node is to the queue's leases, and where it spools.
    pub(crate) node: std::sync::Arc<queue::Node>,
    /// Committed mail changes of every node, for push (LISTEN/NOTIFY, [`mail::feed`]).
    pub(crate) feed: std::sync::Arc<mail::feed::Feed>,
    acquire: Duration,
}

impl PgStore {
    /// Connects, applies the schema's pending migrations ([`migrate`]) and returns the store.
    pub async fn open(options: &PgOptions) -> Result<PgStore> {
        let store = PgStore::connect(options)?;
        let mut conn = store.conn(&store.sessions).await?;
        migrate::apply(&mut conn).await?;
        drop(conn);
        store.start_feed().await?;
        Ok(store)
    }

    /// Starts this node's listener of mail changes ([`mail::feed`]) and waits until it listens:
    /// every change committed afterwards, on any node, reaches [`MailStore::mail_changes_feed`].
    /// [`PgStore::open`] does this; a store made by [`PgStore::connect`] alone has a silent feed
    /// until it is called.
    ///
    /// [`MailStore::mail_changes_feed`]: rampart_store::api::MailStore::mail_changes_feed
    pub async fn start_feed(&self) -> Result<()> {
        self.feed.start(self.acquire * 2).await
    }

    /// Applies the schema's pending migrations alone (`rampart store migrate`).
    pub async fn migrate(&self) -> Result<migrate::Applied> {
        let mut conn = self.conn(&self.sessions).await?;
        migrate::apply(&mut conn).await
    }

    /// The pools, without touching the database (connections open on first use).
    pub fn connect(options: &PgOptions) -> Result<PgStore> {
        let (mut config, tls) = tls::parse(&options.url)?;
        if config.get_password().is_some() {
            return Err(StoreError::Invalid(
                "the database URL holds a password; put it in [store] password_file instead".into(),
            ));
        }
        if let Some(p) = &options.password {
            config.password(p.trim_end_matches(['\r', '\n']));
        }
        let t = options.timeouts;
        // Every session of ours: bounded statements and lock waits, and synchronous commit (the
        // 250 after DATA means the rows are on disk), whatever the server's default.
        config.options(format!(
            "-c statement_timeout={} -c lock_timeout={} -c synchronous_commit=on \
             -c idle_in_transaction_session_timeout={}",
            t.statement.as_millis(),
            t.lock.as_millis(),
            t.statement.as_millis()
        ));
        config.connect_timeout(t.acquire);
        if config.get_application_name().is_none() {
            config.application_name("rampart");
        }
        let pool = |size: usize| -> Result<Pool> {
            let manager = Manager::from_config(
                config.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size.max(1))
                .wait_timeout(Some(t.acquire))
                .create_timeout(Some(t.acquire))
                .recycle_timeout(Some(t.acquire))
                .runtime(Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Invalid(format!("database pool: {e}")))
        };
        Ok(PgStore {
            sessions: pool(options.pools.sessions)?,
            queue: pool(options.pools.queue)?,
            leases: pool(options.pools.leases)?,
            node: std::sync::Arc::new(queue::Node::new(options)),
            feed: std::sync::Arc::new(mail::feed::Feed::new(config, tls, t.statement)),
            acquire: t.acquire,
        })
    }

    /// A connection of `pool`, or an error once the acquisition timeout has passed.
    pub(crate) async fn conn(&self, pool: &Pool) -> Result<deadpool_postgres::Object> {
        use deadpool_postgres::PoolError;
        pool.get().await.map_err(|e| {
            let why = match e {
                PoolError::Backend(e) => match db(e) {
                    StoreError::Db(s) => s,
                    other => other.to_string(),
                },
                PoolError::Timeout(_) => {
                    "timed out (the database is unreachable or every connection is busy)".into()
                }
                other => other.to_string(),
            };
            StoreError::Db(format!("no database connection: {why}"))
        })
    }

    /// Connections open and idle in each pool, for the metrics and `rampart store status`:
    /// (purpose, size, available).
    pub fn pool_status(&self) -> Vec<(&'static str, usize, usize)> {
        [
            ("sessions", &self.sessions),
            ("queue", &self.queue),
            ("leases", &self.leases),
        ]
        .into_iter()
        .map(|(name, p)| {
            let s = p.status();
            (name, s.size, s.available)
        })
        .collect()
    }

    /// Whether this node's connections to the database are encrypted, and with which TLS
    /// version (AL-1.1): from the server's own view (`pg_stat_ssl`).
    pub async fn tls_in_use(&self) -> Result<Option<String>> {
        let conn = self.conn(&self.sessions).await?;
        let row = conn
            .query_one(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(db)?;
        let ssl: bool = row.get(0);
        Ok(if ssl { row.get(1) } else { None })
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i32> {
        let conn = self.conn(&self.sessions).await?;
        migrate::current(&conn).await
    }

    /// One round trip on the queue pool (the one the 250 after DATA waits on): what systemd's
    /// watchdog of a node waits for.
    pub async fn ping(&self) -> Result<()> {
        let conn = self.conn(&self.queue).await?;
        conn.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }
}

/// The first column of every row `sql` returns, in order.
pub(crate) async fn column<C, T>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<T>>
where
    C: deadpool_postgres::GenericClient + Sync,
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    Ok(c.query(sql, params)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A database error as the store's error type; no PostgreSQL type leaves this crate.
pub(crate) fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // The server's disk or quota: temporary, as SQLite's SQLITE_FULL is (`452 4.3.1`).
        Some(d) if *d.code() == tokio_postgres::error::SqlState::DISK_FULL => {
            StoreError::Full(format!("{}: {}", d.code().code(), d.message()))
        }
        Some(d) => StoreError::Db(format!("{}: {}", d.code().code(), d.message())),
        None => {
            // The kind ("error performing TLS handshake") and then what caused it.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let c_text = c.to_string();
                if !text.contains(&c_text) {
                    text.push_str(": ");
                    text.push_str(&c_text);
                }
                cause = c.source();
            }
            StoreError::Db(text)
        }
    }
}

/// Whether `e` is a unique-key violation (a row that exists already).
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}
