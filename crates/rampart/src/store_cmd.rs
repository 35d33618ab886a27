//! `rampart store`: the store itself. `migrate` applies the schema's pending steps and says
//! where the schema is, without starting anything else: for PostgreSQL, before the first node
//! starts or after an upgrade (nodes also migrate at start); for SQLite, the embedded store
//! migrates itself when it opens, which this does too.
//!
//! [`refuse_postgresql`] keeps every other command off a PostgreSQL store until the store
//! implements every trait the server needs (rampart_store_pg::MISSING).

use rampart_config::{Config, StoreBackend};
use rampart_store_pg::{PgOptions, PgStore, PoolSizes, Timeouts};
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum StoreCmd {
    /// Apply the database schema's pending migrations and print its version.
    Migrate,
    /// Move the embedded store (the data directory's SQLite and message files) into the empty
    /// PostgreSQL database of [store], in one transaction; the server must be stopped.
    MigrateFromSqlite,
}

pub fn run(config: &Config, cmd: StoreCmd) -> Result<(), Box<dyn std::error::Error>> {
    match cmd {
        StoreCmd::Migrate => migrate(config),
        StoreCmd::MigrateFromSqlite => crate::store_migrate::run(config),
    }
}

fn migrate(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    match config.store.backend {
        StoreBackend::Sqlite => {
            rampart_store::Store::open(&config.data_dir)?;
            println!(
                "SQLite store in {}: schema up to date",
                config.data_dir.display()
            );
            Ok(())
        }
        StoreBackend::Postgresql => {
            let options = pg_options(config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let store = PgStore::connect(&options)?;
                let applied = store.migrate().await?;
                for (version, what) in &applied.steps {
                    println!("applied {version}: {what}");
                }
                println!(
                    "PostgreSQL store: schema at version {} (was {})",
                    applied.to, applied.from
                );
                Ok::<_, Box<dyn std::error::Error>>(())
            })
        }
    }
}

/// The PostgreSQL store's options from `[store]`, its password read from `password_file`.
/// Opens the configured PostgreSQL store (its pending migrations applied), or the one line
/// saying what to check.
pub async fn open_pg(config: &Config) -> Result<PgStore, String> {
    let options = pg_options(config)?;
    PgStore::open(&options).await.map_err(|e| {
        format!(
            "cannot open the PostgreSQL store ({}): {e}; check [store] url, password_file and \
             that the database is up",
            config.store.url.as_deref().unwrap_or("no url")
        )
    })
}

pub fn pg_options(config: &Config) -> Result<PgOptions, String> {
    let s = &config.store;
    let url = s
        .url
        .clone()
        .ok_or("[store] backend = \"postgresql\" needs url = \"postgresql://user@host/db\"")?;
    Ok(PgOptions {
        url,
        password: s.read_password()?,
        pools: PoolSizes {
            sessions: s.pool_sessions,
            queue: s.pool_queue,
            leases: s.pool_leases,
        },
        timeouts: Timeouts {
            acquire: Duration::from_secs(s.acquire_timeout_secs),
            statement: Duration::from_secs(s.statement_timeout_secs),
            lock: Duration::from_secs(s.lock_timeout_secs),
        },
        lease: Duration::from_secs(s.lease_secs),
        // Messages larger than memory while they arrive, until enqueue moves them into the
        // database: this node's own, beside its other local state.
        spool_dir: config.data_dir.join("spool"),
    })
}

/// `rampart serve` on PostgreSQL while the store is incomplete: the one line naming the traits
/// rampart_store_pg::MISSING still lists (main.rs gives it before anything starts).
pub fn refuse_incomplete(config: &Config) -> Result<(), String> {
    if config.store.backend != StoreBackend::Postgresql || rampart_store_pg::MISSING.is_empty() {
        return Ok(());
    }
    Err(refuse_postgresql_serve())
}

/// The refusal of [`refuse_incomplete`].
pub fn refuse_postgresql_serve() -> String {
    format!(
        "[store] backend = \"postgresql\" cannot serve yet: the PostgreSQL store does not \
         implement {} so far; use backend = \"sqlite\" (the default) until it does \
         (`rampart store migrate` prepares the database meanwhile)",
        rampart_store_pg::MISSING.join(", ")
    )
}

/// An error for every command but `serve`, `store` and `config` on PostgreSQL: the
/// administrative commands read and write the embedded store directly, so far.
pub fn refuse_postgresql(config: &Config) -> Result<(), String> {
    if config.store.backend != StoreBackend::Postgresql {
        return Ok(());
    }
    refuse_incomplete(config)?;
    Err(refuse_postgresql_command())
}

/// The one line for a command that does not run on PostgreSQL yet.
pub fn refuse_postgresql_command() -> String {
    "[store] backend = \"postgresql\": this command works on the embedded store (SQLite) only; \
     on PostgreSQL `rampart serve`, `rampart store`, `rampart config`, \
     `domain add|list|remove`, `user add|list|delete|send-as|send-as-list|password|disable|enable|token`, \
     `alias add|list|remove`, `trace`, `queue list|retry|hold|release|delete|bounce`, \
     `quarantine list|show|release|delete`, `ban list|add|remove|allow`, \
     `mailbox list|show|delete|grant|revoke|grants|audit`, `report summary|tls|dmarc`, `dkim generate|list`, \
     `dns-records`, `spam train|status|score`, `firewall`, `integrity`, `sendmail`, `admin` and \
     `audit` \
     run (administer the rest before moving it with `rampart store migrate-from-sqlite`)"
        .into()
}
